//! The online copy (docs/online.md): the new server follows the old one by PostgreSQL's logical
//! replication from the first copy until the window, so that the window holds only what the
//! switch needs, whatever the database's size.
//!
//! Before the window, while the apps run: a publication of every table the stream can carry
//! (facts/replication.rs), two slots on the old server (`test_decoding`, then `pgoutput`, which
//! exports its snapshot), a parallel `pg_dump` at that snapshot restored into the new database,
//! the first copy proven against the old database at the same snapshot (prove.rs), the
//! database's own properties carried, the schema proven, then a subscription on the new server
//! that starts at the snapshot (no copy of its own). Then the new server follows, and the
//! changes the old server's WAL names are read as they come (keys.rs).
//!
//! Inside the window, the apps stopped and the old database held still (copy/hold.rs): the
//! changes since are read, the new server's apply is awaited up to the last commit they name, the
//! subscription is stopped, the sequences, the tables the stream cannot carry and the
//! materialized views are copied as the catch-up copy copies them, and every row changed since
//! the snapshot is compared on both sides. The window does not read every row.
//!
//! What the stream cannot follow falls back to the whole copy inside the window, said: a schema
//! change since the snapshot (a migration), large objects, a change to a table an extension owns.

pub mod keys;
pub mod prove;
pub mod schema;
pub mod stream;

use crate::copy::catch_up::{fingerprint_owned, schema_at, sibling, stream_in_sessions, stream_parts};
use crate::copy::{Copier, Endpoint, GLOBALS, Globals, Job, ParallelDirectory, Sizes, reset_database};
use crate::facts::fingerprint::{Catalog, Fingerprint, literal};
use crate::facts::replication::{OUTSIDE_STREAM_WHY, USER_TABLES};
use crate::facts::verifier::Selection;
use crate::host::Host;
use crate::host::psql::Psql;
use crate::host::secret::Secret;
use anyhow::{Context, Result, bail};
use keys::{Changes, TableName, parse_lsn};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use stream::StreamRecord;

/// Caught up enough to open the window: the new server has confirmed all but this much of the
/// old server's WAL.
const CAUGHT_UP_BYTES: i64 = 8 << 20;
/// How long following may go on without the new server getting closer, before the upgrade is
/// refused (and rolled back) before the window.
const STALLED: Duration = Duration::from_secs(120);
/// Inside the window, how long the new server may take to apply what the old one committed.
const APPLY_WAIT: Duration = Duration::from_secs(60);
/// Changes read from the slot in one query while following.
const CHANGES_PER_READ: u32 = 50_000;

pub struct Online {
    full: ParallelDirectory,
    record: RefCell<Option<StreamRecord>>,
    state: RefCell<Option<Following>>,
    /// One session on each server, opened while following and kept through the window.
    sessions: RefCell<Option<(Psql, Psql)>>,
    /// The rows verification reads inside the window, once the window's copy named them.
    changed: RefCell<Option<Vec<Selection>>>,
    /// Both catalog states when the first copy's schema was proven.
    schema_proven: RefCell<Option<(String, String)>>,
    kept: RefCell<Option<Vec<PathBuf>>>,
    properties: Cell<bool>,
    report: RefCell<serde_json::Map<String, Value>>,
}

/// The first copy, as following and the window find it.
struct Following {
    catalog: Catalog,
    /// Each table's key columns, as the WAL's changes name its rows.
    keys: BTreeMap<TableName, Vec<String>>,
    /// The tables whose WAL key is their primary key: verification selects their rows by it.
    primary: BTreeSet<TableName>,
    streamed: BTreeSet<TableName>,
    /// Catalog indexes of the tables the stream cannot carry: copied whole inside the window
    /// when they changed since the snapshot (the WAL says so), the unlogged ones always (they
    /// write none).
    outside: Vec<usize>,
    unlogged: BTreeSet<usize>,
    /// The old schema at the stream's snapshot.
    schema: String,
    /// Where the stream begins: a commit before it is in the first copy, not in the stream.
    start: u64,
    /// The tables extensions own, before the snapshot, and their fingerprint under `key`: a
    /// change to one (the stream does not carry it) makes the window copy everything.
    owned: Catalog,
    owned_print: Fingerprint,
    key: Secret,
    /// The roles and the database's own properties as they were carried.
    globals: Globals,
    changes: Changes,
}

