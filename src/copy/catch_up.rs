//! The catch-up copy: the whole database is copied before the window, while the apps still
//! run, and inside the window only what changed since. What changed is found by comparing
//! fingerprints (facts/fingerprint.rs): each table's rows are summed per range of its integer primary
//! key, so a table the apps append to costs its last ranges, not the whole table. Those ranges
//! are deleted from the new database and streamed again from the old one in one transaction,
//! with the sequences and materialized views; the stream is kept as a SQL script beside the
//! first dump, and the two together are the database as it was at the switch.
//!
//! The fingerprints are keyed for the run (a key drawn when the copier is made, kept in memory
//! only): a late write cannot be chosen so that its range looks unchanged and is never copied.
//! Nothing here is trusted on its own: the verification step reads both whole databases
//! afterwards with its own eyes (facts/verifier/), so what the stream did to the new database,
//! and anything else that happened there, is seen. When the schema changed since the first
//! copy (a migration run with `dokku run`), or large objects are in use, the window copies
//! everything again instead.

use crate::copy::online::schema::SchemaDump;
use crate::copy::{Copier, Endpoint, GLOBALS, Globals, Job, ParallelDirectory, reset_database};
use crate::facts::fingerprint::{self, Catalog, Fingerprint, Parts, ident, literal};
use crate::facts::verifier::{self, Side};
use crate::host::psql::Psql;
use crate::host::runner::Pipe;
use crate::host::secret::Secret;
use crate::host::{Host, container};
use anyhow::{Context, Result, bail};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Above this many changed ranges a table is copied whole: one DELETE and one COPY are then
/// cheaper than a long list of ranges.
const MAX_RANGES: usize = 256;

/// Up to this many changed rows stream through the sessions kept open (held in memory on the
/// way); more go through a pipe of two `docker exec`s of psql.
const IN_SESSIONS: u64 = 10_000;

/// What the stream's last statement prints, before its transaction id.
const END_MARK: &str = "catch-up-xid ";

pub struct CatchUp {
    full: ParallelDirectory,
    /// The first copy, as the window finds it.
    base: RefCell<Option<Base>>,
    /// The rollback artifact: the first dump and the catch-up script, or the window's dump.
    kept: RefCell<Option<Vec<PathBuf>>>,
    /// One session on each server, opened before the window and kept through it.
    sessions: RefCell<Option<(Psql, Psql)>>,
    /// The window found the database's own properties as the first copy carried them (or
    /// carried them again).
    properties: Cell<bool>,
    /// Both catalog states when the first copy's schema was proven before the window.
    schema_proven: RefCell<Option<(String, String)>>,
}

struct Base {
    /// This run's key for the fingerprints, drawn with the first copy.
    key: Secret,
    catalog: Catalog,
    /// `pg_dump --schema-only` of the old database, taken around the first copy.
    schema: String,
    /// The new database after the first copy.
    print: Fingerprint,
    /// The tables extensions own, in the old database before the first copy.
    owned: Catalog,
    owned_print: Fingerprint,
    /// The roles and the database's own properties, read before the first copy carried them.
    globals: Globals,
}

impl CatchUp {
    pub fn new(full: ParallelDirectory) -> CatchUp {
        CatchUp {
            full,
            base: RefCell::new(None),
            kept: RefCell::new(None),
            sessions: RefCell::new(None),
            properties: Cell::new(false),
            schema_proven: RefCell::new(None),
        }
    }

