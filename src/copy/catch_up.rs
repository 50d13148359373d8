//! The catch-up copy: the whole database is copied before the window, while the apps still
//! run, and inside the window only what changed since. What changed is found by comparing
//! fingerprints (facts/fingerprint.rs): each table's rows are summed per range of its integer primary
//! key, so a table the apps append to costs its last ranges, not the whole table. Those ranges
//! are deleted from the new database and streamed again from the old one in one transaction,
//! with the sequences and materialized views; the stream is kept as a SQL script beside the
//! first dump, and the two together are the database as it was at the switch.
//!
//! Nothing here is trusted on its own: the verification step compares the fingerprints of the
//! whole old and new databases afterwards (facts/verify.rs). When the schema changed since the first
//! copy (a migration run with `dokku run`), or large objects are in use, the window copies
//! everything again instead.

use crate::copy::{Copier, Endpoint, Globals, Job, ParallelDirectory, Prints, reset_database};
use crate::facts::fingerprint::{self, Catalog, Fingerprint, Parts, ident, literal};
use crate::host::psql::Psql;
use crate::host::runner::Pipe;
use crate::host::{Host, container};
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Above this many changed ranges a table is copied whole: one DELETE and one COPY are then
/// cheaper than a long list of ranges.
pub(crate) const MAX_RANGES: usize = 256;

/// What the stream's last statement prints, before its transaction id.
const END_MARK: &str = "catch-up-xid ";

pub struct CatchUp {
    full: ParallelDirectory,
    /// The first copy, as the window finds it.
    base: RefCell<Option<Base>>,
    /// The fingerprints of both databases when the window's copy was done.
    prints: RefCell<Option<Prints>>,
    /// The rollback artifact: the first dump and the catch-up script, or the window's dump.
    kept: RefCell<Option<Vec<PathBuf>>>,
    /// One session on each server, opened before the window (copy/online/ has the same).
    sessions: RefCell<Option<(Psql, Psql)>>,
    /// Inside the window: the old database's snapshot when its schema was proven unchanged
    /// since it was proven the same, and the database's own properties carried (copy/mod.rs,
    /// Copier).
    proven: RefCell<(Option<String>, bool)>,
}

struct Base {
    catalog: Catalog,
    /// The roles and the database's own properties as they were carried before the window.
    globals: Globals,
    /// The new schema was compared with the old one after the first copy.
    schema_proven: bool,
    /// `pg_dump --schema-only` of the old database, taken around the first copy.
    schema: String,
    /// The new database after the first copy.
    print: Fingerprint,
    /// The tables extensions own, in the old database before the first copy.
    owned: Catalog,
    owned_print: Fingerprint,
}

impl CatchUp {
    pub fn new(full: ParallelDirectory) -> CatchUp {
        CatchUp {
            full,
            base: RefCell::new(None),
            prints: RefCell::new(None),
            kept: RefCell::new(None),
            proven: RefCell::new((None, false)),
            sessions: RefCell::new(None),
        }
    }

    /// Everything again, inside the window: the fallback whenever the first copy cannot be
    /// caught up.
    fn copy_all(&self, job: &Job, why: &str) -> Result<()> {
        job.out.verbose(&format!("{why}: copying everything again"));
        reset_database(job.host, &job.to)?;
        let dump = sibling(job.dump, "window");
        self.full.dump_and_restore(job.host, job.out, &job.from, &job.to, &dump)?;
        *self.kept.borrow_mut() = Some(vec![dump]);
        Ok(())
    }
}

impl Copier for CatchUp {
    fn name(&self) -> String {
        format!("{} while the apps run, then the changed key ranges", self.full.name())
    }

