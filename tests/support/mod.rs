//! Shared helpers for the integration tests: a sandboxed dokku host per test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the repository lives (the integration tests run with it as cwd).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A dokku host under `target/sandboxes/<name>`, torn down (every server stopped, its files
/// removed) when dropped.
pub struct Sandbox {
    pub dir: PathBuf,
}

/// The result of one command, with the text already decoded.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics, showing both streams, unless the command exited 0; returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "command failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self.stdout
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

impl Sandbox {
    /// A fresh host named after the test; any leftover from an earlier run is removed first.
    pub fn up(name: &str) -> Sandbox {
        Sandbox::up_with(name, &[])
    }

    /// A fresh host with `sandbox up` options: `--dokku-version X`, `--maintenance-version Y`
    /// (tests/sandbox/versions).
    pub fn up_with(name: &str, options: &[&str]) -> Sandbox {
        let dir = repo().join("target/sandboxes").join(name);
        if dir.exists() {
            let _ = Command::new(repo().join("tests/sandbox/sandbox")).arg("down").arg(&dir).status();
            std::fs::remove_dir_all(&dir).expect("remove old sandbox");
        }
        std::fs::create_dir_all(&dir).expect("create sandbox dir");
        let sandbox = Sandbox { dir };
        let mut up = vec!["up"];
        up.extend_from_slice(options);
        sandbox.sandbox(&up).ok();
        sandbox
    }

    fn run(&self, program: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
        self.run_env(program, args, stdin, &[])
    }

    fn run_env(&self, program: &Path, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run {
        use std::io::Write;
        use std::process::Stdio;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("SANDBOX_PLUGIN_BINARY", env!("CARGO_BIN_EXE_postgres-upgrade"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).expect("write stdin");
        }
        Run::from(child.wait_with_output().expect("wait"))
    }

    /// `DIR/bin/dokku ARGS…` with extra environment variables.
    pub fn dokku_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        self.run_env(&self.dir.join("bin/dokku"), args, None, env)
    }

    /// `DIR/bin/dokku ARGS…` with no stdin (as CI and scripts run it).
    pub fn dokku(&self, args: &[&str]) -> Run {
        self.run(&self.dir.join("bin/dokku"), args, None)
    }

