//! Pins the sandbox's emulation of dokku-postgres 1.48.0 (tests/sandbox/plugins/postgres)
//! against docs/dokku-postgres-service.md: aliases, unlink and destroy quirks,
//! clone hiding restore errors, backups, info flags, real data in PostgreSQL 15 and 17, the
//! default 18.4 image with the 18 data layout, and the in-place upgrade across a major version
//! (docs/dokku-postgres.md).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Run, Sandbox};

const PG15: &str = "15";

fn env(sb: &Sandbox, app: &str) -> serde_json::Map<String, serde_json::Value> {
    let out = sb.dokku(&["config:export", "--format", "json", app]).ok();
    match serde_json::from_str::<serde_json::Value>(&out).expect("config json") {
        serde_json::Value::Object(map) => map,
        other => panic!("config:export gave {other}"),
    }
}

fn var(sb: &Sandbox, app: &str, key: &str) -> Option<String> {
    env(sb, app).get(key).map(|v| v.as_str().unwrap().to_string())
}

/// Names of the app's config vars, sorted, without the scheme knob.
fn url_vars(sb: &Sandbox, app: &str) -> Vec<String> {
    let mut keys: Vec<String> = env(sb, app).keys().filter(|k| k.ends_with("_URL")).cloned().collect();
    keys.sort();
    keys
}

fn file(sb: &Sandbox, service: &str, name: &str) -> String {
    std::fs::read_to_string(sb.service_dir(service).join(name)).unwrap_or_else(|e| panic!("{service}/{name}: {e}"))
}

fn info(sb: &Sandbox, service: &str, flag: &str) -> String {
    sb.dokku(&["postgres:info", service, flag]).ok().trim_end_matches('\n').to_string()
}

/// The part of a service's URL after the scheme, to find it in app config values.
fn url_tail(sb: &Sandbox, service: &str) -> String {
    let dsn = info(sb, service, "--dsn");
    dsn.split_once("://").unwrap().1.to_string()
}

fn create(sb: &Sandbox, service: &str, args: &[&str]) -> String {
    let mut all = vec!["postgres:create", service];
    all.extend_from_slice(args);
    sb.dokku(&all).ok()
}

fn app(sb: &Sandbox, name: &str) {
    sb.dokku(&["apps:create", name]).ok();
}