    fn prepare(&self, job: &Job) -> Result<()> {
        let (host, from, to) = (job.host, &job.from, &job.to);
        if job.resuming {
            reset_database(host, to)?;
        }
        let first = Catalog::read(host, from.service, from.database)?;
        if first.large_objects > 0 {
            job.out.verbose("Large objects are in use: the copy is made inside the window");
            return Ok(());
        }
        if first.replica_triggers > 0 {
            job.out.verbose(
                "Triggers or rules that fire in replica sessions are in use: the copy is made inside the window",
            );
            return Ok(());
        }
        // Taken before the dump: any change after it shows in the window.
        let owned = first.extension_catalog(|_| true);
        let owned_print = fingerprint_owned(host, from, &owned)?;
        let before = schema(host, from)?;
        // Read before the roles are dumped: a change after it is carried again inside the window.
        let globals = Globals::read(host, from)?;
        self.full.dump_and_restore(host, job.out, from, to, job.dump)?;
        let schema = schema(host, from)?;
        if schema != before {
            job.out.verbose("The schema changed during the copy: the copy is made again inside the window");
            return Ok(());
        }
        // The database's own properties, and the schema compared, now rather than inside the
        // window (before the new database's fingerprint: nothing writes there after it).
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        crate::copy::globals::copy_database_properties(
            host,
            &client,
            (from.service, from.database),
            (to.service, to.database),
        )?;
        let schema_proven = match crate::facts::verify::compare_schemas(
            host,
            &client,
            (from.service, from.database),
            (to.service, to.database),
            job.replay,
        ) {
            Ok(()) => true,
            Err(err) => {
                log::debug!("the schema is compared again inside the window: {err:#}");
                false
            }
        };
        // What autovacuum would otherwise do to the fresh tables inside the window, competing
        // with the copy for the cores: set hint bits and the visibility map, gather the planner
        // statistics the apps need from their first query (pg_restore leaves none), and write
        // it all out.
        host.sql(to.service, to.database, "VACUUM (ANALYZE)")?;
        host.sql(to.service, to.database, "CHECKPOINT")?;
        let mut catalog = Catalog::read(host, from.service, from.database)?;
        catalog.measure(host, from.service, from.database)?;
        let timer = crate::output::progress::timer(format!("fingerprinting {}", to.service), job.out.quiet());
        let print = Fingerprint::take(host, to.service, to.database, &catalog, true)?;
        drop(timer);
        job.out.verbose(&format!("{} rows in {} tables copied while the apps run", print.rows(), catalog.tables.len()));
        *self.base.borrow_mut() = Some(Base { catalog, globals, schema_proven, schema, print, owned, owned_print });
        Ok(())
    }

    fn follow(&self, job: &Job) -> Result<()> {
        if self.base.borrow().is_some() {
            *self.sessions.borrow_mut() = Some((
                Psql::open(job.host, job.from.service, job.from.database)?,
                Psql::open(job.host, job.to.service, job.to.database)?,
            ));
        }
        Ok(())
    }

