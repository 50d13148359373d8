//! The plugin across the majors a host still runs: every source from 11 to 17 into 18 (the
//! default target), 15 into 17, and a same-tag rebuild of 18, end to end in ONE sandbox (the
//! servers are real ones of each major: tests/sandbox/README.md), each with its app's workload
//! writing. Two cells, 12 -> 18 and 17 -> 18, are the online copy (`--online`: the old server
//! restarted once to write logical WAL, the new one following it by logical replication), the
//! oldest and the newest source it follows; the others are the default copy (the catch-up copy
//! from 12, the whole copy from 11). Each cell checks, independently of the plugin, that every
//! table's rows on the new server are the old server's: an md5 of each table's sorted rows,
//! computed here by psql on both sides (floats by their binary form: 11 prints them otherwise),
//! and the subscription and publication as each server's catalog has them. From 11, a late
//! update that keeps the counts is refused. Downgrades and images the registry does not have are
//! refused in preflight.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::Sandbox;

/// (source tag, target tag)
const CELLS: &[(&str, &str)] =
    &[("11", "18"), ("12", "18"), ("13", "18"), ("14", "18"), ("15", "18"), ("16", "18"), ("17", "18"), ("15", "17")];

/// A small schema with what differs across majors: hstore and citext (their extension versions
/// differ between 11 and 18), a table without a key, a jsonb and a numeric column, floats (as
/// values, points and arrays: 11 prints them otherwise), a sequence that is ahead of its table,
/// a view and a materialized view, a publication, a subscription (never connected: its
/// publisher does not exist) that the schema's replay on the new server must not trip over,
/// and roles valid until a time with a fraction of a second and until infinity (the verifier
/// compares them as both servers print them: 11 and 13 must print them as 18 does).
const SEED: &str = "\
CREATE ROLE until_then LOGIN VALID UNTIL '2099-06-30 12:34:56.789+02'; \
CREATE ROLE until_ever NOLOGIN VALID UNTIL 'infinity'; \
CREATE EXTENSION hstore; CREATE EXTENSION citext; \
CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL, tags hstore, email citext, \
  amount numeric(12,2), meta jsonb, at timestamptz NOT NULL DEFAULT '2026-01-01 00:00+00'); \
INSERT INTO notes (body, tags, email, amount, meta, at) SELECT 'note ' || g, \
  hstore('k', g::text), 'User' || g || '@Example.com', g * 1.25, jsonb_build_object('g', g, 'odd', g % 2 = 1), \
  timestamptz '2026-01-01 00:00+00' + g * interval '1 minute' FROM generate_series(1, 300) g; \
CREATE INDEX notes_email ON notes (email); \
CREATE TABLE events (kind text, n int); \
INSERT INTO events SELECT 'kind' || (g % 7), g FROM generate_series(1, 200) g; \
CREATE SEQUENCE tickets START 1000; SELECT nextval('tickets'); SELECT nextval('tickets'); \
CREATE VIEW odd_notes AS SELECT id, body FROM notes WHERE (meta->>'odd')::boolean; \
CREATE MATERIALIZED VIEW note_totals AS SELECT count(*) AS n, sum(amount) AS total FROM notes; \
CREATE TABLE measures (id int PRIMARY KEY, x float8, p point, xs float8[]); \
INSERT INTO measures SELECT g, g / 7.0, point(g / 3.0, 0.1), ARRAY[g / 9.0, NULL] FROM generate_series(1, 50) g; \
CREATE PUBLICATION memo_pub FOR TABLE notes; \
CREATE SUBSCRIPTION memo_sub CONNECTION 'host=nowhere.invalid dbname=none' PUBLICATION memo_pub WITH (connect = false);";

fn json_report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("stdout is not one JSON report ({e}):\n{stdout}"))
}

/// The workload's and the seed's tables.
const TABLES: &[&str] = &["events", "note_totals", "notes", "sandbox_workload"];

