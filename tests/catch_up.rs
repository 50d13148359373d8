//! The catch-up copy, end to end against real servers: the data is copied while the app runs,
//! and what changed after that first copy (rows, sequences, schema, large objects) still
//! reaches the new service exactly.

mod support;

use serde_json::Value;
use support::Sandbox;

/// The tables whose content must match: keyed, keyless, with a generated column, plus a view.
const TABLES: [&str; 3] = ["notes", "lines", "totals"];

/// memo on a PostgreSQL 15 service with several kinds of table, its workload writing.
fn setup(name: &str) -> Sandbox {
    let sb = Sandbox::up(name);
    sb.app_on_service("memo", "memo-db", "15");
    sb.sql(
        "memo-db",
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL, score float8); \
         INSERT INTO notes (body, score) SELECT 'note ' || g, g / 7.0 FROM generate_series(1, 5000) g; \
         CREATE TABLE lines (line text); INSERT INTO lines SELECT 'line ' || g FROM generate_series(1, 300) g; \
         CREATE TABLE totals (id int PRIMARY KEY REFERENCES notes (id), n int, twice int GENERATED ALWAYS AS (n * 2) STORED); \
         INSERT INTO totals (id, n) SELECT g, g FROM generate_series(1, 100) g; \
         CREATE MATERIALIZED VIEW note_count AS SELECT count(*) AS n FROM notes; \
         CREATE TABLE parent (id int); CREATE TABLE child (extra text) INHERITS (parent); \
         ALTER TABLE parent ADD COLUMN late int; INSERT INTO child VALUES (1, 'x', 2), (3, 'y', 4);",
    );
    sb.sandbox(&["workload", "memo", "on"]).ok();
    sb.dokku(&["ps:start", "memo"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    sb
}

/// A program the upgrade runs just before step `step` (the test-only POSTGRES_UPGRADE_HOOK_AT):
/// `sql` on the old service, as another writer would at that moment.
fn hook(sb: &Sandbox, step: &str, sql: &str) -> String {
    hook_on(sb, "memo-db", step, sql)
}

fn hook_on(sb: &Sandbox, service: &str, step: &str, sql: &str) -> String {
    let path = sb.dir.join("hook");
    let script = format!(
        "#!/usr/bin/env bash\nset -e\n'{}' exec -i dokku.postgres.{service} psql -q -v ON_ERROR_STOP=1 -U postgres -d {} >/dev/null <<'SQL'\n{sql}\nSQL\n",
        sb.dir.join("bin/docker").display(),
        service.replace('-', "_")
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{step}:{}", path.display())
}

/// A table's rows in a comparable form.
fn content(sb: &Sandbox, service: &str, table: &str) -> String {
    sb.sql(
        service,
        &format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        ),
    )
}

fn assert_same_data(sb: &Sandbox, new: &str) {
    for table in TABLES {
        assert_eq!(content(sb, "memo-db", table), content(sb, new, table), "table {table}");
    }
    // A restore puts an inherited table's columns in another order: the rows are the same.
    let child = "SELECT string_agg(id || extra || late, ',' ORDER BY id) FROM child";
    assert_eq!(sb.sql("memo-db", child), sb.sql(new, child));
    let seq = "SELECT last_value || ',' || is_called FROM notes_id_seq";
    assert_eq!(sb.sql("memo-db", seq), sb.sql(new, seq));
    assert_eq!(sb.sql(new, "SELECT n FROM note_count"), sb.sql(new, "SELECT count(*) FROM notes"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let check = sb.sandbox(&["workload", "memo", "check"]).ok();
    assert!(check.contains(" lost=0 "), "{check}");
}

/// memo's upgrade to 17, the old service kept for comparison; it must succeed and say `says`.
fn upgrade(sb: &Sandbox, hook_at: &str, says: &str) -> (support::Run, Value) {
    let args = ["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17", "--keep-old", "--format", "json"];
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook_at)], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(says), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_default();
    (run, report)
}

#[test]
fn rows_changed_after_the_first_copy_are_copied_again_and_nothing_else() {
    let sb = setup("catch-up-rows");
    // After the first copy, before the window: edits in two far apart key ranges, a delete, a
    // new row, a keyless table change, a generated column's input, and a sequence moved on.
    let sql = "UPDATE notes SET body = 'edited', score = 0.1 + 0.2 WHERE id IN (2, 4999); DELETE FROM notes WHERE id = 2500; \
               INSERT INTO notes (body) VALUES ('late'); INSERT INTO lines VALUES ('late line'); \
               UPDATE totals SET n = -1 WHERE id = 50; SELECT setval('notes_id_seq', 9000);";
    let (run, report) =
        upgrade(&sb, &hook(&sb, "maintenance-on", sql), "[5/16] Copying memo-db into memo-v17 while the apps run");
    assert_same_data(&sb, "memo-v17");
    assert_eq!(sb.sql("memo-v17", "SELECT body FROM notes WHERE id = 4999"), "edited");
    assert_eq!(sb.sql("memo-v17", "SELECT twice FROM totals WHERE id = 50"), "-2");
    // Only the changed ranges moved inside the window: notes (two ranges), lines (whole: no
    // key), totals, and the workload's own table.
    let moved = run.stderr.lines().find(|l| l.contains("changed since the first copy")).unwrap_or_default();
    assert!(moved.contains("key range(s) of 4 table(s)"), "{moved}");
    // The stream is kept beside the dump: together they are the database at the switch. Of
    // notes' 5000 rows it carries the three changed ranges of 1024 keys (ids 2, 2500 and
    // 4999 with the new row), not the table.
    let script = std::fs::read_to_string(report["catch_up_script"].as_str().unwrap()).unwrap();
    let notes = script
        .split("COPY \"public\".\"notes\" (")
        .nth(1)
        .and_then(|rest| rest.split("\n\\.\n").next())
        .map(|block| block.lines().count().saturating_sub(1))
        .unwrap_or(usize::MAX);
    assert!(notes <= 3 * 1024, "{notes} rows of notes streamed");
    assert!(
        script.contains("DELETE FROM ONLY \"public\".\"notes\" WHERE") && script.contains("\tedited\t"),
        "{script}"
    );
    assert!(script.contains("late line") && !script.contains("\tnote 1500\t"), "{script}");
    assert_eq!(report["verification"]["content_compared"], true);
}

#[test]
fn a_schema_change_after_the_first_copy_is_copied_whole_inside_the_window() {
    let sb = setup("catch-up-schema");
    let sql = "ALTER TABLE notes ADD COLUMN color text DEFAULT 'red'; UPDATE notes SET color = 'blue' WHERE id = 3;";
    upgrade(
        &sb,
        &hook(&sb, "maintenance-on", sql),
        "The schema changed since the first copy: copying everything again",
    );
    assert_eq!(sb.sql("memo-v17", "SELECT color FROM notes WHERE id = 3"), "blue");
    assert_same_data(&sb, "memo-v17");
}

#[test]
fn large_objects_and_full_copy_put_the_whole_copy_inside_the_window() {
    let sb = setup("catch-up-lo");
    // --full-copy asks for the whole copy inside the window, and the plan says so.
    let plan = sb.dokku(&["postgres:upgrade", "memo", "-I", "17", "--full-copy", "--dry-run"]);
    assert!(plan.stdout.contains(" 5. Replaying the schema of memo-db on "), "{}", plan.stdout);

    // The plan chooses the whole copy itself (plan/method.rs), and says why.
    sb.sql("memo-db", "SELECT lo_from_bytea(4242, 'a large object')");
    upgrade(&sb, "", "all of it inside the window: 1 large object(s) are in use: they are copied whole");
    assert_eq!(sb.sql("memo-v17", "SELECT convert_from(lo_get(4242), 'UTF8')"), "a large object");
    assert_same_data(&sb, "memo-v17");
}

#[test]
fn a_row_added_to_an_extension_table_after_the_first_copy_is_not_lost() {
    let sb = Sandbox::up("catch-up-extension");
    sb.dokku(&["apps:create", "geo"]).ok();
    sb.dokku(&["postgres:create", "geo-db", "--image", "postgis/postgis", "--image-version", "15-3.3"]).ok();
    sb.dokku(&["postgres:link", "geo-db", "geo", "--no-restart"]).ok();
    sb.sql(
        "geo-db",
        "CREATE EXTENSION postgis; CREATE TABLE places (id serial PRIMARY KEY, at geometry(Point, 4326));",
    );
    sb.sandbox(&["rebuild-image", "postgis/postgis:15-3.3"]).ok();
    // PostGIS's own table: pg_dump carries the rows users add, the catch-up stream does not.
    let sql = "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) VALUES (990001, 'test', 990001, '+proj=longlat');";
    let hook_at = hook_on(&sb, "geo-db", "maintenance-on", sql);
    let args = ["postgres:upgrade", "geo", "-i", "postgis/postgis", "-I", "15-3.3", "--new-service", "geo-next"];
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_HOOK_AT", hook_at.as_str())], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("A table an extension owns changed since the first copy: copying everything again"),
        "{}",
        run.stdout
    );
    assert_eq!(sb.sql("geo-next", "SELECT auth_name FROM spatial_ref_sys WHERE srid = 990001"), "test");
}

