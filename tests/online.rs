//! The online copy end to end (docs/online.md): `--online` restarts the old service once so that
//! it writes logical WAL, the new service follows it from the first copy's snapshot through a
//! restart of the old server and a cut in the stream, and the window compares only what changed;
//! the tables the stream cannot carry are copied whole inside it. Then what it refuses or falls
//! back from: large objects, a stream that falls too far behind, a schema change while following.
//! After each, nothing of the stream is left on either server, and the workload lost nothing.

mod support;

use serde_json::Value;
use support::Sandbox;

const SEED: &str = "\
CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, size int GENERATED ALWAYS AS (length(body)) STORED); \
INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 3000) g; \
CREATE TABLE lines (line text); INSERT INTO lines SELECT 'line ' || g FROM generate_series(1, 50) g; \
CREATE UNLOGGED TABLE cache (k int PRIMARY KEY, v text); INSERT INTO cache SELECT g, 'v' FROM generate_series(1, 20) g; \
CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at); \
CREATE TABLE events_jan PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01'); \
CREATE TABLE events_feb PARTITION OF events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01'); \
INSERT INTO events SELECT g, date '2026-01-01' + (g % 50) FROM generate_series(1, 200) g; \
CREATE TABLE tags (name text PRIMARY KEY, uses int); INSERT INTO tags SELECT 'tag' || g, g FROM generate_series(1, 30) g; \
CREATE TABLE audit (id int PRIMARY KEY, note text); ALTER TABLE audit REPLICA IDENTITY FULL; \
INSERT INTO audit SELECT g, 'a' FROM generate_series(1, 10) g; \
CREATE SEQUENCE tickets; SELECT nextval('tickets'); \
CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM notes;";

/// memo on a PostgreSQL 15 service (wal_level replica, as dokku-postgres makes them) with the
/// seed and its workload writing.
fn setup(name: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql("memo-db", SEED);
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    sb
}