fn restarts(sb: &Sandbox, app: &str) -> usize {
    std::fs::read_to_string(sb.lib_root().join("data/apps").join(app).join("restarts.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn docker_options(sb: &Sandbox, app: &str, phase: &str) -> String {
    std::fs::read_to_string(sb.lib_root().join("data/apps").join(app).join(format!("DOCKER_OPTIONS_{phase}")))
        .unwrap_or_default()
}

#[track_caller]
fn fails(run: Run, code: i32, message: &str) -> Run {
    let run = run.code(code);
    assert!(run.stderr.contains(message), "expected {message:?} in stderr:\n{}\nstdout:\n{}", run.stderr, run.stdout);
    run
}

#[test]
fn create_layout_info_and_messages() {
    let sb = Sandbox::up("pg-create-info");
    let out =
        create(&sb, "my-db", &["-I", PG15, "-c", "-c max_connections=42", "-C", "A=1;B=2", "-m", "512", "-s", "256m"]);
    assert!(out.contains("=====> Postgres container created: my-db"), "{out}");
    assert!(out.contains("=====> my-db postgres service information"), "{out}");

    // Files and modes.
    assert_eq!(file(&sb, "my-db", "IMAGE"), "postgres\n");
    assert_eq!(file(&sb, "my-db", "IMAGE_VERSION"), "15\n");
    assert_eq!(file(&sb, "my-db", "DATABASE_NAME"), "my_db\n");
    assert_eq!(file(&sb, "my-db", "ENV"), "A=1\nB=2\n");
    assert_eq!(file(&sb, "my-db", "CONFIG_OPTIONS"), "-c max_connections=42\n");
    assert_eq!(file(&sb, "my-db", "SERVICE_MEMORY"), "512\n");
    assert_eq!(file(&sb, "my-db", "SHM_SIZE"), "256m\n");
    assert_eq!(file(&sb, "my-db", "LINKS"), "");
    let password = file(&sb, "my-db", "PASSWORD");
    assert!(password.trim().len() == 32 && password.trim().chars().all(|c| c.is_ascii_hexdigit()), "{password}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sb.service_dir("my-db").join("PASSWORD")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    assert!(!file(&sb, "my-db", "ID").trim().is_empty());
    assert!(sb.service_dir("my-db").join("data/PG_VERSION").exists(), "PGDATA is the data dir for PG < 18");

    // The container as dokku-postgres creates it.
    let name = "dokku.postgres.my-db";
    let fmt = |f: &str| sb.docker(&["container", "inspect", "-f", f, name]).ok().trim().to_string();
    assert_eq!(fmt("{{.Config.Image}}"), "postgres:15");
    assert_eq!(fmt("{{index .Config.Labels \"dokku.service\"}}"), "postgres");
    assert_eq!(fmt("{{index .Config.Labels \"dokku\"}}"), "service");

    // The server: real data, server args from CONFIG_OPTIONS.
    assert_eq!(sb.sql("my-db", "show max_connections"), "42");
    assert!(sb.sql("my-db", "show server_version").starts_with("15."));
    sb.sql("my-db", "create table t (id int); insert into t values (1), (2)");
    assert_eq!(sb.sql("my-db", "select count(*) from t"), "2");

    // info flags.
    let root = sb.service_dir("my-db");
    assert_eq!(info(&sb, "my-db", "--status"), "running");
    assert_eq!(info(&sb, "my-db", "--version"), "postgres:15");
    assert_eq!(info(&sb, "my-db", "--links"), "-");
    assert_eq!(info(&sb, "my-db", "--exposed-ports"), "-");
    assert_eq!(info(&sb, "my-db", "--service-root"), root.to_string_lossy());
    assert_eq!(info(&sb, "my-db", "--data-dir"), root.join("data").to_string_lossy());
    assert_eq!(info(&sb, "my-db", "--config-dir"), root.join("data").to_string_lossy());
    assert_eq!(info(&sb, "my-db", "--config-options"), "-c max_connections=42");
    assert_eq!(info(&sb, "my-db", "--id"), file(&sb, "my-db", "ID").trim());
    assert_eq!(
        info(&sb, "my-db", "--dsn"),
        format!("postgres://postgres:{}@dokku-postgres-my-db:5432/my_db", password.trim())
    );
    assert_eq!(info(&sb, "my-db", "--initial-network"), "");
    let all = sb.dokku(&["postgres:info", "my-db"]).ok();
    for line in [
        "       Status:              running",
        "       Links:               -",
        "       Version:             postgres:15",
    ] {
        assert!(all.contains(line), "{line:?} missing from\n{all}");
    }
    let bad = fails(sb.dokku(&["postgres:info", "my-db", "--nope"]), 1, " !     Invalid flag passed, valid flags: ");
    assert!(bad.stderr.contains(
        "--config-dir --config-options --data-dir --dsn --exposed-ports --id --internal-ip --initial-network --links --post-create-network --post-start-network --service-root --status --version"
    ));

    // exists / list / errors.
    assert_eq!(sb.dokku(&["postgres:exists", "my-db"]).ok(), "-----> Service my-db exists\n");
    fails(sb.dokku(&["postgres:exists", "nope"]), 1, " !     Postgres service nope does not exist");
    fails(sb.dokku(&["postgres:info", "nope"]), 1, " !     Postgres service nope does not exist");
    fails(sb.dokku(&["postgres:create", "my-db", "-I", PG15]), 1, "Postgres service my-db already exists");
    fails(sb.dokku(&["postgres:create", "bad.name", "-I", PG15]), 1, "Please specify a valid name for the service");
    assert!(sb.dokku(&["postgres:list"]).ok().lines().any(|l| l == "my-db"));
    fails(sb.dokku(&["postgres:link", "my-db", "no-such-app"]), 20, "App no-such-app does not exist");

    // `--image-version=X` is not understood (getopts): it does not select the version.
    let eq = sb.dokku(&["postgres:create", "eq", "--image-version=15"]);
    assert_eq!(eq.code, 1, "{eq:?}");
    assert!(eq.stderr.contains("illegal option"), "{eq:?}");

    // Network properties are plugin properties, outside the service dir.
    create(&sb, "net", &["-I", PG15, "-P", "backend"]);
    let prop = sb.lib_root().join("config/postgres/net/post-create-network");
    assert_eq!(std::fs::read_to_string(&prop).unwrap(), "backend");
    assert_eq!(info(&sb, "net", "--post-create-network"), "backend");

    // stop removes the container, start recreates it on the same data.
    sb.dokku(&["postgres:stop", "my-db"]).ok();
    assert_eq!(info(&sb, "my-db", "--status"), "missing");
    assert_eq!(info(&sb, "my-db", "--version"), "");
    sb.dokku(&["postgres:start", "my-db"]).ok();
    assert_eq!(info(&sb, "my-db", "--status"), "running");
    assert_eq!(sb.sql("my-db", "select count(*) from t"), "2");
    fails(sb.dokku(&["postgres:start", "my-db"]), 0, "Service is already started");

    // connect: psql with ON_ERROR_STOP on stdin.
    let ok = sb.dokku_stdin(&["postgres:connect", "my-db"], b"select 40 + 2;\n").ok();
    assert!(ok.contains("42"), "{ok}");
    let bad = sb.dokku_stdin(&["postgres:connect", "my-db"], b"select nope;\nselect 1;\n");
    assert_ne!(bad.code, 0, "{bad:?}");
}

#[test]
fn postgres_17_holds_real_data() {
    let sb = Sandbox::up("pg-17");
    create(&sb, "s", &["-I", "17"]);
    // enter prints dokku-postgres's banner on stdout first, unless --quiet.
    let version = sb.dokku(&["postgres:enter", "s", "psql", "-U", "postgres", "-Atc", "show server_version"]).ok();
    let (banner, version) = version.split_once('\n').unwrap();
    assert_eq!(banner, "-----> Filesystem changes may not persist after container restarts");
    assert!(version.starts_with("17."), "{version}");
    sb.sql("s", "create table t (v text); insert into t values ('x'), ('y')");
    assert_eq!(sb.sql("s", "select string_agg(v, ',' order by v) from t"), "x,y");
    assert_eq!(info(&sb, "s", "--version"), "postgres:17");

    // export | import into another 17 service.
    create(&sb, "copy", &["-I", "17"]);
    let dump = sb.dokku(&["postgres:export", "s"]);
    assert_eq!(dump.code, 0, "{}", dump.stderr);
    let dump = run_bytes(&sb.dir.join("bin/dokku"), &["postgres:export", "s"]);
    assert!(dump.starts_with(b"PGDMP"));
    sb.dokku_stdin(&["postgres:import", "copy"], &dump).ok();
    assert_eq!(sb.sql("copy", "select count(*) from t"), "2");
}

fn run_bytes(program: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).stdin(std::process::Stdio::null()).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn link_aliases_and_blue_green_promote() {
    let sb = Sandbox::up("pg-link-promote");
    app(&sb, "web");
    for s in ["old", "v2", "v3"] {
        create(&sb, s, &["-I", PG15]);
    }
    let old = url_tail(&sb, "old");
    let v2 = url_tail(&sb, "v2");
    let v3 = url_tail(&sb, "v3");
    let holds = |key: &str, tail: &str| {
        let value = var(&sb, "web", key).unwrap_or_else(|| panic!("{key} unset"));
        assert!(value.ends_with(tail) && value.starts_with("postgres://"), "{key}={value}, want …{tail}");
    };

    sb.dokku(&["postgres:link", "old", "web"]).ok();
    holds("DATABASE_URL", &old);
    assert_eq!(file(&sb, "old", "LINKS"), "web\n");
    for phase in ["BUILD", "DEPLOY", "RUN"] {
        assert!(docker_options(&sb, "web", phase).contains("--link dokku.postgres.old:dokku-postgres-old"), "{phase}");
    }
    fails(sb.dokku(&["postgres:link", "old", "web"]), 1, "Already linked as DATABASE_URL");
    assert_eq!(info(&sb, "old", "--links"), "web");
    assert_eq!(sb.dokku(&["postgres:links", "old"]).ok(), "web\n");
    assert_eq!(sb.dokku(&["postgres:app-links", "web"]).ok(), "old\n");
    sb.dokku(&["postgres:linked", "old", "web"]).ok();
    fails(sb.dokku(&["postgres:linked", "v2", "web"]), 1, "Service v2 is not linked to web");
    fails(sb.dokku(&["postgres:promote", "old", "web"]), 1, "Service old already promoted as DATABASE_URL");
    fails(sb.dokku(&["postgres:promote", "v2", "web"]), 1, "Not linked to app web");

    // First upgrade (docs/dokku-postgres-service.md#commands, link).
    sb.dokku(&["postgres:link", "v2", "web", "--no-restart"]).ok();
    holds("DOKKU_POSTGRES_AQUA_URL", &v2);
    sb.dokku(&["postgres:promote", "v2", "web"]).ok();
    holds("DATABASE_URL", &v2);
    holds("DOKKU_POSTGRES_BLACK_URL", &old);
    holds("DOKKU_POSTGRES_AQUA_URL", &v2);
    sb.dokku(&["postgres:unlink", "old", "web"]).ok();
    assert_eq!(url_vars(&sb, "web"), ["DATABASE_URL", "DOKKU_POSTGRES_AQUA_URL"]);
    holds("DATABASE_URL", &v2);
    assert!(!docker_options(&sb, "web", "RUN").contains("dokku.postgres.old:"));

    // Second upgrade: BLACK is the new service's alias and stays.
    sb.dokku(&["postgres:link", "v3", "web", "--no-restart"]).ok();
    holds("DOKKU_POSTGRES_BLACK_URL", &v3);
    sb.dokku(&["postgres:promote", "v3", "web"]).ok();
    assert_eq!(url_vars(&sb, "web"), ["DATABASE_URL", "DOKKU_POSTGRES_AQUA_URL", "DOKKU_POSTGRES_BLACK_URL"]);
    holds("DATABASE_URL", &v3);
    sb.dokku(&["postgres:unlink", "v2", "web"]).ok();
    assert_eq!(url_vars(&sb, "web"), ["DATABASE_URL", "DOKKU_POSTGRES_BLACK_URL"]);
    holds("DATABASE_URL", &v3);
    holds("DOKKU_POSTGRES_BLACK_URL", &v3);
    assert_eq!(sb.dokku(&["postgres:app-links", "web"]).ok(), "v3\n");
}

#[test]
fn link_flags_scheme_and_restarts() {
    let sb = Sandbox::up("pg-link-flags");
    app(&sb, "api");
    create(&sb, "a", &["-I", PG15]);
    let tail = url_tail(&sb, "a");

    sb.dokku(&["postgres:link", "a", "api", "-a", "reports_url", "-q", "?pool=5", "-n"]).ok();
    assert_eq!(var(&sb, "api", "REPORTS_URL").unwrap(), format!("postgres://{tail}?pool=5"));
    // The querystring does not hide the link from unlink/promote (substring match).
    fails(sb.dokku(&["postgres:link", "a", "api", "--alias", "other"]), 1, "Already linked as REPORTS_URL");
    sb.dokku(&["postgres:promote", "a", "api"]).ok();
    assert_eq!(var(&sb, "api", "DATABASE_URL").unwrap(), format!("postgres://{tail}?pool=5"));
    assert_eq!(url_vars(&sb, "api"), ["DATABASE_URL", "REPORTS_URL"]);
    sb.dokku(&["postgres:unlink", "a", "api", "--no-restart"]).ok();
    assert!(url_vars(&sb, "api").is_empty());

    // --alias always appends _URL; a used alias is refused.
    sb.dokku(&["config:set", "--no-restart", "api", "MB_URL=x"]).ok();
    fails(
        sb.dokku(&["postgres:link", "a", "api", "--alias", "mb", "--no-restart"]),
        1,
        "Specified alias MB already in use",
    );
    sb.dokku(&["postgres:link", "a", "api", "--alias", "mb_db_connection_uri", "--no-restart"]).ok();
    assert!(var(&sb, "api", "MB_DB_CONNECTION_URI_URL").is_some());
    sb.dokku(&["postgres:unlink", "a", "api", "--no-restart"]).ok();

    // The scheme comes from the app's POSTGRES_DATABASE_SCHEME.
    sb.dokku(&["config:set", "--no-restart", "api", "POSTGRES_DATABASE_SCHEME=postgresql"]).ok();
    sb.dokku(&["postgres:link", "a", "api", "--no-restart"]).ok();
    assert_eq!(var(&sb, "api", "DATABASE_URL").unwrap(), format!("postgresql://{tail}"));
    // --dsn ignores the app's scheme.
    assert!(info(&sb, "a", "--dsn").starts_with("postgres://"));

    // Restarts of a deployed app: link/unlink honour --no-restart, -n only on link; promote always.
    sb.dokku(&["postgres:unlink", "a", "api", "--no-restart"]).ok();
    sb.sandbox(&["deploy", "api"]).ok();
    let base = restarts(&sb, "api");
    sb.dokku(&["postgres:link", "a", "api", "-n"]).ok();
    assert_eq!(restarts(&sb, "api"), base, "link -n restarted");
    sb.dokku(&["postgres:unlink", "a", "api", "-n"]).ok();
    assert_eq!(restarts(&sb, "api"), base + 1, "unlink -n must still restart");
    let out = sb.dokku(&["postgres:link", "a", "api", "--no-restart"]).ok();
    assert!(out.contains("Skipping restart of linked app"), "{out}");
    assert_eq!(restarts(&sb, "api"), base + 1);
    sb.dokku(&["postgres:unlink", "a", "api", "--no-restart"]).ok();
    assert_eq!(restarts(&sb, "api"), base + 1);
    sb.dokku(&["postgres:link", "a", "api"]).ok();
    assert_eq!(restarts(&sb, "api"), base + 2);
    create(&sb, "b", &["-I", PG15]);
    sb.dokku(&["postgres:link", "b", "api", "--no-restart"]).ok();
    sb.dokku(&["postgres:promote", "b", "api"]).ok();
    assert_eq!(restarts(&sb, "api"), base + 3, "promote always restarts");
}

#[test]
fn unlink_and_destroy_quirks() {
    let sb = Sandbox::up("pg-unlink-destroy");
    app(&sb, "web");
    create(&sb, "s", &["-I", PG15, "-P", "net1"]);
    sb.dokku(&["postgres:link", "s", "web", "--no-restart"]).ok();
    sb.dokku(&["postgres:backup-schedule", "s", "@daily", "bucket"]).ok();

    fails(sb.dokku(&["postgres:destroy", "s", "-f"]), 1, "Cannot delete linked service");

    // Someone edits DATABASE_URL by hand: links and env disagree (issue 315).
    sb.dokku(&["config:unset", "--no-restart", "web", "DATABASE_URL"]).ok();
    assert_eq!(sb.dokku(&["postgres:links", "s"]).ok(), "web\n");
    fails(sb.dokku(&["postgres:linked", "s", "web"]), 1, "is not linked to web");
    // unlink fails, yet has already detached the LINKS entry and the docker link.
    fails(sb.dokku(&["postgres:unlink", "s", "web"]), 1, " !     Not linked to app web");
    assert_eq!(file(&sb, "s", "LINKS"), "");
    for phase in ["BUILD", "DEPLOY", "RUN"] {
        assert!(!docker_options(&sb, "web", phase).contains("dokku.postgres.s:"), "{phase}");
    }

    // destroy asks for a confirmation that a non-tty cannot give.
    let refused = fails(sb.dokku(&["postgres:destroy", "s"]), 1, "Confirmation did not match s. Aborted.");
    assert!(refused.stderr.contains("WARNING: Potentially Destructive Action"));
    assert!(sb.service_dir("s").exists());
    assert_eq!(info(&sb, "s", "--status"), "running");

    sb.dokku(&["postgres:destroy", "s", "-f"]).ok();
    assert!(!sb.service_dir("s").exists());
    assert!(!sb.lib_root().join("config/postgres/s").exists());
    assert!(!sb.dir.join("etc/cron.d/dokku-postgres-s").exists());
    assert_ne!(sb.docker(&["container", "inspect", "-f", "{{.Id}}", "dokku.postgres.s"]).code, 0);

    // Destroying an app drops it from LINKS (the pre-delete trigger); the service stays.
    create(&sb, "t", &["-I", PG15]);
    app(&sb, "gone");
    sb.dokku(&["postgres:link", "t", "gone", "--no-restart"]).ok();
    assert_eq!(file(&sb, "t", "LINKS"), "gone\n");
    sb.dokku(&["apps:destroy", "gone", "--force"]).ok();
    assert_eq!(file(&sb, "t", "LINKS"), "");

    // The other accepted forms of force.
    sb.dokku(&["postgres:destroy", "t", "force"]).ok();
    create(&sb, "u", &["-I", PG15]);
    sb.dokku(&["--force", "postgres:destroy", "u"]).ok();
    assert!(!sb.service_dir("u").exists());
}

#[test]
fn clone_hides_restore_errors() {
    let sb = Sandbox::up("pg-clone");
    create(&sb, "src", &["-I", "17", "-c", "-c max_connections=50"]);
    sb.sql("src", "create table plain (id int); insert into plain values (1), (2), (3)");

    // Into an older major: PostgreSQL 15's pg_restore cannot read a 17 dump (issue 194). The
    // restore fails entirely, yet the clone says Done and exits 0.
    let out = sb.dokku(&["postgres:clone", "src", "old", "-I", PG15]).ok();
    // The banner names the source's image, printed before -I takes effect.
    assert!(out.contains("Cloning src to old @ postgres:17"), "{out}");
    assert_eq!(file(&sb, "old", "IMAGE_VERSION"), "15\n");
    assert!(out.trim_end().ends_with("=====> Done"), "{out}");
    assert_eq!(info(&sb, "old", "--status"), "running");
    assert_eq!(sb.sql("old", "select count(*) from pg_tables where tablename = 'plain'"), "0");

    // Without -i/-I the image is the one the source container runs; only the database is
    // copied: a new password, no CONFIG_OPTIONS.
    let out = sb.dokku(&["postgres:clone", "src", "copy"]).ok();
    assert!(out.contains("Cloning src to copy @ postgres:17"), "{out}");
    assert_eq!(file(&sb, "copy", "IMAGE"), "postgres\n");
    assert_eq!(file(&sb, "copy", "IMAGE_VERSION"), "17\n");
    assert_eq!(sb.sql("copy", "select count(*) from plain"), "3");
    assert_eq!(file(&sb, "copy", "CONFIG_OPTIONS"), "");
    assert_eq!(sb.sql("copy", "show max_connections"), "100");
    assert_ne!(file(&sb, "copy", "PASSWORD"), file(&sb, "src", "PASSWORD"));

    fails(
        sb.dokku(&["postgres:clone", "src", "copy"]),
        1,
        "Invalid service name copy. Verify the service name is not already in use.",
    );
    fails(sb.dokku(&["postgres:clone", "nope", "x"]), 1, "Postgres service nope does not exist");
    sb.dokku(&["postgres:stop", "copy"]).ok();
    fails(sb.dokku(&["postgres:clone", "copy", "x"]), 1, "Service copy container is not running");
    assert!(!sb.service_dir("x").exists());
}

#[test]
fn import_keeps_going_and_exits_1_on_errors() {
    let sb = Sandbox::up("pg-import");
    create(&sb, "from", &["-I", PG15]);
    create(&sb, "into", &["-I", PG15]);
    sb.sql(
        "from",
        "create table a (id int); insert into a values (1); create table b (id int); insert into b values (1), (2)",
    );
    // A view on `a` in the target makes the restore's DROP TABLE and CREATE TABLE fail.
    sb.sql("into", "create table a (id int); create view v as select * from a");
    let dump = run_bytes(&sb.dir.join("bin/dokku"), &["postgres:export", "from"]);
    assert!(dump.starts_with(b"PGDMP"));
    let import = sb.dokku_stdin(&["postgres:import", "into"], &dump);
    assert_eq!(import.code, 1, "{import:?}");
    assert!(import.stderr.contains("errors ignored on restore"), "{import:?}");
    // No exit-on-error: the rest was restored.
    assert_eq!(sb.sql("into", "select count(*) from b"), "2");
    assert_eq!(sb.sql("into", "select count(*) from v"), "1");
}

#[test]
fn backups_and_schedules() {
    let sb = Sandbox::up("pg-backup");
    create(&sb, "s", &["-I", PG15]);
    sb.sql("s", "create table kept (id int); insert into kept values (7)");

    fails(sb.dokku(&["postgres:backup", "s", "bucket"]), 1, "Missing AWS_ACCESS_KEY_ID file");
    sb.dokku(&["postgres:backup-auth", "s", "AKIA", "SECRET"]).ok();
    assert_eq!(file(&sb, "s", "backup/AWS_ACCESS_KEY_ID"), "AKIA\n");
    // Not idempotent: mkdir without -p.
    assert_eq!(sb.dokku(&["postgres:backup-auth", "s", "AKIA", "SECRET"]).code, 1);
    sb.dokku(&["postgres:backup-deauth", "s"]).ok();
    sb.dokku(&["postgres:backup-deauth", "s"]).ok();
    sb.dokku(&["postgres:backup-auth", "s", "AKIA", "SECRET", "eu-west-1", "s3v4", "http://minio:9000"]).ok();
    assert_eq!(file(&sb, "s", "backup/ENDPOINT_URL"), "http://minio:9000\n");

    let bucket = sb.dir.join("s3/bucket");
    sb.dokku(&["postgres:backup", "s", "bucket"]).ok();
    let plain = objects(&bucket);
    assert_eq!(plain.len(), 1, "{plain:?}");
    let name = plain[0].file_name().unwrap().to_string_lossy().into_owned();
    let pattern = regex::Regex::new(r"^postgres-s-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.tgz$").unwrap();
    assert!(pattern.is_match(&name), "{name}");
    assert_dump_in_tgz(&plain[0], &sb.dir.join("unpacked-plain"));

    sb.dokku(&["postgres:backup-set-encryption", "s", "hunter2"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sb.dokku(&["postgres:backup", "s", "bucket"]).ok();
    let encrypted: Vec<PathBuf> =
        objects(&bucket).into_iter().filter(|p| p.to_string_lossy().ends_with(".tgz.gpg")).collect();
    assert_eq!(encrypted.len(), 1);
    let enc_name = encrypted[0].file_name().unwrap().to_string_lossy().into_owned();
    let pattern = regex::Regex::new(r"^postgres-s-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.tgz\.gpg$").unwrap();
    assert!(pattern.is_match(&enc_name), "{enc_name}");
    let gnupg = sb.dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let decrypted = sb.dir.join("decrypted.tgz");
    let status = Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--yes", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "hunter2", "-o"])
        .arg(&decrypted)
        .arg("-d")
        .arg(&encrypted[0])
        .status()
        .unwrap();
    assert!(status.success());
    assert_dump_in_tgz(&decrypted, &sb.dir.join("unpacked-enc"));

    sb.dokku(&["postgres:backup-unset-encryption", "s"]).ok();
    assert_eq!(sb.dokku(&["postgres:backup-unset-encryption", "s"]).code, 1);

    // --use-iam skips the credential files; the sandbox has no instance role, so the upload
    // itself fails in the s3backup container.
    sb.dokku(&["postgres:backup-deauth", "s"]).ok();
    let iam = sb.dokku(&["postgres:backup", "s", "other", "--use-iam"]);
    assert_ne!(iam.code, 0);
    assert!(!iam.stderr.contains("Missing AWS_ACCESS_KEY_ID file"), "{iam:?}");

    // Schedules: one cron line, a trailing space without --use-iam.
    let dokku_bin = sb.dir.join("bin/dokku");
    let cron = sb.dir.join("etc/cron.d/dokku-postgres-s");
    sb.dokku(&["postgres:backup-schedule", "s", "0 3 * * *", "bucket"]).ok();
    let expected = format!("0 3 * * * dokku {} postgres:backup s bucket \n", dokku_bin.display());
    assert_eq!(std::fs::read_to_string(&cron).unwrap(), expected);
    assert_eq!(sb.dokku(&["postgres:backup-schedule-cat", "s"]).ok(), expected);
    let mode = std::fs::metadata(&cron).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&cron).unwrap().uid(), 0, "root's, through the sudoers drop-in");
    sb.dokku(&["postgres:backup-schedule", "s", "@daily", "bucket", "--use-iam"]).ok();
    assert_eq!(
        std::fs::read_to_string(&cron).unwrap(),
        format!("@daily dokku {} postgres:backup s bucket --use-iam\n", dokku_bin.display())
    );
    // -u is taken as --use-iam too, whatever the message says; anything else is refused.
    sb.dokku(&["postgres:backup-schedule", "s", "@daily", "bucket", "-u"]).ok();
    assert!(std::fs::read_to_string(&cron).unwrap().ends_with(" bucket -u\n"));
    fails(
        sb.dokku(&["postgres:backup-schedule", "s", "@daily", "bucket", "--iam"]),
        1,
        "Invalid flag provided, only '--use-iam' allowed",
    );
    sb.dokku(&["postgres:backup-unschedule", "s"]).ok();
    sb.dokku(&["postgres:backup-unschedule", "s"]).ok();
    fails(sb.dokku(&["postgres:backup-schedule-cat", "s"]), 1, "There is no scheduled backup for s.");
}

fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|it| it.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    all.sort();
    all
}

fn assert_dump_in_tgz(tgz: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let status = Command::new("tar").arg("-xzf").arg(tgz).arg("-C").arg(into).status().unwrap();
    assert!(status.success());
    let export = into.join("backup/export");
    let bytes = std::fs::read(&export).expect("backup/export in the tarball");
    assert!(bytes.starts_with(b"PGDMP"), "not a pg_dump custom-format file");
    let list = Command::new("pg_restore").arg("-l").arg(&export).output().unwrap();
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains("TABLE DATA public kept"));
}

#[test]
fn upgrade_in_place_across_a_major_fails() {
    let sb = Sandbox::up("pg-upgrade");
    // `dokku postgres:upgrade` is routed to postgres-upgrade by its bare `postgres:upgrade`
    // dir; without it the host runs dokku-postgres's own upgrade, which is pinned here.
    std::fs::remove_dir_all(sb.lib_root().join("plugins/enabled/postgres:upgrade")).expect("route dir");
    create(&sb, "s", &["-I", PG15]);
    sb.sql("s", "create table t (id int); insert into t values (1)");

    // Same image: nothing to do.
    let same = sb.dokku(&["postgres:upgrade", "s", "-I", PG15]).ok();
    assert!(same.contains("already running postgres:15"), "{same}");

    // Without flags: the plugin's default postgres:18.4, whose entrypoint refuses the 15 cluster
    // it now finds at /var/lib/postgresql (docs/dokku-postgres.md).
    // (dokku-postgres prints the container's output on stdout.)
    let default = sb.dokku(&["postgres:upgrade", "s"]).code(1);
    assert!(default.stdout.contains("=====> Start of s container output"), "{}", default.stdout);
    assert!(default.stdout.contains("Error: in 18+, these Docker images"), "{}", default.stdout);
    assert_eq!(file(&sb, "s", "IMAGE_VERSION"), "18.4\n");
    sb.dokku(&["postgres:upgrade", "s", "-I", PG15]).ok();
    assert_eq!(sb.sql("s", "select count(*) from t"), "1");

    // Across a major version: the new server refuses the old data dir, IMAGE* already moved.
    let failed = sb.dokku(&["postgres:upgrade", "s", "-I", "17"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert_eq!(file(&sb, "s", "IMAGE"), "postgres\n");
    assert_eq!(file(&sb, "s", "IMAGE_VERSION"), "17\n");
    assert_ne!(info(&sb, "s", "--status"), "running");
    assert_eq!(std::fs::read_to_string(sb.service_dir("s").join("data/PG_VERSION")).unwrap().trim(), "15");

    // The data dir is untouched: rolling back works.
    sb.dokku(&["postgres:upgrade", "s", "-I", PG15]).ok();
    assert_eq!(file(&sb, "s", "IMAGE_VERSION"), "15\n");
    assert_eq!(sb.sql("s", "select count(*) from t"), "1");

    // upgrade rewrites ENV and CONFIG_OPTIONS: cleared unless passed again.
    create(&sb, "c", &["-I", PG15, "-c", "-c max_connections=30", "-C", "X=1"]);
    sb.dokku(&["postgres:stop", "c"]).ok();
    sb.dokku(&["postgres:upgrade", "c", "-I", PG15]).ok();
    assert_eq!(file(&sb, "c", "CONFIG_OPTIONS"), "");
    assert_eq!(file(&sb, "c", "ENV"), "");
    assert_eq!(sb.sql("c", "show max_connections"), "100");
}

#[test]
fn create_defaults_to_18_4_with_the_18_data_layout() {
    let sb = Sandbox::up("pg-create-18");
    // dokku-postgres 1.48's default image, postgres:18.4: PostgreSQL 18 with its own layout.
    create(&sb, "dflt", &[]);
    assert_eq!(file(&sb, "dflt", "IMAGE"), "postgres\n");
    assert_eq!(file(&sb, "dflt", "IMAGE_VERSION"), "18.4\n");
    assert_eq!(info(&sb, "dflt", "--version"), "postgres:18.4");
    let entered =
        sb.dokku(&["--quiet", "postgres:enter", "dflt", "psql", "-U", "postgres", "-Atc", "show server_version"]).ok();
    assert!(entered.starts_with("18."), "{entered}");
    let client = sb.dokku(&["--quiet", "postgres:enter", "dflt", "pg_dump", "--version"]).ok();
    assert!(client.contains("(PostgreSQL) 18."), "{client}");
    // The data dir is mounted one level up; the cluster is data/18/docker, checksums on.
    let mounts = sb.docker(&["inspect", "-f", "{{range .Mounts}}{{.Destination}}{{end}}", "dokku.postgres.dflt"]).ok();
    assert_eq!(mounts.trim(), "/var/lib/postgresql");
    let data = sb.service_dir("dflt").join("data");
    let top: Vec<String> =
        std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(top, vec!["18".to_string()]);
    assert_eq!(std::fs::read_to_string(data.join("18/docker/PG_VERSION")).unwrap().trim(), "18");
    assert_eq!(sb.sql("dflt", "show data_checksums"), "on");
    sb.sql("dflt", "create table kept (x int); insert into kept values (18)");
    // stop/start recreates the container with the same mount: the data is there.
    sb.dokku(&["postgres:stop", "dflt"]).ok();
    sb.dokku(&["postgres:start", "dflt"]).ok();
    assert_eq!(sb.sql("dflt", "select x from kept"), "18");

    // `latest` is 18 too, but dokku-postgres reads no major from that tag: it mounts the data
    // dir where the 18 image does not look, and the container refuses it (dokku-postgres #383).
    let latest = sb.dokku(&["postgres:create", "l", "-I", "latest"]).code(1);
    assert!(latest.stdout.contains("/var/lib/postgresql/data (unused mount/volume)"), "{}", latest.stdout);

    // `-I 18` is detected as 18 too; 17 keeps the old layout and no checksums.
    create(&sb, "e", &["-I", "18"]);
    assert!(sb.service_dir("e").join("data/18/docker/PG_VERSION").exists());
    create(&sb, "f", &["-I", "17"]);
    assert_eq!(std::fs::read_to_string(sb.service_dir("f").join("data/PG_VERSION")).unwrap().trim(), "17");
    assert_eq!(sb.sql("f", "show data_checksums"), "off");
}

#[test]
fn upgrade_in_place_from_17_to_18_fails_as_on_a_host() {
    let sb = Sandbox::up("pg-upgrade-18");
    std::fs::remove_dir_all(sb.lib_root().join("plugins/enabled/postgres:upgrade")).expect("route dir");
    create(&sb, "s", &["-I", "17"]);
    sb.sql("s", "create table t (id int); insert into t values (17)");

    // The 18 container finds the 17 cluster at /var/lib/postgresql, its own PGDATA empty.
    let failed = sb.dokku(&["postgres:upgrade", "s", "-I", "18"]).code(1);
    assert!(failed.stdout.contains("Error: in 18+, these Docker images"), "{}", failed.stdout);
    assert!(failed.stdout.contains("there appears to be PostgreSQL data in:"), "{}", failed.stdout);
    assert!(failed.stdout.lines().any(|l| l.trim() == "/var/lib/postgresql"), "{}", failed.stdout);
    assert!(failed.stdout.contains("upgrading the underlying database using \"pg_upgrade\""), "{}", failed.stdout);
    assert_eq!(file(&sb, "s", "IMAGE_VERSION"), "18\n");
    assert_ne!(info(&sb, "s", "--status"), "running");
    let data = sb.service_dir("s").join("data");
    assert_eq!(std::fs::read_to_string(data.join("PG_VERSION")).unwrap().trim(), "17");
    assert!(data.join("18/docker").is_dir() && !data.join("18/docker/PG_VERSION").exists());

    // Back to 17: the cluster is untouched (the empty 18/ is ignored by the 17 server).
    sb.dokku(&["postgres:upgrade", "s", "-I", "17"]).ok();
    assert_eq!(sb.sql("s", "select id from t"), "17");
}

#[test]
fn help_and_unknown_commands() {
    let sb = Sandbox::up("pg-help");
    let help = sb.dokku(&["postgres:help"]).ok();
    // The postgres-upgrade plugin, installed by `up`, puts its note about postgres:upgrade first.
    assert!(help.lines().any(|l| l == "Usage: dokku postgres[:COMMAND]"), "{help}");
    assert!(help.contains("postgres:expose <service> <ports...>"), "{help}");
    assert!(help.contains("postgres:upgrade"), "{help}");
    let unknown = sb.dokku(&["postgres:nope", "x"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("is not a dokku command") || unknown.stdout.contains("is not a dokku command"),
        "{unknown:?}"
    );
    assert!(sb.dokku(&["postgres:list"]).stderr.contains("There are no Postgres services"));
}

#[test]
fn expose_unexpose_and_their_refusals() {
    let sb = Sandbox::up("pg-expose");
    create(&sb, "a", &["-I", PG15]);
    create(&sb, "b", &["-I", PG15]);
    assert_eq!(info(&sb, "a", "--exposed-ports"), "-");
    fails(sb.dokku(&["postgres:expose"]), 1, "Please specify a valid name for the service");
    fails(sb.dokku(&["postgres:expose", "nope"]), 1, "Postgres service nope does not exist");
    fails(sb.dokku(&["postgres:expose", "a", "1", "2"]), 1, "1 ports to be exposed need to be provided");

    let out = sb.dokku(&["postgres:expose", "a", "4242"]).ok();
    assert!(out.contains("Service a exposed on port(s) [container->host]: 5432->4242"), "{out}");
    assert_eq!(file(&sb, "a", "PORT"), "4242\n");
    assert_eq!(info(&sb, "a", "--exposed-ports"), "5432->4242");
    assert_eq!(sb.ambassador("a").as_deref(), Some("running\n4242\n"));
    fails(sb.dokku(&["postgres:expose", "a", "4343"]), 1, "Service a already exposed on port(s) 4242");

    // Another service on the same host port: docker refuses after the PORT file is written.
    fails(sb.dokku(&["postgres:expose", "b", "127.0.0.1:4242"]), 125, "port is already allocated");
    assert_eq!(file(&sb, "b", "PORT"), "127.0.0.1:4242\n");
    // As docker's `run -d`: the container was created before its start was refused.
    assert_eq!(sb.ambassador("b").as_deref(), Some("created\n127.0.0.1:4242\n"));
    sb.dokku(&["postgres:unexpose", "b"]).ok();
    assert_eq!(sb.ambassador("b"), None);

    // Stopping the service stops its ambassador, and the port is free for another one.
    sb.dokku(&["postgres:stop", "a"]).ok();
    assert_eq!(sb.ambassador("a").as_deref(), Some("exited\n4242\n"));
    sb.dokku(&["postgres:expose", "b", "127.0.0.1:4242"]).ok();
    assert_eq!(info(&sb, "b", "--exposed-ports"), "5432->127.0.0.1:4242");
    // Starting a again fails while b holds its port; unexposed, b frees it.
    // suppress_output shows the refused `docker container start`'s output on stdout.
    let refused = sb.dokku(&["postgres:start", "a"]).code(1);
    assert!(refused.stdout.contains("port is already allocated"), "{refused:?}");
    let out = sb.dokku(&["postgres:unexpose", "b"]).ok();
    assert!(out.contains("Service b unexposed"), "{out}");
    assert!(!sb.service_dir("b").join("PORT").exists());
    assert_eq!(sb.ambassador("b"), None);
    // The server did start: a second start only says so and leaves the ambassador stopped, as
    // service_start returns before reconciling it; a restart brings it back.
    sb.dokku(&["postgres:start", "a"]).ok();
    assert_eq!(sb.ambassador("a").as_deref(), Some("exited\n4242\n"));
    sb.dokku(&["postgres:restart", "a"]).ok();
    assert_eq!(sb.ambassador("a").as_deref(), Some("running\n4242\n"));

    // A random port when none is given.
    let out = sb.dokku(&["postgres:expose", "b"]).ok();
    let port = file(&sb, "b", "PORT").trim().to_string();
    assert!(port.parse::<u16>().is_ok() && port != "4242", "{port}");
    assert!(out.contains(&format!("5432->{port}")), "{out}");

    // destroy leaves a stopped ambassador behind; the next expose of that name removes it.
    sb.dokku(&["postgres:destroy", "a", "-f"]).ok();
    assert_eq!(sb.ambassador("a").as_deref(), Some("exited\n4242\n"));
    create(&sb, "a", &["-I", PG15]);
    let run = sb.dokku(&["postgres:expose", "a", "4444"]).code(0);
    assert!(run.stderr.contains("Service a has an untracked expose container, removing"), "{}", run.stderr);
    assert_eq!(sb.ambassador("a").as_deref(), Some("running\n4444\n"));
}

#[test]
fn promote_beside_another_database_url_fails() {
    let sb = Sandbox::up("pg-promote-replica");
    app(&sb, "web");
    create(&sb, "old", &["-I", PG15]);
    create(&sb, "new", &["-I", PG15]);
    sb.dokku(&["postgres:link", "old", "web", "--no-restart"]).ok();
    sb.dokku(&["config:set", "--no-restart", "web", "REPLICA_DATABASE_URL=postgres://u:p@replica:5432/db"]).ok();
    sb.dokku(&["postgres:link", "new", "web", "--no-restart"]).ok();
    let before = env(&sb, "web");
    // get_url_from_config joins DATABASE_URL's value with `REPLICA_postgres://…`: not a pair.
    fails(sb.dokku(&["postgres:promote", "new", "web"]), 1, "Invalid env pair: REPLICA_postgres://u:p@replica:5432/db");
    assert_eq!(env(&sb, "web"), before, "a refused config:set changes nothing");
}
