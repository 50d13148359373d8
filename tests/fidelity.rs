//! "Verified" means identical: an upgrade either ends with the two databases the same by a
//! comparison that shares no code with the plugin (support/compare.rs), or refuses, rolls back
//! and says why. Never exit 0 over a difference.

mod support;

use support::Sandbox;

/// memo on a PostgreSQL 15 service, its workload writing; `sql` sets up the database.
fn setup(name: &str, sql: &str) -> Sandbox {
    setup_on(name, "15", &[sql])
}

/// memo on a PostgreSQL `version` service, its workload writing; each of `sql` is run on its
/// own (ALTER SYSTEM runs outside a transaction).
fn setup_on(name: &str, version: &str, sql: &[&str]) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", version);
    for statement in sql {
        sb.sql("memo-db", statement);
    }
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
    upgrade_to(sb, "17", hook_at, extra)
}

/// memo's upgrade to `version` into memo-v17 (the name the checks below know), the old service kept.
fn upgrade_to(sb: &Sandbox, version: &str, hook_at: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["postgres:upgrade", "memo", "-I", version, "--new-service", "memo-v17", "--keep-old"];
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
    // The verifier's catalog names it (the schema's pg_dump text, the second witness, would too).
    refused(&sb, &run, "app.items: acl: reader: INSERT by app_owner in the original only");
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

/// PostGIS's own table: pg_dump carries the rows users add, the catch-up stream does not, so
/// the copy is made again whole inside the window. Also: a disabled subscription (what a dump
/// restores) arrives as it was, its options too.
#[test]
fn a_user_srid_changed_after_the_first_copy_arrives() {
    let sb = Sandbox::up("fidelity-postgis");
    sb.dokku(&["apps:create", "memo"]).ok();
    sb.dokku(&["postgres:create", "memo-db", "--image", "postgis/postgis", "--image-version", "15-3.3"]).ok();
    sb.dokku(&["postgres:link", "memo-db", "memo", "--no-restart"]).ok();
    sb.sql(
        "memo-db",
        "CREATE EXTENSION postgis; \
         INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) VALUES (990001, 'test', 1, '+proj=longlat'); \
         CREATE TABLE places (id int PRIMARY KEY, name text); CREATE PUBLICATION places_pub FOR TABLE places; \
         CREATE SUBSCRIPTION places_sub CONNECTION 'host=/nonexistent dbname=x' PUBLICATION places_pub \
         WITH (connect = false, binary = true);",
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
    let again = "A table an extension owns changed since the first copy: copying everything again";
    assert!(run.stdout.contains(again), "{}", run.stdout);
    let found = sb.differences("memo-db", "memo-next");
    assert!(found.is_empty(), "exit 0 over differences:\n{}", found.join("\n"));
    assert_eq!(sb.sql("memo-next", "SELECT auth_name FROM spatial_ref_sys WHERE srid = 990001"), "changed");
    assert_eq!(sb.sql("memo-next", "SELECT subenabled::text || ' ' || subbinary FROM pg_subscription"), "false true");
    lost_nothing(&sb);
}

/// What a dump does not print, in one database: ALTER SYSTEM settings (one that needs a
/// restart, one 18 no longer knows, a list), materialized views built on one another through a
/// view (the one on top older than the one below), an event trigger enabled ALWAYS that logs
/// DDL into a table, a stored generated column, an extension, a publication, roles with
/// memberships granted with options and by another role, comments and settings.
const CARRIED: &[&str] = &[
    "CREATE ROLE carry_group NOLOGIN; CREATE ROLE carry_admin NOLOGIN; \
     GRANT carry_group TO carry_admin WITH ADMIN OPTION; \
     CREATE ROLE carry_user LOGIN PASSWORD 'carry-pw' CONNECTION LIMIT 4; \
     GRANT carry_group TO carry_user WITH INHERIT FALSE, SET FALSE; \
     SET ROLE carry_admin; GRANT carry_group TO carry_user; RESET ROLE; \
     ALTER ROLE carry_user SET work_mem = '3MB'; COMMENT ON ROLE carry_user IS 'a user'; \
     CREATE ROLE carry_gone NOLOGIN; COMMENT ON ROLE carry_gone IS 'leaves late'; \
     CREATE SCHEMA carry; CREATE TABLE carry.items (id serial PRIMARY KEY, name text); \
     INSERT INTO carry.items (name) SELECT 'item ' || g FROM generate_series(1, 100) g; \
     CREATE VIEW carry.v AS SELECT 1::bigint AS n; \
     CREATE MATERIALIZED VIEW carry.top AS SELECT sum(n) AS total FROM carry.v; \
     CREATE MATERIALIZED VIEW carry.bottom AS SELECT count(*) AS n FROM carry.items; \
     CREATE OR REPLACE VIEW carry.v AS SELECT n FROM carry.bottom; REFRESH MATERIALIZED VIEW carry.top; \
     CREATE FUNCTION carry.twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2'; \
     CREATE TABLE carry.gen (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (carry.twice(a)) STORED); \
     INSERT INTO carry.gen (id, a) SELECT g, g FROM generate_series(1, 50) g; \
     CREATE EXTENSION hstore; CREATE TABLE carry.extra (id int); ALTER EXTENSION hstore ADD TABLE carry.extra; \
     CREATE PUBLICATION carry_pub FOR TABLE carry.items WITH (publish = 'insert, update'); \
     CREATE TABLE carry.ddl_log (tag text); \
     CREATE FUNCTION carry.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN INSERT INTO carry.ddl_log VALUES (tg_tag); END'; \
     CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION carry.log_ddl(); \
     ALTER EVENT TRIGGER log_ddl ENABLE ALWAYS;",
    "ALTER SYSTEM SET work_mem = '6MB'",
    "ALTER SYSTEM SET max_connections = 120",
    "ALTER SYSTEM SET db_user_namespace = off",
    "ALTER SYSTEM SET search_path = '$user', public, 'odd schema'",
];

/// Roles, grants, owners and the database's settings (APP_SCHEMA) with, in the same database,
/// what preflight can see that a copy would not carry, each refused with its way out, the dry
/// run as the run; what only the new server can tell (a member added to an extension), refused
/// before the window; then, each way out taken, the upgrade to 18 with late changes between
/// the first copy and the window (roles removed and reset, memberships changed, rows written
/// and materialized views refreshed on the old service) ends identical, the subscription
/// disabled as it was, the ALTER SYSTEM settings 18 knows carried, the one it does not named,
/// no event trigger fired in the copy.
#[test]
fn what_no_dump_prints_is_carried_or_refused_before_anything_changes() {
    // With what a dump does print: roles, grants, owners, the database's settings.
    let sb = setup_on("fidelity-carry", "16", &[CARRIED, &[APP_SCHEMA]].concat());
    // What preflight refuses.
    sb.sql(
        "memo-db",
        "CREATE TABLE information_schema.carry_t (v text); INSERT INTO information_schema.carry_t VALUES ('kept'); \
         CREATE FUNCTION pg_catalog.carry_f() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
         CREATE SUBSCRIPTION carry_sub CONNECTION 'host=/nonexistent dbname=x' PUBLICATION carry_pub WITH (connect = false); \
         ALTER SUBSCRIPTION carry_sub ENABLE; \
         INSERT INTO carry.items (name) VALUES ('not in the view yet'); \
         CREATE OR REPLACE FUNCTION carry.twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 3';",
    );
    let ways_out = [
        "ALTER TABLE information_schema.carry_t SET SCHEMA public",
        "ALTER FUNCTION pg_catalog.carry_f() SET SCHEMA public",
        "REFRESH MATERIALIZED VIEW carry.bottom",
        "UPDATE carry.gen SET \"a\" = \"a\"",
    ];
    let dry = upgrade_to(&sb, "18", "", &["--dry-run"]);
    let run = upgrade_to(&sb, "18", "", &[]);
    for said in ways_out.iter().chain(&["ALTER SUBSCRIPTION \"carry_sub\" DISABLE on memo-db"]) {
        assert!(dry.stderr.contains(said), "the dry run does not say `{said}`:\n{}", dry.stderr);
        assert!(run.stderr.contains(said), "the run does not say `{said}`:\n{}", run.stderr);
    }
    assert_eq!(dry.code, 1, "{}", dry.stderr);
    refused(&sb, &run, "--accept-recomputed");
    for way_out in ways_out.iter().chain(&["REFRESH MATERIALIZED VIEW carry.top"]) {
        sb.sql("memo-db", way_out);
    }
    // Disabled, the subscription goes across majors as it is (the schema's replay on 18 does
    // not trip over it): the judge compares it, enabled state and options.
    sb.sql("memo-db", "ALTER SUBSCRIPTION carry_sub DISABLE");

    // What only the new server can tell: the member added to hstore, refused before the window.
    let dry = upgrade_to(&sb, "18", "", &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan = dry.stdout;
    assert!(plan.contains("ALTER SYSTEM: db_user_namespace not carried: PostgreSQL 18 does not know them"), "{plan}");
    assert!(plan.contains("work_mem, max_connections, search_path carried to memo-v17 before the window"), "{plan}");
    assert!(plan.contains("(max_connections restarts it then)"), "{plan}");
    let run = upgrade_to(&sb, "18", "", &[]);
    refused(&sb, &run, "run ALTER EXTENSION \"hstore\" DROP TABLE carry.extra on memo-db");
    sb.sql("memo-db", "ALTER EXTENSION hstore DROP TABLE carry.extra");

    let late = "DROP ROLE carry_gone; ALTER ROLE carry_user RESET ALL; COMMENT ON ROLE carry_user IS NULL; \
                ALTER ROLE carry_user CONNECTION LIMIT -1 PASSWORD 'carry-pw-2'; \
                GRANT carry_group TO carry_user WITH INHERIT TRUE GRANTED BY postgres; \
                REVOKE carry_group FROM carry_user GRANTED BY carry_admin; \
                INSERT INTO carry.items (name) SELECT 'late ' || g FROM generate_series(1, 10) g; \
                REFRESH MATERIALIZED VIEW carry.bottom; REFRESH MATERIALIZED VIEW carry.top; \
                UPDATE carry.gen SET a = a + 1 WHERE id = 1; \
                CREATE ROLE late_role LOGIN PASSWORD 'late'; ALTER ROLE reader PASSWORD 'new-reader-pw'; \
                UPDATE app.items SET name = 'changed' WHERE id = 7;";
    let run = upgrade_to(&sb, "18", &hook(&sb, "memo-db", "maintenance-on", late), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // What the app sees on the new database.
    assert_eq!(sb.sql("memo-v17", "SHOW search_path"), "app, public");
    assert_eq!(sb.sql("memo-v17", "SHOW timezone"), "Pacific/Auckland");
    assert_eq!(sb.sql("memo-v17", "SELECT proowner::regrole FROM pg_proc WHERE proname = 'count_items'"), "app_owner");
    assert_eq!(sb.sql("memo-v17", "SELECT name FROM items WHERE id = 7"), "changed");
    // The service's own superuser keeps the new service's password.
    let url = sb.dokku(&["postgres:info", "memo-v17", "--dsn"]).ok();
    let password = std::fs::read_to_string(sb.service_dir("memo-v17").join("PASSWORD")).unwrap();
    assert!(url.contains(password.trim()), "{url}");
    assert!(run.stderr.contains("not carried: db_user_namespace"), "{}", run.stderr);
    let found = sb.differences_beside(
        "memo-db",
        "memo-v17",
        &["^alter_system db_user_namespace: only in old \\(off\\)$"],
        &[("carry_user", "carry-pw-2"), ("reader", "new-reader-pw"), ("late_role", "late")],
    );
    assert!(found.is_empty(), "exit 0 over differences:\n{}\n{}", found.join("\n"), run.stderr);
    assert_eq!(sb.sql("memo-v17", "SHOW max_connections"), "120", "restarted for it");
    assert_eq!(sb.sql("memo-v17", "SELECT count(*) FROM pg_roles WHERE rolname = 'carry_gone'"), "0");
    assert_eq!(sb.sql("memo-v17", "SELECT subname || ' ' || subenabled::text FROM pg_subscription"), "carry_sub false");
    lost_nothing(&sb);
}

/// A PostgreSQL 13 service (host rule md5) with a role whose password is an md5 hash, a stale
/// materialized view and fresh ones, a stored generated column computed by a function that
/// changed since, and an event trigger enabled ALWAYS that logs DDL into a table (several views:
/// pg_restore -j refreshes them in parallel with the rest, so one restored too early would fire).
const MD5_AND_STALE: &str = "SET password_encryption = 'md5'; CREATE ROLE md5_user LOGIN PASSWORD 'md5-pw'; \
    CREATE TABLE counted (id serial PRIMARY KEY, v text); INSERT INTO counted (v) SELECT 'v' || g FROM generate_series(1, 40) g; \
    CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM counted; INSERT INTO counted (v) VALUES ('since'); \
    CREATE MATERIALIZED VIEW twice_counts AS SELECT count(*) * 2 AS n FROM counted; \
    CREATE MATERIALIZED VIEW labels AS SELECT 'x'::text AS v, count(*) AS n FROM counted; \
    CREATE MATERIALIZED VIEW three AS SELECT generate_series(1, 3) AS i; \
    CREATE FUNCTION twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2'; \
    CREATE TABLE gen (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (twice(a)) STORED); \
    INSERT INTO gen (id, a) SELECT g, g FROM generate_series(1, 5) g; \
    CREATE OR REPLACE FUNCTION twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 3'; \
    CREATE TABLE ddl_log (tag text); \
    CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN INSERT INTO public.ddl_log VALUES (tg_tag); END'; \
    CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl(); ALTER EVENT TRIGGER log_ddl ENABLE ALWAYS;";

/// Into 18, whose host rule is scram-sha-256, the md5 hashes would not log in (13 stores
/// APP_SCHEMA's reader's as md5 too), and the copy would refresh the view and compute the column
/// again: refused, each with both ways out. With the flags that accept it, the whole copy is
/// made (pg_restore, which restores the event trigger last: it fires on nothing), with
/// APP_SCHEMA's roles, grants, owners and settings; the roles log in on both, the recomputed
/// rows are the only difference, and the journal, the JSON report and postgres-upgrade:report
/// record what was accepted.
#[test]
fn md5_logins_and_recomputed_values_are_refused_or_accepted_with_a_flag() {
    let sb = setup_on("fidelity-md5", "13", &[MD5_AND_STALE, APP_SCHEMA]);
    let run = upgrade_to(&sb, "18", "", &["--full-copy"]);
    for said in [
        "role(s) md5_user, reader of memo-db log in with an md5 password hash",
        "SET password_encryption = 'scram-sha-256'; ALTER ROLE \"md5_user\" PASSWORD",
        "--keep-md5-auth",
        "REFRESH MATERIALIZED VIEW public.counts on memo-db, or accept the refreshed rows with --accept-recomputed",
        "UPDATE public.gen SET \"a\" = \"a\" on memo-db, or accept the recomputed values with --accept-recomputed",
    ] {
        assert!(run.stderr.contains(said), "no `{said}` in:\n{}", run.stderr);
    }
    refused(&sb, &run, "Preflight found 3 problem");

    let run = upgrade_to(&sb, "18", "", &["--full-copy", "--keep-md5-auth", "--accept-recomputed", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = sb.differences_beside(
        "memo-db",
        "memo-v17",
        &[
            "^rows public\\.counts: 1 rows only in old, 1 rows only in new$",
            "^rows public\\.gen: 5 rows only in old, 5 rows only in new$",
        ],
        &[("md5_user", "md5-pw"), ("reader", "reader-pw")],
    );
    assert!(found.is_empty(), "exit 0 over differences:\n{}\n{}", found.join("\n"), run.stderr);
    assert_eq!(sb.sql("memo-v17", "SELECT n FROM counts"), "41");
    let env = std::fs::read_to_string(sb.service_dir("memo-v17").join("ENV")).unwrap();
    assert!(env.contains("POSTGRES_HOST_AUTH_METHOD=md5"), "{env}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let accepted = report["accepted"].to_string();
    for said in
        ["materialized view public.counts", "stored generated column public.gen.b", "md5_user, reader keep logging in"]
    {
        assert!(accepted.contains(said), "no `{said}` in {accepted}");
    }
    // The verifier found what was accepted, and only that, different: notes, not refusals.
    let warnings = report["warnings"].to_string();
    for said in [
        "materialized view public.counts has other rows in the copy (the same number: 1)",
        "table public.gen: the stored generated column(s) b hold other values in the copy (computed again), as accepted",
    ] {
        assert!(warnings.contains(said), "no `{said}` in {warnings}");
    }
    // The journal (status --format json shows it) keeps the flags, and what the verifier
    // accepts, for a resume.
    let journal: serde_json::Value =
        serde_json::from_str(&sb.dokku(&["postgres-upgrade:status", "memo", "--format", "json"]).ok()).unwrap();
    let options = &journal["options"];
    assert!(options["accept_recomputed"] == true && options["keep_md5_auth"] == true, "{journal}");
    let recomputed = &journal["plan"]["recomputed"];
    assert_eq!(recomputed["views"], serde_json::json!([["public", "counts"]]), "{journal}");
    assert_eq!(recomputed["columns"], serde_json::json!([["public", "gen", "b"]]), "{journal}");
    let field = sb.dokku(&["postgres-upgrade:report", "memo", "--postgres-upgrade-last-accepted"]).ok();
    assert!(field.contains("materialized view public.counts") && field.contains("--keep-md5-auth"), "{field}");
    lost_nothing(&sb);
}
