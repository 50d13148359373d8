//! Copying the data from the old service to the new one, behind one interface: a copier may do
//! most of its work before the maintenance window (`prepare`) and the rest inside it (`copy`).
//! Two exist: [`ParallelDirectory`], everything inside the window, and
//! [`CatchUp`](crate::catch_up::CatchUp), a first copy while the apps run and only what changed
//! since inside the window.

use crate::fingerprint::{Catalog, Fingerprint, ident, literal};
use crate::host::{Host, container};
use crate::output::Out;
use crate::plan::Plan;
use crate::upgrade::Options;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One end of a copy: a service and its database.
pub struct Endpoint<'a> {
    pub service: &'a str,
    pub database: &'a str,
}

/// Both databases' fingerprints, cut by one catalog.
#[derive(Debug, Clone)]
pub struct Prints {
    pub catalog: Catalog,
    pub original: Fingerprint,
    pub copy: Fingerprint,
}

/// What a copier works on.
pub struct Job<'a> {
    pub host: &'a Host<'a>,
    pub out: &'a Out,
    pub from: Endpoint<'a>,
    pub to: Endpoint<'a>,
    /// Where the dump goes (a path that does not exist yet): it is kept as the rollback artifact.
    pub dump: &'a Path,
    /// Re-running a step an earlier run died in: its half-done work is in the new database.
    pub resuming: bool,
}

pub trait Copier {
    /// A short name for reports.
    fn name(&self) -> String;

    /// Before the window, while the apps still write: what can be copied already.
    fn prepare(&self, _job: &Job) -> Result<()> {
        Ok(())
    }

    /// Inside the window, the apps stopped: makes the new database hold what the old one holds.
    /// Any error in a dump, restore or stream is an error here: dokku-postgres's import has no
    /// `--exit-on-error` and its clone adds `|| true` (dokku-postgres-behaviour.md §2), so
    /// neither is used.
    fn copy(&self, job: &Job) -> Result<()>;

    /// The fingerprints of both databases as the copy left them, when it took them: the
    /// verification reuses each while its database has not changed since.
    fn fingerprints(&self) -> Option<Prints> {
        None
    }

    /// What the copy kept as the rollback artifact, when it is not just the job's dump.
    fn artifacts(&self) -> Option<Vec<PathBuf>> {
        None
    }
}

/// The copier for an upgrade: the catch-up copy when the old server prints rows the way the new
/// one does (its fingerprints compare: fingerprint.rs) and no full copy was asked for
/// ([`Options::catch_up`]), else the whole copy inside the window.
pub fn choose(plan: &Plan, opts: &Options) -> Box<dyn Copier> {
    let full = ParallelDirectory::new(plan.reference());
    if opts.catch_up(plan) { Box::new(crate::catch_up::CatchUp::new(full)) } else { Box::new(full) }
}

/// The fastest full copy a dokku host allows: a directory-format `pg_dump` with one job per
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
        let mut cmd = host.docker(&["run", "--rm", "--link", &format!("{}:{alias}", container(service))]);
        // On the service's initial network, as dokku-postgres's own link container: a legacy
        // link from the default bridge reaches nothing else (docs/networks.md).
        let network = host.settings(service)?.initial_network;
        if !network.is_empty() {
            cmd = cmd.arg(format!("--network={network}"));
        }
        let cmd = cmd
            .arg("-v")
            .arg(format!("{}:/dump", host.env.host_path(mount).display()))
            .arg("--env-file")
            .arg(env_file.display().to_string())
            .args(["--user", &user, &self.image])
            .args(tool.iter().copied())
            .args(["-h", &alias, "-U", "postgres"]);
        host.runner.check(&cmd).map(drop)
    }

    /// Dumps `from` to `dump` and restores it into `to`, whose database must be empty.
    pub fn dump_and_restore(&self, host: &Host, from: &Endpoint, to: &Endpoint, dump: &Path) -> Result<()> {
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

impl Copier for ParallelDirectory {
    fn name(&self) -> String {
        format!("pg_dump -Fd -Z0 -j{0} | pg_restore -j{0} --exit-on-error", self.jobs)
    }

    fn copy(&self, job: &Job) -> Result<()> {
        if job.resuming {
            reset_database(job.host, &job.to)?;
        }
        self.dump_and_restore(job.host, &job.from, &job.to, job.dump)
    }
}

/// An empty database again, for a copy that starts over: an interrupted or outdated restore
/// leaves rows and schema behind.
pub fn reset_database(host: &Host, db: &Endpoint) -> Result<()> {
    let quoted = ident(db.database);
    // DROP DATABASE … WITH (FORCE) needs PostgreSQL 13; end the sessions first instead.
    let statements = [
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()",
            literal(db.database)
        ),
        format!("DROP DATABASE IF EXISTS {quoted}"),
        format!("CREATE DATABASE {quoted}"),
    ];
    for sql in statements {
        host.sql(db.service, "postgres", &sql)?;
    }
    Ok(())
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
