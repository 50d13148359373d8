//! The exact command sequence of an upgrade, rollbacks included, against a fake runner.
//! (The same sequence runs against real PostgreSQL servers in tests/upgrade.rs.)

use crate::copy::ParallelDirectory;
use crate::host::env::Env;
use crate::host::runner::Output;
use crate::host::runner::fake::FakeRunner;
use crate::host::switch::VarSpec;
use crate::host::{BackupSettings, Host, Schedule, ServiceSettings};
use crate::output::Out;
use crate::plan::{AppState, Plan};
use crate::steps::{Options, Upgrade};
use std::cell::RefCell;
use std::rc::Rc;

const OLD_URL: &str = "postgres://postgres:oldpw@dokku-postgres-db:5432/db";
const NEW_URL: &str = "postgres://postgres:newpw@dokku-postgres-db2:5432/db2";

/// A lib root with the two services' PASSWORD files, which the copy reads.
fn temp_root(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgu-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (service, password) in [("db", "oldpw"), ("db2", "newpw")] {
        let service_dir = dir.join("services/postgres").join(service);
        std::fs::create_dir_all(&service_dir).unwrap();
        std::fs::write(service_dir.join("PASSWORD"), password).unwrap();
    }
    // The old service's backup-auth, as dokku-postgres wrote it.
    let backup = dir.join("services/postgres/db/backup");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::write(backup.join("AWS_ACCESS_KEY_ID"), "AKIA\n").unwrap();
    std::fs::write(backup.join("AWS_SECRET_ACCESS_KEY"), "SECRET\n").unwrap();
    dir
}

fn plan() -> Plan {
    Plan {
        app: Some("memo".into()),
        old: "db".into(),
        new: "db2".into(),
        image: "postgres".into(),
        version: "17".into(),
        image_id: "sha256:abc".into(),
        image_created: "2026-01-01T00:00:00Z".into(),
        old_reference: "postgres:15".into(),
        old_major: Some(1500),
        new_major: Some(1700),
        old_db: "db".into(),
        old_key: "postgres:oldpw@dokku-postgres-db:5432/db".into(),
        apps: vec![AppState {
            name: "memo".into(),
            running: true,
            maintenance_on: false,
            vars: vec![VarSpec::from_value("DATABASE_URL", &format!("{OLD_URL}?pool=5"))],
        }],
        settings: ServiceSettings { image: "postgres".into(), image_version: "15".into(), ..Default::default() },
        exposed: Vec::new(),
        backup: BackupSettings {
            auth: Some(vec!["AKIA".into(), "SECRET".into()]),
            encryption_key: None,
            public_key_id: None,
            schedule: Some(Schedule { when: "0 3 * * *".into(), bucket: "bucket".into(), use_iam: false }),
        },
        use_maintenance: true,
        survey: None,
        copy: crate::plan::method::CopyChoice::of(crate::copy::Method::Whole, "--full-copy was given"),
    }
}