impl Online {
    pub fn new(full: ParallelDirectory) -> Online {
        Online {
            full,
            record: RefCell::default(),
            state: RefCell::default(),
            sessions: RefCell::default(),
            changed: RefCell::default(),
            schema_proven: RefCell::default(),
            kept: RefCell::default(),
            properties: Cell::new(false),
            report: RefCell::default(),
        }
    }

    fn record(&self, job: &Job) -> StreamRecord {
        self.record.borrow().clone().unwrap_or_else(|| {
            StreamRecord::new((job.from.service, job.from.database), (job.to.service, job.to.database))
        })
    }

    fn note(&self, key: &str, value: Value) {
        self.report.borrow_mut().insert(key.to_string(), value);
    }

    /// Everything again, inside the window, once the stream and what it made are gone: the
    /// fallback whenever the first copy cannot be followed.
    fn copy_all(&self, job: &Job, why: &str) -> Result<()> {
        job.out.verbose(&format!("{why}: copying everything again"));
        self.note("fallback", json!(why));
        self.sessions.borrow_mut().take();
        self.record(job).drop_all(job.host)?;
        reset_database(job.host, &job.to)?;
        let dump = sibling(job.dump, "window");
        self.full.dump_and_restore(job.host, job.out, &job.from, &job.to, &dump)?;
        *self.kept.borrow_mut() = Some(vec![dump]);
        *self.changed.borrow_mut() = None;
        *self.schema_proven.borrow_mut() = None;
        self.properties.set(false);
        Ok(())
    }