    /// Everything again, inside the window: the fallback whenever the first copy cannot be
    /// caught up.
    fn copy_all(&self, job: &Job, why: &str) -> Result<()> {
        job.out.verbose(&format!("{why}: copying everything again"));
        self.properties.set(false);
        self.sessions.borrow_mut().take();
        self.schema_proven.borrow_mut().take();
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
        let key = Secret::draw()?;
        // Taken before the dump: any change after it shows in the window.
        let owned = first.extension_catalog(|_| true);
        let owned_print = fingerprint_owned(host, from, &owned, &key)?;
        let before = schema(host, from)?;
        let globals = Globals::read(host, from)?;
        self.full.dump_and_restore(host, job.out, from, to, job.dump)?;
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        crate::copy::carry_database_properties(job, &client)?;
        let schema = schema(host, from)?;
        if schema != before {
            job.out.verbose("The schema changed during the copy: the copy is made again inside the window");
            return Ok(());
        }
        // What autovacuum would otherwise do to the fresh tables inside the window, competing
        // with the copy for the cores: set hint bits and the visibility map, gather the planner
        // statistics the apps need from their first query (pg_restore leaves none), and write
        // it all out.
        host.sql(to.service, to.database, "VACUUM (ANALYZE)")?;
        host.sql(to.service, to.database, "CHECKPOINT")?;
        let mut catalog = Catalog::read(host, from.service, from.database)?;
        catalog.measure(host, from.service, from.database)?;
        let timer = crate::output::progress::timer(format!("fingerprinting {}", to.service), job.out.quiet());
        let print = Fingerprint::take(host, to.service, to.database, &catalog, &key)?;
        drop(timer);
        job.out.verbose(&format!("{} rows in {} tables copied while the apps run", print.rows(), catalog.tables.len()));
        // The schema as pg_dump prints it, proven now while the apps run, with both catalogs'
        // states read first by the verifier: inside the window the proof stands while neither
        // changed (docs/fidelity.md). A schema that moved meanwhile is left to the window.
        let (mut old, mut new) = (Side::now(from.service, from.database), Side::now(to.service, to.database));
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        let proven = verifier::catalog_states(host, &mut old, &mut new).and_then(|states| {
            let (old, new) = ((from.service, from.database), (to.service, to.database));
            crate::facts::verify::compare_schemas(host, &client, old, new, job.replay).map(|()| states)
        });
        match proven {
            Ok(states) => *self.schema_proven.borrow_mut() = Some(states),
            Err(err) => log::debug!("the schema is proven inside the window: {err:#}"),
        }
        *self.base.borrow_mut() = Some(Base { key, catalog, schema, print, owned, owned_print, globals });
        Ok(())
    }

    /// The window's sessions, opened now (each a `docker exec` of psql).
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
        // The sessions opened before the window, while both still answer.
        let mut sessions = self.sessions.borrow_mut();
        let alive = match sessions.as_mut() {
            Some((old, new)) => old.query(&["SELECT 1"]).is_ok() && new.query(&["SELECT 1"]).is_ok(),
            None => false,
        };
        if !alive {
            *sessions =
                Some((Psql::open(host, from.service, from.database)?, Psql::open(host, to.service, to.database)?));
        }
        let (old, new) = sessions.as_mut().expect("opened above");
        // The old schema, dumped while the rows are fingerprinted: a schema that changed since
        // the first copy makes the window copy everything (and may make the fingerprint fail).
        let dump = SchemaDump::start(host, from)?;
        let timer = crate::output::progress::timer(format!("fingerprinting {}", from.service), job.out.quiet());
        let now = Fingerprint::take_in(old, &base.catalog, &base.key);
        drop(timer);
        if dump.finish()? != base.schema {
            drop(sessions);
            return self.copy_all(job, "The schema changed since the first copy");
        }
        let now = now?;
        if now.large_objects > 0 {
            drop(sessions);
            return self.copy_all(job, "Large objects were added since the first copy");
        }
        let owned_now = fingerprint_owned(host, from, &base.owned, &base.key)?;
        if owned_now.sums != base.owned_print.sums {
            drop(sessions);
            return self.copy_all(job, "A table an extension owns changed since the first copy");
        }
        // The roles and the database's own properties: carried again when they changed since
        // the first copy carried them.
        let globals = Globals::from_rows(&old.query(&GLOBALS)?, from.service)?;
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        if globals.roles != base.globals.roles {
            self.full.copy_roles(host, &client, from.service, to.service)?;
        }
        let changed = now.differences(&base.print);
        let parts = parts_to_copy(&base.catalog, &changed);
        let tee = sibling(job.dump, "catch-up.sql");
        let rows: u64 = changed
            .iter()
            .flat_map(|(&t, ranges)| ranges.iter().map(move |&r| (t, r)))
            .filter_map(|key| now.sums.get(&key).map(|(rows, _)| rows))
            .sum();
        let whole = parts.values().any(Option::is_none);
        if rows <= IN_SESSIONS && !whole {
            stream_in_sessions(old, new, &base.catalog, &parts, &tee)?;
        } else {
            stream_parts(job, &base.catalog, &parts, &tee)?;
        }
        // A migration that ran during the window's copy moved the old database's snapshot and,
        // unlike rows, shows in no fingerprint: the schema is compared once more then.
        let snapshot = old.value("SELECT txid_current_snapshot()")?;
        drop(sessions);
        if snapshot != now.snapshot && schema(host, from)? != base.schema {
            bail!("the schema of {} changed during the copy", from.service);
        }
        if globals.database != base.globals.database {
            job.out.verbose("The database's own properties changed since the first copy: carried again");
            crate::copy::carry_database_properties(job, &client)?;
        }
        self.properties.set(true);
        *self.kept.borrow_mut() = Some(vec![job.dump.to_path_buf(), tee]);
        job.out.verbose(&format!(
            "{rows} rows in {} key range(s) of {} table(s) changed since the first copy: copied again",
            changed.values().map(Vec::len).sum::<usize>(),
            changed.len()
        ));
        Ok(())
    }

    fn schema_proven_at(&self) -> Option<(String, String)> {
        self.schema_proven.borrow().clone()
    }

    fn carries_database_properties(&self) -> bool {
        self.properties.get()
    }

    fn artifacts(&self) -> Option<Vec<PathBuf>> {
        self.kept.borrow().clone()
    }
}