/// A host where every query answers as a healthy pair of services would; the app's config
/// follows the last `postgres:link`.
fn healthy() -> FakeRunner {
    // Which service the app is linked to: "db" (old) or "db2" (new).
    let linked = Rc::new(RefCell::new("db"));
    let (to_new, to_old, config, options, links_old, links_new) =
        (linked.clone(), linked.clone(), linked.clone(), linked.clone(), linked.clone(), linked);
    FakeRunner::new()
        .on("dokku postgres:info db --dsn", Output::ok(&format!("{OLD_URL}\n")))
        .on("dokku postgres:info db2 --status", Output::ok("running\n"))
        .on("dokku postgres:info db --status", Output::ok("running\n"))
        .on("dokku postgres:info db2 --dsn", Output::ok(&format!("{NEW_URL}\n")))
        .on_with("docker container exec dokku.postgres.", |cmd| Output::ok(&answer_sql(cmd, "0|0|3|77")))
        .on_with("docker container exec -i dokku.postgres.", |_| Output::ok(""))
        // A hold's session (copy/hold.rs) answers with the tables it locks, then its backend
        // and snapshot.
        .on(
            "docker container exec -i dokku.postgres.db psql -X -U postgres -d db -v ON_ERROR_STOP=1 -q -A -t -f -",
            Output::ok(&format!("{CATALOG}\nheld 4711 100:100:\n")),
        )
        .on(
            "docker container exec -i dokku.postgres.db2 psql -X -U postgres -d db2 -v ON_ERROR_STOP=1 -q -A -t -f -",
            Output::ok(&format!("{CATALOG}\nheld 4712 100:100:\n")),
        )
        .on_with("dokku postgres:link db2 memo", move |_| {
            to_new.replace("db2");
            Output::ok("")
        })
        .on_with("dokku postgres:link db memo", move |_| {
            to_old.replace("db");
            Output::ok("")
        })
        .on_with("dokku config:export --format json memo", move |_| {
            let url = if *config.borrow() == "db" { OLD_URL } else { NEW_URL };
            Output::ok(&format!(r#"{{"DATABASE_URL":"{url}?pool=5"}}"#))
        })
        .on_with("dokku docker-options:report memo", move |_| {
            let svc = *options.borrow();
            Output::ok(&format!("--link dokku.postgres.{svc}:dokku-postgres-{svc}\n"))
        })
        .on_with("dokku postgres:links db", move |_| {
            Output::ok(if *links_old.borrow() == "db" { "memo\n" } else { "" })
        })
        .on_with("dokku postgres:links db2", move |_| {
            Output::ok(if *links_new.borrow() == "db2" { "memo\n" } else { "" })
        })
}

/// The one table and sequence of a healthy service, as facts/fingerprint.rs's CATALOG prints them.
const CATALOG: &str = r#"{"tables": [{"schema": "public", "name": "notes", "columns": ["id", "body"], "key": "id"}], "sequences": [["public", "notes_id_seq"]], "large_objects": 0}"#;

/// What a healthy service answers to the plugin's queries; `rows` is the fingerprint line of
/// its one table, `notes` (`table|range|rows|sum`).
fn answer_sql(cmd: &crate::host::runner::Cmd, rows: &str) -> String {
    let sql = cmd.args.join(" ");
    let catalog = CATALOG;
    if sql.contains("json_build_array('catalog'") {
        let rows = [
            serde_json::json!(["snapshot", "", "100:100:"]),
            serde_json::json!(["sequence", "public.notes_id_seq", "3"]),
            serde_json::json!(["extension", "plpgsql", "1.0"]),
            serde_json::json!(["catalog", "", catalog]),
            serde_json::json!(["role", "postgres", "true,true"]),
        ];
        return rows.iter().map(|r| r.to_string() + "\n").collect();
    }
    let answer = if sql.contains("FROM pg_authid a") {
        // The roles' and the database's digests (copy/mod.rs, GLOBALS): they never change here.
        "roles\nmembers\nsettings\ndatabase\n"
    } else if sql.contains("pg_available_extensions") {
        "plpgsql\npostgis\n"
    } else if sql.contains("FROM pg_extension") {
        "plpgsql\n"
    } else if sql.contains("pg_sequences") {
        "public.notes_id_seq|3\n"
    } else if sql.contains("WITH rel AS") {
        catalog
    } else if sql.contains("min(\"id\")") {
        "0|1|3\n"
    } else if sql.contains("BEGIN ISOLATION LEVEL") {
        return format!("snapshot|100:100:\nlarge_objects|0\n{rows}\n");
    } else if sql.contains("txid_current_snapshot") {
        "100:100:\n"
    } else if sql.contains("--schema-only") {
        "CREATE TABLE public.notes (id integer, body text);\n"
    } else {
        ""
    };
    answer.to_string()
}

/// The new image's tools answer, but pg_restore fails.
fn restore_fails(cmd: &crate::host::runner::Cmd) -> Output {
    if cmd.args.iter().any(|a| a == "pg_restore") { Output::fail(1, "pg_restore: error: x") } else { Output::ok("") }
}

/// The dokku calls and the copy, without the read-only queries; the temp root, the dump's
/// timestamp and the uid are replaced by ROOT, TS and UID.
fn mutations(runner: &FakeRunner) -> Vec<String> {
    let root = regex::Regex::new(r"/tmp/pgu-unit-[^/ ]+").unwrap();
    let ts = regex::Regex::new(r"\d{8}-\d{6}").unwrap();
    let uid = regex::Regex::new(r"--user \d+:\d+").unwrap();
    runner
        .calls()
        .into_iter()
        .filter(|c| {
            !c.contains(" psql -X -U postgres")
                && !c.contains(" psql -X -q -A -t -F")
                && !c.contains("--schema-only")
                && !c.contains("postgres:info")
                && !c.contains("config:export")
                && !c.contains("docker-options:report")
                && !c.contains("postgres:links")
                && !c.contains("apps:locked")
        })
        .map(|c| uid.replace_all(&ts.replace_all(&root.replace_all(&c, "ROOT"), "TS"), "--user UID").into_owned())
        .collect()
}

fn run(runner: &FakeRunner, name: &str) -> (serde_json::Value, anyhow::Result<()>) {
    let root = temp_root(name);
    std::fs::create_dir_all(root.join("services/postgres/db")).unwrap();
    let env = Env::for_tests(&root);
    let host = Host::new(&env, runner);
    let out = Out::captured();
    let plan = plan();
    let opts = Options { full_copy: true, ..Options::default() };
    Upgrade::new(&host, &out, &plan, &opts, &ParallelDirectory::with_jobs("postgres:17".into(), 2)).run()
}

const BEFORE_COPY: [&str; 5] = [
    "dokku postgres:create db2 --image postgres --image-version 17",
    "dokku apps:lock memo",
    // Across majors, before the window: the roles, then the schema replayed (a read: not listed).
    "docker run --rm --link dokku.postgres.db:dokku-postgres-db -v ROOT/data/postgres-upgrade/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/memo/dumps/.db.env --user UID postgres:17 \
     pg_dumpall --roles-only -h dokku-postgres-db -U postgres",
    "dokku maintenance:enable memo",
    "dokku ps:stop memo",
];
const COPY: [&str; 3] = [
    "docker run --rm --link dokku.postgres.db:dokku-postgres-db -v ROOT/data/postgres-upgrade/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/memo/dumps/.db.env --user UID postgres:17 \
     pg_dump -Fd -Z 0 -j 2 -f /dump/db-TS -d db -h dokku-postgres-db -U postgres",
    "docker run --rm --link dokku.postgres.db:dokku-postgres-db -v ROOT/data/postgres-upgrade/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/memo/dumps/.db.env --user UID postgres:17 \
     pg_dumpall --roles-only -h dokku-postgres-db -U postgres",
    "docker run --rm --link dokku.postgres.db2:dokku-postgres-db2 -v ROOT/data/postgres-upgrade/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/memo/dumps/.db2.env --user UID postgres:17 \
     pg_restore -j 2 --exit-on-error -d db2 /dump/db-TS -h dokku-postgres-db2 -U postgres",
];

#[test]
fn happy_path_runs_every_step_in_order_with_one_start() {
    let runner = healthy();
    let (report, result) = run(&runner, "happy");
    result.unwrap();
    let mut expected: Vec<&str> = BEFORE_COPY.to_vec();
    expected.extend(COPY);
    expected.extend([
        "dokku postgres:unlink db memo --no-restart",
        "dokku postgres:link db2 memo --no-restart --alias DATABASE_URL --querystring pool=5",
        "dokku ps:start memo",
        "dokku maintenance:disable memo",
        "dokku apps:unlock memo",
        // The old service's final backup once the apps run on the new one: it is frozen then.
        "dokku postgres:backup db bucket",
        "dokku postgres:backup-schedule db2 '0 3 * * *' bucket",
        "dokku postgres:backup db2 bucket",
        "dokku postgres:destroy db -f",
    ]);
    assert_eq!(mutations(&runner), expected);
    assert_eq!(report["status"], "upgraded");
    assert_eq!(report["app_starts"], 1);
    assert_eq!(report["verification"]["rows"], 3);
    let text = report.to_string();
    assert!(!text.contains("oldpw") && !text.contains("newpw") && !text.contains("SECRET"), "{text}");
    // Passwords reach the copy through env files, never argv, and the files are gone after it.
    assert!(!runner.calls().iter().any(|c| c.contains("oldpw") || c.contains("newpw") || c.contains("SECRET")));
    // The backup credentials reach the new service as dokku-postgres's own files, owner-only.
    let root = std::env::temp_dir().join(format!("pgu-unit-happy-{}", std::process::id()));
    let secret = root.join("services/postgres/db2/backup/AWS_SECRET_ACCESS_KEY");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "SECRET\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let dumps =
        std::env::temp_dir().join(format!("pgu-unit-happy-{}/data/postgres-upgrade/memo/dumps", std::process::id()));
    let left: Vec<_> = std::fs::read_dir(dumps).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().ends_with(".env")), "{left:?}");
}

