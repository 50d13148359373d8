//! Copying the data from the old service to the new one, behind one interface: a copier may do
//! most of its work before the maintenance window (`prepare`) and the rest inside it (`copy`).
//! Two exist: [`ParallelDirectory`], everything inside the window, and
//! `CatchUp` (copy/catch_up.rs), a first copy while the apps run and only what changed
//! since inside the window.

pub mod catch_up;
pub mod extensions;
pub mod globals;
pub mod hold;
pub mod settings;

use crate::facts::fingerprint::{ident, literal};
use crate::host::Host;
use crate::host::client::Client;
use crate::output::Out;
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// One end of a copy: a service and its database.
pub struct Endpoint<'a> {
    pub service: &'a str,
    pub database: &'a str,
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

    /// What the copy kept as the rollback artifact, when it is not just the job's dump.
    fn artifacts(&self) -> Option<Vec<PathBuf>> {
        None
    }
}

/// The fastest full copy a dokku host allows: a directory-format `pg_dump` with one job per
/// core and no compression (the dump never leaves the machine), then `pg_restore -j`, which
/// loads tables and builds indexes and constraints in parallel (a custom-format dump on a pipe
/// restores with one job only: docs/copy.md). Both are the new image's ([`Client`]), writing to
/// the plugin's dump directory. Owners, ACLs and comments are restored as they are, onto the
/// old server's roles, created first (copy/globals.rs).
pub struct ParallelDirectory {
    pub image: String,
    pub jobs: usize,
    /// The new service and the roles dump last applied to it.
    roles: RefCell<Option<(String, String)>>,
}