    /// `DIR/bin/dokku ARGS…` started and left running, its stdout and stderr piped: for a test
    /// that watches it run or signals it.
    pub fn spawn_dokku(&self, args: &[&str]) -> std::process::Child {
        Command::new(self.dir.join("bin/dokku"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start dokku")
    }

    /// `DIR/bin/dokku ARGS…` with `input` on stdin.
    pub fn dokku_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        self.run(&self.dir.join("bin/dokku"), args, Some(input))
    }

    /// `DIR/bin/docker ARGS…`.
    pub fn docker(&self, args: &[&str]) -> Run {
        self.run(&self.dir.join("bin/docker"), args, None)
    }

    /// `tests/sandbox/sandbox VERB DIR ARGS…`.
    pub fn sandbox(&self, verb_and_args: &[&str]) -> Run {
        let dir = self.dir.to_string_lossy().into_owned();
        let mut args = vec![verb_and_args[0], dir.as_str()];
        args.extend_from_slice(&verb_and_args[1..]);
        self.run(&repo().join("tests/sandbox/sandbox"), &args, None)
    }

    /// A new app linked to a new PostgreSQL `version` service, as a user makes them (no restart).
    pub fn app_on_service(&self, app: &str, service: &str, version: &str) {
        self.dokku(&["apps:create", app]).ok();
        self.dokku(&["postgres:create", service, "-I", version]).ok();
        self.dokku(&["postgres:link", service, app, "--no-restart"]).ok();
    }

    /// One value from a service's database: `psql -Atc SQL` through `postgres:enter` (`--quiet`:
    /// dokku-postgres prints a banner on stdout before the command's output otherwise).
    pub fn sql(&self, service: &str, sql: &str) -> String {
        let db = std::fs::read_to_string(self.service_dir(service).join("DATABASE_NAME")).expect("DATABASE_NAME");
        self.dokku(&["--quiet", "postgres:enter", service, "psql", "-U", "postgres", "-d", db.trim(), "-Atc", sql])
            .ok()
            .trim()
            .to_string()
    }

    /// Panics unless the app's workload lost none of its acknowledged writes (after a moment
    /// for the last ones to land).
    #[track_caller]
    pub fn lost_nothing(&self, app: &str) {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let check = self.sandbox(&["workload", app, "check"]).ok();
        assert!(check.contains(" lost=0 "), "{check}");
    }

    /// The app's whole config, through `config:export --format json`.
    pub fn config(&self, app: &str) -> std::collections::BTreeMap<String, String> {
        let out = self.dokku(&["config:export", "--format", "json", app]).ok();
        let v: serde_json::Value = serde_json::from_str(&out).expect("config json");
        v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
    }

    /// The postgres services on the host, sorted.
    pub fn services(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.lib_root().join("services/postgres"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The ambassador container of an exposed service (docs/expose.md) as "STATUS\nPORTS\n",
    /// PORTS its host ports as the PORT file gives them (`4242` or `127.0.0.1:4242`); None
    /// when there is no such container.
    pub fn ambassador(&self, service: &str) -> Option<String> {
        let run = self.docker(&["container", "inspect", &format!("dokku.postgres.{service}.ambassador")]);
        if run.code != 0 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("inspect json");
        let status = json[0]["State"]["Status"].as_str().unwrap_or_default().to_string();
        let ports: Vec<String> = json[0]["HostConfig"]["PortBindings"]
            .as_object()
            .map(|bindings| {
                bindings
                    .values()
                    .flat_map(|b| b.as_array().cloned().unwrap_or_default())
                    .map(|b| match b["HostIp"].as_str().unwrap_or_default() {
                        "" => b["HostPort"].as_str().unwrap_or_default().to_string(),
                        ip => format!("{ip}:{}", b["HostPort"].as_str().unwrap_or_default()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(format!("{status}\n{}\n", ports.join(" ")))
    }

    pub fn lib_root(&self) -> PathBuf {
        self.dir.join("var/lib/dokku")
    }

    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.lib_root().join("services/postgres").join(service)
    }
}

impl Sandbox {
    /// A program the upgrade runs just before step `step` (the test-only
    /// POSTGRES_UPGRADE_HOOK_AT, `N+` just after it): `sql` on `service`'s database, as another
    /// writer would at that moment. Returns the variable's value.
    pub fn hook(&self, service: &str, step: &str, sql: &str) -> String {
        let path = self.dir.join(format!("hook-{service}-{}", step.replace('+', "after")));
        let script = format!(
            "#!/usr/bin/env bash\nset -e\n'{}' exec -i dokku.postgres.{service} psql -q -v ON_ERROR_STOP=1 -U postgres -d {} >/dev/null <<'SQL'\n{sql}\nSQL\n",
            self.dir.join("bin/docker").display(),
            service.replace('-', "_")
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        format!("{step}:{}", path.display())
    }

    /// The plugin's environment on this host, for a test that calls the plugin's library
    /// (facts/verifier/) against the sandbox's servers.
    pub fn env(&self) -> postgres_upgrade::host::env::Env {
        let lib = self.lib_root();
        postgres_upgrade::host::env::Env {
            dokku_root: self.dir.join("home/dokku"),
            dokku_version: postgres_upgrade::host::versions::dokku(&lib),
            dokku_lib_host_root: lib.clone(),
            plugin_enabled_path: lib.join("plugins/enabled"),
            plugin_available_path: lib.join("plugins/available"),
            dokku_lib_root: lib,
            dokku_bin: self.dir.join("bin/dokku").display().to_string(),
            docker_bin: self.dir.join("bin/docker").display().to_string(),
            quiet: true,
            trace: false,
            disable_pull: false,
            kill_at: None,
            hook_at: None,
            wal_bound_mb: None,
        }
    }

    /// The independent comparison (tests/compare/compare, none of the plugin's code) of two
    /// services, the workload's own table left out; every unexpected difference, one a line.
    pub fn differences(&self, old: &str, new: &str) -> Vec<String> {
        self.differences_beside(old, new, &[], &[])
    }

    /// The same, with more differences expected (extended regular expressions, one a line, as
    /// in `tests/support/workload-differences`), and each role's login over TCP with its
    /// password tried on both sides (`tests/compare/compare --logins`).
    pub fn differences_beside(&self, old: &str, new: &str, expected: &[&str], logins: &[(&str, &str)]) -> Vec<String> {
        let workload = std::fs::read_to_string(repo().join("tests/support/workload-differences")).unwrap();
        let file = self.dir.join("expected-differences");
        std::fs::write(&file, format!("{workload}\n{}\n", expected.join("\n"))).unwrap();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut args = vec![dir.as_str(), old, new, "--expected", file.to_str().unwrap()];
        let passwords = self.dir.join("logins");
        let lines: Vec<String> = logins.iter().map(|(role, password)| format!("{role}\t{password}\n")).collect();
        if !logins.is_empty() {
            std::fs::write(&passwords, lines.concat()).unwrap();
            args.extend(["--logins", passwords.to_str().unwrap()]);
        }
        let run = self.run(&repo().join("tests/compare/compare"), &args, None);
        assert!(run.code == 0 || run.code == 1, "the comparison could not be made:\n{}\n{}", run.stdout, run.stderr);
        if run.code == 0 {
            return Vec::new();
        }
        run.stdout.lines().filter(|l| !l.starts_with("expected: ")).map(String::from).collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/sandbox/sandbox")).arg("down").arg(&self.dir).status();
        discard(&self.dir);
    }
}

/// The dokku user's ids: the sandbox runs every dokku command but plugin:* as that user
/// (tests/sandbox/README.md), and `sandbox up` makes it.
pub fn dokku_user() -> (nix::unistd::Uid, nix::unistd::Gid) {
    let user = nix::unistd::User::from_name("dokku").expect("read the user database").expect("the dokku user exists");
    (user.uid, user.gid)
}

/// Gives `path` to the dokku user, as a file or folder that dokku (or the plugin, or an app)
/// made would be: a test that stands in for one of them must not leave root's files behind.
pub fn give_to_dokku(path: &Path) {
    let (uid, gid) = dokku_user();
    nix::unistd::chown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// An empty file at `path` that the dokku user may write (a log a hook of the upgrade appends to).
pub fn dokku_file(path: &Path) -> PathBuf {
    std::fs::write(path, "").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    give_to_dokku(path);
    path.to_path_buf()
}

/// Removes a stopped sandbox's files: each holds two or more PostgreSQL data directories
/// (about 200 MB), and a whole run leaves about 150 of them, more than a CI disk holds.
/// A failed test's sandbox stays for reading, except under CI, where nobody reads it.
pub fn discard(dir: &Path) {
    if std::thread::panicking() && std::env::var_os("CI").is_none() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
}
