//! "Verified" means identical: an upgrade either ends with the two databases the same by a
//! comparison that shares no code with the plugin (support/compare.rs), or refuses, rolls back
//! and says why. Never exit 0 over a difference.

mod support;

use support::Sandbox;

/// memo on a PostgreSQL 15 service, its workload writing; `sql` sets up the database.
fn setup(name: &str, sql: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql("memo-db", sql);
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    sb
}

/// `sql` on `service`'s database just before step `step`, as another writer would
/// (the test-only POSTGRES_UPGRADE_HOOK_AT).
fn hook(sb: &Sandbox, service: &str, step: &str, sql: &str) -> String {
    let path = sb.dir.join(format!("hook-{step}"));
    let psql = format!(
        "'{}' exec -i dokku.postgres.{service} psql -q -v ON_ERROR_STOP=1 -U postgres -d {} >/dev/null 2>&1 <<'SQL'\n{sql}\nSQL\n",
        sb.dir.join("bin/docker").display(),
        service.replace('-', "_")
    );
    let script = format!("#!/usr/bin/env bash\nset -e\n{psql}");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{step}:{}", path.display())
}

/// memo's upgrade to 17 into memo-v17, the old service kept for the comparison.
fn upgrade(sb: &Sandbox, hook_at: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--keep-old"];
    args.extend_from_slice(extra);
    sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook_at)], &args)
}

/// An upgrade that succeeded: the databases compare identical and the worker lost nothing.
#[track_caller]
fn identical(sb: &Sandbox, run: &support::Run) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = sb.differences("memo-db", "memo-v17");
    assert!(found.is_empty(), "exit 0 over differences:\n{}\n{}", found.join("\n"), run.stderr);
    lost_nothing(sb);
}

#[track_caller]
fn lost_nothing(sb: &Sandbox) {
    std::thread::sleep(std::time::Duration::from_millis(300));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}

/// An upgrade that refused: it says `why`, and memo runs on memo-db as before.
#[track_caller]
fn refused(sb: &Sandbox, run: &support::Run, why: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(why), "{}", run.stderr);
    assert_eq!(sb.services(), ["memo-db"]);
    assert!(sb.config("memo")["DATABASE_URL"].contains("@dokku-postgres-memo-db:5432/"));
    assert_eq!(sb.dokku(&["ps:report", "memo", "--running"]).ok().trim(), "true");
    assert_eq!(sb.dokku(&["maintenance:report", "memo", "--maintenance-enabled"]).ok().trim(), "false");
    lost_nothing(sb);
}

/// Roles with passwords and memberships, owners, grants (to PUBLIC too), default privileges,
/// a SECURITY DEFINER function owned by another role, comments, and the database's own
/// settings, comment, grants and connection limit.
const APP_SCHEMA: &str = "CREATE ROLE app_owner NOLOGIN; \
    CREATE ROLE reader LOGIN PASSWORD 'reader-pw' CONNECTION LIMIT 5 VALID UNTIL '2031-01-01 00:00:00+00'; \
    CREATE ROLE writers NOLOGIN; GRANT writers TO reader WITH ADMIN OPTION; \
    ALTER ROLE reader SET statement_timeout = '7s'; ALTER ROLE postgres SET work_mem = '16MB'; \
    CREATE SCHEMA app AUTHORIZATION app_owner; \
    CREATE TABLE app.items (id serial PRIMARY KEY, name text); ALTER TABLE app.items OWNER TO app_owner; \
    INSERT INTO app.items (name) SELECT 'item ' || g FROM generate_series(1, 200) g; \
    GRANT USAGE ON SCHEMA app TO reader; GRANT SELECT ON app.items TO reader; GRANT SELECT ON app.items TO PUBLIC; \
    ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA app GRANT SELECT ON TABLES TO reader; \
    CREATE FUNCTION app.count_items() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM app.items'; \
    ALTER FUNCTION app.count_items() OWNER TO app_owner; COMMENT ON TABLE app.items IS 'the items'; \
    ALTER DATABASE memo_db SET search_path = app, public; ALTER DATABASE memo_db SET timezone = 'Pacific/Auckland'; \
    ALTER ROLE reader IN DATABASE memo_db SET work_mem = '8MB'; COMMENT ON DATABASE memo_db IS 'memo''s data'; \
    GRANT CONNECT ON DATABASE memo_db TO reader; ALTER DATABASE memo_db CONNECTION LIMIT 50;";