    fn copy(&self, job: &Job) -> Result<()> {
        let (host, from, to) = (job.host, &job.from, &job.to);
        // A resumed run has no first copy it can trust: the earlier run's state died with it.
        let Some(base) = self.base.borrow_mut().take() else {
            return self.copy_all(job, "No first copy to catch up");
        };
        // One session on each server, opened before the window (`follow`) or now; the old
        // schema is dumped while the old database is fingerprinted.
        let opened = self.sessions.borrow_mut().take().and_then(|(mut old, mut new)| {
            (old.query(&["SELECT 1"]).is_ok() && new.query(&["SELECT 1"]).is_ok()).then_some((old, new))
        });
        let (mut old, mut new) = match opened {
            Some(sessions) => sessions,
            None => (Psql::open(host, from.service, from.database)?, Psql::open(host, to.service, to.database)?),
        };
        let dump = SchemaDump::start(host, from)?;
        let all: Parts = (0..base.catalog.tables.len()).map(|i| (i, None)).collect();
        let timer = crate::output::progress::timer(format!("fingerprinting {}", from.service), job.out.quiet());
        old.send(&Fingerprint::statements(&base.catalog, &all, true, None))?;
        let now = Fingerprint::parse(&old.collect()?)?;
        drop(timer);
        if dump.finish()? != base.schema {
            return self.copy_all(job, "The schema changed since the first copy");
        }
        if now.large_objects > 0 {
            return self.copy_all(job, "Large objects were added since the first copy");
        }
        let owned_now = fingerprint_owned(host, from, &base.owned)?;
        if owned_now.sums != base.owned_print.sums {
            return self.copy_all(job, "A table an extension owns changed since the first copy");
        }
        // The roles and the database's properties are carried again when they changed since.
        let globals = Globals::from_rows(&old.query(&crate::copy::GLOBALS)?, from.service)?;
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        if globals.roles != base.globals.roles {
            self.full.copy_roles(host, &client, from.service, to.service)?;
        }
        let changed = now.differences(&base.print);
        let parts = parts_to_copy(&base.catalog, &changed);
        // Nothing but this copy writes to the new database (no app is linked to it yet): its
        // fingerprint from before the window stands while its snapshot has not moved.
        let untouched = new.value("SELECT txid_current_snapshot()")? == base.print.snapshot;
        let tee = sibling(job.dump, "catch-up.sql");
        let xid = if parts.is_empty() {
            // Nothing to stream: the sequences and views from one session to the other.
            let mut statements = vec!["BEGIN".to_string()];
            statements.extend(
                old.query(&sequences_and_views(&base.catalog))?.iter().map(|s| s.trim_end_matches(';').to_string()),
            );
            crate::host::write_private(&tee, (statements.join(";\n") + ";\n").as_bytes())?;
            statements.push("SELECT txid_current()".into());
            statements.push("COMMIT".into());
            new.query(&statements)?
                .last()
                .and_then(|x| x.parse::<u64>().ok())
                .context("no transaction id from the new server")?
        } else {
            stream_parts(job, &base.catalog, &parts, &tee)?
        };
        // A migration that ran during the window's copy moved the old database's snapshot and,
        // unlike rows, shows in no fingerprint: the schema is compared once more then.
        let after = old.value("SELECT txid_current_snapshot()")?;
        if after != now.snapshot && schema(host, from)? != base.schema {
            bail!("the schema of {} changed during the copy", from.service);
        }
        *self.kept.borrow_mut() = Some(vec![job.dump.to_path_buf(), tee]);
        let rows: u64 = changed
            .iter()
            .flat_map(|(&t, ranges)| ranges.iter().map(move |&r| (t, r)))
            .filter_map(|key| now.sums.get(&key).map(|(rows, _)| rows))
            .sum();
        job.out.verbose(&format!(
            "{rows} rows in {} key range(s) of {} table(s) changed since the first copy: copied again",
            changed.values().map(Vec::len).sum::<usize>(),
            changed.len()
        ));
        // What the copy holds now: the parts just written, taken again, over the rest.
        let part = Fingerprint::parse(&new.query(&Fingerprint::statements(&base.catalog, &parts, true, None))?)?;
        let copy = if untouched && base.print.only_writer_since(xid, &part.snapshot) {
            base.print.replace(&parts, &part)
        } else {
            Fingerprint::parse(&new.query(&Fingerprint::statements(&base.catalog, &all, true, None))?)?
        };
        if globals.database != base.globals.database {
            crate::copy::globals::copy_database_properties(
                host,
                &client,
                (from.service, from.database),
                (to.service, to.database),
            )?;
        }
        *self.proven.borrow_mut() = (base.schema_proven.then_some(after), true);
        *self.prints.borrow_mut() = Some(Prints { catalog: base.catalog, original: now, copy });
        Ok(())
    }

    fn schema_proven(&self) -> Option<String> {
        self.proven.borrow().0.clone()
    }

    fn carries_database_properties(&self) -> bool {
        self.proven.borrow().1
    }

    fn fingerprints(&self) -> Option<Prints> {
        self.prints.borrow().clone()
    }

