//! What the switch carries besides the app's variables: an exposed service's host ports
//! (docs/expose.md), and an app whose other variables contain the primary's name
//! (`REPLICA_DATABASE_URL` beside `DATABASE_URL`), in the sandbox against real servers.

mod support;

use support::Sandbox;

fn setup(name: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql(
        "memo-db",
        "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('a'), ('b');",
    );
    sb.dokku(&["ps:start", "memo"]).ok();
    sb
}

fn exposed(sb: &Sandbox, service: &str) -> String {
    sb.dokku(&["postgres:info", service, "--exposed-ports"]).ok().trim().to_string()
}

#[test]
fn an_exposed_service_ends_exposed_on_the_same_ports_and_the_plan_says_so() {
    let sb = setup("expose-upgrade");
    sb.dokku(&["postgres:expose", "memo-db", "127.0.0.1:4242"]).ok();

    let plan = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--dry-run"]).ok();
    assert!(
        plan.contains(
            "Exposed:      memo-db on 127.0.0.1:4242: unexposed at the switch, memo-v17 exposed there instead"
        ),
        "{plan}"
    );
    assert!(plan.contains("Switching memo to memo-v17, and its exposed port(s) 127.0.0.1:4242"), "{plan}");
    let json = sb
        .dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--dry-run", "--format", "json"])
        .ok();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["exposed_ports"], serde_json::json!(["127.0.0.1:4242"]));

    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--keep-old"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(exposed(&sb, "memo-v17"), "5432->127.0.0.1:4242");
    assert_eq!(sb.ambassador("memo-v17").as_deref(), Some("running\n127.0.0.1:4242\n"));
    // The old service let go of the port first: kept, but no longer exposed.
    assert_eq!(exposed(&sb, "memo-db"), "-");
    assert_eq!(sb.ambassador("memo-db"), None);
    assert!(!sb.service_dir("memo-db").join("PORT").exists());
}

#[test]
fn a_rollback_after_the_switch_exposes_the_old_service_again() {
    let sb = setup("expose-rollback");
    sb.dokku(&["postgres:expose", "memo-db", "4343"]).ok();
    // Killed after the switch, before any app starts on the new service.
    let run = sb.dokku_env(
        &[("POSTGRES_UPGRADE_KILL_AT", "start-apps")],
        &["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"],
    );
    assert_eq!(run.code, 137, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(exposed(&sb, "memo-v17"), "5432->4343");
    assert_eq!(exposed(&sb, "memo-db"), "-");
    let journal = std::fs::read_to_string(sb.lib_root().join("data/postgres-upgrade/apps/memo/journal.json")).unwrap();
    let journal: serde_json::Value = serde_json::from_str(&journal).unwrap();
    let undo = journal["undo"].as_array().unwrap();
    assert_eq!(undo.last().unwrap()["action"], "expose", "{undo:?}");

    let back = sb.dokku(&["postgres-upgrade:rollback", "memo"]);
    assert_eq!(back.code, 0, "{}\n{}", back.stdout, back.stderr);
    assert_eq!(sb.services(), ["memo-db"]);
    assert_eq!(exposed(&sb, "memo-db"), "5432->4343");
    assert_eq!(sb.ambassador("memo-db").as_deref(), Some("running\n4343\n"));
    assert_eq!(sb.ambassador("memo-v17"), None);
    assert!(sb.config("memo")["DATABASE_URL"].contains("@dokku-postgres-memo-db:5432/"));
}

#[test]
fn an_app_with_replica_database_url_is_upgraded_and_that_variable_left_alone() {
    let sb = setup("expose-replica-url");
    let replica = "postgres://reader:pw@replica.example:5432/memo";
    sb.dokku(&["config:set", "--no-restart", "memo", &format!("REPLICA_DATABASE_URL={replica}")]).ok();
    let before = sb.config("memo");

    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let cfg = sb.config("memo");
    assert!(cfg["DATABASE_URL"].contains("@dokku-postgres-memo-v17:5432/"), "{cfg:?}");
    assert_eq!(cfg["REPLICA_DATABASE_URL"], replica);
    let mut keys: Vec<&String> = cfg.keys().collect();
    keys.sort();
    let mut want: Vec<&String> = before.keys().collect();
    want.sort();
    assert_eq!(keys, want, "the same variables, no stand-in left");
    assert_eq!(sb.sql("memo-v17", "SELECT count(*) FROM notes"), "2");
    assert_eq!(sb.dokku(&["postgres:links", "memo-v17"]).ok().trim(), "memo");
    // A later unlink finds DATABASE_URL by the new service's URL (no colour alias needed).
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
}