impl ParallelDirectory {
    /// One job per core.
    pub fn new(image: String) -> ParallelDirectory {
        ParallelDirectory::with_jobs(image, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    pub fn with_jobs(image: String, jobs: usize) -> ParallelDirectory {
        ParallelDirectory { image, jobs, roles: RefCell::default() }
    }

    /// The old server's roles onto the new one, unless they are what this copy last applied
    /// there: nothing else writes roles to the new server, and inside the window applying
    /// them again costs two round trips for nothing.
    pub fn copy_roles(&self, host: &Host, client: &Client, old: &str, new: &str) -> Result<()> {
        let dump = crate::copy::globals::dump_roles(host, client, old)?;
        let applied = self.roles.borrow().as_ref().is_some_and(|(to, last)| to == new && *last == dump);
        if applied {
            log::debug!("the roles of {old} are as {new} has them");
            return Ok(());
        }
        crate::copy::globals::apply_roles(host, &dump, old, new)?;
        *self.roles.borrow_mut() = Some((new.to_string(), dump));
        Ok(())
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
            "SELECT coalesce(sum(pg_table_size(c.oid)), 0) || '|' || pg_database_size(current_database()) \
             || '|' || (SELECT count(*) FROM pg_event_trigger) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        )?;
        let size = |i: usize| sizes.first().and_then(|l| l.split('|').nth(i)).and_then(|n| n.parse().ok()).unwrap_or(0);
        let watched = dump.to_path_buf();
        let progress = crate::output::progress::Progress::start(
            format!("dumping {}", from.service),
            size(0),
            crate::output::progress::Unit::Bytes,
            out.quiet(),
            move || crate::output::progress::bytes_under(&watched),
        );
        client
            .run(host, from.service, &["pg_dump", "-Fd", "-Z", "0", "-j", &jobs, "-f", &inside, "-d", from.database])
            .with_context(|| format!("Unable to dump service {}", from.service))?;
        drop(progress);
        self.copy_roles(host, &client, from.service, to.service)?;
        let files = database_files(&host.service_dir(to.service).join("data"));
        let before = crate::output::progress::bytes_under(&files);
        let progress = crate::output::progress::Progress::start(
            format!("restoring into {}", to.service),
            size(1),
            crate::output::progress::Unit::Bytes,
            out.quiet(),
            move || crate::output::progress::bytes_under(&files).saturating_sub(before),
        );
        let restore = |list: Option<&str>| {
            let mut tool = vec!["pg_restore", "-j", &jobs, "--exit-on-error", "-d", to.database];
            tool.extend(list.map(|l| ["-L", l]).into_iter().flatten());
            tool.push(&inside);
            client
                .run(host, to.service, &tool)
                .with_context(|| format!("Unable to restore into service {}", to.service))
        };
        if size(2) == 0 {
            restore(None)?;
        } else {
            // An event trigger restored before the end would fire on what follows it, in its own
            // worker or another (a materialized view's refresh is DDL, and one enabled ALWAYS
            // fires whatever the session): they are restored last, on their own.
            let toc = client.run(host, to.service, &["pg_restore", "-l", &inside])?;
            let (rest, last) = event_triggers_last(&toc);
            let lists = [(format!("{name}-restore.list"), rest), (format!("{name}-event-triggers.list"), last)];
            for (file, text) in &lists {
                crate::host::write_private(&mount.join(file), text.as_bytes())?;
            }
            let restored = lists.iter().try_for_each(|(file, _)| restore(Some(&format!("/dump/{file}"))).map(drop));
            for (file, _) in &lists {
                let _ = std::fs::remove_file(mount.join(file));
            }
            restored?;
        }
        drop(progress);
        Ok(())
    }
}

/// A `pg_restore -l` table of contents as two lists for `pg_restore -L`: everything but the
/// event triggers (with their comments and labels), and those alone.
fn event_triggers_last(toc: &str) -> (String, String) {
    static EVENT_TRIGGER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^\d+; \d+ \d+ (EVENT TRIGGER - |(COMMENT|SECURITY LABEL) - EVENT TRIGGER )").unwrap()
    });
    let (mut rest, mut last) = (String::new(), String::new());
    for line in toc.lines() {
        if EVENT_TRIGGER.is_match(line) {
            rest.push(';');
            last.push_str(line);
            last.push('\n');
        }
        rest.push_str(line);
        rest.push('\n');
    }
    (rest, last)
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
    // A database that holds a subscription cannot be dropped; the restore made each one
    // disabled, and without its slot it is dropped without reaching the publisher.
    let subscriptions = host.sql(
        db.service,
        "postgres",
        &format!(
            "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = {}",
            literal(db.database)
        ),
    )?;
    if !subscriptions.is_empty() {
        let forget: Vec<String> = subscriptions
            .iter()
            .flat_map(|s| {
                let s = ident(s);
                [
                    format!("ALTER SUBSCRIPTION {s} DISABLE"),
                    format!("ALTER SUBSCRIPTION {s} SET (slot_name = NONE)"),
                    format!("DROP SUBSCRIPTION {s}"),
                ]
            })
            .collect();
        host.sql_statements(db.service, db.database, &forget)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_triggers_are_restored_last_with_their_comments() {
        let toc = ";\n; Archive created at 2025-01-01\n\
            215; 1259 16390 TABLE public notes postgres\n\
            3400; 0 16390 TABLE DATA public notes postgres\n\
            3401; 3466 16401 EVENT TRIGGER - log_ddl postgres\n\
            3402; 0 0 COMMENT - EVENT TRIGGER log_ddl postgres\n\
            3403; 0 16395 MATERIALIZED VIEW DATA public totals postgres\n\
            216; 1259 16391 TABLE public EVENT TRIGGER - x postgres\n";
        let (rest, last) = event_triggers_last(toc);
        assert_eq!(
            last,
            "3401; 3466 16401 EVENT TRIGGER - log_ddl postgres\n3402; 0 0 COMMENT - EVENT TRIGGER log_ddl postgres\n"
        );
        assert!(rest.contains("\n;3401; 3466 16401 EVENT TRIGGER") && rest.contains("\n;3402; 0 0 COMMENT"), "{rest}");
        // A table whose name reads like one is not one.
        assert!(
            rest.contains("\n3403; 0 16395 MATERIALIZED VIEW DATA")
                && rest.contains("\n216; 1259 16391 TABLE public EVENT")
        );
    }
}