    fn artifacts(&self) -> Option<Vec<PathBuf>> {
        self.kept.borrow().clone()
    }
}

/// What to copy again of each changed table: its changed key ranges, or all of it when it has
/// no integer key or so many ranges changed that one DELETE and one COPY are cheaper.
pub(crate) fn parts_to_copy(catalog: &Catalog, changed: &BTreeMap<usize, Vec<i64>>) -> Parts {
    changed
        .iter()
        .map(|(&i, ranges)| {
            let whole = catalog.tables[i].key.is_none() || ranges.len() > MAX_RANGES;
            (i, (!whole).then(|| ranges.clone()))
        })
        .collect()
}

/// The fingerprint of the extension-owned tables (none: nothing to ask).
pub(crate) fn fingerprint_owned(host: &Host, db: &Endpoint, owned: &Catalog) -> Result<Fingerprint> {
    if owned.tables.is_empty() {
        return Ok(Fingerprint::default());
    }
    Fingerprint::take(host, db.service, db.database, owned, true)
}

/// Streams `parts` of the old database into the new one in one transaction, with every sequence
/// value and materialized view ([`producer_script`]), the stream kept as `tee`; the id of the
/// new server's transaction.
pub(crate) fn stream_parts(job: &Job, catalog: &Catalog, parts: &Parts, tee: &Path) -> Result<u64> {
    let (host, from, to) = (job.host, &job.from, &job.to);
    let script = producer_script(catalog, parts);
    let watched = tee.to_path_buf();
    let progress = crate::output::progress::Progress::start(
        format!("copying what changed into {}", to.service),
        0,
        crate::output::progress::Unit::Bytes,
        job.out.quiet(),
        move || crate::output::progress::bytes_under(&watched),
    );
    let consumed = host
        .check_pipe(&Pipe {
            producer: &host.psql(from.service, from.database, true).args(["-q", "-A", "-t", "-f", "-"]),
            script: &script,
            consumer: &host.psql(to.service, to.database, true).args(["-q", "-A", "-t", "-1", "-f", "-"]),
            tee,
        })
        .with_context(|| format!("Unable to bring {} up to date with {}", to.service, from.service))?;
    drop(progress);
    // The stream's last statement prints its transaction id: without it the stream was cut
    // short (psql ends a COPY at the end of its input, and -1 would commit what came).
    match consumed.stdout.lines().find_map(|l| l.strip_prefix(END_MARK)?.trim().parse::<u64>().ok()) {
        Some(xid) => Ok(xid),
        None => bail!("the stream from {} to {} ended before its end mark", from.service, to.service),
    }
}

/// `<dump>-<suffix>`, beside the dump.
pub(crate) fn sibling(dump: &Path, suffix: &str) -> PathBuf {
    let mut name = dump.file_name().unwrap_or_default().to_os_string();
    name.push(format!("-{suffix}"));
    dump.with_file_name(name)
}

/// `pg_dump --schema-only` of the old database running while the window does something else.
pub(crate) struct SchemaDump {
    session: Box<dyn crate::host::runner::Session>,
    service: String,
}

impl SchemaDump {
    pub(crate) fn start(host: &Host, db: &Endpoint) -> Result<SchemaDump> {
        let cmd = host.docker(&["container", "exec", &crate::host::container(db.service)]).args([
            "pg_dump",
            "--schema-only",
            "-U",
            "postgres",
            "-d",
            db.database,
        ]);
        Ok(SchemaDump { session: host.session(&cmd)?, service: db.service.to_string() })
    }

    /// The dump as [`schema_at`] has it.
    pub(crate) fn finish(mut self) -> Result<String> {
        let mut text = Vec::new();
        while let Some(line) = self.session.line() {
            text.push(line);
        }
        let said = self.session.stderr();
        if text.is_empty() || said.contains("error:") {
            bail!("Unable to dump the schema of {}: {}", self.service, said.trim());
        }
        Ok(crate::host::client::without_restrict_lines(&(text.join("\n") + "\n")))
    }
}

