//! The new image's client tools (pg_dump, pg_restore, pg_dumpall, psql) run against a service
//! from a throwaway container, and the password files they read.

use crate::host::{Host, container};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The new image's client tools, each run in a throwaway container of that image (a newer
/// pg_dump reads an older server; the reverse fails, #194) linked to the service as an app
/// would be, as the calling user, with `dir` mounted at `/dump` and the service's password in
/// an env file there (never in argv, where `ps` would show it).
pub struct Client {
    pub image: String,
    pub dir: PathBuf,
}

/// Whether a line is one of the `\restrict KEY` / `\unrestrict KEY` pair a plain dump opens
/// and ends with since 17.6, 16.10, 15.14, 14.19 and 13.22 (CVE-2025-8714), KEY random on
/// every run.
pub fn restrict_line(line: &str) -> bool {
    line.starts_with("\\restrict ") || line.starts_with("\\unrestrict ")
}

/// A plain dump without its restrict lines: two dumps of the same objects are the same text.
pub fn without_restrict_lines(dump: &str) -> String {
    dump.lines().filter(|l| !restrict_line(l)).collect::<Vec<_>>().join("\n")
}

impl Client {
    /// Runs `tool` against `service`; its standard output.
    pub fn run(&self, host: &Host, service: &str, tool: &[&str]) -> Result<String> {
        let (cmd, _env_file) = self.command(host, service, tool)?;
        Ok(host.check(&cmd)?.stdout)
    }

    /// Runs each `(service, tool)` at once, each in its own container; their standard outputs,
    /// in order (two schema dumps cost the slower one).
    pub fn run_all(&self, host: &Host, runs: &[(&str, &[&str])]) -> Result<Vec<String>> {
        let mut cmds = Vec::new();
        let mut env_files = Vec::new();
        for (service, tool) in runs {
            let (cmd, env_file) = self.command(host, service, tool)?;
            cmds.push(cmd);
            env_files.push(env_file);
        }
        let outs = host.check_all(&cmds.iter().collect::<Vec<_>>())?;
        drop(env_files);
        Ok(outs.into_iter().map(|out| out.stdout).collect())
    }

    /// The container that runs `tool` against `service`, and its password file (removed when
    /// dropped: keep it until the command has run).
    fn command(&self, host: &Host, service: &str, tool: &[&str]) -> Result<(crate::host::runner::Cmd, PasswordFile)> {
        let env_file = PasswordFile::write(host, service, &self.dir)?;
        let alias = format!("dokku-postgres-{service}");
        let user = format!("{}:{}", nix::unistd::getuid(), nix::unistd::getgid());
        let mut cmd = host.docker(&["run", "--rm", "--link", &format!("{}:{alias}", container(service))]);
        // On the service's initial network, as dokku-postgres's own link container: a legacy
        // link from the default bridge reaches nothing else (docs/networks.md).
        let network = host.settings(service)?.initial_network;
        if !network.is_empty() {
            cmd = cmd.arg(format!("--network={network}"));
        }
        let cmd = cmd
            .arg("-v")
            .arg(format!("{}:/dump", host.env.host_path(&self.dir).display()))
            .arg("--env-file")
            .arg(env_file.0.display().to_string())
            .args(["--user", &user, &self.image])
            .args(tool.iter().copied())
            .args(["-h", &alias, "-U", "postgres"]);
        Ok((cmd, env_file))
    }
}

/// Removes the password files a killed run left in `dir` (a SIGKILL skips every `Drop`): the
/// next run, resume or rollback calls this once it holds the upgrade's locks.
pub fn remove_password_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".env") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `PGPASSWORD=…` for one service in a 0600 file, removed when dropped (on every path out but
/// a SIGKILL: then [`remove_password_files`]).
struct PasswordFile(PathBuf);

impl PasswordFile {
    fn write(host: &Host, service: &str, dir: &Path) -> Result<PasswordFile> {
        let password = std::fs::read_to_string(host.service_dir(service).join("PASSWORD"))
            .with_context(|| format!("Unable to read the password of service {service}"))?;
        let path = dir.join(format!(".{service}.env"));
        crate::host::write_private(&path, format!("PGPASSWORD={}\n", password.trim()).as_bytes())?;
        Ok(PasswordFile(path))
    }
}

impl Drop for PasswordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
