//! PostgreSQL's regression database moved from 15 to 18 by the plugin, judged by an independent
//! comparison (tests/compare/compare, no code of the plugin), and that comparison's own test.
//! docs/regress.md: how the database is built and why each expected difference must differ.

mod support;

use std::process::Command;
use support::{Run, Sandbox, repo};

/// `tests/compare/compare DIR OLD NEW ARGS…`.
fn compare(sb: &Sandbox, old: &str, new: &str, args: &[&str]) -> Run {
    let out = Command::new(repo().join("tests/compare/compare"))
        .arg(&sb.dir)
        .args([old, new])
        .args(args)
        .output()
        .expect("run tests/compare/compare");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The comparison against the regression database's documented expectations.
fn compare_regression(sb: &Sandbox, new: &str) -> Run {
    let expected = repo().join("tests/regress/expected-differences");
    let adjust = repo().join("tests/regress/old-15.sed");
    compare(
        sb,
        "regression",
        new,
        &["--expected", expected.to_str().unwrap(), "--adjust-old", adjust.to_str().unwrap()],
    )
}

/// The one property an upgrade must have: exit 0 and identical (apart from the documented
/// differences), or a non-zero exit with the app back on the old service, which still runs.
/// Returns what broke it, so that both runs are reported.
fn identical_or_rolled_back(sb: &Sandbox, run: &Run, new: &str, services_before: &[String]) -> Result<(), String> {
    if run.code == 0 {
        let cmp = compare_regression(sb, new);
        return match cmp.code {
            0 => Ok(()),
            _ => Err(format!("{new}: the upgrade exited 0 over databases that differ:\n{}{}", cmp.stdout, cmp.stderr)),
        };
    }
    eprintln!("the upgrade to {new} refused (exit {}):\n{}", run.code, run.stderr);
    let on_old = sb.config("regress-app")["DATABASE_URL"].contains("@dokku-postgres-regression:5432/regression");
    let status = sb.dokku(&["postgres:info", "regression", "--status"]).ok();
    let running = sb.dokku(&["ps:report", "regress-app", "--running"]).ok();
    match (sb.services() == services_before, on_old, status.trim() == "running", running.trim() == "true") {
        (true, true, true, true) => Ok(()),
        rolled_back => Err(format!(
            "{new}: refused but not rolled back (no new service, app on old, old running, app running): {rolled_back:?}"
        )),
    }
}

/// A service's password in an env file of mode 0600 (never in an argument), for `docker run`.
fn password_env(sb: &Sandbox, service: &str) -> std::path::PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let password = std::fs::read_to_string(sb.service_dir(service).join("PASSWORD")).unwrap();
    let path = sb.dir.join(format!("{service}.env"));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).unwrap();
    writeln!(f, "PGPASSWORD={}", password.trim()).unwrap();
    path
}

/// `pg_dump`/`pg_restore` of the new image in a throwaway container linked to `service`.
fn tool_run(sb: &Sandbox, service: &str, mount: &std::path::Path, tool: &[&str]) {
    let env = password_env(sb, service);
    let link = format!("dokku.postgres.{service}:dokku-postgres-{service}");
    let volume = format!("{}:/dump", mount.display());
    let host = format!("dokku-postgres-{service}");
    let mut args =
        vec!["run", "--rm", "--link", &link, "-v", &volume, "--env-file", env.to_str().unwrap(), "postgres:18"];
    args.extend_from_slice(tool);
    args.extend_from_slice(&["-h", &host, "-U", "postgres"]);
    sb.docker(&args).ok();
}

/// The copy the comparison's list is made for, without the plugin: the new image's pg_dump and
/// pg_restore with owners and ACLs into a fresh 18 service. It must compare identical apart from
/// the expected differences, so that a failure after an upgrade is the upgrade's, not the list's.
fn reference_copy(sb: &Sandbox) {
    sb.dokku(&["postgres:create", "regress-reference", "-I", "18"]).ok();
    let mount = sb.dir.join("reference-dump");
    std::fs::create_dir_all(&mount).unwrap();
    tool_run(sb, "regression", &mount, &["pg_dump", "-Fc", "-f", "/dump/regression.dump", "-d", "regression"]);
    tool_run(
        sb,
        "regress-reference",
        &mount,
        &["pg_restore", "--exit-on-error", "-d", "regress_reference", "/dump/regression.dump"],
    );
    let cmp = compare_regression(sb, "regress-reference");
    assert_eq!(cmp.code, 0, "a plain dump and restore is not identical by the list:\n{}{}", cmp.stdout, cmp.stderr);
}

