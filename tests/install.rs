//! The install, update and uninstall triggers, run as plugn would run them, in the sandbox.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Run, Sandbox};

fn plugin_dir(sb: &Sandbox) -> PathBuf {
    sb.lib_root().join("plugins/available/postgres-upgrade")
}

fn installed(sb: &Sandbox) -> PathBuf {
    sb.lib_root().join("data/postgres-upgrade/bin/postgres-upgrade")
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
        assert!(out.contains("already installed"), "{out}");
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

    // A wrong sum: refused, nothing installed, and still exit 0 (plugn would skip every later
    // plugin's trigger); the command says why when it is run.
    std::fs::write(plugin.join("SHA256SUMS"), format!("{}  {asset}\n", "0".repeat(64))).unwrap();
    let run = trigger(&sb, "install", &[], &env).code(0);
    assert!(
        run.stderr.contains(&format!("refused {asset}")) && run.stderr.contains("is not installed"),
        "{}",
        run.stderr
    );
    assert!(!installed(&sb).exists());
    let run = sb.dokku(&["postgres-upgrade:run", "memo", "-I", "17"]).code(1);
    assert!(run.stderr.contains("binary missing") && run.stderr.contains("SHA256SUMS says"), "{}", run.stderr);

    // The right sum: the failure was remembered, so only the retry command tries again; then
    // downloaded, verified, installed.
    std::fs::write(plugin.join("SHA256SUMS"), format!("{}  {asset}\n", sha256(&assets.join(&asset)))).unwrap();
    assert!(trigger(&sb, "install", &[], &env).code(0).stderr.contains("not tried again"));
    let out = sb.dokku_env(&env, &["postgres-upgrade:install"]).ok();
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

/// Whether `dokku postgres:upgrade` reaches dokku-postgres's own in-place upgrade, as on a host
/// without this plugin: it moves `plain` to 15.18 in place and says nothing of handing over.
fn dokku_postgres_answers(sb: &Sandbox) -> bool {
    if !sb.service_dir("plain").exists() {
        sb.dokku(&["postgres:create", "plain", "-I", "15.6"]).ok();
    }
    std::fs::write(sb.service_dir("plain").join("IMAGE_VERSION"), "15.6\n").unwrap();
    let run = sb.dokku(&["postgres:upgrade", "plain", "-I", "15.18"]);
    run.code == 0
        && !run.stdout.contains("handing over")
        && std::fs::read_to_string(sb.service_dir("plain").join("IMAGE_VERSION")).unwrap().trim() == "15.18"
}

/// Whether the plugin answers `dokku postgres:upgrade`: for a name that is neither an app nor a
/// service it exits 20 ("no such app"), where dokku-postgres's upgrade exits 1.
fn the_plugin_answers(sb: &Sandbox) -> bool {
    sb.dokku(&["postgres:upgrade", "no-such-thing", "-I", "17"]).code == 20
}

#[test]
fn nothing_to_install_from_leaves_dokku_postgres_answering_and_is_not_tried_again() {
    let sb = Sandbox::up("install-nothing");
    let plugin = without_binaries(&sb);
    // No cargo and no docker on this PATH: one line, and exit 0 so later plugins' triggers run.
    let env = [("PATH", "/usr/bin:/bin"), ("DOCKER_BIN", "/nonexistent/docker")];
    let run = trigger(&sb, "install", &[], &env).code(0);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    for said in ["is not installed", "no cargo", "no docker", "sudo dokku postgres-upgrade:install", "Offline install"]
    {
        assert!(run.stderr.contains(said), "{said:?} missing: {}", run.stderr);
    }
    // No binary, no route: postgres:upgrade is dokku-postgres's own, as without this plugin.
    assert!(route(&sb).symlink_metadata().is_err(), "the route is left");
    assert!(dokku_postgres_answers(&sb));
    // The plugin's own command says why, in one line.
    let run = sb.dokku(&["postgres-upgrade:run", "memo", "-I", "17"]).code(1);
    assert!(run.stderr.contains("binary missing") && run.stderr.contains("no cargo"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // Another plugin's install runs every install trigger: this one tries nothing again.
    let run = trigger(&sb, "install", &[], &[("DOCKER_BIN", "/nonexistent/docker")]).code(0);
    assert!(!run.stdout.contains("Building") && !run.stdout.contains("Downloading"), "{}", run.stdout);
    assert!(run.stderr.contains("not tried again"), "{}", run.stderr);

    // A binary that does not run here is no binary.
    std::fs::create_dir_all(plugin.join("bin")).unwrap();
    std::fs::write(plugin.join("bin/postgres-upgrade"), "#!/bin/sh\nexit 126\n").unwrap();
    std::fs::set_permissions(plugin.join("bin/postgres-upgrade"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let run = sb.dokku_env(&env, &["postgres-upgrade:install"]).code(0);
    assert!(run.stderr.contains("does not run here"), "{}", run.stderr);
    assert!(!installed(&sb).exists() && route(&sb).symlink_metadata().is_err());

    // The offline way: the release binary put in bin/, then the retry command.
    std::fs::copy(env!("CARGO_BIN_EXE_postgres-upgrade"), plugin.join("bin/postgres-upgrade")).unwrap();
    let out = sb.dokku_env(&env, &["postgres-upgrade:install"]).ok();
    assert!(out.contains("shipped with the plugin"), "{out}");
    assert!(route(&sb).join("subcommands/default").is_file());
    assert!(the_plugin_answers(&sb), "the plugin answers postgres:upgrade again");
    assert!(!sb.lib_root().join("data/postgres-upgrade/bin/install-failed").exists());
}

/// An update from 0.1, whose binary sat beside the apps' folders, that gets no new binary: the
/// old one moves to bin/ and keeps answering, and the one line says so.
#[test]
fn an_update_that_gets_no_binary_keeps_the_one_that_ran() {
    let sb = Sandbox::up("install-keep-old");
    without_binaries(&sb);
    let legacy = sb.lib_root().join("data/postgres-upgrade/postgres-upgrade");
    std::fs::write(&legacy, "#!/bin/sh\necho postgres-upgrade 0.1.0\n").unwrap();
    std::fs::set_permissions(&legacy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = [("PATH", "/usr/bin:/bin"), ("DOCKER_BIN", "/nonexistent/docker")];
    let run = trigger(&sb, "update", &[], &env).code(0);
    assert!(run.stderr.contains("0.1.0 stays in use"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!legacy.exists() && installed(&sb).is_file());
    assert!(route(&sb).join("subcommands/default").is_file(), "the route stays");
    let run = sb.dokku(&["postgres:upgrade", "x"]);
    assert!(run.stdout.contains("postgres-upgrade 0.1.0"), "the binary that ran answers: {run:?}");
}

#[test]
fn uninstall_gives_postgres_upgrade_back_and_keeps_every_apps_state() {
    let sb = Sandbox::up("install-uninstall");
    let data = sb.lib_root().join("data/postgres-upgrade");
    // Apps named like the plugin's own folders, in both layouts, and the docker build's cache.
    for dir in ["apps/build/dumps/db-20260101-000000", "apps/locks", "build/dumps/db-20260101-000000", "build/target"] {
        std::fs::create_dir_all(data.join(dir)).unwrap();
    }
    for journal in ["apps/build", "apps/locks", "build", "apps/install-failed"] {
        std::fs::create_dir_all(data.join(journal)).unwrap();
        std::fs::write(data.join(journal).join("journal.json"), "{}").unwrap();
    }
    // Another plugin's uninstall: not ours, nothing happens.
    trigger(&sb, "uninstall", &["maintenance"], &[]).ok();
    assert!(installed(&sb).exists());

    sb.dokku(&["plugin:uninstall", "postgres-upgrade"]).ok();
    assert!(!installed(&sb).exists() && !data.join("build/target").exists());
    assert!(route(&sb).symlink_metadata().is_err());
    for kept in
        ["apps/build/journal.json", "apps/build/dumps", "apps/locks/journal.json", "build/journal.json", "build/dumps"]
    {
        assert!(data.join(kept).exists(), "{kept} was removed");
    }
    // dokku-postgres's own in-place upgrade answers again.
    assert!(dokku_postgres_answers(&sb));
}

// ------------------------------------------------ the plugin:* commands, as dokku runs them ------

/// A community plugin sorting after this one whose `install` and `update` triggers leave a mark:
/// proof that plugn went on past this plugin's triggers.
fn later_plugin(sb: &Sandbox) -> PathBuf {
    let dir = sb.lib_root().join("plugins/available/zz-later");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.toml"), "[plugin]\ndescription = \"marks\"\nversion = \"1\"\n[plugin.config]\n")
        .unwrap();
    for hook in ["install", "update"] {
        let path = dir.join(hook);
        std::fs::write(&path, format!("#!/usr/bin/env bash\ntouch \"$(dirname \"$0\")/ran-{hook}\"\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    sb.dokku(&["plugin:enable", "zz-later"]).ok();
    dir
}

fn route(sb: &Sandbox) -> PathBuf {
    sb.lib_root().join("plugins/enabled/postgres:upgrade")
}

/// dokku 0.25 to 0.27 ship plugn 0.8, which has no "not managed by git" case: it reads the
/// route's .plugin_committish instead, and without it the whole `plugin:update` stops there
/// (docs/plugin-lifecycle.md). The plugin itself is installed pinned, as the README says to on
/// those versions.
#[test]
fn plugin_update_on_dokku_0_25_goes_past_the_route() {
    let sb = Sandbox::up_with("install-update-0.25", &["--dokku-version", "0.25.7"]);
    let later = later_plugin(&sb);
    std::fs::write(later.join(".plugin_committish"), "1\n").unwrap();
    let plugin = plugin_dir(&sb);
    let git = |args: &[&str]| {
        let out = Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(&plugin).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v"]);
    git(&["checkout", "-q", "--detach"]);
    std::fs::write(plugin.join(".plugin_committish"), format!("v{}\n", version())).unwrap();
    let out = sb.dokku(&["plugin:update"]).ok();
    assert!(out.contains("Plugin pinned to made by postgres-upgrade"), "{out}");
    assert!(later.join("ran-update").exists(), "the update trigger ran for every plugin:\n{out}");
    // Without the file the route would stop it, as it did before.
    std::fs::remove_file(route(&sb).join(".plugin_committish")).unwrap();
    let run = sb.dokku(&["plugin:update"]);
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn plugin_update_without_a_name_runs_every_plugins_update() {
    let sb = Sandbox::up("install-update-all");
    let later = later_plugin(&sb);
    let out = sb.dokku(&["plugin:update"]).ok();
    assert!(out.contains("Plugin (postgres:upgrade) not managed by git"), "{out}");
    assert!(later.join("ran-update").exists(), "the update trigger ran for every plugin:\n{out}");
    assert!(route(&sb).join("subcommands/default").is_file());
    assert!(sb.dokku(&["plugin:list"]).ok().contains("postgres:upgrade"));
}

#[test]
fn disable_gives_the_command_back_and_enable_takes_it_again() {
    let sb = Sandbox::up("install-disable");
    sb.dokku(&["postgres:create", "plain", "-I", "15.6"]).ok();
    sb.dokku(&["plugin:disable", "postgres-upgrade"]).ok();
    let run = sb.dokku(&["postgres:upgrade", "plain", "-I", "15.18"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("handing over"), "dokku-postgres answered itself: {}", run.stdout);
    assert_eq!(std::fs::read_to_string(sb.service_dir("plain").join("IMAGE_VERSION")).unwrap().trim(), "15.18");
    sb.dokku(&["plugin:enable", "postgres-upgrade"]).ok();
    let out = sb.dokku(&["postgres:upgrade", "plain", "-I", "15.18"]).ok();
    assert!(out.contains("handing over"), "{out}");
}

#[test]
fn uninstalling_a_disabled_plugin_leaves_nothing_behind() {
    let sb = Sandbox::up("install-uninstall-disabled");
    sb.dokku(&["plugin:disable", "postgres-upgrade"]).ok();
    sb.dokku(&["plugin:uninstall", "postgres-upgrade"]).ok();
    for gone in [
        route(&sb),
        sb.lib_root().join("plugins/available/postgres:upgrade"),
        sb.lib_root().join("plugins/available/postgres-upgrade"),
        installed(&sb),
    ] {
        assert!(!gone.exists() && gone.symlink_metadata().is_err(), "{} is left", gone.display());
    }
    let list = sb.dokku(&["plugin:list"]).ok();
    assert!(!list.contains("postgres-upgrade") && !list.contains("postgres:upgrade"), "{list}");
    sb.dokku(&["plugin:installed", "postgres"]).ok();
}

#[test]
fn help_all_lists_one_line_per_command_and_completion_stays_clean() {
    let sb = Sandbox::up("install-help");
    let all = sb.dokku(&["help", "--all"]).ok();
    let ours: Vec<&str> = all.lines().filter(|l| l.contains("postgres-upgrade")).collect();
    assert!(ours.len() >= 5, "{all}");
    for line in &ours {
        assert!(line.starts_with("    postgres"), "{line:?}");
    }
    assert!(!all.contains("--keep-old"), "flags belong to postgres-upgrade:help:\n{all}");
    // dokku-postgres lists postgres:upgrade already: once is enough.
    let listed = all.lines().filter(|l| l.trim_start().starts_with("postgres:upgrade ")).count();
    assert_eq!(listed, 1, "{all}");
    let cache = std::fs::read_to_string(sb.dir.join("var/cache/dokku-completion")).unwrap();
    for word in cache.lines() {
        assert!(!word.starts_with('-') && !word.contains(','), "completion word {word:?}:\n{cache}");
    }
    for command in ["postgres-upgrade:run", "postgres-upgrade:status", "postgres-upgrade:rollback", "postgres:upgrade"]
    {
        assert!(cache.lines().any(|w| w == command), "{command} missing:\n{cache}");
    }
    // The full usage, and a word in postgres:help about who answers postgres:upgrade.
    let usage = sb.dokku(&["postgres-upgrade:help"]).ok();
    assert!(usage.contains("--keep-old") && usage.contains("--post-create-network"), "{usage}");
    let help = sb.dokku(&["postgres:help"]).ok();
    assert!(help.contains("postgres:upgrade is answered by the postgres-upgrade plugin"), "{help}");
    assert!(help.contains("postgres:create"), "dokku-postgres's own help is still there:\n{help}");
}

/// The repository the plugin is installed from, as a GitHub URL that git maps to a local clone
/// source: the origin the install trigger reads is the GitHub one.
const ORIGIN: &str = "https://github.com/sandbox-owner/dokku-postgres-upgrade.git";

#[test]
fn installed_as_root_from_a_clone_chowned_to_dokku_reads_its_origin_and_blocks_no_plugin() {
    let sb = Sandbox::up("install-clone");
    sb.dokku(&["plugin:uninstall", "postgres-upgrade"]).ok();
    let later = later_plugin(&sb);
    let source = sb.sandbox(&["git-source"]).ok().trim().to_string();
    // A sum for this version, so that the release is tried (and fails: no such repository).
    let asset = format!("postgres-upgrade-{}-linux-{}", version(), arch());
    std::fs::write(Path::new(&source).join("SHA256SUMS"), format!("{}  {asset}\n", "1".repeat(64))).unwrap();
    Command::new("git")
        .args(["-C", &source, "commit", "-qam", "sums"])
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .status()
        .unwrap();
    let insteadof = format!("url.file://{source}.insteadOf");
    // The core plugin trigger chowns every checkout to the system user (here nobody) first.
    let env = [
        ("DOKKU_SYSTEM_USER", "nobody"),
        ("DOKKU_SYSTEM_GROUP", "nogroup"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", insteadof.as_str()),
        ("GIT_CONFIG_VALUE_0", ORIGIN),
    ];
    let run = sb.dokku_env(&env, &["plugin:install", ORIGIN, "--name", "postgres-upgrade"]);
    assert_eq!(run.code, 0, "{run:?}");
    let checkout = plugin_dir(&sb);
    let owner = Command::new("stat").args(["-c", "%U"]).arg(&checkout).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "nobody");
    let releases =
        format!("https://github.com/sandbox-owner/dokku-postgres-upgrade/releases/download/v{}/{asset}", version());
    assert!(run.stdout.contains(&format!("download from {releases} failed")), "the origin was read:\n{}", run.stdout);
    assert!(later.join("ran-install").exists(), "plugn went on to later plugins");
    assert!(route(&sb).symlink_metadata().is_err(), "no binary, no route");
    // Nothing to install from here: the command says so, and why.
    let run = sb.dokku(&["postgres-upgrade:run", "memo", "-I", "17"]).code(1);
    assert!(run.stderr.contains("binary missing") && run.stderr.contains("the download of"), "{}", run.stderr);
}

/// The offline install (README, "Offline install"): the release archive scripts/release-archive
/// makes, installed with `plugin:install file:///…tar.gz` on a host with no route to any
/// release; dokku 0.38's plugn fetches file:// URLs with curl. The binary comes from the
/// archive's bin/, and postgres:upgrade is the plugin's.
#[test]
fn the_offline_release_archive_installs_with_plugin_install() {
    let sb = Sandbox::up("install-archive");
    sb.dokku(&["plugin:uninstall", "postgres-upgrade"]).ok();
    let source = PathBuf::from(sb.sandbox(&["git-source"]).ok().trim());
    let archive = sb.dir.join(format!("postgres-upgrade-{}-linux-{}.tar.gz", version(), arch()));
    let out = Command::new(support::repo().join("scripts/release-archive"))
        .arg(&source)
        .arg(env!("CARGO_BIN_EXE_postgres-upgrade"))
        .arg(&archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let url = format!("file://{}", archive.display());
    let env = [("POSTGRES_UPGRADE_RELEASE_URL", "file:///nonexistent"), ("PATH", "/usr/local/bin:/usr/bin:/bin")];
    let out = sb.dokku_env(&env, &["plugin:install", &url, "--name", "postgres-upgrade"]).ok();
    assert!(out.contains("shipped with the plugin"), "{out}");
    assert_eq!(sha256(&installed(&sb)), sha256(Path::new(env!("CARGO_BIN_EXE_postgres-upgrade"))));
    assert!(plugin_dir(&sb).join("install").is_file(), "the archive's single folder is flattened");
    assert!(route(&sb).join("subcommands/default").is_file());
    assert!(the_plugin_answers(&sb), "the plugin answers postgres:upgrade");
}

#[test]
fn the_end_to_end_scenario_of_the_real_host_workflow_passes_in_the_sandbox() {
    let sb = Sandbox::up("install-scenario");
    // As .github/workflows/real-host.yml: the checkout, with the binary shipped in bin/,
    // installed with plugin:install from git.
    sb.dokku(&["plugin:uninstall", "postgres-upgrade"]).ok();
    let source = PathBuf::from(sb.sandbox(&["git-source"]).ok().trim());
    std::fs::create_dir_all(source.join("bin")).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_postgres-upgrade"), source.join("bin/postgres-upgrade")).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(&source).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["add", "-f", "bin/postgres-upgrade"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "shipped binary"]);
    let url = format!("file://{}", source.display());
    sb.dokku(&["plugin:install", &url, "--name", "postgres-upgrade"]).ok();

    let path = format!("{}:{}", sb.dir.join("bin").display(), std::env::var("PATH").unwrap());
    let out = Command::new(support::repo().join("tests/scenario")).env("PATH", path).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("=====> scenario: done"), "{stdout}");
}