/// The old database's schema as its own pg_dump prints it, without the restrict lines whose
/// key is random on every run: compared with itself only.
fn schema(host: &Host, db: &Endpoint) -> Result<String> {
    schema_at(host, db, None)
}

/// [`schema`] as the exported `snapshot` sees it, when one is given.
pub(crate) fn schema_at(host: &Host, db: &Endpoint, snapshot: Option<&str>) -> Result<String> {
    let at = snapshot.map(|s| format!("--snapshot={s}"));
    let cmd = host
        .docker(&["container", "exec", &container(db.service)])
        .args(["pg_dump", "--schema-only", "-U", "postgres", "-d", db.database])
        .args(at);
    Ok(crate::host::client::without_restrict_lines(&host.check(&cmd)?.stdout))
}

/// Queries for the old server that print the statements giving the new database every sequence
/// value and every materialized view as the old one has them (each row one statement).
pub(crate) fn sequences_and_views(catalog: &Catalog) -> Vec<String> {
    let mut queries: Vec<String> = catalog
        .sequences
        .iter()
        .map(|(schema, sequence)| {
            let name = format!("{}.{}", ident(schema), ident(sequence));
            format!(
                "SELECT pg_catalog.format('SELECT pg_catalog.setval(%L, %s, %s);', {}, last_value, is_called::text) FROM {name}",
                literal(&name)
            )
        })
        .collect();
    // Every materialized view as the old database has it now, as pg_restore leaves them:
    // populated ones refreshed from the copied rows, the others emptied, oldest first (a view
    // built on another is newer than it).
    queries.push(format!(
        "SELECT pg_catalog.format('REFRESH MATERIALIZED VIEW %I.%I%s;', n.nspname, c.relname, \
         CASE WHEN c.relispopulated THEN '' ELSE ' WITH NO DATA' END) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'm' AND {} ORDER BY c.oid",
        fingerprint::NOT_EXTENSION_OWNED
    ));
    queries
}

