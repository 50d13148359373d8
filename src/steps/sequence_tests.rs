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
        carry: None,
        accepted: Vec::new(),
        recomputed: Default::default(),
        pulled: None,
        namesake: false,
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
        // Maintenance is on once the window has begun; the rollback turns it off.
        .on("dokku maintenance:report memo --maintenance-enabled", Output::ok("true\n"))
        .on_with("docker container exec dokku.postgres.", |cmd| Output::ok(&answer_sql(cmd, "0|0|3|77")))
        .on_with("docker container exec -i dokku.postgres.", |_| Output::ok(""))
        // A hold's session (copy/hold.rs) and the verifier's (facts/verifier/side.rs).
        .on_session("docker container exec -i dokku.postgres.", |sent| session_answer(sent, 3))
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
    let sql = cmd.args.join(" ") + cmd.input.as_deref().unwrap_or_default();
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
    let answer = if sql.contains("pg_identify_object") {
        // No extension whose members need comparing.
        ""
    } else if sql.contains("FROM pg_authid a") {
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
    } else if sql.contains("mode = 'ShareLock' AND granted") {
        // The hold (copy/hold.rs): its backend alive, its one table locked.
        "1|1\n"
    } else if sql.contains("txid_current_snapshot") {
        "100:100:\n"
    } else if sql.contains("--schema-only") {
        "CREATE TABLE public.notes (id integer, body text);\n"
    } else {
        ""
    };
    answer.to_string()
}

/// What a session answers to `sent`: a hold its backend and snapshot, the verifier's parts
/// the catalog of a database with one table `notes` of `rows` rows, then those rows.
fn session_answer(sent: &str, rows: u64) -> String {
    use crate::facts::verifier::side::END;
    // The hold's session (copy/hold.rs): the tables it locks, then its backend and snapshot,
    // then whether it still holds them.
    if sent.starts_with("BEGIN;\nSELECT (") {
        return format!("{CATALOG}\n");
    }
    if sent.contains("LOCK TABLE") {
        return "held 4711 100:100:\n".into();
    }
    if sent.contains("SELECT 'locks '") {
        return "locks 1\n".into();
    }
    let part = if sent.contains("'server'") {
        [
            serde_json::json!(["server", "", {"version": 150000, "settings": []}]),
            serde_json::json!(["relation", "public.notes", {"schema": "public", "name": "notes", "kind": "r",
                "populated": true, "key": ["id"], "columns": [["id", "20"], ["body", "25"]]}]),
            serde_json::json!(["extension", "plpgsql", {"version": "1.0", "schema": "pg_catalog", "default": "1.0"}]),
            serde_json::json!(["sequence", "public.notes_id_seq", {"last value": "3", "called": true}]),
        ]
        .iter()
        .map(|r| format!("{r}\n"))
        .collect()
    } else if sent.contains("'rows'") {
        format!("{}\n", serde_json::json!(["rows", "0", {"rows": rows, "digest": format!("{}", rows * 7)}]))
    } else {
        String::new()
    };
    sent.matches(END).map(|_| format!("{part}{END}\n")).collect()
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
                && !c.contains("maintenance:report")
        })
        .map(|c| uid.replace_all(&ts.replace_all(&root.replace_all(&c, "ROOT"), "TS"), "--user UID").into_owned())
        .collect()
}

fn run(runner: &FakeRunner, name: &str) -> (serde_json::Value, anyhow::Result<()>) {
    run_with(runner, name, Options { full_copy: true, ..Options::default() })
}

fn run_with(runner: &FakeRunner, name: &str, opts: Options) -> (serde_json::Value, anyhow::Result<()>) {
    let root = temp_root(name);
    std::fs::create_dir_all(root.join("services/postgres/db")).unwrap();
    let env = Env::for_tests(&root);
    let host = Host::new(&env, runner);
    let out = Out::captured();
    let plan = plan();
    Upgrade::new(&host, &out, &plan, &opts, &ParallelDirectory::with_jobs("postgres:17".into(), 2)).run()
}

#[test]
fn a_kept_old_service_is_backed_up_on_its_schedule_no_more() {
    let runner = healthy();
    let (report, result) =
        run_with(&runner, "keep-old", Options { full_copy: true, keep_old: true, ..Options::default() });
    result.unwrap();
    let calls = mutations(&runner);
    assert_eq!(
        calls[calls.len() - 3..],
        [
            "dokku postgres:backup-schedule db2 '0 3 * * *' bucket",
            "dokku postgres:backup db2 bucket",
            "dokku postgres:backup-unschedule db",
        ]
    );
    assert_eq!(report["old_service_kept"], true);
}