/// Streams `parts` of the old database into the new one in one transaction, with every
/// sequence value and materialized view ([`producer_script`]), the stream kept as `tee`.
pub(crate) fn stream_parts(job: &Job, catalog: &Catalog, parts: &Parts, tee: &Path) -> Result<()> {
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
    if !consumed.stdout.lines().any(|l| l.strip_prefix(END_MARK).is_some_and(|x| x.trim().parse::<u64>().is_ok())) {
        bail!("the stream from {} to {} ended before its end mark", from.service, to.service);
    }
    Ok(())
}

/// [`stream_parts`] through two sessions kept open (`old` and `new`, `host/psql.rs`) instead
/// of a `docker exec` of psql on each server: for a stream small enough to hold in memory (the
/// sequences and the views, a few rows), whose processes would cost more than its statements.
/// The same script, the same transaction on each side, the same end mark, the stream kept as `tee`.
pub(crate) fn stream_in_sessions(
    old: &mut Psql,
    new: &mut Psql,
    catalog: &Catalog,
    parts: &Parts,
    tee: &Path,
) -> Result<()> {
    let script = producer_script(catalog, parts);
    let statements: Vec<&str> = script.lines().map(|l| l.strip_suffix(';').unwrap_or(l)).collect();
    // The session's settings back as they were: the script sets its own for the session.
    let reset = ["RESET ALL", "SET search_path = pg_catalog, pg_temp"];
    let produced = old.query(&statements);
    old.query(&reset)?;
    let mut produced = produced?.join("\n");
    produced.push('\n');
    std::fs::write(tee, &produced).with_context(|| format!("Unable to write {}", tee.display()))?;
    let (consumed, failed) =
        new.script(&format!("BEGIN;\n{produced}COMMIT;\nRESET ALL;\nSET search_path = pg_catalog, pg_temp;\n"))?;
    if !consumed.iter().any(|l| l.strip_prefix(END_MARK).is_some_and(|x| x.trim().parse::<u64>().is_ok())) {
        bail!(
            "Unable to bring {} up to date with {}: {}",
            new.service,
            old.service,
            failed.unwrap_or_else(|| "the stream ended before its end mark".into())
        );
    }
    Ok(())
}

/// What to copy again of each changed table: its changed key ranges, or all of it when it has
/// no integer key or so many ranges changed that one DELETE and one COPY are cheaper.
fn parts_to_copy(catalog: &Catalog, changed: &BTreeMap<usize, Vec<i64>>) -> Parts {
    changed
        .iter()
        .map(|(&i, ranges)| {
            let whole = catalog.tables[i].key.is_none() || ranges.len() > MAX_RANGES;
            (i, (!whole).then(|| ranges.clone()))
        })
        .collect()
}

/// The fingerprint of the extension-owned tables (none: nothing to ask).
pub(crate) fn fingerprint_owned(host: &Host, db: &Endpoint, owned: &Catalog, key: &Secret) -> Result<Fingerprint> {
    if owned.tables.is_empty() {
        return Ok(Fingerprint::default());
    }
    Fingerprint::take(host, db.service, db.database, owned, key)
}

/// `<dump>-<suffix>`, beside the dump.
pub(crate) fn sibling(dump: &Path, suffix: &str) -> PathBuf {
    let mut name = dump.file_name().unwrap_or_default().to_os_string();
    name.push(format!("-{suffix}"));
    dump.with_file_name(name)
}

/// The old database's schema as its own pg_dump prints it, without the restrict lines whose
/// key is random on every run: compared with itself only.
fn schema(host: &Host, db: &Endpoint) -> Result<String> {
    schema_at(host, db, None)
}