/// A program for POSTGRES_UPGRADE_HOOK_AT: `body` (bash) with `$psql` running SQL on the old
/// service and `$docker` the sandbox's docker.
fn hook(sb: &Sandbox, name: &str, body: &str) -> String {
    let path = sb.dir.join(name);
    let script = format!(
        "#!/usr/bin/env bash\nset -e\ndocker='{docker}'\npsql() {{ \"$docker\" exec -i dokku.postgres.memo-db psql -q -v ON_ERROR_STOP=1 -U postgres -d memo_db >/dev/null; }}\n{body}\n",
        docker = sb.dir.join("bin/docker").display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// What is left of the replication on `service`.
fn stream_left(sb: &Sandbox, service: &str) -> String {
    sb.sql(
        service,
        "SELECT (SELECT count(*) FROM pg_replication_slots) || ' slots, ' || (SELECT count(*) FROM pg_publication) \
         || ' publications, ' || (SELECT count(*) FROM pg_subscription) || ' subscriptions, wal keep ' \
         || current_setting('max_slot_wal_keep_size')",
    )
}

const NOTHING: &str = "0 slots, 0 publications, 0 subscriptions, wal keep -1";

/// What the independent comparison finds that the upgrade meant: `--online` set the old
/// server's wal_level with ALTER SYSTEM, which is not the user's setting to carry.
const LOGICAL_ON_THE_OLD_SERVER: &str = r"alter_system wal_level: only in old \(logical\)";

#[test]
fn online_restarts_once_follows_through_a_restart_and_a_cut_and_compares_only_what_changed() {
    let sb = setup("online");
    // The plan says what the stream carries and what it cannot, and that the old service restarts.
    let plan: Value = serde_json::from_str(
        &sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--online", "--dry-run", "--format", "json"]).ok(),
    )
    .unwrap();
    assert_eq!((plan["method"].as_str(), plan["restart_old"].as_bool()), (Some("online"), Some(true)), "{plan}");
    let outside: Vec<(&str, &str)> = plan["replication"]["outside_the_stream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t["why"].as_str().unwrap()))
        .collect();
    assert_eq!(outside, [("public.cache", "unlogged"), ("public.lines", "no primary key")], "{plan}");
    assert_eq!(plan["steps"][3], "Restarting memo-db with wal_level = logical (--online)");

    // Between the first copy and following: changes of every kind, then the old server restarts
    // (the subscription connects again by itself), more changes, the stream is cut (its sender
    // ended), and more changes.
    let changes = "UPDATE notes SET body = 'edited' WHERE id IN (5, 2900); DELETE FROM notes WHERE id = 7; \
        INSERT INTO notes (body) VALUES ('late'); INSERT INTO lines VALUES ('late'); UPDATE cache SET v = 'late' WHERE k = 3; \
        INSERT INTO events VALUES (999, '2026-02-10'); UPDATE events SET at = '2026-02-20' WHERE id = 1; \
        INSERT INTO tags VALUES ('late', 1); UPDATE tags SET uses = 0 WHERE name = 'tag3'; \
        UPDATE audit SET note = 'late' WHERE id = 1; DELETE FROM audit WHERE id = 2; SELECT setval('tickets', 500);";
    let body = format!(
        "psql <<'SQL'\n{changes}\nSQL\n\"$docker\" container restart dokku.postgres.memo-db >/dev/null\n\
         psql <<<\"UPDATE notes SET body = 'after the restart' WHERE id = 10;\"\n\
         psql <<<\"SELECT pg_terminate_backend(pid) FROM pg_stat_replication;\"\n\
         psql <<<\"UPDATE notes SET body = 'after the cut' WHERE id = 11;\""
    );
    let hook_at = format!("follow:{}", hook(&sb, "faults", &body));
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str()), ("POSTGRES_UPGRADE_PROGRESS_SECONDS", "1")],
        &[
            "postgres:upgrade",
            "memo",
            "-I",
            "17",
            "--new-service",
            "memo-v17",
            "--online",
            "--keep-old",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["copy"]["method"], "online", "{report}");
    // The restart is its own step, and its pause is reported.
    let restart = report["old_restart_ms"].as_u64().unwrap();
    assert!(restart > 0 && report["steps"][3]["duration_ms"].as_u64().unwrap() >= restart, "{report}");
    // Following reported its lag, and went on after the restart and the cut.
    let following = &report["copy"]["details"]["following"];
    assert!(following["samples"][0]["lag_bytes"].is_i64(), "{report}");
    assert!(run.stderr.contains("memo-v17 following memo-db: "), "{}", run.stderr);
    // The first copy was proven by the verifier at the stream's snapshot, every row.
    let first = &report["copy"]["details"]["first_copy"];
    assert!(first["rows"].as_u64().unwrap() >= 3000 + 50 + 20 + 200 + 30 + 10, "{report}");
    // Inside the window: the two tables outside the stream copied whole, and verification read
    // only the rows the WAL named (by primary key) and what no key names (those two, audit's
    // full replica identity, the view), not every row.
    let window = &report["copy"]["details"]["window"];
    assert_eq!(window["tables_outside_the_stream"], 2, "{report}");
    assert!(window["changes"].as_u64().unwrap() >= 10, "{report}");
    assert!(report["steps"][9]["name"].as_str().unwrap().starts_with("Verifying"), "{report}");
    assert_eq!(report["verification"]["rows_read"], "changed since the first copy", "{report}");
    let verified = report["verification"]["rows"].as_u64().unwrap();
    let by_key = window["rows_by_key"].as_u64().unwrap();
    // By key, or whole: lines (51), cache (20), audit (9), the view (1).
    assert!(verified > 0 && verified <= by_key + 81, "verification read {verified} rows: {report}");
    assert!(verified < first["rows"].as_u64().unwrap(), "{report}");

    sb.lost_nothing("memo");
    let found = sb.differences_beside("memo-db", "memo-v17", &[LOGICAL_ON_THE_OLD_SERVER], &[]);
    assert!(found.is_empty(), "exit 0 over differences:\n{}", found.join("\n"));
    for (sql, want) in [
        ("SELECT body FROM notes WHERE id = 10", "after the restart"),
        ("SELECT body || size FROM notes WHERE id = 11", "after the cut13"),
        ("SELECT v FROM cache WHERE k = 3", "late"),
        ("SELECT last_value FROM tickets", "500"),
        ("SELECT tableoid::regclass FROM events WHERE id = 1", "events_feb"),
        ("SELECT n FROM totals", "3000"),
    ] {
        assert_eq!(sb.sql("memo-v17", sql), want, "{sql}");
    }
    // Nothing of the stream is left; the old server keeps writing logical WAL (docs/online.md).
    assert_eq!(stream_left(&sb, "memo-db"), NOTHING);
    assert_eq!(stream_left(&sb, "memo-v17"), NOTHING);
    assert_eq!(sb.sql("memo-db", "SHOW wal_level"), "logical");
}

#[test]
fn online_refuses_what_it_cannot_follow_and_falls_back_when_the_schema_changes() {
    let sb = setup("online-refusals");
    // Large objects do not travel in the stream: asked for, the online copy is refused.
    sb.sql("memo-db", "SELECT lo_create(4242);");
    let refused = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--online", "--dry-run"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("--online cannot be done: 1 large object(s) are in use"), "{}", refused.stderr);
    sb.sql("memo-db", "SELECT lo_unlink(4242);");

    // The stream falls behind more than its bound (16 MB here) before the window: refused and
    // rolled back, nothing of it left; the old service restarted once and stays logical.
    let hook_at = format!(
        "follow:{}",
        hook(
            &sb,
            "burst",
            "psql <<<\"INSERT INTO notes (body) SELECT repeat('x', 1000) FROM generate_series(1, 60000);\""
        )
    );
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str()), ("POSTGRES_UPGRADE_WAL_BOUND_MB", "16")],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--online"],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("the new service cannot follow memo-db"), "{}", run.stderr);
    assert_eq!(sb.services(), ["memo-db"]);
    assert_eq!(stream_left(&sb, "memo-db"), NOTHING);
    assert_eq!(sb.sql("memo-db", "SHOW wal_level"), "logical");
    sb.lost_nothing("memo");

    // The burst left the old view stale, which preflight refuses: the user refreshes it.
    sb.sql("memo-db", "REFRESH MATERIALIZED VIEW totals;");
    // Now logical, the old server is followed by default; a migration while following (a new
    // column) is seen inside the window, which copies everything instead, and says so.
    let hook_at = format!(
        "maintenance-on:{}",
        hook(&sb, "migration", "psql <<<\"ALTER TABLE notes ADD COLUMN extra int DEFAULT 7;\"")
    );
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str())],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--keep-old", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["copy"]["method"], "online", "{report}");
    assert_eq!(report["old_restart_ms"], Value::Null, "{report}");
    assert_eq!(report["copy"]["details"]["fallback"], "The schema changed since the first copy", "{report}");
    sb.lost_nothing("memo");
    let found = sb.differences_beside("memo-db", "memo-v17", &[LOGICAL_ON_THE_OLD_SERVER], &[]);
    assert!(found.is_empty(), "exit 0 over differences:\n{}", found.join("\n"));
    assert_eq!(sb.sql("memo-v17", "SELECT count(*) FROM notes WHERE extra = 7"), "63000");
    assert_eq!(stream_left(&sb, "memo-db"), NOTHING);
    assert_eq!(stream_left(&sb, "memo-v17"), NOTHING);
}