    /// The first copy at the stream's snapshot, proven, then the subscription.
    fn first_copy(&self, job: &Job, record: &StreamRecord) -> Result<Option<Following>> {
        let (host, from, to) = (job.host, &job.from, &job.to);
        let mut catalog = Catalog::read(host, from.service, from.database)?;
        if catalog.large_objects > 0 {
            job.out
                .verbose("Large objects are in use: the stream cannot carry them, the copy is made inside the window");
            return Ok(None);
        }
        if catalog.replica_triggers > 0 {
            job.out.verbose(
                "Triggers or rules that fire in replica sessions are in use: they would fire on the applied rows, \
                 the copy is made inside the window",
            );
            return Ok(None);
        }
        catalog.measure(host, from.service, from.database)?;
        let tables = Tables::read(host, from, &catalog)?;
        let owned = catalog.extension_catalog(|_| true);
        let key = Secret::draw()?;
        let owned_print = fingerprint_owned(host, from, &owned, &key)?;
        let mut old = Psql::open(host, from.service, from.database)?;
        if record.wal_keep_set {
            let bound = wal_bound_mb(host, from)?;
            old.query(&[
                format!("ALTER SYSTEM SET max_slot_wal_keep_size = {}", literal(&format!("{bound}MB"))),
                "SELECT pg_reload_conf()".into(),
            ])?;
            job.out.verbose(&format!("The WAL the slots may hold on {} is bounded: {bound} MB", from.service));
        }
        let published: Vec<String> = tables.streamed_names(&catalog);
        stream::create_publication(&mut old, record, &published)?;
        let slots = stream::SlotSession::create(host, record)?;
        job.out.verbose(&format!(
            "Replication slots on {} from {} (snapshot {}); {} of {} tables in the stream",
            from.service,
            slots.lsn,
            slots.snapshot,
            published.len(),
            catalog.tables.len()
        ));
        self.note("start_lsn", json!(slots.lsn));
        let start = slots.lsn.clone();
        // The verifier holds the old database as the snapshot sees it while the dump and the
        // restore run.
        let proof = prove::FirstProof::start(host, from.service, from.database, &slots.snapshot)?;
        let schema = schema_at(host, from, Some(&slots.snapshot))?;
        let sizes = Sizes::read(host, from)?;
        self.full.dump(host, job.out, from, job.dump, &sizes, Some(&slots.snapshot))?;
        slots.close();
        let globals = Globals::from_rows(&old.query(&GLOBALS)?, from.service)?;
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        self.full.copy_roles(host, &client, from.service, to.service)?;
        self.full.restore(host, job.out, to, job.dump, &sizes)?;
        host.sql(to.service, to.database, "VACUUM (ANALYZE)")?;
        crate::copy::carry_database_properties(job, &client)?;
        let timer = crate::output::progress::timer(format!("proving the copy in {}", to.service), job.out.quiet());
        let proven = proof.finish(host, (to.service, to.database), &record.settings_set_here());
        drop(timer);
        let figures = match proven {
            Ok(figures) => figures,
            Err(_) if schema_at(host, from, None)? != schema => {
                job.out.verbose("The schema changed during the first copy: the copy is made again inside the window");
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        job.out.verbose(&format!(
            "{} rows in {} tables and materialized views copied at the snapshot and proven the same while the apps run \
             (the independent verifier, every row)",
            figures.rows, figures.relations
        ));
        self.note("first_copy", json!({"relations": figures.relations, "rows": figures.rows, "facts": figures.facts}));
        if let Err(err) = crate::facts::verify::compare_schemas(
            host,
            &client,
            (from.service, from.database),
            (to.service, to.database),
            job.replay,
        ) {
            if schema_at(host, from, None)? != schema {
                job.out.verbose("The schema changed during the first copy: the copy is made again inside the window");
                return Ok(None);
            }
            return Err(err);
        }
        *self.schema_proven.borrow_mut() = Some(figures.catalog_states.clone());
        let address = stream::old_address(host, from.service, to.service)?;
        let password = std::fs::read_to_string(host.service_dir(from.service).join("PASSWORD"))
            .with_context(|| format!("Unable to read the password of service {}", from.service))?;
        let conninfo = stream::conninfo(&address, from.database, password.trim());
        let mut new = Psql::open(host, to.service, to.database)?;
        stream::create_subscription(&mut new, record, &conninfo, password.trim())?;
        job.out.verbose(&format!("{} follows {} from {address}:5432", to.service, from.service));
        *self.sessions.borrow_mut() = Some((old, new));
        let streamed = tables.streamed.clone();
        Ok(Some(Following {
            outside: tables.outside_indexes(&catalog, |_| true),
            unlogged: tables.outside_indexes(&catalog, |why| why == "unlogged").into_iter().collect(),
            keys: tables.keys,
            primary: tables.primary,
            streamed,
            catalog,
            schema,
            start: parse_lsn(&start)?,
            owned,
            owned_print,
            key,
            globals,
            changes: Changes::default(),
        }))
    }

    /// The sessions opened while following, open again if one ended or lost its server (a
    /// restart): a statement costs a millisecond in a session that works.
    fn sessions(&self, job: &Job) -> Result<std::cell::RefMut<'_, (Psql, Psql)>> {
        let mut sessions = self.sessions.borrow_mut();
        let alive = match sessions.as_mut() {
            Some((old, new)) => old.query(&["SELECT 1"]).is_ok() && new.query(&["SELECT 1"]).is_ok(),
            None => false,
        };
        if !alive {
            *sessions = Some((
                Psql::open(job.host, job.from.service, job.from.database)?,
                Psql::open(job.host, job.to.service, job.to.database)?,
            ));
        }
        Ok(std::cell::RefMut::map(sessions, |s| s.as_mut().expect("opened above")))
    }

    /// Reads the changes the old server's WAL holds since the last read.
    fn read_changes(&self, old: &mut Psql, record: &StreamRecord, state: &mut Following) -> Result<usize> {
        let rows = old.query(&[format!(
            "SELECT lsn || '|' || to_json(data)::text FROM pg_logical_slot_get_changes({}, NULL, {CHANGES_PER_READ}, \
             'skip-empty-xacts', '1', 'include-xids', '0')",
            literal(&record.keys_slot())
        )])?;
        let streamed = state.streamed.clone();
        state.changes.read(&rows, &state.keys, &|t| streamed.contains(t))?;
        Ok(rows.len())
    }
}

impl Copier for Online {
    fn name(&self) -> String {
        format!(
            "{} at a logical replication slot's snapshot, then the new server following the old one (pgoutput); \
             inside the window, the rows the old server's WAL names as changed are verified",
            self.full.name()
        )
    }

