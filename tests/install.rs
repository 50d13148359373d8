//! The install, update and uninstall triggers, run as plugn would run them, in the sandbox.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Run, Sandbox};

fn plugin_dir(sb: &Sandbox) -> PathBuf {
    sb.lib_root().join("plugins/available/postgres-upgrade")
}

fn installed(sb: &Sandbox) -> PathBuf {
    sb.lib_root().join("data/postgres-upgrade/postgres-upgrade")
}

/// The plugin as a checkout without a shipped binary, on a host without an installed one.
fn without_binaries(sb: &Sandbox) -> PathBuf {
    let plugin = plugin_dir(sb);
    std::fs::remove_file(plugin.join("bin/postgres-upgrade")).unwrap();
    std::fs::remove_file(installed(sb)).unwrap();
    plugin
}

fn version() -> String {
    let toml = std::fs::read_to_string(support::repo().join("plugin.toml")).unwrap();
    toml.lines().find_map(|l| l.strip_prefix("version = ")).unwrap().trim_matches('"').to_string()
}

/// Runs one of the installed plugin's triggers with the environment plugn gives it.
fn trigger(sb: &Sandbox, name: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(plugin_dir(sb).join(name));
    cmd.args(args)
        .env("DOKKU_LIB_ROOT", sb.lib_root())
        .env("PLUGIN_ENABLED_PATH", sb.lib_root().join("plugins/enabled"))
        .env("PLUGIN_AVAILABLE_PATH", sb.lib_root().join("plugins/available"))
        .env("DOKKU_ROOT", sb.dir.join("home/dokku"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run trigger");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn arch() -> &'static str {
    if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }
}

#[test]
fn the_shipped_binary_is_installed_and_a_rerun_changes_nothing() {
    let sb = Sandbox::up("install-shipped");
    let bin = installed(&sb);
    assert_eq!(sha256(&bin), sha256(Path::new(env!("CARGO_BIN_EXE_postgres-upgrade"))));
    let mtime = std::fs::metadata(&bin).unwrap().modified().unwrap();
    for _ in 0..2 {
        let out = trigger(&sb, "install", &[], &[]).ok();
        assert!(out.contains("shipped with the plugin") && out.contains("already installed"), "{out}");
    }
    assert_eq!(std::fs::metadata(&bin).unwrap().modified().unwrap(), mtime);
    // `update` is the same trigger.
    assert!(trigger(&sb, "update", &[], &[]).ok().contains("already installed"));
    // And dokku routes postgres:upgrade to it.
    assert!(sb.lib_root().join("plugins/enabled/postgres:upgrade/subcommands/default").exists());
}

#[test]
fn a_pinned_release_asset_is_verified_and_a_wrong_sum_is_refused() {
    let sb = Sandbox::up("install-release");
    let plugin = without_binaries(&sb);
    let assets = sb.dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let asset = format!("postgres-upgrade-{}-linux-{}", version(), arch());
    std::fs::copy(env!("CARGO_BIN_EXE_postgres-upgrade"), assets.join(&asset)).unwrap();
    let url = format!("file://{}", assets.display());
    let env = [("POSTGRES_UPGRADE_RELEASE_URL", url.as_str()), ("PATH", "/usr/local/bin:/usr/bin:/bin")];

    // A wrong sum: refused, nothing installed.
    std::fs::write(plugin.join("SHA256SUMS"), format!("{}  {asset}\n", "0".repeat(64))).unwrap();
    let run = trigger(&sb, "install", &[], &env).code(1);
    assert!(run.stderr.contains("Refusing") && run.stderr.contains("nothing was installed"), "{}", run.stderr);
    assert!(!installed(&sb).exists());

    // The right sum: downloaded, verified, installed.
    std::fs::write(plugin.join("SHA256SUMS"), format!("{}  {asset}\n", sha256(&assets.join(&asset)))).unwrap();
    let out = trigger(&sb, "install", &[], &env).ok();
    assert!(out.contains(&format!("Downloading {asset}")) && out.contains("SHA-256 verified"), "{out}");
    assert_eq!(sha256(&installed(&sb)), sha256(&assets.join(&asset)));
}

#[test]
fn without_a_shipped_binary_or_a_pinned_sum_cargo_builds_it() {
    let sb = Sandbox::up("install-cargo");
    without_binaries(&sb);
    // A target folder of its own, kept between runs, so that this is one release build per machine.
    let target = support::repo().join("target/install-cargo-path");
    let target = target.to_string_lossy().into_owned();
    let out = trigger(&sb, "install", &[], &[("CARGO_TARGET_DIR", target.as_str())]).ok();
    assert!(out.contains("with cargo"), "{out}");
    let version_line = Command::new(installed(&sb)).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version_line.stdout).trim(), format!("postgres-upgrade {}", version()));
}

#[test]
fn nothing_to_install_from_gives_one_message() {
    let sb = Sandbox::up("install-nothing");
    without_binaries(&sb);
    // No cargo and no docker on this PATH.
    let run = trigger(&sb, "install", &[], &[("PATH", "/usr/bin:/bin"), ("DOCKER_BIN", "/nonexistent/docker")]).code(1);
    assert!(run.stderr.contains("Install a Rust toolchain"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // The shims say so in one line too.
    let run = sb.dokku(&["postgres-upgrade:run", "memo", "-I", "17"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("postgres-upgrade binary missing"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn uninstall_gives_postgres_upgrade_back_to_dokku_postgres() {
    let sb = Sandbox::up("install-uninstall");
    // Another plugin's uninstall: not ours, nothing happens.
    trigger(&sb, "uninstall", &["maintenance"], &[]).ok();
    assert!(installed(&sb).exists());

    trigger(&sb, "uninstall", &["postgres-upgrade"], &[]).ok();
    assert!(!installed(&sb).exists());
    assert!(!sb.lib_root().join("plugins/enabled/postgres:upgrade").exists());
    // dokku-postgres's own in-place upgrade answers again.
    sb.dokku(&["postgres:create", "plain", "-I", "15.6"]).ok();
    let run = sb.dokku(&["postgres:upgrade", "plain", "-I", "15.18"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("handing over"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(sb.service_dir("plain").join("IMAGE_VERSION")).unwrap().trim(), "15.18");
}