/// The script the old server runs, in one repeatable-read snapshot: it prints the SQL script
/// the new server runs in one transaction (deletes, COPY … FROM stdin with the rows inline,
/// sequence values, view refreshes), the same shape as a plain-format pg_dump. Triggers and
/// foreign keys are off in the new session (`session_replication_role = replica`): the rows
/// come from a database where the keys held, and an app's triggers must not fire twice.
fn producer_script(catalog: &Catalog, parts: &Parts) -> String {
    let mut lines: Vec<String> = fingerprint::SESSION.iter().map(|s| format!("{s};")).collect();
    lines.push("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;".into());
    let emit = |lines: &mut Vec<String>, sql: &str| lines.push(format!("SELECT {};", literal(sql)));
    for set in fingerprint::SESSION {
        emit(&mut lines, &format!("{set};"));
    }
    emit(&mut lines, "SET session_replication_role = replica;");
    for (&i, ranges) in parts {
        let table = &catalog.tables[i];
        let name = table.qualified();
        let filter = table.where_clause(ranges.as_ref());
        let columns: Vec<String> = table.columns.iter().map(|c| ident(c)).collect();
        let list = if columns.is_empty() { String::new() } else { format!(" ({})", columns.join(", ")) };
        emit(&mut lines, &format!("DELETE FROM ONLY {name}{filter};"));
        emit(&mut lines, &format!("COPY {name}{list} FROM stdin;"));
        lines.push(format!("COPY (SELECT {} FROM ONLY {name}{filter}) TO STDOUT;", columns.join(", ")));
        lines.push("SELECT '\\.';".into());
    }
    lines.extend(sequences_and_views(catalog).into_iter().map(|q| format!("{q};")));
    emit(&mut lines, &format!("SELECT '{END_MARK}' || pg_catalog.txid_current();"));
    lines.push("COMMIT;".into());
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fingerprint::Table;

    fn catalog() -> Catalog {
        Catalog {
            tables: vec![
                Table {
                    schema: "public".into(),
                    name: "notes".into(),
                    columns: vec!["id".into(), "body".into()],
                    key: Some("id".into()),
                    shift: 10,
                    ..Default::default()
                },
                Table {
                    schema: "public".into(),
                    name: "it's".into(),
                    columns: vec!["line".into()],
                    key: None,
                    shift: 10,
                    ..Default::default()
                },
            ],
            sequences: vec![("public".into(), "notes_id_seq".into())],
            ..Catalog::default()
        }
    }

    #[test]
    fn the_script_moves_changed_ranges_and_whole_keyless_tables_then_sequences_and_views() {
        let changed = BTreeMap::from([(0, vec![3]), (1, vec![0])]);
        let parts = parts_to_copy(&catalog(), &changed);
        assert_eq!(parts, Parts::from([(0, Some(vec![3])), (1, None)]));
        let script = producer_script(&catalog(), &parts);
        let lines: Vec<&str> = script.lines().collect();
        let begin = fingerprint::SESSION.len();
        assert_eq!(lines[begin], "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;");
        // The new server's session: the same settings, then triggers and foreign keys off.
        assert_eq!(lines[begin + 1], "SELECT 'SET client_encoding = ''UTF8'';';");
        let body = begin + 1 + fingerprint::SESSION.len();
        assert_eq!(lines[body], "SELECT 'SET session_replication_role = replica;';");
        assert_eq!(
            lines[body + 1..body + 10].to_vec(),
            [
                "SELECT 'DELETE FROM ONLY \"public\".\"notes\" WHERE (\"id\" >= 3072 AND \"id\" < 4096);';",
                "SELECT 'COPY \"public\".\"notes\" (\"id\", \"body\") FROM stdin;';",
                "COPY (SELECT \"id\", \"body\" FROM ONLY \"public\".\"notes\" WHERE (\"id\" >= 3072 AND \"id\" < 4096)) TO STDOUT;",
                "SELECT '\\.';",
                "SELECT 'DELETE FROM ONLY \"public\".\"it''s\";';",
                "SELECT 'COPY \"public\".\"it''s\" (\"line\") FROM stdin;';",
                "COPY (SELECT \"line\" FROM ONLY \"public\".\"it's\") TO STDOUT;",
                "SELECT '\\.';",
                "SELECT pg_catalog.format('SELECT pg_catalog.setval(%L, %s, %s);', '\"public\".\"notes_id_seq\"', last_value, is_called::text) FROM \"public\".\"notes_id_seq\";",
            ]
        );
        assert!(lines[body + 10].starts_with("SELECT pg_catalog.format('REFRESH MATERIALIZED VIEW %I.%I%s;'"));
        assert_eq!(
            lines[body + 11..].to_vec(),
            ["SELECT 'SELECT ''catch-up-xid '' || pg_catalog.txid_current();';", "COMMIT;"]
        );
    }

    #[test]
    fn nothing_changed_still_carries_the_sequences() {
        let script = producer_script(&catalog(), &Parts::new());
        assert!(!script.contains("DELETE") && !script.contains("COPY"), "{script}");
        assert!(script.contains("pg_catalog.setval"));
    }

    #[test]
    fn many_changed_ranges_copy_the_whole_table() {
        let changed = BTreeMap::from([(0, (0..300).collect::<Vec<i64>>())]);
        let script = producer_script(&catalog(), &parts_to_copy(&catalog(), &changed));
        assert!(script.contains("SELECT 'DELETE FROM ONLY \"public\".\"notes\";';"), "{script}");
    }

    #[test]
    fn siblings_sit_beside_the_dump() {
        assert_eq!(sibling(Path::new("/d/db-1"), "catch-up.sql"), Path::new("/d/db-1-catch-up.sql"));
    }
}
