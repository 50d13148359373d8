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
        let dir = repo().join("target/sandboxes").join(name);
        if dir.exists() {
            let _ = Command::new(repo().join("tests/sandbox/sandbox")).arg("down").arg(&dir).status();
            std::fs::remove_dir_all(&dir).expect("remove old sandbox");
        }
        std::fs::create_dir_all(&dir).expect("create sandbox dir");
        let sandbox = Sandbox { dir };
        sandbox.sandbox(&["up"]).ok();
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

    /// One value from a service's database: `psql -Atc SQL` through `postgres:enter`.
    pub fn sql(&self, service: &str, sql: &str) -> String {
        let db = std::fs::read_to_string(self.service_dir(service).join("DATABASE_NAME")).expect("DATABASE_NAME");
        self.dokku(&["postgres:enter", service, "psql", "-U", "postgres", "-d", db.trim(), "-Atc", sql])
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

    pub fn lib_root(&self) -> PathBuf {
        self.dir.join("var/lib/dokku")
    }

    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.lib_root().join("services/postgres").join(service)
    }
}

impl Sandbox {
    /// The independent comparison (tests/compare/compare, none of the plugin's code) of two
    /// services, the workload's own table left out; every unexpected difference, one a line.
    pub fn differences(&self, old: &str, new: &str) -> Vec<String> {
        let expected = repo().join("tests/support/workload-differences");
        let dir = self.dir.to_string_lossy().into_owned();
        let args = [dir.as_str(), old, new, "--expected", expected.to_str().unwrap()];
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

/// Removes a stopped sandbox's files: each holds two or more PostgreSQL data directories
/// (about 200 MB), and a whole run leaves about 150 of them, more than a CI disk holds.
/// A failed test's sandbox stays for reading, except under CI, where nobody reads it.
pub fn discard(dir: &Path) {
    if std::thread::panicking() && std::env::var_os("CI").is_none() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
}
