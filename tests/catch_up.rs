//! The catch-up copy, end to end against real servers: the data is copied while the app runs,
//! and what changed after that first copy (rows, sequences, schema, large objects) still
//! reaches the new service exactly; and the independent verifier (facts/verifier/) sees what
//! the copy did not carry.

mod support;

use postgres_upgrade::facts::verifier::{self, Check, Selection, Side};
use serde_json::Value;
use support::Sandbox;

/// The tables whose content must match: keyed, keyless, with a generated column, plus a view.
const TABLES: [&str; 4] = ["notes", "lines", "totals", "ledger"];

/// Late values for `ledger`'s four rows (`m1` to `m4`) that keep the sum of
/// `hashtextextended(row::text, 0)`, the unkeyed digest the catch-up used before its key: found
/// once, offline, by a four-list generalized birthday search over PostgreSQL's own hashes of
/// `(k,v<i>)` for 2^23 values of i each. A fingerprint anyone can compute lets a writer make
/// such a change in seconds; the catch-up would then not copy it.
const LEDGER_COLLISION: &str = "UPDATE ledger SET memo = CASE id WHEN 1 THEN 'v2669988' WHEN 2 THEN 'v6179245' \
     WHEN 3 THEN 'v301574' ELSE 'v2713220' END;";

/// memo on a PostgreSQL 15 service with several kinds of table, its workload writing.
fn setup(name: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql(
        "memo-db",
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL, score float8); \
         INSERT INTO notes (body, score) SELECT 'note ' || g, g / 7.0 FROM generate_series(1, 5000) g; \
         CREATE TABLE lines (line text); INSERT INTO lines SELECT 'line ' || g FROM generate_series(1, 300) g; \
         CREATE TABLE totals (id int PRIMARY KEY REFERENCES notes (id), n int, twice int GENERATED ALWAYS AS (n * 2) STORED); \
         INSERT INTO totals (id, n) SELECT g, g FROM generate_series(1, 100) g; \
         CREATE MATERIALIZED VIEW note_count AS SELECT count(*) AS n FROM notes; \
         CREATE TABLE parent (id int); CREATE TABLE child (extra text) INHERITS (parent); \
         ALTER TABLE parent ADD COLUMN late int; INSERT INTO child VALUES (1, 'x', 2), (3, 'y', 4); \
         CREATE TABLE ledger (id int PRIMARY KEY, memo text NOT NULL); \
         INSERT INTO ledger VALUES (1, 'm1'), (2, 'm2'), (3, 'm3'), (4, 'm4'); \
         REVOKE TEMPORARY ON DATABASE memo_db FROM PUBLIC;",
    );
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    sb
}

/// `sql` on the old service just before step `step` (an id), as another writer would at that moment.
fn hook(sb: &Sandbox, step: &str, sql: &str) -> String {
    sb.hook("memo-db", step, sql)
}

/// A table's rows in a comparable form.
fn content(sb: &Sandbox, service: &str, table: &str) -> String {
    sb.sql(
        service,
        &format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        ),
    )
}

fn assert_same_data(sb: &Sandbox, new: &str) {
    for table in TABLES {
        assert_eq!(content(sb, "memo-db", table), content(sb, new, table), "table {table}");
    }
    // A restore puts an inherited table's columns in another order: the rows are the same.
    let child = "SELECT string_agg(id || extra || late, ',' ORDER BY id) FROM child";
    assert_eq!(sb.sql("memo-db", child), sb.sql(new, child));
    let seq = "SELECT last_value || ',' || is_called FROM notes_id_seq";
    assert_eq!(sb.sql("memo-db", seq), sb.sql(new, seq));
    assert_eq!(sb.sql(new, "SELECT n FROM note_count"), sb.sql(new, "SELECT count(*) FROM notes"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}

/// memo's upgrade to 17, the old service kept for comparison; it must succeed and say `says`.
fn upgrade(sb: &Sandbox, hook_at: &str, says: &str) -> (support::Run, Value) {
    let args = ["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--keep-old", "--format", "json"];
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook_at)], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(says), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_default();
    (run, report)
}