/// [`schema`] as the exported `snapshot` sees it, when one is given (copy/online).
pub(crate) fn schema_at(host: &Host, db: &Endpoint, snapshot: Option<&str>) -> Result<String> {
    let at = snapshot.map(|s| format!("--snapshot={s}"));
    let cmd = host
        .docker(&["container", "exec", &container(db.service)])
        .args(["pg_dump", "--schema-only", "-U", "postgres", "-d", db.database])
        .args(at);
    Ok(crate::host::client::without_restrict_lines(&host.check(&cmd)?.stdout))
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
    // Event triggers are not held back by the replica role when they are enabled ALWAYS or
    // REPLICA, and a refresh below is DDL that fires them: each is off for this transaction and
    // back in its own state at its end (the schema, so these triggers, is the old database's).
    lines.push(format!(
        "SELECT pg_catalog.format('ALTER EVENT TRIGGER %I DISABLE;', evtname) FROM {ENABLED_EVENT_TRIGGERS};"
    ));
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
    for (schema, sequence) in &catalog.sequences {
        let name = format!("{}.{}", ident(schema), ident(sequence));
        lines.push(format!(
            "SELECT pg_catalog.format('SELECT pg_catalog.setval(%L, %s, %s);', {}, last_value, is_called::text) FROM {name};",
            literal(&name)
        ));
    }
    // Every materialized view as the old database has it now, as pg_restore leaves them:
    // populated ones refreshed from the copied rows, the others emptied, each after every view
    // it is built on, directly or through plain views (oids do not say: a view can be replaced
    // to read from a newer one).
    let refresh = REFRESH_IN_DEPENDENCY_ORDER.replace('\n', " ");
    lines.push(format!("{refresh} WHERE {} ORDER BY o.n, c.oid;", fingerprint::NOT_EXTENSION_OWNED));
    lines.push(format!(
        "SELECT pg_catalog.format('ALTER EVENT TRIGGER %I ENABLE%s;', evtname, \
         CASE evtenabled WHEN 'A' THEN ' ALWAYS' WHEN 'R' THEN ' REPLICA' ELSE '' END) FROM {ENABLED_EVENT_TRIGGERS};"
    ));
    emit(&mut lines, &format!("SELECT '{END_MARK}' || pg_catalog.txid_current();"));
    lines.push("COMMIT;".into());
    lines.join("\n") + "\n"
}

/// The event triggers that fire in some session, by name.
const ENABLED_EVENT_TRIGGERS: &str = "pg_catalog.pg_event_trigger WHERE evtenabled <> 'D' ORDER BY evtname";

/// A `REFRESH MATERIALIZED VIEW` statement for each materialized view `c` (in namespace `n`),
/// with `o.n` its depth: 0 for one built on no other, else one more than the deepest it is
/// built on. What a view reads is what its rewrite rule depends on (`pg_depend`), followed
/// through plain views; materialized views cannot form a cycle, so the depth is finite.
const REFRESH_IN_DEPENDENCY_ORDER: &str = "WITH RECURSIVE edge AS (
  SELECT DISTINCT r.ev_class AS rel, d.refobjid AS uses FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class),
reach(mv, rel) AS (
  SELECT e.rel, e.uses FROM edge e JOIN pg_catalog.pg_class c ON c.oid = e.rel AND c.relkind = 'm'
  UNION
  SELECT r.mv, e.uses FROM reach r JOIN pg_catalog.pg_class v ON v.oid = r.rel AND v.relkind = 'v'
  JOIN edge e ON e.rel = v.oid),
depth(mv, n) AS (
  SELECT c.oid, 0 FROM pg_catalog.pg_class c WHERE c.relkind = 'm'
  UNION
  SELECT r.mv, d.n + 1 FROM reach r JOIN depth d ON d.mv = r.rel)
SELECT pg_catalog.format('REFRESH MATERIALIZED VIEW %I.%I%s;', n.nspname, c.relname,
  CASE WHEN c.relispopulated THEN '' ELSE ' WITH NO DATA' END)
FROM (SELECT mv, pg_catalog.max(n) AS n FROM depth GROUP BY mv) o
JOIN pg_catalog.pg_class c ON c.oid = o.mv JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace";

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
        // Event triggers, which the replica role does not stop when enabled ALWAYS, are off
        // until the end of the transaction.
        assert!(lines[body + 1].starts_with("SELECT pg_catalog.format('ALTER EVENT TRIGGER %I DISABLE;', evtname)"));
        let body = body + 1;
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
        assert!(lines[body + 10].starts_with("WITH RECURSIVE edge AS ("), "{}", lines[body + 10]);
        assert!(lines[body + 10].ends_with("ORDER BY o.n, c.oid;"), "{}", lines[body + 10]);
        assert!(lines[body + 11].starts_with("SELECT pg_catalog.format('ALTER EVENT TRIGGER %I ENABLE%s;'"));
        assert_eq!(
            lines[body + 12..].to_vec(),
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