#[test]
fn roles_grants_owners_and_database_settings_arrive_as_they_were() {
    let sb = setup("fidelity-roles", APP_SCHEMA);
    // Between the first copy and the window: a new role, a new password, a changed row.
    let late = "CREATE ROLE late_role LOGIN PASSWORD 'late'; ALTER ROLE reader PASSWORD 'new-reader-pw'; \
                UPDATE app.items SET name = 'changed' WHERE id = 7;";
    let run = upgrade(&sb, &hook(&sb, "memo-db", "maintenance-on", late), &[]);
    identical(&sb, &run);
    // What the app sees on the new database.
    assert_eq!(sb.sql("memo-v17", "SHOW search_path"), "app, public");
    assert_eq!(sb.sql("memo-v17", "SHOW timezone"), "Pacific/Auckland");
    assert_eq!(sb.sql("memo-v17", "SELECT proowner::regrole FROM pg_proc WHERE proname = 'count_items'"), "app_owner");
    assert_eq!(sb.sql("memo-v17", "SELECT name FROM items WHERE id = 7"), "changed");
    // The service's own superuser keeps the new service's password.
    let url = sb.dokku(&["postgres:info", "memo-v17", "--dsn"]).ok();
    let password = std::fs::read_to_string(sb.service_dir("memo-v17").join("PASSWORD")).unwrap();
    assert!(url.contains(password.trim()), "{url}");
}

#[test]
fn the_whole_copy_inside_the_window_carries_the_same() {
    let sb = setup("fidelity-full", APP_SCHEMA);
    let run = upgrade(&sb, "", &["--full-copy"]);
    identical(&sb, &run);
}

#[test]
fn schemas_named_like_system_ones_are_copied_and_compared() {
    // LIKE 'pg_temp%' and 'pg_toast%' match these (`_` is any character).
    let sql = "CREATE SCHEMA \"pg-temp-x\"; CREATE SCHEMA pgxtoast; \
               CREATE TABLE \"pg-temp-x\".t (id int PRIMARY KEY, v text); CREATE TABLE pgxtoast.t (v text); \
               INSERT INTO \"pg-temp-x\".t SELECT g, 'v' || g FROM generate_series(1, 100) g; \
               INSERT INTO pgxtoast.t SELECT 'w' || g FROM generate_series(1, 100) g;";
    let sb = setup("fidelity-schemas", sql);
    let late = "UPDATE \"pg-temp-x\".t SET v = 'late' WHERE id = 5; INSERT INTO pgxtoast.t VALUES ('late');";
    let run = upgrade(&sb, &hook(&sb, "memo-db", "maintenance-on", late), &[]);
    identical(&sb, &run);
    assert_eq!(sb.sql("memo-v17", "SELECT v FROM \"pg-temp-x\".t WHERE id = 5"), "late");
}

#[test]
fn a_write_to_such_a_schema_just_before_verification_is_refused() {
    let sql = "CREATE SCHEMA \"pg-temp-x\"; CREATE TABLE \"pg-temp-x\".t (id int PRIMARY KEY, v text); \
               INSERT INTO \"pg-temp-x\".t SELECT g, 'v' || g FROM generate_series(1, 100) g;";
    let sb = setup("fidelity-late-row", sql);
    let run = upgrade(&sb, &hook(&sb, "memo-db", "verify", "UPDATE \"pg-temp-x\".t SET v = 'late' WHERE id = 5;"), &[]);
    refused(&sb, &run, "table pg-temp-x.t has other rows in the copy");
}

#[test]
fn ddl_just_before_verification_is_refused() {
    let sb = setup("fidelity-late-ddl", APP_SCHEMA);
    let run = upgrade(&sb, &hook(&sb, "memo-db", "verify", "GRANT INSERT ON app.items TO reader;"), &[]);
    refused(&sb, &run, "the schema of the copy differs from the original's");
    let sb = setup("fidelity-late-table", APP_SCHEMA);
    let run = upgrade(&sb, &hook(&sb, "memo-db", "verify", "CREATE TABLE app.late (id int);"), &[]);
    refused(&sb, &run, "app.late");
}

#[test]
fn a_large_object_written_just_before_verification_is_refused() {
    let sb = setup("fidelity-late-lo", "SELECT lo_from_bytea(4242, 'a large object');");
    let late = "SELECT lo_put(4242, 0, 'A'); ALTER LARGE OBJECT 4242 OWNER TO postgres;";
    let run = upgrade(&sb, &hook(&sb, "memo-db", "verify", late), &[]);
    refused(&sb, &run, "large objects is");
}

#[test]
fn a_user_srid_changed_after_the_first_copy_arrives() {
    let sb = Sandbox::up("fidelity-postgis");
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "--image", "postgis/postgis", "--image-version", "15-3.3"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo", "--no-restart"]).ok();
    sb.sql(
        "memo-db",
        "CREATE EXTENSION postgis; \
         INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) VALUES (990001, 'test', 1, '+proj=longlat');",
    );
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    sb.sandbox(&["rebuild-image", "postgis/postgis:15-3.3"]).ok();
    let late = "UPDATE spatial_ref_sys SET auth_name = 'changed' WHERE srid = 990001;";
    let args = [
        "postgres:upgrade",
        "memo",
        "-i",
        "postgis/postgis",
        "-I",
        "15-3.3",
        "--new-service",
        "memo-next",
        "--keep-old",
    ];
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", &hook(&sb, "memo-db", "maintenance-on", late))], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = sb.differences("memo-db", "memo-next");
    assert!(found.is_empty(), "exit 0 over differences:\n{}", found.join("\n"));
    assert_eq!(sb.sql("memo-next", "SELECT auth_name FROM spatial_ref_sys WHERE srid = 990001"), "changed");
    lost_nothing(&sb);
}