#[test]
fn rows_changed_after_the_first_copy_are_copied_again_and_nothing_else() {
    let sb = setup("catch-up-rows");
    // After the first copy, before the window: edits in two far apart key ranges, a delete, a
    // new row, a keyless table change, a generated column's input, a sequence moved on, and
    // four rows changed so that an unkeyed digest's sum stays the same.
    let sql = format!(
        "UPDATE notes SET body = 'edited', score = 0.1 + 0.2 WHERE id IN (2, 4999); DELETE FROM notes WHERE id = 2500; \
         INSERT INTO notes (body) VALUES ('late'); INSERT INTO lines VALUES ('late line'); \
         UPDATE totals SET n = -1 WHERE id = 50; SELECT setval('notes_id_seq', 9000); {LEDGER_COLLISION}"
    );
    let (run, report) =
        upgrade(&sb, &hook(&sb, "maintenance-on", &sql), "[5/16] Copying memo-db into memo-v17 while the apps run");
    assert_same_data(&sb, "memo-v17");
    assert_eq!(sb.sql("memo-v17", "SELECT body FROM notes WHERE id = 4999"), "edited");
    assert_eq!(sb.sql("memo-v17", "SELECT twice FROM totals WHERE id = 50"), "-2");
    assert_eq!(
        sb.sql("memo-v17", "SELECT string_agg(memo, ' ' ORDER BY id) FROM ledger"),
        "v2669988 v6179245 v301574 v2713220"
    );
    // Only the changed ranges moved inside the window: notes (two ranges), lines (whole: no
    // key), totals, ledger, and the workload's own table.
    let moved = run.stderr.lines().find(|l| l.contains("changed since the first copy")).unwrap_or_default();
    assert!(moved.contains("key range(s) of 5 table(s)"), "{moved}");
    // The database's ACL came back with the same items in another order: no refusal.
    let acl = sb.sql("memo-v17", "SELECT datacl FROM pg_database WHERE datname = current_database()");
    assert!(acl.contains("=c/postgres") && !acl.contains("=Tc/postgres"), "{acl}");
    // The stream is kept beside the dump: together they are the database at the switch. Of
    // notes' 5000 rows it carries the three changed ranges of 1024 keys (ids 2, 2500 and
    // 4999 with the new row), not the table.
    let script = std::fs::read_to_string(report["catch_up_script"].as_str().unwrap()).unwrap();
    let notes = script
        .split("COPY \"public\".\"notes\" (")
        .nth(1)
        .and_then(|rest| rest.split("\n\\.\n").next())
        .map(|block| block.lines().count().saturating_sub(1))
        .unwrap_or(usize::MAX);
    assert!(notes <= 3 * 1024, "{notes} rows of notes streamed");
    assert!(
        script.contains("DELETE FROM ONLY \"public\".\"notes\" WHERE") && script.contains("\tedited\t"),
        "{script}"
    );
    assert!(script.contains("late line") && !script.contains("\tnote 1500\t"), "{script}");
    assert_eq!(report["verification"]["content_compared"], true);

    compares_at_a_snapshot_and_only_given_rows(&sb);
    an_event_trigger_that_writes_in_the_new_database_is_seen(&sb);
}