#[test]
fn a_trigger_that_fires_in_replica_sessions_puts_the_copy_inside_the_window() {
    let sb = setup("catch-up-trigger");
    // The catch-up stream writes with session_replication_role = replica: an ALWAYS trigger
    // would fire on the copied rows and write rows of its own.
    sb.sql(
        "memo-db",
        "CREATE FUNCTION log_note() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO lines VALUES ('trigger'); RETURN NEW; END$$; \
         CREATE TRIGGER log_note AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION log_note(); \
         ALTER TABLE notes ENABLE ALWAYS TRIGGER log_note;",
    );
    let late = hook(&sb, "maintenance-on", "INSERT INTO notes (body) VALUES ('late');");
    upgrade(&sb, &late, "all of it inside the window: 1 trigger(s) or rule(s) fire in replica sessions");
    assert_same_data(&sb, "memo-v17");
}

#[test]
fn a_long_first_copy_shows_its_progress() {
    let sb = setup("catch-up-progress");
    // About 100 MB: a dump and a restore of some seconds each.
    sb.sql(
        "memo-db",
        "CREATE TABLE docs AS SELECT g AS id, repeat(md5(g::text), 6) AS body FROM generate_series(1, 450000) g;",
    );
    let args = ["postgres:upgrade", "memo", "-I", "17", "--new-service", "memo-v17"];
    let run = sb.dokku_env(&[("POSTGRES_UPGRADE_PROGRESS_SECONDS", "0.5")], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("       dumping memo-db: ")).collect();
    assert!(!lines.is_empty(), "{}", run.stderr);
    // What is done of what, the rate, the time left; the done part grows.
    assert!(lines[0].contains(" of about ") && lines[0].contains("/s"), "{}", lines[0]);
    assert!(run.stderr.lines().any(|l| l.starts_with("       restoring into memo-v17: ")), "{}", run.stderr);
    // Once shown, a progress ends with what it came to.
    let done = lines.iter().find(|l| l.contains(": done, ")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(done.contains(" MB in ") && done.ends_with("/s"), "{done}");
}