/// What the test compares, from one psql run on `service`: the server's major on the first
/// line, then the tables of `public`, "TABLE rows:md5-of-the-sorted-rows" for each of them, the
/// sequence's value and the extensions' names (their versions may differ between majors).
/// `upto` limits the workload's table to the ids the old server had when the apps switched.
fn snapshot(sb: &Sandbox, service: &str, upto: &str) -> (String, String) {
    let digests: Vec<String> = TABLES
        .iter()
        .map(|table| {
            let filter = if *table == "sandbox_workload" { format!(" WHERE id <= {upto}") } else { String::new() };
            format!(
                "SELECT '{table} ' || count(*) || ':' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), '')) \
                 FROM public.{table} t{filter}"
            )
        })
        .collect();
    let sql = format!(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; \
         SELECT string_agg(line, E'\\n' ORDER BY n) FROM ( \
           SELECT 0 AS n, current_setting('server_version_num')::int / 10000 || '' AS line \
           UNION ALL SELECT 1, 'tables ' || string_agg(relname::text, ' ' ORDER BY relname) FROM pg_class c \
             JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind IN ('r', 'm') \
           UNION ALL SELECT 2, 'extensions ' || string_agg(extname::text, ' ' ORDER BY extname) FROM pg_extension \
           UNION ALL SELECT 3, 'tickets ' || last_value FROM tickets \
           UNION ALL SELECT 4, 'measures ' || md5(string_agg(concat_ws(':', id, encode(float8send(x), 'hex'), \
             encode(point_send(p), 'hex'), (SELECT string_agg(coalesce(encode(float8send(e), 'hex'), 'null'), ',') \
             FROM unnest(xs) e)), ' ' ORDER BY id)) FROM measures \
           UNION ALL SELECT 5, 'subscription ' || string_agg(concat_ws(' ', subname, subenabled, subconninfo, subslotname, \
             array_to_string(subpublications, ',')), ', ') FROM pg_subscription \
             WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           UNION ALL SELECT 6, 'publication ' || string_agg(pubname || ' ' || (SELECT string_agg(prrelid::regclass::text, ',') \
             FROM pg_publication_rel WHERE prpubid = p.oid), ', ') FROM pg_publication p \
           UNION ALL SELECT 7 + row_number() OVER (), d FROM ({}) AS digests(d)) AS lines",
        digests.join(" UNION ALL ")
    );
    let out = sb.sql(service, &sql);
    // psql before 15 also prints the SETs' command tags.
    let lines: Vec<&str> = out.lines().filter(|l| *l != "SET").collect();
    (lines[0].to_string(), lines[1..].join("\n"))
}

struct Cell {
    name: String,
    wall: Duration,
    window_ms: u64,
    copy_method: String,
    rows: u64,
}