/// Seconds since `start`, for the timings the test prints.
fn secs(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[test]
fn the_regression_database_moves_to_18_identically_or_not_at_all() {
    let sb = Sandbox::up("regress-15-18");
    sb.dokku(&["apps:create", "regress-app"]).ok();
    sb.dokku(&["postgres:create", "regression", "-I", "15"]).ok();
    let t = std::time::Instant::now();
    let build =
        Command::new(repo().join("tests/regress/build")).arg(&sb.dir).args(["regression", "18"]).output().unwrap();
    let log = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "tests/regress/build failed:\n{log}");
    eprintln!("{log}regression database built in {:.1} s", secs(t));
    let t = std::time::Instant::now();
    reference_copy(&sb);
    eprintln!("reference dump and restore compared identical in {:.1} s", secs(t));
    sb.dokku(&["postgres:link", "regression", "regress-app"]).ok();
    sb.dokku(&["ps:start", "regress-app"]).ok();

    // The default copy (a first copy while the app runs, then what changed), old service kept.
    let before = sb.services();
    let t = std::time::Instant::now();
    // The regression tests leave a materialized view stale (docs/regress.md): its refresh is accepted.
    let run = sb.dokku(&[
        "postgres:upgrade",
        "regress-app",
        "-I",
        "18",
        "--new-service",
        "regress-catch-up",
        "--keep-old",
        "--accept-recomputed",
    ]);
    eprintln!("upgrade (catch-up): exit {} in {:.1} s", run.code, secs(t));
    let t = std::time::Instant::now();
    let catch_up = identical_or_rolled_back(&sb, &run, "regress-catch-up", &before);
    eprintln!("checked in {:.1} s", secs(t));

    // Back on the old service, then the whole copy inside the window.
    if run.code == 0 {
        sb.dokku(&["postgres:unlink", "regress-catch-up", "regress-app"]).ok();
        sb.dokku(&["postgres:link", "regression", "regress-app"]).ok();
    }
    let before = sb.services();
    let t = std::time::Instant::now();
    let run = sb.dokku(&[
        "postgres:upgrade",
        "regress-app",
        "-I",
        "18",
        "--new-service",
        "regress-full",
        "--full-copy",
        "--keep-old",
        "--accept-recomputed",
    ]);
    eprintln!("upgrade (--full-copy): exit {} in {:.1} s", run.code, secs(t));
    let full = identical_or_rolled_back(&sb, &run, "regress-full", &before);
    let failures: Vec<String> = [catch_up, full].into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs SQL as postgres in a service's database, through its container's trusted socket.
fn sql(sb: &Sandbox, service: &str, sql: &str) {
    let db = std::fs::read_to_string(sb.service_dir(service).join("DATABASE_NAME")).unwrap();
    sb.dokku(&[
        "postgres:enter",
        service,
        "psql",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "postgres",
        "-d",
        db.trim(),
        "-c",
        sql,
    ])
    .ok();
}

/// The same objects on two servers. The password is md5-hashed (salted by the role name, so the
/// same on both; a SCRAM hash has a random salt, and only a copy of the hash itself compares
/// equal), and both services' host rule is md5, so that it logs in over TCP. Besides what a dump
/// prints: a materialized view, a stored generated column, an extension, a publication, a
/// disabled subscription, an event trigger and a membership with options (16 and later).
const SCHEMA: &str = "
    SET password_encryption = 'md5';
    CREATE ROLE compare_reader LOGIN PASSWORD 'reader-secret' CONNECTION LIMIT 3;
    CREATE ROLE compare_group;
    GRANT compare_group TO compare_reader;
    CREATE ROLE compare_member;
    GRANT compare_group TO compare_member WITH INHERIT FALSE;
    ALTER ROLE compare_reader SET statement_timeout = '5s';
    ALTER ROLE postgres SET work_mem = '8MB';
    CREATE SCHEMA app;
    CREATE TABLE app.notes (id bigserial PRIMARY KEY, body text, score float8);
    INSERT INTO app.notes (body, score) SELECT 'note ' || g, g / 7.0 FROM generate_series(1, 200) g;
    CREATE TABLE \"pg_temp-like\" (k int PRIMARY KEY, v text);
    INSERT INTO \"pg_temp-like\" VALUES (1, 'a'), (2, 'b');
    CREATE SCHEMA pgxtemp_1;
    CREATE TABLE pgxtemp_1.t (k int);
    INSERT INTO pgxtemp_1.t VALUES (1);
    GRANT SELECT ON app.notes TO compare_reader;
    SELECT lo_from_bytea(4242, 'large object content');
    COMMENT ON LARGE OBJECT 4242 IS 'a blob';
    CREATE MATERIALIZED VIEW app.note_count AS SELECT count(*) AS n FROM app.notes;
    CREATE FUNCTION app.twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
    CREATE TABLE app.gen (a int, b int GENERATED ALWAYS AS (app.twice(a)) STORED);
    INSERT INTO app.gen (a) VALUES (1), (2);
    CREATE EXTENSION hstore;
    CREATE TABLE app.extra (id int);
    CREATE PUBLICATION compare_pub FOR TABLE app.gen WITH (publish = 'insert');
    CREATE SUBSCRIPTION compare_sub CONNECTION 'host=/nonexistent dbname=x' PUBLICATION compare_pub WITH (connect = false);
    CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';
    CREATE EVENT TRIGGER compare_et ON ddl_command_end EXECUTE FUNCTION app.on_ddl();
";

/// The same grants, given in another order on each side: an ACL is a set.
const GRANTS: [&str; 2] = [
    "GRANT SELECT ON app.gen TO compare_reader; GRANT SELECT ON app.gen TO compare_group;",
    "GRANT SELECT ON app.gen TO compare_group; GRANT SELECT ON app.gen TO compare_reader;",
];

/// Each kind of difference the tool promises to see, made one at a time on the new side; each
/// must be reported (the earlier ones stay).
const CHANGES: &[(&str, &[&str])] = &[
    (
        "UPDATE app.notes SET body = 'changed' WHERE id = 7",
        &["DIFFERENCE: rows app.notes: 1 rows only in old, 1 rows only in new"],
    ),
    ("DELETE FROM \"pg_temp-like\" WHERE k = 2", &["DIFFERENCE: counts public.\"pg_temp-like\": old 2, new 1"]),
    // A schema that `LIKE 'pg_temp%'` would take for a temporary one (`_` is a wildcard there).
    ("UPDATE pgxtemp_1.t SET k = 2", &["DIFFERENCE: rows pgxtemp_1.t: 1 rows only in old, 1 rows only in new"]),
    (
        "SELECT setval('app.notes_id_seq', 500)",
        &["DIFFERENCE: sequences app.notes_id_seq: old last_value=200 is_called=t, new last_value=500"],
    ),
    ("SELECT lo_put(4242, 0, 'L')", &["DIFFERENCE: large_objects 4242: old md5="]),
    ("ALTER LARGE OBJECT 4242 OWNER TO compare_group", &["owner=compare_group"]),
    ("GRANT SELECT ON LARGE OBJECT 4242 TO compare_reader", &["compare_reader=r/compare_group"]),
    ("COMMENT ON LARGE OBJECT 4242 IS 'another blob'", &["comment=\"another blob\""]),
    (
        "ALTER TABLE app.notes ADD COLUMN extra int",
        &["DIFFERENCE: schema Name: notes; Type: TABLE; Schema: app: differs"],
    ),
    (
        "REVOKE SELECT ON app.notes FROM compare_reader",
        &[
            "DIFFERENCE: schema Name: TABLE notes; Type: ACL; Schema: app: only in old",
            "DIFFERENCE: acls relation app.notes: only in old (+compare_reader:SELECT/postgres)",
        ],
    ),
    ("ALTER ROLE compare_reader CONNECTION LIMIT 4", &["DIFFERENCE: roles compare_reader: old "]),
    (
        "ALTER ROLE compare_reader PASSWORD 'another-secret'",
        &[
            "DIFFERENCE: passwords compare_reader: old (hidden), new (hidden)",
            "DIFFERENCE: logins compare_reader: old ok, new refused",
        ],
    ),
    (
        "REVOKE compare_group FROM compare_reader",
        &["DIFFERENCE: memberships compare_reader in compare_group granted by postgres: only in old"],
    ),
    (
        "GRANT compare_group TO compare_member WITH INHERIT TRUE, SET FALSE",
        &[
            "DIFFERENCE: memberships compare_member in compare_group granted by postgres: old admin=false inherit=false set=true, new admin=false inherit=true set=false",
        ],
    ),
    ("COMMENT ON ROLE compare_member IS 'a member'", &["DIFFERENCE: roles compare_member: old "]),
    (
        "ALTER ROLE compare_reader SET statement_timeout = '6s'",
        &["DIFFERENCE: settings role compare_reader every database: old"],
    ),
    ("ALTER ROLE postgres SET work_mem = '9MB'", &["DIFFERENCE: settings role postgres every database: old"]),
    (
        "ALTER DATABASE compare_new SET search_path = app, public",
        &["DIFFERENCE: settings every role this database: only in new"],
    ),
    (
        "COMMENT ON DATABASE compare_new IS 'the new one'",
        &["DIFFERENCE: database comment: old none, new \"the new one\""],
    ),
    ("GRANT CONNECT ON DATABASE compare_new TO compare_group", &["DIFFERENCE: database acl: old"]),
    ("ALTER DATABASE compare_new CONNECTION LIMIT 20", &["DIFFERENCE: database connection limit: old -1, new 20"]),
    // What no dump prints.
    (
        "INSERT INTO app.notes (body) VALUES ('late'); REFRESH MATERIALIZED VIEW app.note_count",
        &["DIFFERENCE: rows app.note_count: 1 rows only in old, 1 rows only in new"],
    ),
    (
        "CREATE OR REPLACE FUNCTION app.twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 3'; UPDATE app.gen SET a = a",
        &["DIFFERENCE: rows app.gen: 2 rows only in old, 2 rows only in new"],
    ),
    (
        "ALTER EXTENSION hstore ADD TABLE app.extra",
        &["DIFFERENCE: extension_members hstore: table app.extra: only in new"],
    ),
    (
        "CREATE FUNCTION pg_catalog.compare_f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        &["DIFFERENCE: system_objects pg_catalog function compare_f(): only in new"],
    ),
    (
        "CREATE TABLE information_schema.compare_t (v text); INSERT INTO information_schema.compare_t VALUES ('x')",
        &[
            "DIFFERENCE: relations information_schema.compare_t: only in new",
            "DIFFERENCE: counts information_schema.compare_t: only in new (1)",
        ],
    ),
    ("ALTER SUBSCRIPTION compare_sub ENABLE", &["DIFFERENCE: subscriptions compare_sub: old enabled=false"]),
    (
        "ALTER SUBSCRIPTION compare_sub SET (binary = true)",
        &["DIFFERENCE: subscriptions compare_sub option subbinary: old false, new true"],
    ),
    (
        "ALTER PUBLICATION compare_pub ADD TABLE app.notes",
        &["DIFFERENCE: publications compare_pub publishes app.notes: only in new"],
    ),
    ("ALTER EVENT TRIGGER compare_et ENABLE ALWAYS", &["DIFFERENCE: event_triggers compare_et: old "]),
    ("GRANT UPDATE ON app.gen TO compare_member", &["DIFFERENCE: acls relation app.gen: old "]),
    ("ALTER SYSTEM SET work_mem = '5MB'", &["DIFFERENCE: alter_system work_mem: only in new (5MB)"]),
];

#[test]
fn the_comparison_reports_each_kind_of_difference_and_passes_identical_databases() {
    let sb = Sandbox::up("compare-tool");
    for (service, grants) in ["compare-old", "compare-new"].into_iter().zip(GRANTS) {
        sb.dokku(&["postgres:create", service, "-I", "16", "-C", "POSTGRES_HOST_AUTH_METHOD=md5"]).ok();
        sql(&sb, service, SCHEMA);
        sql(&sb, service, grants);
    }
    let logins = sb.dir.join("logins");
    std::fs::write(&logins, "compare_reader\treader-secret\n").unwrap();
    let logins = ["--logins", logins.to_str().unwrap()];
    let same = compare(&sb, "compare-old", "compare-new", &logins);
    assert_eq!(same.code, 0, "identical databases reported as different:\n{}{}", same.stdout, same.stderr);
    assert!(same.stdout.contains("compare: 0 differences, 0 expected"), "{}", same.stdout);

    // A few changes at a time (each comparison costs seconds): each one's lines are its own.
    for round in CHANGES.chunks(4) {
        for (change, _) in round {
            sql(&sb, "compare-new", change);
        }
        let run = compare(&sb, "compare-old", "compare-new", &logins);
        for (change, reported) in round {
            assert_eq!(run.code, 1, "after `{change}`:\n{}{}", run.stdout, run.stderr);
            for line in *reported {
                assert!(run.stdout.contains(line), "after `{change}`, no `{line}` in:\n{}", run.stdout);
            }
        }
        assert!(!run.stdout.contains("secret"), "a password leaked:\n{}", run.stdout);
    }

    // A difference listed as expected no longer fails the comparison.
    let all = compare(&sb, "compare-old", "compare-new", &logins);
    let expected = sb.dir.join("expect-everything");
    std::fs::write(&expected, "# everything\n.\n").unwrap();
    let run =
        compare(&sb, "compare-old", "compare-new", &["--expected", expected.to_str().unwrap(), logins[0], logins[1]]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stdout.matches("\nexpected: ").count(), all.stdout.matches("\nDIFFERENCE: ").count());
}