    fn stream(&self, job: &Job, earlier: Option<StreamRecord>) -> Result<Option<StreamRecord>> {
        let record = match earlier {
            // Resumed: whether the first run set the WAL bound is known from its journal only.
            Some(record) => record,
            None => {
                let mut record =
                    StreamRecord::new((job.from.service, job.from.database), (job.to.service, job.to.database));
                // A bound on the WAL the slots may hold where the server has one (13 and newer)
                // and the user set none.
                let keep = job.host.sql(
                    job.from.service,
                    job.from.database,
                    "SELECT coalesce(current_setting('max_slot_wal_keep_size', true), 'none')",
                )?;
                record.wal_keep_set = keep.first().is_some_and(|k| k == "-1");
                record
            }
        };
        *self.record.borrow_mut() = Some(record.clone());
        Ok(Some(record))
    }

    fn prepare(&self, job: &Job) -> Result<()> {
        let record = self.record(job);
        if job.resuming {
            // What an interrupted first copy left: the stream and a part of the database.
            self.sessions.borrow_mut().take();
            record.drop_all(job.host)?;
            reset_database(job.host, &job.to)?;
        }
        let state = self.first_copy(job, &record)?;
        if state.is_none() {
            self.sessions.borrow_mut().take();
            record.drop_all(job.host)?;
        }
        *self.state.borrow_mut() = state;
        Ok(())
    }