/// The verifier's API for a comparison while the apps still write (docs/fidelity.md): the old
/// database read at an exported snapshot sees that snapshot's rows, not a later write; only
/// the given rows are compared.
fn compares_at_a_snapshot_and_only_given_rows(sb: &Sandbox) {
    use std::io::{BufRead, Write};
    let env = sb.env();
    let host = postgres_upgrade::host::Host::new(&env, &postgres_upgrade::host::runner::SystemRunner);
    // A session that exports its snapshot and keeps it valid while it stays open.
    let mut exporter = std::process::Command::new(sb.dir.join("bin/docker"))
        .args(["exec", "-i", "dokku.postgres.memo-db", "psql", "-q", "-A", "-t", "-U", "postgres", "-d", "memo_db"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = exporter.stdin.take().unwrap();
    input.write_all(b"BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT pg_export_snapshot();\n").unwrap();
    let mut snapshot = String::new();
    std::io::BufReader::new(exporter.stdout.take().unwrap()).read_line(&mut snapshot).unwrap();
    sb.sql("memo-db", "INSERT INTO notes (body) VALUES ('after the snapshot')");
    let late = sb.sql("memo-db", "SELECT max(id) FROM notes");

    let notes = || Check::rows(vec![Selection::all("public", "notes")]);
    let found = |old: &mut Side, check: &Check| -> Vec<String> {
        let outcome = verifier::compare(&host, old, &mut Side::now("memo-v17", "memo_v17"), check).unwrap();
        outcome.differences.into_iter().filter(|d| d.starts_with("table public.notes")).collect()
    };
    let mut at_snapshot = Side::at_snapshot(&host, "memo-db", "memo_db", snapshot.trim()).unwrap();
    assert_eq!(found(&mut at_snapshot, &notes()), Vec::<String>::new());
    let now = found(&mut Side::now("memo-db", "memo_db"), &notes());
    assert!(now.len() == 1 && now[0].contains("rows in the copy"), "{now:?}");
    // Given keys: the late row differs, another does not.
    let keys = |k: &str| Check::rows(vec![Selection::keys("public", "notes", vec![vec![k.to_string()]])]);
    assert_eq!(found(&mut Side::now("memo-db", "memo_db"), &keys(&late)).len(), 1);
    assert_eq!(found(&mut Side::now("memo-db", "memo_db"), &keys("7")), Vec::<String>::new());
    drop(input);
    let _ = exporter.wait();
    sb.sql("memo-db", &format!("DELETE FROM notes WHERE id = {late}"));
}

/// An event trigger enabled ALWAYS fires in the new database too, where the catch-up's stream
/// refreshes the materialized views under `session_replication_role = replica`. This one writes
/// only in replica sessions (not during the first copy's restore): the row is in no table the
/// stream copied, and no fingerprint the copy took; verification must see it. The app moves on
/// from 17 to 18 for this: never exit 0 over the extra row.
fn an_event_trigger_that_writes_in_the_new_database_is_seen(sb: &Sandbox) {
    sb.sql(
        "memo-v17",
        "CREATE TABLE ddl_log (tag text); \
         CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql \
           AS $$BEGIN IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN \
           INSERT INTO public.ddl_log (tag) VALUES (tg_tag); END IF; END$$; \
         CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION public.log_ddl(); \
         ALTER EVENT TRIGGER log_ddl ENABLE ALWAYS;",
    );
    let args = ["postgres:upgrade", "memo", "-I", "18", "--new-service", "memo-v18", "--keep-old"];
    let run = sb.dokku(&args);
    let logged = |service: &str| sb.sql(service, "SELECT count(*) FROM ddl_log");
    if run.code == 0 {
        assert!(sb.differences("memo-v17", "memo-v18").is_empty(), "{}", run.stderr);
        assert_eq!(logged("memo-v17"), logged("memo-v18"));
    } else {
        assert!(run.stderr.contains("table public.ddl_log has"), "{}", run.stderr);
        assert!(sb.config("memo")["DATABASE_URL"].contains("@dokku-postgres-memo-v17:5432/"));
    }
}

#[test]
fn a_schema_change_after_the_first_copy_is_copied_whole_inside_the_window() {
    let sb = setup("catch-up-schema");
    let sql = "ALTER TABLE notes ADD COLUMN color text DEFAULT 'red'; UPDATE notes SET color = 'blue' WHERE id = 3;";
    upgrade(
        &sb,
        &hook(&sb, "maintenance-on", sql),
        "The schema changed since the first copy: copying everything again",
    );
    assert_eq!(sb.sql("memo-v17", "SELECT color FROM notes WHERE id = 3"), "blue");
    assert_same_data(&sb, "memo-v17");
}

#[test]
fn large_objects_and_full_copy_put_the_whole_copy_inside_the_window() {
    let sb = setup("catch-up-lo");
    // --full-copy asks for the whole copy inside the window, and the plan says so.
    let plan = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--full-copy", "--dry-run"]);
    assert!(plan.stdout.contains(" 5. Replaying the schema of memo-db on "), "{}", plan.stdout);

    // The plan chooses the whole copy itself (plan/method.rs), and says why.
    sb.sql("memo-db", "SELECT lo_from_bytea(4242, 'a large object')");
    upgrade(&sb, "", "all of it inside the window: 1 large object(s) are in use: they are copied whole");
    assert_eq!(sb.sql("memo-v17", "SELECT convert_from(lo_get(4242), 'UTF8')"), "a large object");
    assert_same_data(&sb, "memo-v17");
}

#[test]
fn a_trigger_that_fires_in_replica_sessions_puts_the_copy_inside_the_window() {
    let sb = setup("catch-up-trigger");
    // The catch-up stream writes with session_replication_role = replica: an ALWAYS trigger
    // would fire on the copied rows and write rows of its own.
    sb.sql(
        "memo-db",
        "CREATE FUNCTION log_note() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO lines VALUES ('trigger'); RETURN NEW; END$$; \
         CREATE TRIGGER log_note AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION log_note(); \
         ALTER TABLE notes ENABLE ALWAYS TRIGGER log_note;",
    );
    // The materialized view refreshed too: a stale one differs in the copy (it is refreshed
    // there), and verification would stop the upgrade.
    let late =
        hook(&sb, "maintenance-on", "INSERT INTO notes (body) VALUES ('late'); REFRESH MATERIALIZED VIEW note_count;");
    upgrade(&sb, &late, "all of it inside the window: 1 trigger(s) or rule(s) fire in replica sessions");
    assert_same_data(&sb, "memo-v17");
}

/// Every step that lasts longer than a few seconds says something within about 5 s of its
/// start and then regularly, whichever of its parts runs (issue 20: a first copy of 318 MB
/// printed nothing for 20 s, each of its parts ending before the 5 s a part waited for).
/// Here the first copy is small but slowed: an index on a function that sleeps 4 ms a row makes
/// the restore about 4 s and ANALYZE, which computes the indexed expression again, another 4 s;
/// no part lasts 5 s, the step lasts more than 8. The lines are stamped as they arrive.
#[test]
fn a_long_step_says_something_every_few_seconds_whichever_part_runs() {
    let sb = setup("catch-up-progress");
    sb.sql(
        "memo-db",
        "CREATE FUNCTION slow(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_sleep(0.004); RETURN $1; END $$; \
         CREATE TABLE docs (id int PRIMARY KEY, body text); \
         INSERT INTO docs SELECT g, md5(g::text) FROM generate_series(1, 1000) g; \
         CREATE INDEX docs_slow ON docs (slow(id));",
    );
    let mut child =
        sb.spawn_dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--format", "json"]);
    let started = std::time::Instant::now();
    let stderr = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let lines: Vec<(f64, String)> =
        stderr.map_while(Result::ok).map(|l| (started.elapsed().as_secs_f64(), l)).collect();
    let out = child.wait_with_output().unwrap();
    let said = lines.iter().map(|(t, l)| format!("{t:6.1} {l}")).collect::<Vec<_>>().join("\n");
    assert_eq!(out.status.code(), Some(0), "{said}");
    // Each step from its line to the next step's (or the end): no silence longer than 8 s.
    let steps: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].1.starts_with("-----> [")).collect();
    assert_eq!(steps.len(), 16, "{said}");
    let mut first_copy = 0.0;
    for (k, &at) in steps.iter().enumerate() {
        let end = steps.get(k + 1).copied().unwrap_or(lines.len() - 1);
        let times: Vec<f64> = lines[at..=end].iter().map(|(t, _)| *t).collect();
        let silence = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(silence < 8.0, "{:.1} s without a line in {}:\n{said}", silence, lines[at].1);
        if lines[at].1.contains("Copying memo-db into memo-v17 while the apps run") {
            first_copy = times[times.len() - 1] - times[0];
        }
    }
    assert!(first_copy > 8.0, "the first copy took {first_copy:.1} s: not slowed enough to show anything\n{said}");
    // A part shown says what it came to.
    let shown: Vec<&str> = lines
        .iter()
        .filter(|(_, l)| l.starts_with("       ") && l.contains(" of about "))
        .filter_map(|(_, l)| l.trim_start().split(": ").next())
        .collect();
    for part in &shown {
        assert!(lines.iter().any(|(_, l)| l.starts_with(&format!("       {part}: done"))), "{part}:\n{said}");
    }
    assert!(lines.iter().any(|(_, l)| l.contains(" so far") || l.contains(" of about ")), "{said}");
}
