//! PostgreSQL's regression database moved from 15 to 17 by the plugin, judged by an independent
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
        vec!["run", "--rm", "--link", &link, "-v", &volume, "--env-file", env.to_str().unwrap(), "postgres:17"];
    args.extend_from_slice(tool);
    args.extend_from_slice(&["-h", &host, "-U", "postgres"]);
    sb.docker(&args).ok();
}

/// The copy the comparison's list is made for, without the plugin: the new image's pg_dump and
/// pg_restore with owners and ACLs into a fresh 17 service. It must compare identical apart from
/// the expected differences, so that a failure after an upgrade is the upgrade's, not the list's.
fn reference_copy(sb: &Sandbox) {
    sb.dokku(&["postgres:create", "regress-reference", "-I", "17"]).ok();
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
fn the_regression_database_moves_to_17_identically_or_not_at_all() {
    let sb = Sandbox::up("regress-15-17");
    sb.dokku(&["apps:create", "regress-app"]).ok();
    sb.dokku(&["postgres:create", "regression", "-I", "15"]).ok();
    let t = std::time::Instant::now();
    let build = Command::new(repo().join("tests/regress/build")).arg(&sb.dir).arg("regression").output().unwrap();
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
    let run =
        sb.dokku(&["postgres:upgrade", "regress-app", "-I", "17", "--new-service", "regress-catch-up", "--keep-old"]);
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
        "17",
        "--new-service",
        "regress-full",
        "--full-copy",
        "--keep-old",
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
/// same on both; a SCRAM hash has a random salt, and only a copy of the hash itself compares equal).
const SCHEMA: &str = "
    SET password_encryption = 'md5';
    CREATE ROLE compare_reader LOGIN PASSWORD 'reader-secret' CONNECTION LIMIT 3;
    CREATE ROLE compare_group;
    GRANT compare_group TO compare_reader;
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
";

/// Each kind of difference the tool promises to see, made one at a time on the new side; each
/// must be reported (the earlier ones stay, so each run must add the new line).
const CHANGES: &[(&str, &str)] = &[
    (
        "UPDATE app.notes SET body = 'changed' WHERE id = 7",
        "DIFFERENCE: rows app.notes: 1 rows only in old, 1 rows only in new",
    ),
    ("DELETE FROM \"pg_temp-like\" WHERE k = 2", "DIFFERENCE: counts public.\"pg_temp-like\": old 2, new 1"),
    // A schema that `LIKE 'pg_temp%'` would take for a temporary one (`_` is a wildcard there).
    ("UPDATE pgxtemp_1.t SET k = 2", "DIFFERENCE: rows pgxtemp_1.t: 1 rows only in old, 1 rows only in new"),
    (
        "SELECT setval('app.notes_id_seq', 500)",
        "DIFFERENCE: sequences app.notes_id_seq: old last_value=200 is_called=t, new last_value=500",
    ),
    ("SELECT lo_put(4242, 0, 'L')", "DIFFERENCE: large_objects 4242: old md5="),
    ("ALTER LARGE OBJECT 4242 OWNER TO compare_group", "owner=compare_group"),
    ("GRANT SELECT ON LARGE OBJECT 4242 TO compare_reader", "compare_reader=r/compare_group"),
    ("COMMENT ON LARGE OBJECT 4242 IS 'another blob'", "comment=\"another blob\""),
    ("ALTER TABLE app.notes ADD COLUMN extra int", "DIFFERENCE: schema Name: notes; Type: TABLE; Schema: app: differs"),
    (
        "REVOKE SELECT ON app.notes FROM compare_reader",
        "DIFFERENCE: schema Name: TABLE notes; Type: ACL; Schema: app: only in old",
    ),
    ("ALTER ROLE compare_reader CONNECTION LIMIT 4", "DIFFERENCE: roles compare_reader: old "),
    (
        "ALTER ROLE compare_reader PASSWORD 'another-secret'",
        "DIFFERENCE: passwords compare_reader: old (hidden), new (hidden)",
    ),
    (
        "REVOKE compare_group FROM compare_reader",
        "DIFFERENCE: memberships compare_reader in compare_group granted by postgres: only in old",
    ),
    (
        "ALTER ROLE compare_reader SET statement_timeout = '6s'",
        "DIFFERENCE: settings role compare_reader every database: old",
    ),
    ("ALTER ROLE postgres SET work_mem = '9MB'", "DIFFERENCE: settings role postgres every database: old"),
    (
        "ALTER DATABASE compare_new SET search_path = app, public",
        "DIFFERENCE: settings every role this database: only in new",
    ),
    ("COMMENT ON DATABASE compare_new IS 'the new one'", "DIFFERENCE: database comment: old none, new \"the new one\""),
    ("GRANT CONNECT ON DATABASE compare_new TO compare_group", "DIFFERENCE: database acl: old"),
    ("ALTER DATABASE compare_new CONNECTION LIMIT 20", "DIFFERENCE: database connection limit: old -1, new 20"),
];

#[test]
fn the_comparison_reports_each_kind_of_difference_and_passes_identical_databases() {
    let sb = Sandbox::up("compare-tool");
    for service in ["compare-old", "compare-new"] {
        sb.dokku(&["postgres:create", service, "-I", "15"]).ok();
        sql(&sb, service, SCHEMA);
    }
    let same = compare(&sb, "compare-old", "compare-new", &[]);
    assert_eq!(same.code, 0, "identical databases reported as different:\n{}{}", same.stdout, same.stderr);
    assert!(same.stdout.contains("compare: 0 differences, 0 expected"), "{}", same.stdout);

    for (change, reported) in CHANGES {
        sql(&sb, "compare-new", change);
        let run = compare(&sb, "compare-old", "compare-new", &[]);
        assert_eq!(run.code, 1, "after `{change}`:\n{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(reported), "after `{change}`, no `{reported}` in:\n{}", run.stdout);
        assert!(!run.stdout.contains("secret"), "a password leaked:\n{}", run.stdout);
    }

    // A difference listed as expected no longer fails the comparison.
    let all = compare(&sb, "compare-old", "compare-new", &[]);
    let expected = sb.dir.join("expect-everything");
    std::fs::write(&expected, "# everything\n.\n").unwrap();
    let run = compare(&sb, "compare-old", "compare-new", &["--expected", expected.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stdout.matches("\nexpected: ").count(), all.stdout.matches("\nDIFFERENCE: ").count());
}
