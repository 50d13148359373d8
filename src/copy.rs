//! Copying the data from the old service to the new one, behind one interface so that an online
//! (logical replication) copy can take this one's place.

use crate::host::{Host, container};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One end of a copy: a service and its database.
pub struct Endpoint<'a> {
    pub service: &'a str,
    pub database: &'a str,
}

pub trait Copier {
    /// A short name for reports.
    fn name(&self) -> String;
    /// Copies `from` into the empty database of `to`, keeping the dump at `dump` (a path that
    /// does not exist yet) as the rollback artifact. Any error in the dump or the restore is an
    /// error here: dokku-postgres's import has no `--exit-on-error` and its clone adds
    /// `|| true` (dokku-postgres-behaviour.md §2), so neither is used.
    fn copy(&self, host: &Host, from: &Endpoint, to: &Endpoint, dump: &Path) -> Result<()>;
}

/// The fastest safe copy a dokku host allows: a directory-format `pg_dump` with one job per
/// core and no compression (the dump never leaves the machine), then `pg_restore -j`, which
/// loads tables and builds indexes and constraints in parallel (a custom-format dump on a pipe
/// restores with one job only: upgrade-tools-compared.md §6). Both run in a throwaway container
/// of the new image (a newer pg_dump reads an older server; the reverse fails, #194) linked to
/// the service as an app would be, writing to the plugin's dump directory as the calling user.
pub struct ParallelDirectory {
    pub image: String,
    pub jobs: usize,
}

impl ParallelDirectory {
    pub fn new(image: String) -> ParallelDirectory {
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        ParallelDirectory { image, jobs }
    }

    /// `docker run --rm` of the new image, linked to `service`, with the dump folder mounted
    /// and the service's password in an env file (never in argv, where `ps` would show it).
    fn run(&self, host: &Host, service: &str, env_file: &Path, mount: &Path, tool: &[&str]) -> Result<()> {
        let alias = format!("dokku-postgres-{service}");
        let user = format!("{}:{}", nix::unistd::getuid(), nix::unistd::getgid());
        let cmd = host
            .docker(&["run", "--rm", "--link", &format!("{}:{alias}", container(service))])
            .arg("-v")
            .arg(format!("{}:/dump", mount.display()))
            .arg("--env-file")
            .arg(env_file.display().to_string())
            .args(["--user", &user, &self.image])
            .args(tool.iter().copied())
            .args(["-h", &alias, "-U", "postgres"]);
        host.runner.check(&cmd).map(drop)
    }
}

impl Copier for ParallelDirectory {
    fn name(&self) -> String {
        format!("pg_dump -Fd -Z0 -j{0} | pg_restore -j{0} --exit-on-error", self.jobs)
    }

    fn copy(&self, host: &Host, from: &Endpoint, to: &Endpoint, dump: &Path) -> Result<()> {
        let mount = dump.parent().context("dump path has no folder")?;
        let name = dump.file_name().context("dump path has no name")?.to_string_lossy().into_owned();
        let inside = format!("/dump/{name}");
        let jobs = self.jobs.to_string();
        let from_env = PasswordFile::write(host, from.service, mount)?;
        self.run(
            host,
            from.service,
            &from_env.0,
            mount,
            &["pg_dump", "-Fd", "-Z", "0", "-j", &jobs, "--no-acl", "--no-owner", "-f", &inside, "-d", from.database],
        )
        .with_context(|| format!("Unable to dump service {}", from.service))?;
        let to_env = PasswordFile::write(host, to.service, mount)?;
        self.run(
            host,
            to.service,
            &to_env.0,
            mount,
            &["pg_restore", "-j", &jobs, "--exit-on-error", "--no-acl", "--no-owner", "-d", to.database, &inside],
        )
        .with_context(|| format!("Unable to restore into service {}", to.service))?;
        Ok(())
    }
}

/// `PGPASSWORD=…` for one service in a 0600 file, removed when dropped (on every path out).
struct PasswordFile(PathBuf);

impl PasswordFile {
    fn write(host: &Host, service: &str, dir: &Path) -> Result<PasswordFile> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let password = std::fs::read_to_string(host.service_dir(service).join("PASSWORD"))
            .with_context(|| format!("Unable to read the password of service {service}"))?;
        let path = dir.join(format!(".{service}.env"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("Unable to write {}", path.display()))?;
        writeln!(file, "PGPASSWORD={}", password.trim())?;
        Ok(PasswordFile(path))
    }
}

impl Drop for PasswordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
