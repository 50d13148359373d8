//! `dokku postgres:upgrade` end to end, in the sandbox, against real PostgreSQL servers.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use support::Sandbox;

/// An app linked to a fresh service holding a little data: a table with a sequence and an index.
fn app_with_service(sb: &Sandbox, app: &str, service: &str, image: &str, version: &str) {
    sb.dokku(&["apps:create", app]).ok();
    sb.dokku(&["postgres:create", service, "--image", image, "--image-version", version]).ok();
    sb.dokku(&["postgres:link", service, app]).ok();
    sb.sql(
        service,
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL); \
         CREATE INDEX notes_body ON notes (body); \
         INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 500) g;",
    );
    sb.dokku(&["ps:start", app]).ok();
}

fn restarts(sb: &Sandbox, app: &str) -> usize {
    std::fs::read_to_string(sb.lib_root().join("data/apps").join(app).join("restarts.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn json_report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("stdout is not one JSON report ({e}):\n{stdout}"))
}

/// Everything that "the state exactly as before" covers, in one comparable value.
fn state(sb: &Sandbox, app: &str) -> (Vec<String>, BTreeMap<String, String>, String, String, String, String) {
    (
        sb.services(),
        sb.config(app),
        sb.dokku(&["ps:report", app, "--running"]).ok().trim().to_string(),
        sb.dokku(&["maintenance:report", app, "--maintenance-enabled"]).ok().trim().to_string(),
        sb.dokku(&["docker-options:report", app, "--docker-options-run"]).ok().trim().to_string(),
        sb.dokku(&["apps:locked", app]).code.to_string(),
    )
}

#[test]
fn upgrades_an_app_from_15_to_17_with_backups_a_worker_and_one_start() {
    let sb = Sandbox::up("upgrade-15-17");
    app_with_service(&sb, "memo-app-r", "memo-db", "postgres", "15");
    sb.dokku(&["postgres:backup-auth", "memo-db", "AKIAEXAMPLE", "s3cr3t-key", "eu-west-1"]).ok();
    sb.dokku(&["postgres:backup-set-encryption", "memo-db", "passphrase-42"]).ok();
    sb.dokku(&["postgres:backup-schedule", "memo-db", "0 3 * * *", "memo-backups"]).ok();
    sb.sandbox(&["workload", "memo-app-r", "on"]).ok();
    sb.dokku(&["ps:restart", "memo-app-r"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let starts_before = restarts(&sb, "memo-app-r");

    let run = sb.dokku(&[
        "postgres:upgrade",
        "memo-app-r",
        "--image",
        "postgres",
        "--image-version",
        "17",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "upgrade failed:\n{}", run.stderr);
    let report = json_report(&run.stdout);
    let new = report["new_service"].as_str().unwrap().to_string();
    assert!(new.starts_with("memo-app-r-postgres-17-"), "{new}");
    assert_eq!(report["changed"], true);
    assert!(report["verification"]["rows"].as_u64().unwrap() >= 500);
    assert!(report["maintenance_window_ms"].as_u64().unwrap() > 0);
    // The old service's final backup is taken once the apps run on the new one, not in the window.
    let step = |name: &str| report["steps"].as_array().unwrap().iter().position(|s| s["name"] == name).unwrap();
    assert!(step("Backing up memo-db to S3") > step("Ending the maintenance window"), "{report}");

    // The data is there, on PostgreSQL 17.
    assert_eq!(sb.sql(&new, "SELECT count(*) FROM notes"), "500");
    assert!(sb.sql(&new, "SHOW server_version").starts_with("17."));
    // Same variable, now on the new service; nothing refers to the old one; exactly one start.
    let cfg = sb.config("memo-app-r");
    assert!(cfg["DATABASE_URL"].contains(&format!("@dokku-postgres-{new}:5432/")), "{:?}", cfg.keys());
    assert!(!cfg.values().any(|v| v.contains("dokku-postgres-memo-db:")));
    assert!(!cfg.keys().any(|k| k.starts_with("DOKKU_POSTGRES_")), "{:?}", cfg.keys());
    assert_eq!(restarts(&sb, "memo-app-r"), starts_before + 1);
    let options = sb.dokku(&["docker-options:report", "memo-app-r", "--docker-options-run"]).ok();
    assert!(
        !options.contains("dokku.postgres.memo-db:") && options.contains(&format!("dokku.postgres.{new}:")),
        "{options}"
    );
    // The old service is gone, its cron file too; backups were carried over and proven.
    assert_eq!(sb.services(), vec![new.clone()]);
    assert!(!sb.dir.join("etc/cron.d/dokku-postgres-memo-db").exists());
    let cron = std::fs::read_to_string(sb.dir.join(format!("etc/cron.d/dokku-postgres-{new}"))).unwrap();
    assert!(
        cron.starts_with("0 3 * * * dokku ") && cron.contains(&format!("postgres:backup {new} memo-backups")),
        "{cron}"
    );
    assert!(sb.service_dir(&new).join("backup-encryption/ENCRYPTION_KEY").exists());
    assert_eq!(
        std::fs::read_to_string(sb.service_dir(&new).join("backup/AWS_DEFAULT_REGION")).unwrap().trim(),
        "eu-west-1"
    );
    let objects: Vec<String> = std::fs::read_dir(sb.dir.join("s3/memo-backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(objects.iter().any(|o| o.starts_with("postgres-memo-db-") && o.ends_with(".tgz.gpg")), "{objects:?}");
    assert!(
        objects.iter().any(|o| o.starts_with(&format!("postgres-{new}-")) && o.ends_with(".tgz.gpg")),
        "{objects:?}"
    );
    // No acknowledged write was lost, and the app writes to the new service.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo-app-r", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
    // Credentials never reach the output.
    for secret in ["s3cr3t-key", "passphrase-42", "AKIAEXAMPLE"] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} leaked");
    }

    // Run again in a deploy script: nothing to do, exit 0.
    let again = sb.dokku(&["postgres:upgrade", "memo-app-r", "-I", "17", "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(json_report(&again.stdout)["changed"], false);
    assert_eq!(sb.services(), vec![new]);
}

#[test]
fn a_second_upgrade_keeps_the_variable_names_and_leaves_no_colour_alias() {
    let sb = Sandbox::up("upgrade-twice");
    app_with_service(&sb, "shop", "shop-db", "postgres", "15");
    sb.dokku(&["config:set", "--no-restart", "shop", "POSTGRES_DATABASE_SCHEME=postgres"]).ok();
    let first = sb.dokku(&["postgres:upgrade", "shop", "-I", "17.5", "--new-service", "shop-v2"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains("-----> [1/16] "), "{}", first.stdout);
    let second = sb.dokku(&["postgres:upgrade", "shop", "-I", "17", "--new-service", "shop-v3"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let cfg = sb.config("shop");
    let db_vars: Vec<&String> = cfg.iter().filter(|(_, v)| v.contains("dokku-postgres-")).map(|(k, _)| k).collect();
    assert_eq!(db_vars, vec!["DATABASE_URL"]);
    assert!(cfg["DATABASE_URL"].contains("@dokku-postgres-shop-v3:5432/shop_v3"));
    assert_eq!(sb.sql("shop-v3", "SELECT count(*) FROM notes"), "500");
    assert_eq!(sb.services(), vec!["shop-v3".to_string()]);

    // The report, in dokku's report shape: the last upgrade, and only its dumps kept.
    let report = sb.dokku(&["postgres-upgrade:report", "shop"]).ok();
    assert!(report.contains("=====> shop postgres-upgrade information"), "{report}");
    assert!(report.contains("Postgres upgrade last from:") && report.contains("shop-v2 (postgres:17.5)"), "{report}");
    let field = |f: &str| sb.dokku(&["postgres-upgrade:report", "shop", f]).ok().trim().to_string();
    assert_eq!(field("--postgres-upgrade-last-to"), "shop-v3");
    assert_eq!(field("--postgres-upgrade-last-status"), "upgraded");
    assert!(field("--postgres-upgrade-last-window").ends_with('s'));
    let dumps = field("--postgres-upgrade-dumps");
    assert!(dumps.starts_with("shop-v2-") && !dumps.contains(' '), "only the last upgrade's dumps: {dumps}");
    let json: Value =
        serde_json::from_str(&sb.dokku(&["postgres-upgrade:report", "shop", "--format", "json"]).ok()).unwrap();
    assert_eq!(json["postgres-upgrade-unfinished"], "no");
    // Every app's report is one JSON document, each under its name.
    let all: Value = serde_json::from_str(&sb.dokku(&["postgres-upgrade:report", "--format", "json"]).ok())
        .expect("one JSON document");
    assert_eq!(all.as_object().unwrap().keys().collect::<Vec<_>>(), ["shop"]);
    assert_eq!(all["shop"]["postgres-upgrade-last-to"], "shop-v3");
    assert_eq!(sb.dokku(&["postgres-upgrade:report", "shop", "--no-such-field"]).code, 1);
    // Cleanup removes them.
    assert!(sb.dokku(&["postgres-upgrade:cleanup", "shop"]).ok().contains("freed"));
    assert_eq!(field("--postgres-upgrade-dumps"), "");
}

#[test]
fn a_service_linked_to_two_apps_moves_both_and_keeps_aliases_and_query_strings() {
    let sb = Sandbox::up("upgrade-two-apps");
    app_with_service(&sb, "api", "shared-db", "postgres", "15");
    sb.dokku(&["apps:create", "reports"]).ok();
    sb.dokku(&["postgres:link", "shared-db", "reports", "--alias", "ANALYTICS", "--querystring", "pool=5"]).ok();
    sb.dokku(&["ps:start", "reports"]).ok();

    let run = sb.dokku(&["postgres:upgrade", "api", "-I", "17", "--new-service", "shared-v17"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let api = sb.config("api");
    let reports = sb.config("reports");
    assert!(api["DATABASE_URL"].contains("@dokku-postgres-shared-v17:5432/"));
    assert!(
        reports["ANALYTICS_URL"].contains("@dokku-postgres-shared-v17:5432/")
            && reports["ANALYTICS_URL"].ends_with("?pool=5")
    );
    assert!(!reports.contains_key("DATABASE_URL"));
    let links = sb.dokku(&["postgres:links", "shared-v17"]).ok();
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), vec!["api", "reports"]);
    assert_eq!(sb.dokku(&["ps:report", "reports", "--running"]).ok().trim(), "true");
}

#[test]
fn an_app_with_two_services_moves_only_the_one_asked_for() {
    let sb = Sandbox::up("upgrade-two-services");
    app_with_service(&sb, "crm", "crm-main", "postgres", "15");
    sb.dokku(&["postgres:create", "crm-cache", "-I", "15"]).ok();
    sb.dokku(&["postgres:link", "crm-cache", "crm", "--alias", "CACHE_DATABASE"]).ok();

    let run =
        sb.dokku(&["postgres:upgrade", "crm", "-I", "17", "--service", "crm-cache", "--new-service", "crm-cache-17"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cfg = sb.config("crm");
    assert!(cfg["CACHE_DATABASE_URL"].contains("@dokku-postgres-crm-cache-17:5432/"));
    assert!(cfg["DATABASE_URL"].contains("@dokku-postgres-crm-main:5432/"));
    assert_eq!(sb.services(), vec!["crm-cache-17".to_string(), "crm-main".to_string()]);
}

#[test]
fn a_failed_pull_changes_nothing() {
    let sb = Sandbox::up("upgrade-pull-fails");
    app_with_service(&sb, "memo", "memo-db", "postgres", "15");
    let before = state(&sb, "memo");
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "99"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Unable to pull image postgres:99"), "{}", run.stderr);
    assert_eq!(state(&sb, "memo"), before);
}

/// PostGIS in use, moved to an image without it: preflight reads the new image's extensions from
/// the image itself and refuses, in the dry run too, before any service is made.
#[test]
fn a_missing_extension_in_the_target_image_is_refused_by_the_dry_run() {
    let sb = Sandbox::up("upgrade-extension");
    app_with_service(&sb, "geo", "geo-db", "postgis/postgis", "15-3.3");
    sb.sql(
        "geo-db",
        "CREATE EXTENSION postgis; CREATE TABLE places (id serial PRIMARY KEY, at geometry(Point, 4326));",
    );
    let before = state(&sb, "geo");
    let lacks = "Image postgres:18 lacks extension(s) used by geo-db: postgis";
    let dry = sb.dokku(&["postgres:upgrade", "geo", "--image", "postgres", "-I", "18", "--dry-run"]);
    assert_eq!(dry.code, 1, "{}", dry.stdout);
    assert!(dry.stderr.contains(lacks), "{}", dry.stderr);
    // The dry run's one change is said: the image it pulled.
    assert!(dry.stdout.contains("Pulled postgres:18 (it was not on this host)"), "{}", dry.stdout);
    assert!(
        dry.stderr.contains("nothing was changed but the pull of postgres:18 (it was not on this host)"),
        "{}",
        dry.stderr
    );
    let run = sb.dokku(&["postgres:upgrade", "geo", "--image", "postgres", "-I", "18"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(lacks) && run.stdout.contains("postgres:18 is on this host already"), "{}", run.stderr);
    assert_eq!(state(&sb, "geo"), before);
}

#[test]
fn a_restore_error_rolls_back_and_names_the_step() {
    let sb = Sandbox::up("upgrade-restore-error");
    app_with_service(&sb, "memo", "memo-db", "postgres", "15");
    // A C function from a library the 15 image has and the 17 image lacks: the restore into
    // the new server fails for real, and the message keeps PostgreSQL's own error.
    sb.sql(
        "memo-db",
        "CREATE FUNCTION postgis_lib_version_here() RETURNS text AS '$libdir/postgis-3', 'postgis_lib_version' LANGUAGE C;",
    );
    let before = state(&sb, "memo");
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Copying memo-db into")
            && run.stderr.contains("ERROR:")
            && run.stderr.contains("could not access file \"$libdir/postgis-3\""),
        "{}",
        run.stderr
    );
    assert_eq!(state(&sb, "memo"), before);
    assert_eq!(sb.sql("memo-db", "SELECT count(*) FROM notes"), "500");
}

/// The case this project was born from: postgis/postgis rebuilt under the same tag, an app with
/// the postgis extension in use, a `postgis://` scheme and S3 backups.
#[test]
fn a_tag_rebuilt_under_the_same_name_moves_the_app_to_the_new_build() {
    let sb = Sandbox::up("upgrade-same-tag");
    app_with_service(&sb, "memo-app-r", "memo-geo", "postgis/postgis", "15-3.3");
    sb.dokku(&["postgres:unlink", "memo-geo", "memo-app-r", "--no-restart"]).ok();
    sb.dokku(&["config:set", "--no-restart", "memo-app-r", "POSTGRES_DATABASE_SCHEME=postgis"]).ok();
    sb.dokku(&["postgres:link", "memo-geo", "memo-app-r", "--no-restart"]).ok();
    sb.sql(
        "memo-geo",
        "CREATE EXTENSION postgis; CREATE TABLE places (id serial PRIMARY KEY, at geometry(Point, 4326)); \
        INSERT INTO places (at) SELECT ST_SetSRID(ST_MakePoint(g, g), 4326) FROM generate_series(1, 50) g;",
    );
    sb.dokku(&["postgres:backup-auth", "memo-geo", "AKIAEXAMPLE", "s3cr3t-key"]).ok();
    sb.dokku(&["postgres:backup-schedule", "memo-geo", "@daily", "geo-backups"]).ok();
    let old_id = sb.docker(&["container", "inspect", "-f", "{{.Image}}", "dokku.postgres.memo-geo"]).ok();

    // Nothing to do before the rebuild: same build.
    let same = sb.dokku(&["postgres:upgrade", "memo-app-r", "--image", "postgis/postgis", "--image-version", "15-3.3"]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert!(same.stdout.contains("nothing to do"), "{}", same.stdout);

    sb.sandbox(&["rebuild-image", "postgis/postgis:15-3.3"]).ok();
    let run = sb.dokku(&[
        "postgres:upgrade",
        "memo-app-r",
        "--image",
        "postgis/postgis",
        "--image-version",
        "15-3.3",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json_report(&run.stdout);
    let new = report["new_service"].as_str().unwrap().to_string();
    let created = sb.docker(&["image", "inspect", "-f", "{{.Created}}", "postgis/postgis:15-3.3"]).ok();
    assert_eq!(new, format!("memo-app-r-postgis-15-3_3-{}", &created.trim()[..10]));
    let new_id = sb.docker(&["container", "inspect", "-f", "{{.Image}}", &format!("dokku.postgres.{new}")]).ok();
    assert_ne!(new_id.trim(), old_id.trim());
    assert_eq!(sb.sql(&new, "SELECT count(*) FROM places WHERE ST_X(at) > 0"), "50");
    assert!(sb.config("memo-app-r")["DATABASE_URL"].starts_with("postgis://postgres:"));
    let cron = std::fs::read_to_string(sb.dir.join(format!("etc/cron.d/dokku-postgres-{new}"))).unwrap();
    assert!(
        cron.starts_with("@daily dokku ") && cron.trim_end().ends_with(&format!("postgres:backup {new} geo-backups")),
        "{cron}"
    );
}

#[test]
fn a_write_that_slips_past_the_stopped_apps_fails_verification_and_rolls_back() {
    let sb = Sandbox::up("upgrade-verify");
    app_with_service(&sb, "memo", "memo-db", "postgres", "15");
    let before = state(&sb, "memo");
    // A writer that is not one of the app's processes (a host cron job, a `dokku run`): stopping
    // the app does not stop it. Inside the window it waits for the held tables (src/copy/hold.rs),
    // which the upgrade sees: it rolls back, and the writer's inserts go on on the old service.
    let docker = sb.dir.join("bin/docker");
    let mut rogue = std::process::Command::new("bash")
        .arg("-c")
        .arg("for i in $(seq 1 600); do \"$0\" exec dokku.postgres.memo-db psql -q -U postgres -d memo_db -c \"INSERT INTO notes (body) VALUES ('cron')\" >/dev/null 2>&1 && echo ok >> \"$1\"; sleep 0.02; done")
        .arg(&docker)
        .arg(sb.dir.join("rogue.acks"))
        .spawn()
        .unwrap();
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-next"]);
    let _ = rogue.kill();
    let _ = rogue.wait();
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("table public.notes has a writer waiting"), "{}", run.stderr);
    // Every insert the writer was told succeeded is on the old service, where the app still is.
    // (The one insert that may have been in flight when the writer was stopped is there but
    // was never acknowledged.)
    let acked = std::fs::read_to_string(sb.dir.join("rogue.acks")).unwrap_or_default().lines().count();
    let rows: usize = sb.sql("memo-db", "SELECT count(*) FROM notes WHERE body = 'cron'").parse().unwrap();
    assert!(acked <= rows && rows <= acked + 1, "{acked} acknowledged, {rows} on the old service");
    // Everything but the writer's rows is as before.
    let mut after = state(&sb, "memo");
    after.1.retain(|k, _| before.1.contains_key(k));
    assert_eq!(after, before);
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let sb = Sandbox::up("upgrade-bad-input");
    app_with_service(&sb, "memo", "memo-db", "postgres", "15");
    let before = state(&sb, "memo");

    let run = sb.dokku(&["postgres:upgrade", "no-such-app", "-I", "17"]);
    assert_eq!(run.code, 20);
    assert!(run.stderr.contains(" !     App or postgres service no-such-app does not exist"), "{}", run.stderr);

    let run = sb.dokku(&["postgres:upgrade", "memo;touch pwned", "-I", "17"]);
    assert_eq!(run.code, 20);

    // A name no app or service can have, in every command: exit 20, said escaped (a newline
    // cannot forge a line of its own, an escape sequence cannot reach the terminal), and a
    // name longer than a folder's never reaches the filesystem.
    let forged = "memo\n !     Upgrade done\u{1b}[2J";
    let long = "a".repeat(300);
    for verb in [
        "postgres:upgrade",
        "postgres-upgrade:status",
        "postgres-upgrade:report",
        "postgres-upgrade:rollback",
        "postgres-upgrade:finish",
        "postgres-upgrade:cleanup",
    ] {
        for name in [forged, long.as_str(), "no-such-app"] {
            let run = sb.dokku(&[verb, name]);
            assert_eq!(run.code, 20, "{verb} {name:?}: {}", run.stderr);
            let said: Vec<&str> = run.stderr.lines().collect();
            assert_eq!(said.len(), 1, "{verb}: {}", run.stderr);
            assert!(
                said[0].starts_with(" !     App or postgres service ") && said[0].ends_with(" does not exist"),
                "{verb}: {said:?}"
            );
            assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains("os error"), "{verb}: {}", run.stderr);
        }
    }
    let run = sb.dokku(&["postgres:upgrade", forged, "-I", "17", "--format", "json"]);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["target"], forged, "the JSON carries the name as it was given, escaped by JSON");

    // Every problem of the command line at once, each said as what it is.
    let run = sb.dokku(&["postgres:upgrade", "memo", "--image", "", "-I", "17", "--new-service", ""]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--image is empty") && run.stderr.contains("--new-service is empty"), "{}", run.stderr);
    assert!(!run.stderr.contains("no IMAGE file"), "{}", run.stderr);
    assert!(run.stderr.contains("Preflight found 2 problems"), "{}", run.stderr);
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "", "--dry-run"]);
    assert_eq!(run.code, 1, "a dry run refuses what the run refuses:\n{}", run.stdout);
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service=-x"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Invalid new service name -x: it must not start with -"), "{}", run.stderr);

    let run = sb.dokku(&["postgres:upgrade", "memo", "--image", "Postgres;id", "-I", "17"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Invalid image name: Postgres;id"), "{}", run.stderr);

    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", "x$(touch pwned)"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Invalid new service name"), "{}", run.stderr);

    // An image that is no PostgreSQL, a tag given with the repository, a name too long to run.
    let run = sb.dokku(&["postgres:upgrade", "memo", "--image", "busybox", "-I", "latest"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Image busybox:latest is not a PostgreSQL image"), "{}", run.stderr);
    let run = sb.dokku(&["postgres:upgrade", "memo", "--image", "postgres:17", "-I", "17"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--image postgres --image-version 17"), "{}", run.stderr);
    let long = "a".repeat(49);
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--new-service", &long]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("has 49 characters") && run.stderr.contains("at most 48"), "{}", run.stderr);

    // No -I: dokku-postgres's default (18.4 here).
    let run = sb.dokku(&["postgres:upgrade", "memo", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("(postgres:18.4, "), "{}", run.stdout);
    // A tag without a leading number for an 18 image: dokku-postgres would mount its data the
    // pre-18 way (#383).
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "latest"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("#383"), "{}", run.stderr);

    assert!(!sb.dir.join("pwned").exists() && !support::repo().join("pwned").exists());
    assert_eq!(state(&sb, "memo"), before);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let sb = Sandbox::up("upgrade-dry-run");
    app_with_service(&sb, "memo", "memo-db", "postgres", "15");
    let before = state(&sb, "memo");
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run", "--new-service", "memo-next"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("New service:  memo-next (postgres:17"), "{}", run.stdout);
    assert!(run.stdout.contains("11. Switching memo to memo-next"), "{}", run.stdout);
    assert_eq!(state(&sb, "memo"), before);

    // A flag mistake in dokku's words, not the argument parser's.
    let run = sb.dokku(&["postgres:upgrade", "memo", "--bogus"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(" !     Unexpected argument '--bogus' found\n !     See `dokku postgres-upgrade:help`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("tip:") && !run.stderr.contains("Usage:"), "{}", run.stderr);

    // An app and an unlinked service of the same name: the app is meant, and the run says so.
    sb.dokku(&["postgres:create", "memo", "-I", "15"]).ok();
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("memo is an app and also a postgres service: the app is meant"), "{}", run.stderr);
    assert!(run.stdout.contains("Old service:  memo-db (postgres:15"), "{}", run.stdout);
}

#[test]
fn the_plan_says_how_big_how_long_how_much_disk_and_what_happens_to_backups() {
    let sb = Sandbox::up("upgrade-plan");
    app_with_service(&sb, "memo", "memo-db", "postgres", "15");
    sb.sql(
        "memo-db",
        "CREATE TABLE docs AS SELECT g AS id, repeat(md5(g::text), 4) AS body FROM generate_series(1, 60000) g;",
    );
    sb.dokku(&["postgres:backup-auth", "memo-db", "AKIAKEY", "secret-key"]).ok();
    sb.dokku(&["postgres:backup-schedule", "memo-db", "0 3 * * *", "memo-bucket"]).ok();
    let run = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = json_report(&run.stdout);
    // The database as the server measures it, its biggest table first.
    let bytes: u64 = sb.sql("memo-db", "SELECT pg_database_size(current_database())").parse().unwrap();
    let said = plan["database"]["bytes"].as_u64().unwrap();
    assert!(said.abs_diff(bytes) < bytes / 20, "{said} vs {bytes}");
    assert_eq!(plan["database"]["biggest"][0]["table"], "public.docs");
    assert_eq!(plan["method"], "catch-up");
    assert!(
        plan["estimate"]["first_copy_s"].as_f64().unwrap() > 0.0
            && plan["estimate"]["window_s"].as_f64().unwrap() >= 2.0
    );
    // Dump and new data land on the sandbox's one filesystem: twice the database, against what df says is free.
    let disk = &plan["disk"][0];
    assert_eq!(plan["disk"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(disk["needed_bytes"].as_u64().unwrap(), 2 * said);
    let df = std::process::Command::new("df").args(["-B1", "--output=avail"]).arg(sb.lib_root()).output().unwrap();
    let free: u64 = String::from_utf8_lossy(&df.stdout).lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(disk["free_bytes"].as_u64().unwrap().abs_diff(free) < 200_000_000, "{disk} vs {free}");
    let backups = plan["backups"].as_str().unwrap();
    assert!(
        backups.contains("a final backup of memo-db to bucket memo-bucket once the apps run on")
            && backups.contains("the window does not wait for it"),
        "{backups}"
    );
    assert!(backups.contains("the schedule '0 3 * * *' to bucket memo-bucket carried to"), "{backups}");
    // The words for a person say the same.
    let text = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run"]).ok();
    assert!(text.contains("Copy:         the bulk while the apps run"), "{text}");
    assert!(text.contains("Estimate:     first copy about") && !text.contains("plus the final S3 backup"), "{text}");
    // A large object puts the copy inside the window, and the plan says why.
    sb.sql("memo-db", "SELECT lo_from_bytea(0, 'x');");
    let plan = json_report(&sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--dry-run", "--format", "json"]).ok());
    assert_eq!(plan["method"], "whole copy inside the window");
    assert_eq!(plan["method_reason"], "1 large object(s) are in use: they are copied whole");
    assert_eq!(plan["estimate"]["first_copy_s"], 0.0);
}

#[test]
fn a_service_name_across_majors_moves_the_service_and_its_apps_blue_green() {
    let sb = Sandbox::up("upgrade-service-name");
    app_with_service(&sb, "api", "api-db", "postgres", "15");
    let run = sb.dokku(&["postgres:upgrade", "api-db", "-I", "17", "--new-service", "api-db-17"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("api-db is a service: a change of image family or major version is done blue-green"),
        "{}",
        run.stdout
    );
    assert_eq!(sb.services(), vec!["api-db-17".to_string()]);
    assert!(sb.config("api")["DATABASE_URL"].contains("@dokku-postgres-api-db-17:5432/"));
    assert_eq!(sb.sql("api-db-17", "SELECT count(*) FROM notes"), "500");
}

/// The common convention, an app and its service of one name (`shop`): within the service's
/// major version, `postgres:upgrade shop` is dokku-postgres's in-place upgrade as it was before
/// this plugin (whose service DSN it prints passes through without its password); across
/// majors the app moves blue-green, and the plan says that the service named like it is
/// replaced, here kept unlinked without its backup schedule.
#[test]
fn an_app_and_its_service_of_one_name_mean_what_they_meant_before_the_plugin() {
    let sb = Sandbox::up("upgrade-hand-over");
    app_with_service(&sb, "shop", "shop", "postgres", "15.6");
    sb.dokku(&["postgres:backup-auth", "shop", "AKIAEXAMPLE", "s3cr3t-key"]).ok();
    sb.dokku(&["postgres:backup-schedule", "shop", "0 3 * * *", "shop-backups"]).ok();
    let password = std::fs::read_to_string(sb.service_dir("shop").join("PASSWORD")).unwrap().trim().to_string();

    let run = sb.dokku(&["postgres:upgrade", "shop", "-I", "15.18"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("handing over to dokku-postgres"), "{}", run.stdout);
    assert!(run.stdout.contains("Dsn:") && run.stdout.contains("<redacted>"), "{}", run.stdout);
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password), "the password was printed");
    assert_eq!(std::fs::read_to_string(sb.service_dir("shop").join("IMAGE_VERSION")).unwrap().trim(), "15.18");
    assert_eq!(sb.services(), vec!["shop".to_string()]);

    let upgrade = ["postgres:upgrade", "shop", "-I", "17", "--new-service", "shop-17", "--keep-old"];
    let plan = sb.dokku(&[&upgrade[..], &["--dry-run"]].concat()).ok();
    assert!(
        plan.contains(
            "Old service:  shop, the postgres service named like the app, is replaced by shop-17: it is kept, unlinked, its backup schedule removed"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("Changes:      shop's DATABASE_URL will point at host dokku-postgres-shop-17, database shop_17 (now dokku-postgres-shop, shop)"),
        "{plan}"
    );
    let run = sb.dokku(&upgrade);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(sb.services(), vec!["shop".to_string(), "shop-17".to_string()]);
    assert!(sb.config("shop")["DATABASE_URL"].contains("@dokku-postgres-shop-17:5432/shop_17"));
    // One nightly backup, the new service's; going back to the old one knows how to put its own back.
    assert!(!sb.dir.join("etc/cron.d/dokku-postgres-shop").exists());
    assert!(sb.dir.join("etc/cron.d/dokku-postgres-shop-17").exists());
    let journal: Value =
        serde_json::from_str(&sb.dokku(&["postgres-upgrade:status", "shop", "--format", "json"]).ok()).unwrap();
    assert_eq!(
        journal["returns"],
        serde_json::json!([{"action": "reschedule", "service": "shop", "when": "0 3 * * *", "bucket": "shop-backups", "use_iam": false}])
    );
    // After the window there is nothing to roll back; what going back takes is said.
    let back = sb.dokku(&["postgres-upgrade:rollback", "shop"]).ok();
    assert!(
        back.contains("nothing to roll back") && back.contains("going back to it loses what the apps wrote"),
        "{back}"
    );
    assert!(back.contains("dokku postgres:backup-schedule shop '0 3 * * *' shop-backups"), "{back}");
}

#[test]
fn help_lists_the_commands_in_dokku_format() {
    let sb = Sandbox::up("upgrade-help");
    let out = sb.dokku(&["postgres-upgrade:help"]).ok();
    // postgres:upgrade has dokku-postgres's own line; the run's line says it answers it too.
    assert!(
        out.contains("postgres-upgrade:run <app|service>") && out.contains("dokku postgres:upgrade runs it too"),
        "{out}"
    );
    assert!(out.contains("--accept-recomputed") && out.contains("--keep-md5-auth"), "{out}");
    assert!(out.starts_with("Usage: dokku postgres:upgrade <app|service>"), "{out}");
    assert!(out.contains("--online") && out.contains("--catch-up"), "{out}");
    assert!(out.contains("--reversible") && out.contains("postgres-upgrade:finish <app|service>"), "{out}");
    let out = sb.dokku(&["help"]).ok();
    assert!(out.contains("postgres-upgrade   Move postgres services to a new image blue-green"), "{out}");
}