#[test]
fn a_restore_error_rolls_everything_back_in_reverse() {
    let runner = healthy().on_with("docker run --rm --link dokku.postgres.db2:", restore_fails);
    let (report, result) = run(&runner, "restore");
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("Copying db into db2") && err.contains("pg_restore: error: x"), "{err}");
    let mut expected: Vec<&str> = BEFORE_COPY.to_vec();
    expected.extend(COPY);
    expected.extend([
        "dokku ps:restart memo",
        "dokku maintenance:disable memo",
        "dokku apps:unlock memo",
        "dokku postgres:destroy db2 -f",
    ]);
    assert_eq!(mutations(&runner), expected);
    assert_eq!(report["status"], "rolled-back");
}

#[test]
fn a_verification_mismatch_switches_nothing() {
    let runner = healthy()
        .on_with("docker container exec dokku.postgres.db2 psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|2|55")));
    let (_, result) = run(&runner, "verify");
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("table public.notes has 2 rows in the copy, 3 in the original"), "{err}");
    assert!(!mutations(&runner).iter().any(|c| c.contains("postgres:unlink") || c.contains("postgres:link")));
    assert_eq!(mutations(&runner).last().map(String::as_str), Some("dokku postgres:destroy db2 -f"));
}

#[test]
fn an_app_that_does_not_start_is_switched_back_to_the_old_service() {
    let runner = healthy().on("dokku ps:start memo", Output::fail(1, "No such container"));
    let (_, result) = run(&runner, "start");
    assert!(result.is_err());
    let calls = mutations(&runner);
    let at = calls.iter().position(|c| c == "dokku ps:start memo").unwrap();
    assert_eq!(
        calls[at + 1..],
        [
            "dokku postgres:unlink db2 memo --no-restart",
            "dokku postgres:unlink db memo --no-restart",
            "dokku postgres:link db memo --no-restart --alias DATABASE_URL --querystring pool=5",
            "dokku ps:restart memo",
            "dokku maintenance:disable memo",
            "dokku apps:unlock memo",
            "dokku postgres:destroy db2 -f",
        ]
    );
}

