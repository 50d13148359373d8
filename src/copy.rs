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
    /// The new image, whose client tools the copy runs.
    pub image: &'a str,
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
    /// `--exit-on-error` and its clone adds `|| true` (docs/dokku-postgres-service.md#commands), so
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

/// The new image's client tools, each run in a throwaway container of that image (a newer
/// pg_dump reads an older server; the reverse fails, #194) linked to the service as an app
/// would be, as the calling user, with `dir` mounted at `/dump` and the service's password in
/// an env file there (never in argv, where `ps` would show it).
pub struct Client {
    pub image: String,
    pub dir: PathBuf,
}

impl Client {
    /// Runs `tool` against `service`; its standard output.
    pub fn run(&self, host: &Host, service: &str, tool: &[&str]) -> Result<String> {
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
        Ok(host.runner.check(&cmd)?.stdout)
    }
}

/// The fastest full copy a dokku host allows: a directory-format `pg_dump` with one job per
/// core and no compression (the dump never leaves the machine), then `pg_restore -j`, which
/// loads tables and builds indexes and constraints in parallel (a custom-format dump on a pipe
/// restores with one job only: docs/copy.md). Both are the new image's ([`Client`]), writing to
/// the plugin's dump directory. Owners, ACLs and comments are restored as they are, onto the
/// old server's roles, created first (globals.rs).
pub struct ParallelDirectory {
    pub image: String,
    pub jobs: usize,
}

impl ParallelDirectory {
    pub fn new(image: String) -> ParallelDirectory {
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        ParallelDirectory { image, jobs }
    }

    /// The new image's tools, with `dir` for their files.
    pub fn client(&self, dir: &Path) -> Client {
        Client { image: self.image.clone(), dir: dir.to_path_buf() }
    }

    /// Dumps `from` to `dump` and restores it into `to`, whose database must be empty, after
    /// giving `to`'s server the roles of `from`'s. Both halves show their progress: the dump's
    /// bytes against the tables' size, the new database's files against the old database's size.
    pub fn dump_and_restore(&self, host: &Host, out: &Out, from: &Endpoint, to: &Endpoint, dump: &Path) -> Result<()> {
        let mount = dump.parent().context("dump path has no folder")?;
        let name = dump.file_name().context("dump path has no name")?.to_string_lossy().into_owned();
        let inside = format!("/dump/{name}");
        let jobs = self.jobs.to_string();
        let client = self.client(mount);
        let sizes = host.sql(
            from.service,
            from.database,
            "SELECT coalesce(sum(pg_table_size(c.oid)), 0) || '|' || pg_database_size(current_database()) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        )?;
        let size = |i: usize| sizes.first().and_then(|l| l.split('|').nth(i)).and_then(|n| n.parse().ok()).unwrap_or(0);
        let watched = dump.to_path_buf();
        let progress = crate::progress::Progress::start(
            format!("dumping {}", from.service),
            size(0),
            crate::progress::Unit::Bytes,
            out.quiet(),
            move || crate::progress::bytes_under(&watched),
        );
        client
            .run(host, from.service, &["pg_dump", "-Fd", "-Z", "0", "-j", &jobs, "-f", &inside, "-d", from.database])
            .with_context(|| format!("Unable to dump service {}", from.service))?;
        drop(progress);
        crate::globals::copy_roles(host, &client, from.service, to.service)?;
        let files = database_files(&host.service_dir(to.service).join("data"));
        let before = crate::progress::bytes_under(&files);
        let progress = crate::progress::Progress::start(
            format!("restoring into {}", to.service),
            size(1),
            crate::progress::Unit::Bytes,
            out.quiet(),
            move || crate::progress::bytes_under(&files).saturating_sub(before),
        );
        client
            .run(host, to.service, &["pg_restore", "-j", &jobs, "--exit-on-error", "-d", to.database, &inside])
            .with_context(|| format!("Unable to restore into service {}", to.service))?;
        drop(progress);
        Ok(())
    }
}

impl Copier for ParallelDirectory {
    fn name(&self) -> String {
        format!("pg_dumpall --roles-only, pg_dump -Fd -Z0 -j{0} | pg_restore -j{0} --exit-on-error", self.jobs)
    }

    fn copy(&self, job: &Job) -> Result<()> {
        if job.resuming {
            reset_database(job.host, &job.to)?;
        }
        self.dump_and_restore(job.host, job.out, &job.from, &job.to, job.dump)
    }
}

/// The folder of a server's database files (`base/`) under a service's `data/`, whatever the
/// image's layout (`data/base`, or `data/18/docker/base` from 18 on: docs/dokku-postgres-service.md#versions).
fn database_files(data: &Path) -> PathBuf {
    let candidates = [data.join("base"), data.join("pgdata/base")];
    let nested = std::fs::read_dir(data).into_iter().flatten().flatten().map(|e| e.path().join("docker/base"));
    candidates.into_iter().chain(nested).find(|p| p.is_dir()).unwrap_or_else(|| data.to_path_buf())
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

/// The folder of an upgrade's dumps (and, while a tool runs, its password files), named after
/// the app, or the service when a service was upgraded.
pub fn dumps_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(name).join("dumps")
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