const BEFORE_COPY: [&str; 5] = [
    "dokku postgres:create db2 --image postgres --image-version 17",
    "dokku apps:lock memo",
    // Across majors, before the window: the roles, then the schema replayed (a read: not listed).
    "docker run --rm --link dokku.postgres.db:dokku-postgres-db -v ROOT/data/postgres-upgrade/apps/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/apps/memo/dumps/.db.env --user UID postgres:17 \
     pg_dumpall --roles-only -h dokku-postgres-db -U postgres",
    "dokku maintenance:enable memo",
    "dokku ps:stop memo",
];
const COPY: [&str; 3] = [
    "docker run --rm --link dokku.postgres.db:dokku-postgres-db -v ROOT/data/postgres-upgrade/apps/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/apps/memo/dumps/.db.env --user UID postgres:17 \
     pg_dump -Fd -Z 0 -j 2 -f /dump/db-TS -d db -h dokku-postgres-db -U postgres",
    "docker run --rm --link dokku.postgres.db:dokku-postgres-db -v ROOT/data/postgres-upgrade/apps/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/apps/memo/dumps/.db.env --user UID postgres:17 \
     pg_dumpall --roles-only -h dokku-postgres-db -U postgres",
    "docker run --rm --link dokku.postgres.db2:dokku-postgres-db2 -v ROOT/data/postgres-upgrade/apps/memo/dumps:/dump \
     --env-file ROOT/data/postgres-upgrade/apps/memo/dumps/.db2.env --user UID postgres:17 \
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
    let dumps = std::env::temp_dir()
        .join(format!("pgu-unit-happy-{}/data/postgres-upgrade/apps/memo/dumps", std::process::id()));
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
    let runner = healthy().on_session("docker container exec -i dokku.postgres.db2", |sent| session_answer(sent, 2));
    let (_, result) = run(&runner, "verify");
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("table public.notes has 2 rows in the copy, 3 in the original"), "{err}");
    assert!(err.contains("Nothing was switched: the apps stay on db"), "{err}");
    assert!(!mutations(&runner).iter().any(|c| c.contains("postgres:unlink") || c.contains("postgres:link")));
    assert_eq!(mutations(&runner).last().map(String::as_str), Some("dokku postgres:destroy db2 -f"));
}

#[test]
fn a_hold_lost_during_verification_switches_nothing() {
    // The holding session's locks are gone (its backend was ended): what verification read may
    // be outdated already.
    let runner = healthy().on_session("docker container exec -i dokku.postgres.db psql", |sent| {
        if sent.contains("SELECT 'locks '") { "locks 0\n".into() } else { session_answer(sent, 3) }
    });
    let (report, result) = run(&runner, "lost-hold");
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("the hold on db was lost during verification"), "{err}");
    assert!(!mutations(&runner).iter().any(|c| c.contains("postgres:link db2")));
    assert_eq!(report["status"], "rolled-back");
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

/// Each step after the switch failing on its own: never undone, said as the command to run.
#[test]
fn a_failure_after_the_switch_is_a_command_to_run_whichever_step_it_is() {
    for (failing, manual) in [
        ("dokku maintenance:disable memo", vec!["dokku maintenance:disable memo", "dokku postgres:destroy db -f"]),
        ("dokku postgres:destroy db -f", vec!["dokku postgres:destroy db -f"]),
    ] {
        let runner = healthy().on(failing, Output::fail(1, "no"));
        let (report, result) = run(&runner, "after-switch");
        assert!(result.is_err(), "{failing}");
        assert_eq!(report["status"], "upgraded-with-manual-steps", "{failing}");
        assert_eq!(report["manual_steps"], serde_json::json!(manual), "{failing}");
        assert!(
            !mutations(&runner).iter().any(|c| c.contains("postgres:link db memo")),
            "{failing}: nothing goes back"
        );
    }
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
    // A subscription would keep the database from being dropped: none here.
    assert!(calls[1].contains("dokku.postgres.db2 psql") && calls[1].contains("FROM pg_subscription"), "{}", calls[1]);
    assert!(calls[2].contains("dokku.postgres.db2 psql") && calls[2].contains("pg_terminate_backend"), "{}", calls[2]);
    assert!(calls[3].contains("DROP DATABASE IF EXISTS \"db2\"") && calls[4].contains("CREATE DATABASE \"db2\""));
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
    // The old server's fingerprint differs from the first copy's in range 0 of `notes`, in
    // more rows than stream through the window's sessions: the pipe streams them.
    // The copy holds what the old one does once the stream has run.
    let streamed = Rc::new(std::cell::Cell::new(false));
    let (set, get) = (streamed.clone(), streamed);
    let runner = healthy()
        .on_with("docker container exec dokku.postgres.db psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|20000|99")))
        // The fingerprints, whose key goes on psql's standard input.
        .on_with("docker container exec -i dokku.postgres.db psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|20000|99")))
        .on_with("docker container exec -i dokku.postgres.db2 psql", move |cmd| {
            Output::ok(&answer_sql(cmd, if get.get() { "0|0|20000|99" } else { "0|0|3|77" }))
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
    let all = runner.calls();
    // The fingerprints' and the verifier's keys reach the servers on standard input only: a
    // kept session's (host/psql.rs, `ON_ERROR_STOP=0`) statements are its input, which the
    // fake runner records as `-c` arguments.
    assert!(all.iter().any(|c| c.contains("-q -At -F | -f -")), "{all:#?}");
    assert!(!all.iter().any(|c| c.contains("_key', '") && !c.contains("ON_ERROR_STOP=0")), "{all:#?}");
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
        .on_with("docker container exec dokku.postgres.db psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|20000|99")))
        .on_with("docker container exec -i dokku.postgres.db psql", |cmd| Output::ok(&answer_sql(cmd, "0|0|20000|99")))
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