    fn follow(&self, job: &Job) -> Result<()> {
        let record = self.record(job);
        if self.state.borrow().is_none() {
            if !job.resuming {
                job.out.verbose("Nothing to follow: the copy is made inside the window");
                return Ok(());
            }
            // The first copy died with the run that made it: it is made again.
            job.out.verbose("The first copy of the interrupted run cannot be trusted: making it again");
            self.prepare(&Job { resuming: true, ..*job })?;
            if self.state.borrow().is_none() {
                return Ok(());
            }
        }
        let mut state = self.state.borrow_mut();
        let state = state.as_mut().expect("checked above");
        let bound = wal_bound_mb(job.host, &job.from)?;
        let mut follow = Follow::new(job, &record);
        loop {
            // Where the stream stands first: a stream that fell too far behind is refused before
            // its changes are read.
            let round = self.sessions(job).and_then(|mut sessions| {
                let (old, new) = &mut *sessions;
                let status = Status::read(old, new, &record)?;
                let read = match status.problem(bound) {
                    Some(_) => 0,
                    None => self.read_changes(old, &record, state)?,
                };
                Ok((read, status))
            });
            let (read, status) = match round {
                Ok(round) => round,
                // A server restarting, a session cut: both sessions are opened again, and the
                // subscription's worker connects again on its own.
                Err(err) if !follow.given_up() => {
                    follow.interrupted(job, &err);
                    self.sessions.borrow_mut().take();
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                Err(err) => return Err(err),
            };
            follow.progress(job, &status, state);
            if let Some(problem) = status.problem(bound) {
                bail!(
                    "{problem}: the new service cannot follow {}; run the upgrade again later, or with --catch-up",
                    job.from.service
                );
            }
            if status.lag_bytes <= CAUGHT_UP_BYTES && read < CHANGES_PER_READ as usize && status.applying {
                break;
            }
            if follow.stalled(&status) {
                bail!(
                    "the new service has not come closer to {} for {} s ({}): run the upgrade again later, or with --catch-up",
                    job.from.service,
                    STALLED.as_secs(),
                    status.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        follow.done(job, state);
        self.note("following", follow.json());
        Ok(())
    }

    fn copy(&self, job: &Job) -> Result<()> {
        let record = self.record(job);
        let Some(mut state) = self.state.borrow_mut().take() else {
            return self.copy_all(job, "No first copy to follow");
        };
        let started = Instant::now();
        let mut phases = serde_json::Map::new();
        let mut phase = |name: &str, since: &mut Instant| {
            phases.insert(name.to_string(), json!(since.elapsed().as_millis() as u64));
            *since = Instant::now();
        };
        let mut at = Instant::now();
        let mut sessions = self.sessions(job)?;
        let (old, new) = &mut *sessions;
        // The old schema, dumped while the rest goes on: compared with the snapshot's at the end
        // (and dumped again then if a transaction began meanwhile: one may have changed it).
        let before = old.value("SELECT txid_current_snapshot()")?;
        let schema = schema::SchemaDump::start(job.host, &job.from)?;
        // What the old server committed since the last read, the apps stopped and its tables
        // held: the last commit the new one must apply.
        while self.read_changes(old, &record, &mut state)? == CHANGES_PER_READ as usize {}
        phase("changes_ms", &mut at);
        await_apply(new, &record, state.changes.last_commit.filter(|&lsn| lsn > state.start))?;
        // Done with: the subscription, and the publication on both sides (the first copy's dump
        // holds it too), so that each database's schema is its own again. The slots go after the
        // window (retire-old); each of these is in the journal's record for a rollback.
        let mut done = stream::end_subscription(&record);
        done.push(stream::drop_publication(&record));
        new.query(&done)?;
        phase("apply_wait_ms", &mut at);
        // The sequences and the materialized views, and the tables the stream cannot carry that
        // changed, as the catch-up copy streams them; without such tables, from session to session.
        let copied: Vec<usize> = state
            .outside
            .iter()
            .copied()
            .filter(|i| {
                let t = &state.catalog.tables[*i];
                state.unlogged.contains(i) || state.changes.tables.contains_key(&(t.schema.clone(), t.name.clone()))
            })
            .collect();
        // The sequences, the materialized views (after every view they are built on, event
        // triggers held off) and the tables the stream cannot carry that changed, as the
        // catch-up copy streams them.
        let tee = sibling(job.dump, "online.sql");
        let outside: crate::facts::fingerprint::Parts = copied.iter().map(|&i| (i, None)).collect();
        if outside.is_empty() {
            stream_in_sessions(old, new, &state.catalog, &outside, &tee)?;
        } else {
            stream_parts(job, &state.catalog, &outside, &tee)?;
        }
        phase("stream_ms", &mut at);
        if old.value("SELECT count(*) FROM pg_catalog.pg_largeobject_metadata")? != "0" {
            drop(sessions);
            return self.copy_all(job, "Large objects were added since the first copy");
        }
        if fingerprint_owned(job.host, &job.from, &state.owned, &state.key)?.sums != state.owned_print.sums {
            drop(sessions);
            return self.copy_all(job, "A table an extension owns changed since the first copy");
        }
        // What verification reads: the rows the WAL names, and whole what no key names.
        let mut whole: BTreeSet<TableName> = copied
            .iter()
            .map(|&i| (state.catalog.tables[i].schema.clone(), state.catalog.tables[i].name.clone()))
            .collect();
        whole.extend(state.owned.tables.iter().map(|t| (t.schema.clone(), t.name.clone())));
        for line in old.query(&[MATERIALIZED_VIEWS.to_string()])? {
            let name: TableName = serde_json::from_str(&line)
                .with_context(|| format!("unexpected line from {}: {line}", job.from.service))?;
            whole.insert(name);
        }
        let selections = prove::selections(&state.changes, &state.primary, &whole);
        let globals = Globals::from_rows(&old.query(&GLOBALS)?, job.from.service)?;
        let mut now = schema.finish()?;
        if xmax(&old.value("SELECT txid_current_snapshot()")?) != xmax(&before) {
            now = schema_at(job.host, &job.from, None)?;
        }
        if now != state.schema {
            drop(sessions);
            return self.copy_all(job, "The schema changed since the first copy");
        }
        // Its schema the same, the old database is its own again.
        old.query(&[stream::drop_publication(&record)])?;
        drop(sessions);
        phase("schema_ms", &mut at);
        let client = self.full.client(job.dump.parent().context("dump path has no folder")?);
        if globals.roles != state.globals.roles {
            self.full.copy_roles(job.host, &client, job.from.service, job.to.service)?;
        }
        if globals.database != state.globals.database {
            crate::copy::globals::copy_database_properties(
                job.host,
                &client,
                (job.from.service, job.from.database),
                (job.to.service, job.to.database),
            )?;
        }
        phase("globals_ms", &mut at);
        let (rows, whole) = state.changes.summary();
        job.out.verbose(&format!(
            "{} change(s) since the first copy, applied by {}: {rows} row(s) by key{}, for verification to compare",
            state.changes.count,
            job.to.service,
            if whole > 0 { format!(", {whole} table(s) whole") } else { String::new() }
        ));
        self.note(
            "window",
            json!({"changes": state.changes.count, "rows_by_key": rows, "tables_whole": whole,
                   "tables_outside_the_stream": state.outside.len(), "tables_copied_whole": copied.len(),
                   "relations_to_verify": selections.len(),
                   "copy_ms": started.elapsed().as_millis() as u64, "phases": phases}),
        );
        *self.changed.borrow_mut() = Some(selections);
        *self.kept.borrow_mut() = Some(vec![job.dump.to_path_buf(), tee]);
        self.properties.set(true);
        Ok(())
    }

    fn artifacts(&self) -> Option<Vec<PathBuf>> {
        self.kept.borrow().clone()
    }

    fn changed_since_proven(&self) -> Option<Vec<Selection>> {
        self.changed.borrow().clone()
    }

    fn schema_proven_at(&self) -> Option<(String, String)> {
        self.schema_proven.borrow().clone()
    }

    fn carries_database_properties(&self) -> bool {
        self.properties.get()
    }

    fn report(&self) -> Option<Value> {
        let mut report = self.report.borrow().clone();
        if let Some(record) = self.record.borrow().as_ref() {
            report.insert("stream".into(), json!(record.name));
        }
        Some(Value::Object(report))
    }
}

/// Each materialized view outside extensions, `[schema, name]`: the window refreshes them all.
const MATERIALIZED_VIEWS: &str = "SELECT pg_catalog.json_build_array(n.nspname, c.relname) FROM pg_catalog.pg_class c \
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND NOT EXISTS (SELECT 1 \
    FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid \
    AND d.deptype = 'e')";

/// Waits until the new server has applied the commit that ends at `last` (none: nothing to
/// wait for), and no apply transaction is still open: its replication origin says how far it
/// applied, the worker's transaction id whether one is under way.
pub(crate) fn await_apply(new: &mut Psql, record: &StreamRecord, last: Option<u64>) -> Result<()> {
    let Some(last) = last else { return Ok(()) };
    let name = literal(&record.name);
    let started = Instant::now();
    loop {
        let answer = new.value(&format!(
            "SELECT coalesce((SELECT o.remote_lsn::text FROM pg_replication_origin_status o JOIN pg_subscription s \
             ON o.external_id = 'pg_' || s.oid WHERE s.subname = {name}), '0/0') || '|' || \
             coalesce((SELECT (a.backend_xid IS NULL)::text FROM pg_stat_subscription s JOIN pg_stat_activity a \
             ON a.pid = s.pid WHERE s.subname = {name} AND s.relid IS NULL), 'true')"
        ))?;
        let (applied, idle) = answer.split_once('|').unwrap_or(("0/0", "true"));
        let applied = parse_lsn(applied)?;
        if applied >= last && idle == "true" {
            return Ok(());
        }
        if started.elapsed() > APPLY_WAIT {
            bail!(
                "in {} s, {} applied the old server's changes up to {}{}, where it should have reached {}",
                APPLY_WAIT.as_secs(),
                new.service,
                lsn_text(applied),
                if idle == "true" { "" } else { " (a transaction still open)" },
                lsn_text(last)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `xmax` of a `txid_current_snapshot()`: it moves when a transaction takes an id.
fn xmax(snapshot: &str) -> &str {
    snapshot.split(':').nth(1).unwrap_or(snapshot)
}

fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// The bound on the WAL the slots may hold, in MB: the database's size, at least 1 GB, at most
/// half the free space of the filesystem the old service's data is on.
pub(crate) fn wal_bound_mb(host: &Host, from: &Endpoint) -> Result<i64> {
    if let Some(mb) = host.env.wal_bound_mb {
        return Ok(mb);
    }
    let size: i64 = host
        .sql(from.service, from.database, "SELECT pg_database_size(current_database()) / 1048576")?
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let dir = host.service_dir(from.service);
    let free = nix::sys::statvfs::statvfs(&dir)
        .map(|s| (s.blocks_available() as i64).saturating_mul(s.fragment_size() as i64) / 1_048_576)
        .unwrap_or(i64::MAX);
    Ok(size.max(1024).min((free / 2).max(64)))
}

/// What the old database's tables are to the stream.
pub(crate) struct Tables {
    pub keys: BTreeMap<TableName, Vec<String>>,
    /// Those whose key is their primary key (replica identity DEFAULT).
    pub primary: BTreeSet<TableName>,
    pub streamed: BTreeSet<TableName>,
    /// (table, why) of those it cannot carry.
    outside: Vec<(TableName, String)>,
}

impl Tables {
    pub(crate) fn read(host: &Host, from: &Endpoint, catalog: &Catalog) -> Result<Tables> {
        let rows = host.sql(
            from.service,
            from.database,
            &format!(
                "SELECT json_build_array(n.nspname, c.relname, {OUTSIDE_STREAM_WHY}, coalesce((SELECT json_agg(a.attname ORDER BY k.ord) \
                 FROM pg_catalog.pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident \
                 ELSE false END), '[]'), c.relreplident = 'd') {USER_TABLES}"
            ),
        )?;
        let known: BTreeSet<(String, String)> =
            catalog.tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect();
        let mut tables =
            Tables { keys: BTreeMap::new(), primary: BTreeSet::new(), streamed: BTreeSet::new(), outside: Vec::new() };
        for row in rows {
            let v: Value =
                serde_json::from_str(&row).with_context(|| format!("unexpected line from {}: {row}", from.service))?;
            let name = (v[0].as_str().unwrap_or_default().to_string(), v[1].as_str().unwrap_or_default().to_string());
            if !known.contains(&name) {
                continue;
            }
            let columns: Vec<String> =
                v[3].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(String::from)).collect();
            match v[2].as_str() {
                Some(why) => tables.outside.push((name, why.to_string())),
                None => {
                    if v[4].as_bool() == Some(true) && !columns.is_empty() {
                        tables.primary.insert(name.clone());
                    }
                    tables.keys.insert(name.clone(), columns);
                    tables.streamed.insert(name);
                }
            }
        }
        Ok(tables)
    }

    pub(crate) fn streamed_names(&self, catalog: &Catalog) -> Vec<String> {
        catalog
            .tables
            .iter()
            .filter(|t| self.streamed.contains(&(t.schema.clone(), t.name.clone())))
            .map(|t| t.qualified())
            .collect()
    }

    fn outside_indexes(&self, catalog: &Catalog, which: impl Fn(&str) -> bool) -> Vec<usize> {
        let outside: BTreeSet<&TableName> = self.outside.iter().filter(|(_, why)| which(why)).map(|(t, _)| t).collect();
        (0..catalog.tables.len())
            .filter(|&i| outside.contains(&(catalog.tables[i].schema.clone(), catalog.tables[i].name.clone())))
            .collect()
    }
}

/// Where the stream stands, from both servers.
struct Status {
    /// The old server's WAL not yet confirmed by the new one.
    lag_bytes: i64,
    lag_seconds: Option<f64>,
    /// The WAL the slots hold back, in MB.
    held_mb: i64,
    /// The slot's WAL was removed (`wal_status = lost`, 13 and newer).
    lost: bool,
    /// The new server's apply worker runs.
    applying: bool,
    confirmed: String,
}

impl Status {
    fn read(old: &mut Psql, new: &mut Psql, record: &StreamRecord) -> Result<Status> {
        let slot = literal(&record.apply_slot());
        let answer = old.value(&format!(
            "SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint, -1) || '|' || \
             coalesce(extract(epoch FROM r.replay_lag)::text, '') || '|' || \
             coalesce((SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))::bigint / 1048576 \
               FROM pg_replication_slots WHERE slot_name IN ({slot}, {keys})), 0) || '|' || \
             (coalesce(to_jsonb(s)->>'wal_status', '') = 'lost') || '|' || coalesce(s.confirmed_flush_lsn::text, '') \
             FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = {slot}",
            keys = literal(&record.keys_slot())
        ))?;
        let fields: Vec<&str> = answer.split('|').collect();
        if fields.len() < 5 {
            bail!("the replication slot {} is gone from {}", record.apply_slot(), old.service);
        }
        let applying = new.value(&format!(
            "SELECT count(*) FROM pg_stat_subscription WHERE subname = {} AND pid IS NOT NULL",
            literal(&record.name)
        ))? != "0";
        Ok(Status {
            lag_bytes: fields[0].parse().unwrap_or(-1),
            lag_seconds: fields[1].parse().ok(),
            held_mb: fields[2].parse().unwrap_or(0),
            lost: fields[3] == "true",
            applying,
            confirmed: fields[4].to_string(),
        })
    }

    /// Why following cannot go on at all.
    fn problem(&self, bound_mb: i64) -> Option<String> {
        if self.lost {
            Some("the old server removed WAL the stream still needed (its slot is lost)".into())
        } else if self.held_mb > bound_mb {
            Some(format!(
                "the stream holds back {} MB of WAL on the old server, more than its bound of {bound_mb} MB",
                self.held_mb
            ))
        } else {
            None
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} behind, the new server's apply worker {}",
            crate::output::human(self.lag_bytes.max(0) as u64),
            if self.applying { "runs" } else { "does not run" }
        )
    }
}

/// Following, as it is shown (on stderr, dokku-style) and reported (JSON): the lag in bytes and
/// seconds, the changes read, and whether the new server gets closer. The one place following
/// speaks.
struct Follow {
    started: Instant,
    last_line: Instant,
    every: Duration,
    label: String,
    /// When the lag last shrank, and to what.
    closer: (Instant, i64),
    samples: Vec<Value>,
    interruptions: u32,
}

impl Follow {
    fn new(job: &Job, record: &StreamRecord) -> Follow {
        let every = std::env::var("POSTGRES_UPGRADE_PROGRESS_SECONDS")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(5));
        log::debug!("following {} with {}", job.from.service, record.name);
        Follow {
            started: Instant::now(),
            last_line: Instant::now(),
            every,
            label: format!("{} following {}", job.to.service, job.from.service),
            closer: (Instant::now(), i64::MAX),
            samples: Vec::new(),
            interruptions: 0,
        }
    }

    fn progress(&mut self, job: &Job, status: &Status, state: &Following) {
        if status.lag_bytes >= 0 && status.lag_bytes < self.closer.1 {
            self.closer = (Instant::now(), status.lag_bytes);
        }
        let sample = json!({"at_ms": self.started.elapsed().as_millis() as u64, "lag_bytes": status.lag_bytes,
            "lag_s": status.lag_seconds, "changes": state.changes.count, "confirmed_lsn": status.confirmed});
        // The first sample is said at once (following may catch up before the first interval),
        // then one a while.
        if self.samples.is_empty() || self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            job.out.verbose(&format!(
                "{}: {} behind{}, {} change(s) since the first copy, {:.0} s",
                self.label,
                crate::output::human(status.lag_bytes.max(0) as u64),
                status.lag_seconds.map(|s| format!(" ({s:.1} s)")).unwrap_or_default(),
                state.changes.count,
                self.started.elapsed().as_secs_f64()
            ));
            self.samples.push(sample);
        }
    }

    fn stalled(&self, status: &Status) -> bool {
        status.lag_bytes > CAUGHT_UP_BYTES && self.closer.0.elapsed() > STALLED
    }

    /// Following has not come closer for too long to keep trying after an error.
    fn given_up(&self) -> bool {
        self.closer.0.elapsed() > STALLED
    }

    /// A round that failed (a server restarting, the stream cut), said once a while.
    fn interrupted(&mut self, job: &Job, err: &anyhow::Error) {
        self.interruptions += 1;
        if self.interruptions == 1 || self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            job.out.verbose(&format!("{}: interrupted ({err:#}); trying again", self.label));
        }
    }

    fn done(&mut self, job: &Job, state: &Following) {
        job.out.verbose(&format!(
            "{} caught up in {:.1} s: {} change(s) since the first copy",
            job.to.service,
            self.started.elapsed().as_secs_f64(),
            state.changes.count
        ));
    }

    fn json(&self) -> Value {
        json!({"ms": self.started.elapsed().as_millis() as u64, "samples": self.samples, "interruptions": self.interruptions})
    }
}
