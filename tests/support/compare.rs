//! An old-against-new comparison written for the tests alone: it shares no code with the
//! plugin's own verification, so it can prove that verification wrong. Every difference it
//! finds is a line; two databases that are the same give none.

use super::Sandbox;

/// What must be the same, each as one query answering one row per line; the first word names it.
const FACTS: [(&str, &str); 6] = [
    (
        "sequences",
        "SELECT format('%I.%I', schemaname, sequencename) || '=' || coalesce(last_value::text, 'null') \
         FROM pg_sequences WHERE sequencename <> 'sandbox_workload_id_seq' ORDER BY 1",
    ),
    (
        "large objects",
        "SELECT oid || ':' || md5(lo_get(oid)) || ':' || lomowner::regrole || ':' || coalesce(lomacl::text, '') \
         || ':' || coalesce(obj_description(oid, 'pg_largeobject'), '') FROM pg_largeobject_metadata ORDER BY oid",
    ),
    (
        "roles",
        "SELECT rolname || ':' || rolsuper || rolinherit || rolcreaterole || rolcreatedb || rolcanlogin \
         || rolreplication || rolbypassrls || ':' || rolconnlimit || ':' || coalesce(rolvaliduntil::text, '') \
         || ':' || coalesce(rolpassword, '') FROM pg_authid WHERE rolname !~ '^pg_' AND rolname <> 'postgres' ORDER BY 1",
    ),
    (
        "memberships",
        "SELECT m.rolname || ' in ' || g.rolname || ':' || a.admin_option FROM pg_auth_members a \
         JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member ORDER BY 1",
    ),
    (
        "settings",
        "SELECT coalesce(r.rolname, '*') || ':' || (s.setdatabase <> 0) || ':' || array_to_string(s.setconfig, ',') \
         FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole \
         WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) ORDER BY 1",
    ),
    (
        "database",
        "SELECT pg_get_userbyid(datdba) || ':' || datconnlimit || ':' || coalesce(datacl::text, '') || ':' \
         || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()",
    ),
];

/// Every table of every schema but the system's own, by name; not the workload's, which the
/// app goes on writing to on the new service after the switch (`workload check` proves that
/// none of its rows was lost).
const TABLES: &str = "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence <> 't' \
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
    AND c.relname <> 'sandbox_workload' ORDER BY 1";

/// Every difference between `old` and `new`: tables and their rows (compared as JSON, so
/// that a column order a restore changed does not count), sequences, large objects, roles,
/// memberships, settings, the database's properties, and the schema as the new image's
/// pg_dump prints both.
pub fn differences(sb: &Sandbox, old: &str, new: &str, image: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut same = |what: String, a: String, b: String| {
        if a != b {
            found.push(format!("{what}:\n  old: {a}\n  new: {b}"));
        }
    };
    let (tables, new_tables) = (sb.sql(old, TABLES), sb.sql(new, TABLES));
    same("tables".into(), tables.clone(), new_tables);
    for table in tables.lines() {
        let rows = format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(md5(to_jsonb(t)::text), ',' \
             ORDER BY md5(to_jsonb(t)::text))), '') FROM ONLY {table} t"
        );
        same(format!("rows of {table}"), sb.sql(old, &rows), sb.sql(new, &rows));
    }
    for (what, sql) in FACTS {
        same(what.to_string(), sb.sql(old, sql), sb.sql(new, sql));
    }
    let (a, b) = (schema(sb, old, image), schema(sb, new, image));
    if a != b {
        let diff: Vec<String> = a
            .iter()
            .filter(|l| !b.contains(l))
            .map(|l| format!("- {l}"))
            .chain(b.iter().filter(|l| !a.contains(l)).map(|l| format!("+ {l}")))
            .take(20)
            .collect();
        found.push(format!("schema:\n{}", diff.join("\n")));
    }
    found
}

/// `pg_dump --schema-only` of a service's database by `image`'s pg_dump, in a throwaway
/// container linked to it, without the lines that differ on every run or by server version.
pub fn schema(sb: &Sandbox, service: &str, image: &str) -> Vec<String> {
    let password = std::fs::read_to_string(sb.service_dir(service).join("PASSWORD")).expect("PASSWORD");
    let db = std::fs::read_to_string(sb.service_dir(service).join("DATABASE_NAME")).expect("DATABASE_NAME");
    let env_file = sb.dir.join(format!("compare-{service}.env"));
    std::fs::write(&env_file, format!("PGPASSWORD={}\n", password.trim())).unwrap();
    let alias = format!("dokku-postgres-{service}");
    let link = format!("dokku.postgres.{service}:{alias}");
    let env = env_file.to_string_lossy().into_owned();
    let args = ["run", "--rm", "--link", &link, "--env-file", &env, image, "pg_dump", "--schema-only"];
    let out = sb.docker(&[&args[..], &["-h", &alias, "-U", "postgres", "-d", db.trim()]].concat()).ok();
    std::fs::remove_file(&env_file).unwrap();
    out.lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .filter(|l| !l.starts_with("-- Dumped from database version"))
        .map(String::from)
        .collect()
}
