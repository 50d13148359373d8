//! The grace period of `--reversible` end to end (docs/reversible.md): upgrade 15 -> 18 with the
//! workload writing, the workload writes on 18 for a while, rollback, and every acknowledged
//! write (those made on 18 included) is on 15, read by the workload's own check, never through
//! the plugin. DDL on 18 makes the rollback refuse and change nothing. Then an upgrade again and
//! `finish` leave no publication, subscription or slot on either server.

mod support;

use serde_json::Value;
use support::Sandbox;

/// What is left of the replication on `service`.
fn replication(sb: &Sandbox, service: &str) -> String {
    sb.sql(
        service,
        "SELECT (SELECT count(*) FROM pg_replication_slots) || ' slots, ' || (SELECT count(*) FROM pg_publication) \
         || ' publications, ' || (SELECT count(*) FROM pg_subscription) || ' subscriptions'",
    )
}

const NOTHING: &str = "0 slots, 0 publications, 0 subscriptions";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn reversible_rolls_back_with_every_write_made_on_the_new_service_then_finish_leaves_nothing() {
    let sb = Sandbox::up("reversible");
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql(
        "memo-db",
        "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL); \
         INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 2000) g; \
         CREATE TABLE loose (line text); CREATE SEQUENCE tickets; SELECT nextval('tickets');",
    );
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();

    // A table without a replica identity cannot follow back: refused in the plan, with why.
    let refused = sb.dokku(&["postgres:upgrade", "memo", "-I", "18", "--reversible", "--dry-run"]).code(1);
    assert!(refused.stderr.contains("public.loose (no primary key)"), "{}", refused.stderr);
    sb.sql("memo-db", "ALTER TABLE loose ADD COLUMN id serial PRIMARY KEY");

    let up = sb
        .dokku(&[
            "postgres:upgrade",
            "memo",
            "-I",
            "18",
            "--reversible",
            "--new-service",
            "memo-18",
            "--format",
            "json",
        ])
        .ok();
    let up = json(&up);
    let forward_ms = up["maintenance_window_ms"].as_u64().expect("the forward window");
    assert_eq!(up["status"], "upgraded", "{up}");
    assert!(sb.services().contains(&"memo-db".to_string()), "the old service is kept");
    assert!(sb.config("memo")["DATABASE_URL"].contains("dokku-postgres-memo-18"));
    // The old service follows: its subscription, the new server's publication and two slots.
    assert_eq!(replication(&sb, "memo-db"), "0 slots, 0 publications, 1 subscriptions");
    assert_eq!(replication(&sb, "memo-18"), "2 slots, 1 publications, 0 subscriptions");

    // The apps write on 18 for a while; a sequence moves there too.
    std::thread::sleep(std::time::Duration::from_secs(3));
    sb.sql("memo-18", "SELECT setval('tickets', 500); UPDATE notes SET body = 'changed on 18' WHERE id <= 10");
    let status = sb.dokku(&["postgres-upgrade:status", "memo"]).ok();
    assert!(status.contains("memo-db follows memo-18 since"), "{status}");
    let report = sb.dokku(&["postgres-upgrade:report", "memo", "--postgres-upgrade-following"]).ok();
    assert!(
        report.contains("memo-db follows memo-18 since") && report.contains(" MB)") && !report.contains("bound -1"),
        "{report}"
    );
    let status = json(&sb.dokku(&["postgres-upgrade:status", "memo", "--format", "json"]).ok());
    assert!(status["following"]["lag_bytes"].as_i64().is_some(), "{status}");

    // No other upgrade while the period is open: its stream would outlive the journal.
    let refused = sb.dokku(&["postgres:upgrade", "memo", "-I", "18", "--new-service", "memo-18x"]).code(1);
    assert!(refused.stderr.contains("postgres-upgrade:finish memo"), "{}", refused.stderr);

    // DDL on 18 since the switch: refused, nothing changed (the app stays on 18, the stream too).
    sb.sql("memo-18", "CREATE TABLE probe (id int PRIMARY KEY)");
    let refused = sb.dokku(&["postgres-upgrade:rollback", "memo"]).code(1);
    assert!(refused.stderr.contains("the schema of memo-18 changed since the switch"), "{}", refused.stderr);
    assert!(sb.config("memo")["DATABASE_URL"].contains("dokku-postgres-memo-18"));
    assert_eq!(replication(&sb, "memo-db"), "0 slots, 0 publications, 1 subscriptions");
    sb.sql("memo-18", "DROP TABLE probe");

    let back = json(&sb.dokku(&["postgres-upgrade:rollback", "memo", "--format", "json"]).ok());
    assert_eq!(back["status"], "rolled-back", "{back}");
    let rollback_ms = back["maintenance_window_ms"].as_u64().expect("the rollback's window");
    eprintln!("windows: forward {forward_ms} ms, rollback {rollback_ms} ms");
    assert!(back["verification"]["rows"].as_u64().is_some_and(|n| n > 10), "the changed rows compared: {back}");
    assert!(sb.config("memo")["DATABASE_URL"].contains("dokku-postgres-memo-db"));
    // Every acknowledged write, on 15 and on 18, is on 15 (the workload's own reading).
    sb.lost_nothing("memo");
    assert_eq!(sb.sql("memo-db", "SELECT count(*) FROM notes WHERE body = 'changed on 18'"), "10");
    assert_eq!(sb.sql("memo-db", "SELECT last_value FROM tickets"), "500");
    assert_eq!(replication(&sb, "memo-db"), NOTHING);
    assert_eq!(replication(&sb, "memo-18"), NOTHING);
    // Not a second time: the period has ended.
    assert!(sb.dokku(&["postgres-upgrade:rollback", "memo"]).ok().contains("nothing to do"));

    // Again, and the rollback killed once its stream ended (before the sequences): run again,
    // it goes on from there, comparing every row, and loses nothing.
    // This time online (the old service restarted with wal_level = logical, its own setting for
    // the verifier to leave out going back too).
    let up = sb
        .dokku(&["postgres:upgrade", "memo", "-I", "18", "--online", "--reversible", "--new-service", "memo-18b"])
        .ok();
    assert!(up.contains("(unlinked)") && !up.contains("destroying memo-db"), "{up}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let killed = sb.dokku_env(&[("POSTGRES_UPGRADE_KILL_AT", "rollback-4")], &["postgres-upgrade:rollback", "memo"]);
    assert_eq!(killed.code, 137, "not killed:\n{}\n{}", killed.stdout, killed.stderr);
    assert_eq!(replication(&sb, "memo-db"), NOTHING, "the subscription had ended before the kill");
    let again = sb.dokku(&["postgres-upgrade:rollback", "memo"]).ok();
    assert!(sb.config("memo")["DATABASE_URL"].contains("dokku-postgres-memo-db"), "{again}");
    sb.lost_nothing("memo");
    assert_eq!(replication(&sb, "memo-18b"), NOTHING);

    // Again, then finish: nothing of the replication on either server, the old service gone.
    // A slot of the period lost (as past its WAL bound; here dropped): rollback refuses and
    // changes nothing, finish still cleans up.
    sb.dokku(&["postgres:upgrade", "memo", "-I", "18", "--reversible", "--new-service", "memo-18c"]).ok();
    let slot = sb.sql("memo-18c", "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE '%_keys'");
    sb.sql("memo-18c", &format!("SELECT pg_drop_replication_slot('{slot}')"));
    let refused = sb.dokku(&["postgres-upgrade:rollback", "memo"]).code(1);
    assert!(refused.stderr.contains("can no longer be rolled back to"), "{}", refused.stderr);
    assert!(sb.config("memo")["DATABASE_URL"].contains("dokku-postgres-memo-18c"));
    sb.dokku(&["postgres-upgrade:finish", "memo"]).ok();
    assert!(!sb.services().contains(&"memo-db".to_string()), "finish destroys the old service");
    assert_eq!(replication(&sb, "memo-18c"), NOTHING);
    sb.lost_nothing("memo");
    assert!(sb.dokku(&["postgres-upgrade:finish", "memo"]).ok().contains("nothing to finish"));
}