#[test]
fn a_missing_extension_stops_before_the_window() {
    let runner = healthy()
        .on_with("docker container exec dokku.postgres.db2 psql", |_| Output::ok("plpgsql\n"))
        .on_with("docker container exec dokku.postgres.db psql", |_| Output::ok("plpgsql\npostgis\n"));
    let (_, result) = run(&runner, "ext");
    assert!(format!("{:#}", result.unwrap_err()).contains("lacks extension(s) used by db: postgis"));
    assert_eq!(
        mutations(&runner),
        ["dokku postgres:create db2 --image postgres --image-version 17", "dokku postgres:destroy db2 -f"]
    );
}

#[test]
fn backup_carry_over_failure_keeps_the_old_service_and_says_what_to_run() {
    let runner = healthy().on("dokku postgres:backup-schedule db2", Output::fail(1, "cron"));
    let (report, result) = run(&runner, "after");
    assert!(result.is_err());
    assert_eq!(report["status"], "upgraded-with-manual-steps");
    let manual = report["manual_steps"].to_string();
    assert!(manual.contains("postgres:backup-schedule db2") && manual.contains("postgres:destroy db -f"), "{manual}");
    assert!(!mutations(&runner).contains(&"dokku postgres:destroy db -f".to_string()));
}

#[test]
fn a_resumed_run_skips_done_steps_and_redoes_the_interrupted_one_from_scratch() {
    use crate::state::journal::Journal;
    use crate::state::undo::Action;
    let runner = healthy();
    let root = temp_root("resume");
    std::fs::create_dir_all(root.join("services/postgres/db")).unwrap();
    let env = Env::for_tests(&root);
    let host = Host::new(&env, &runner);
    let out = Out::captured();
    let plan = plan();
    let opts = Options { full_copy: true, ..Options::default() };
    let path = Journal::path_for(&env.data_dir(), "memo");
    let mut journal =
        Journal::start(&path, plan.record(), &crate::steps::step_list(&plan, &opts), opts.record()).unwrap();
    let copy = crate::steps::STEPS.iter().position(|s| s.id == "copy").unwrap();
    for step in 0..copy {
        journal.step(step, "done").unwrap();
    }
    journal.step(copy, "running").unwrap();
    let undo = vec![
        Action::DestroyService { service: "db2".into() },
        Action::Unlock { app: "memo".into() },
        Action::MaintenanceOff { app: "memo".into() },
        Action::Restart { app: "memo".into() },
    ];
    journal.set_undo(&undo).unwrap();

    let (report, result) =
        Upgrade::new(&host, &out, &plan, &opts, &ParallelDirectory::with_jobs("postgres:17".into(), 2))
            .resume(journal)
            .unwrap()
            .run();
    result.unwrap();
    // The old database held still (its session reads which tables, then locks them), then the
    // new one emptied before the copy starts over.
    let calls = runner.calls();
    assert!(calls[0].contains("dokku.postgres.db psql") && calls[0].ends_with("-f -"), "{}", calls[0]);
    assert!(calls[1].contains("dokku.postgres.db2 psql") && calls[1].contains("pg_terminate_backend"), "{}", calls[1]);
    assert!(calls[2].contains("DROP DATABASE IF EXISTS \"db2\"") && calls[3].contains("CREATE DATABASE \"db2\""));
    assert_eq!(mutations(&runner)[..3], COPY);
    assert!(!mutations(&runner).iter().any(|c| c.contains("postgres:create") || c.contains("ps:stop")));
    assert_eq!(report["steps"][0]["status"], "done-before");
    assert_eq!(Journal::load(&path).unwrap().unwrap().status(), crate::state::journal::Status::Upgraded);
}