/// One upgrade of `app` to postgres:`to`, with the old service kept to compare against.
fn upgrade(sb: &Sandbox, app: &str, old: &str, from: &str, to: &str, expect_major: &str) -> Cell {
    sb.sandbox(&["workload", app, "on"]).ok();
    sb.dokku(&["ps:restart", app]).ok();
    std::thread::sleep(Duration::from_millis(600));

    let started = Instant::now();
    // Logical replication between the oldest and the newest source it follows, and 18.
    let online = to == "18" && (from == "12" || from == "17");
    let mut args = vec!["postgres:upgrade", app, "-I", to, "--keep-old", "--format", "json"];
    if online {
        args.push("--online");
    }
    let run = sb.dokku(&args);
    let wall = started.elapsed();
    assert_eq!(run.code, 0, "{from} -> {to}: upgrade failed\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report = json_report(&run.stdout);
    assert_eq!(report["status"], "upgraded", "{from} -> {to}: {report}");
    let method = report["copy"]["method"].as_str().unwrap_or_default().to_string();
    let expected = match (online, from) {
        (true, _) => "online",
        (false, "11") => "whole",
        _ => "catch-up",
    };
    assert_eq!(method, expected, "{from} -> {to}: {report}");
    if online {
        // The table without a key stayed out of the stream; the rest were followed, and only
        // what changed was compared inside the window.
        let window = &report["copy"]["details"]["window"];
        assert_eq!(window["tables_outside_the_stream"], 1, "{from} -> {to}: {report}");
        assert!(window["changes"].as_u64().unwrap_or(0) > 0, "{from} -> {to}: {report}");
    }
    assert!(report["verification"].is_object(), "{from} -> {to}: no verification: {report}");
    let new = report["new_service"].as_str().unwrap().to_string();

    std::thread::sleep(Duration::from_millis(400));
    let check = sb.sandbox(&["workload", app, "check"]).ok();
    assert!(check.contains(" lost=0 "), "{from} -> {to}: {check}");

    // The kept old service is as the apps left it at the switch: the new one must hold the same.
    let upto = sb.sql(old, "SELECT coalesce(max(id), 0) FROM sandbox_workload");
    let (old_major, old_rows) = snapshot(sb, old, &upto);
    let (new_major, new_rows) = snapshot(sb, &new, &upto);
    assert_eq!(old_major, from.split('.').next().unwrap(), "{from} -> {to}: the old server");
    assert_eq!(new_major, expect_major, "{from} -> {to}: the new server");
    assert_eq!(new_rows, old_rows, "{from} -> {to}: {new} differs from {old}");
    assert!(old_rows.contains("extensions citext hstore plpgsql"), "{old_rows}");
    assert!(old_rows.contains("subscription memo_sub f host=nowhere.invalid"), "{old_rows}");
    sb.dokku(&["ps:stop", app]).ok();
    Cell {
        name: format!("{from} -> {to}"),
        wall,
        window_ms: report["maintenance_window_ms"].as_u64().unwrap_or(0),
        copy_method: method,
        rows: report["verification"]["rows"].as_u64().unwrap_or(0),
    }
}

fn app_on(sb: &Sandbox, app: &str, service: &str, tag: &str) {
    sb.dokku(&["apps:create", app]).ok();
    sb.dokku(&["postgres:create", service, "-I", tag]).ok();
    sb.dokku(&["postgres:link", service, app]).ok();
    sb.sql(service, SEED);
}

fn report(cells: &[Cell], total: Duration) {
    let mut table = String::from("\nmatrix: cell | wall | window | copy | rows\n");
    for c in cells {
        table.push_str(&format!(
            "matrix: {:<12} | {:>6.1} s | {:>6.2} s | {} | {}\n",
            c.name,
            c.wall.as_secs_f64(),
            c.window_ms as f64 / 1000.0,
            c.copy_method,
            c.rows
        ));
    }
    table.push_str(&format!("matrix: total {:.1} s\n", total.as_secs_f64()));
    eprint!("{table}");
    let _ = std::fs::write(support::repo().join("target/matrix.txt"), table);
}

#[test]
fn every_source_major_into_18_and_15_into_17_then_a_rebuilt_18() {
    let started = Instant::now();
    let sb = Sandbox::up("matrix");
    let mut cells = Vec::new();
    for (from, to) in CELLS {
        let app = format!("m{from}-{to}");
        let old = format!("{app}-db");
        app_on(&sb, &app, &old, from);
        if *from == "11" {
            refuses_a_late_update_that_keeps_the_counts(&sb, &app, &old);
        }
        cells.push(upgrade(&sb, &app, &old, from, to, to));
        // The servers of finished cells stay up, idle: destroying them costs more time than they do.
    }

    // The same tag, rebuilt: the app moves to the new build of postgres:18.
    let app = "m17-18";
    let old = service_of(&sb, app);
    sb.sandbox(&["rebuild-image", "postgres:18"]).ok();
    let mut rebuilt = upgrade(&sb, app, &old, "18", "18", "18");
    rebuilt.name = "18 rebuilt".into();
    cells.push(rebuilt);

    refuses_downgrades_and_unknown_images(&sb, app);
    report(&cells, started.elapsed());
}

/// A row of the old service changed just before verification (as a writer the stopped apps do
/// not cover would), the counts the same: its content is compared on 11 too, and the upgrade
/// refuses.
fn refuses_a_late_update_that_keeps_the_counts(sb: &Sandbox, app: &str, old: &str) {
    let hook = sb.hook(old, "verify", "UPDATE notes SET body = 'late' WHERE id = 1;");
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook.as_str())], &["postgres:upgrade", app, "-I", "18"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("table public.notes has other rows in the copy (the same number: 300)"),
        "{}",
        run.stderr
    );
    assert!(sb.config(app)["DATABASE_URL"].contains(&format!("@dokku-postgres-{old}:5432/")));
}

/// The service behind the app's DATABASE_URL (`dokku-postgres-SVC` is its host).
fn service_of(sb: &Sandbox, app: &str) -> String {
    let url = sb.config(app)["DATABASE_URL"].clone();
    let host = url.split('@').nth(1).unwrap().split(':').next().unwrap();
    host.strip_prefix("dokku-postgres-").unwrap().to_string()
}

fn refuses_downgrades_and_unknown_images(sb: &Sandbox, app: &str) {
    let services = sb.services();
    let down = sb.dokku(&["postgres:upgrade", app, "-I", "17"]);
    assert_eq!(down.code, 1, "{down:?}");
    assert!(down.stderr.contains("older than the service's PostgreSQL 18"), "{}", down.stderr);
    let unknown = sb.dokku(&["postgres:upgrade", app, "-I", "99.1"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("Unable to pull image postgres:99.1"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("manifest unknown"), "{}", unknown.stderr);
    assert_eq!(sb.services(), services, "a refused upgrade created or removed a service");
}