/// An upgrade with the copier and options a real run picks for the plan: the catch-up copy.
fn run_catch_up(runner: &FakeRunner, name: &str) -> (serde_json::Value, anyhow::Result<()>) {
    let root = temp_root(name);
    let env = Env::for_tests(&root);
    let host = Host::new(&env, runner);
    let out = Out::captured();
    let mut plan = plan();
    plan.copy = crate::plan::method::CopyChoice::of(crate::copy::Method::CatchUp, "the catch-up copy");
    let opts = Options::default();
    let copier = crate::steps::choose(&plan);
    Upgrade::new(&host, &out, &plan, &opts, &*copier).run()
}

#[test]
fn the_catch_up_copy_moves_the_data_before_the_window_and_only_the_changes_inside_it() {
    // The old server's fingerprint differs from the first copy's in range 0 of `notes`.
    // The copy holds what the old one does once the stream has run.
    let streamed = Rc::new(std::cell::Cell::new(false));
    let (set, get) = (streamed.clone(), streamed);
    let runner = healthy()
        .on_with("docker container exec dokku.postgres.db psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|4|99")))
        .on_with("docker container exec dokku.postgres.db2 psql", move |cmd| {
            Output::ok(&answer_sql(cmd, if get.get() { "0|0|4|99" } else { "0|0|3|77" }))
        })
        .on_with(
            "docker container exec -i dokku.postgres.db2 psql -X -U postgres -d db2 -v ON_ERROR_STOP=1 -q -A -t -1",
            move |_| {
                set.set(true);
                Output::ok("3\ncatch-up-xid 100\n")
            },
        );
    let (report, result) = run_catch_up(&runner, "catch-up");
    result.unwrap();
    let calls = mutations(&runner);
    let at = |prefix: &str| {
        calls.iter().position(|c| c.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {calls:#?}"))
    };
    // The first copy and the fresh database's upkeep happen before the window opens.
    assert!(at("docker run --rm --link dokku.postgres.db:") < at("dokku maintenance:enable memo"));
    assert!(at("docker run --rm --link dokku.postgres.db2:") < at("dokku maintenance:enable memo"));
    // Inside it, after the apps stopped: one stream of the changed range, then the switch.
    let script = &calls[at("<<< ")];
    assert!(at("dokku ps:stop memo") < at("<<< ") && at("<<< ") < at("dokku postgres:unlink db memo"));
    assert!(
        script.contains("DELETE FROM ONLY \"public\".\"notes\" WHERE (\"id\" >= 0 AND \"id\" < 1024);"),
        "{script}"
    );
    assert!(script.contains("pg_catalog.setval"), "{script}");
    // No client container inside the window: the roles and the database's properties were
    // carried before it and have not changed since, the schema was compared before it too.
    let window = &calls[at("dokku ps:stop memo")..at("dokku ps:start memo")];
    assert!(!window.iter().any(|c| c.starts_with("docker run")), "{window:#?}");
    let all = runner.calls();
    let vacuum = all.iter().position(|c| c.contains("VACUUM (ANALYZE)")).unwrap();
    let window = all.iter().position(|c| c.contains("maintenance:enable")).unwrap();
    assert!(vacuum < window);
    assert_eq!(report["status"], "upgraded");
    assert_eq!(report["verification"]["content_compared"], true);
    assert!(report["catch_up_script"].as_str().unwrap().ends_with("-catch-up.sql"));
}

#[test]
fn a_stream_cut_short_fails_the_copy_and_rolls_back() {
    // The consumer never printed the end mark: psql would have committed what it got.
    let runner = healthy()
        .on_with("docker container exec dokku.postgres.db psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|4|99")))
        .on(
            "docker container exec -i dokku.postgres.db2 psql -X -U postgres -d db2 -v ON_ERROR_STOP=1 -q -A -t -1",
            Output::ok("3\n"),
        );
    let (report, result) = run_catch_up(&runner, "cut");
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("the stream from db to db2 ended before its end mark"), "{err}");
    assert_eq!(report["status"], "rolled-back");
    assert_eq!(mutations(&runner).last().map(String::as_str), Some("dokku postgres:destroy db2 -f"));
}

#[test]
fn a_rollback_starts_an_old_server_that_died_before_the_apps_go_back_to_it() {
    let runner = healthy()
        .on("dokku postgres:info db --status", Output::ok("exited\n"))
        .on_with("docker run --rm --link dokku.postgres.db2:", restore_fails);
    let (report, result) = run(&runner, "dead");
    assert!(result.is_err());
    let calls = mutations(&runner);
    let at = |c: &str| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c}: {calls:#?}"));
    assert!(at("dokku postgres:start db") < at("dokku ps:restart memo"));
    assert!(at("dokku ps:restart memo") < at("dokku maintenance:disable memo"));
    assert_eq!(report["status"], "rolled-back");
}

#[test]
fn an_app_that_does_not_start_again_keeps_its_maintenance_page() {
    let runner = healthy()
        .on_with("docker run --rm --link dokku.postgres.db2:", restore_fails)
        .on("dokku ps:restart memo", Output::fail(1, "No such container"));
    let (report, _) = run(&runner, "down");
    assert!(!mutations(&runner).contains(&"dokku maintenance:disable memo".to_string()));
    assert_eq!(report["status"], "rollback-failed");
}
