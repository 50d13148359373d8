//! What "the copy is right" means, checked against the old database as it is after the copy
//! (nothing is switched before this passes: dokku-postgres's `clone` hides restore errors,
//! docs/dokku-postgres-service.md#commands, clone):
//! - every table in every schema, rows compared by content (facts/fingerprint.rs; by count before
//!   PostgreSQL 12, whose floats printed differently), and the extensions' configuration tables;
//! - the schema as one pg_dump (the new image's) prints both: DDL, owners, ACLs, default
//!   privileges, comments;
//! - sequences, extensions and their versions, large objects (content, owner, ACL, comment);
//! - roles (attributes, password hashes, memberships, settings) and the database's own
//!   properties (settings, comment, ACL, owner, connection limit, encoding and collation).
//!   An ACL is compared as what it grants: no ACL stands for the owner's default one, which a
//!   dump does not spell out.
//!
//! What dump and restore cannot keep the same is listed as a change (docs/fidelity.md), never
//! passed over in silence.

use crate::facts::fingerprint::{Catalog, Fingerprint};
use crate::host::Host;
use crate::host::client::Client;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a snapshot needs besides the fingerprint, in one `psql` call: each row a JSON array
/// `[kind, name, value]` (names and values may hold any character, newlines included).
const PROBE: [&str; 14] = [
    "SELECT json_build_array('snapshot', '', txid_current_snapshot()::text)",
    "SELECT json_build_array('sequence', format('%I.%I', schemaname, sequencename), \
     coalesce(last_value::text, '')) FROM pg_sequences",
    "SELECT json_build_array('extension', extname, extversion) FROM pg_extension",
    // What CREATE EXTENSION installs here (a restore names no version): its default.
    "SELECT json_build_array('available', a.name, a.default_version) FROM pg_available_extensions a \
     JOIN pg_extension e ON e.extname = a.name",
    "SELECT json_build_array('catalog', '', (CATALOG)::jsonb::text)",
    // The superuser's password is the service's own: not compared.
    "SELECT json_build_array('role', rolname, concat_ws(',', rolsuper, rolinherit, rolcreaterole, rolcreatedb, \
     rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, extract(epoch FROM rolvaliduntil), \
     CASE WHEN rolname <> 'postgres' THEN md5(coalesce(rolpassword, '')) END)) FROM pg_authid \
     WHERE rolname !~ '^pg_'",
    "SELECT json_build_array('membership', r.rolname || ' in ' || g.rolname, \
     string_agg(CASE WHEN a.admin_option THEN 'with admin option' ELSE 'member' END, ', ' ORDER BY 1)) \
     FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles r ON r.oid = a.member \
     GROUP BY r.rolname, g.rolname",
    "SELECT json_build_array('setting', coalesce(r.rolname, 'every role') \
     || CASE WHEN s.setdatabase = 0 THEN ' everywhere' ELSE ' in this database' END, \
     array_to_string(ARRAY(SELECT unnest(s.setconfig) ORDER BY 1), ', ')) \
     FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole \
     WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))",
    "SELECT json_build_array('database', 'encoding and collation', \
     concat_ws(', ', pg_encoding_to_char(encoding), datcollate, datctype)) \
     FROM pg_database WHERE datname = current_database()",
    "SELECT json_build_array('database', 'owner, connection limit and privileges', \
     concat_ws(', ', pg_get_userbyid(datdba), datconnlimit, coalesce(datacl, acldefault('d', datdba))::text)) \
     FROM pg_database WHERE datname = current_database()",
    "SELECT json_build_array('database', 'comment', coalesce(shobj_description(oid, 'pg_database'), '')) \
     FROM pg_database WHERE datname = current_database()",
    "SELECT json_build_array('large objects', count(*)::text, coalesce(md5(string_agg(concat_ws(':', l.oid, \
     pg_get_userbyid(l.lomowner), coalesce(l.lomacl, acldefault('L', l.lomowner)), obj_description(l.oid, 'pg_largeobject'), md5(lo_get(l.oid))), \
     ',' ORDER BY l.oid)), '')) FROM pg_largeobject_metadata l",
    NOTES[0],
    NOTES[1],
];

/// What a restore cannot keep the same (docs/fidelity.md): listed, not compared. Each row
/// `[note, what, '']`.
pub const NOTES: [&str; 2] = [
    "SELECT json_build_array('note', format('materialized view %I.%I', n.nspname, c.relname), '') \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND c.relispopulated",
    "SELECT json_build_array('note', format('table %I.%I', n.nspname, c.relname), '') \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AND EXISTS (SELECT 1 \
       FROM pg_attribute a JOIN pg_attribute b ON b.attrelid = a.attrelid AND b.attnum > a.attnum \
       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND NOT b.attisdropped \
       AND a.attinhcount = 0 AND b.attinhcount > 0)",
];

/// What a note says will change.
pub fn note_text(note: &str) -> String {
    match note.strip_prefix("table ") {
        Some(table) => format!("table {table}: its inherited columns come first now (SELECT * shows another order)"),
        None => format!("{note} is refreshed from the copied rows (a stale one shows current data)"),
    }
}

/// Row content is compared from PostgreSQL 12 on (majors as plan/naming.rs counts them): before
/// it, floats printed differently (facts/fingerprint.rs).
pub fn content_comparable(old_major: Option<u32>) -> bool {
    old_major.is_some_and(|m| m >= 1200)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub catalog: Catalog,
    pub print: Fingerprint,
    pub sequences: BTreeMap<String, String>,
    /// name → version
    pub extensions: BTreeMap<String, String>,
    /// name → the version the server's image installs by default
    pub available: BTreeMap<String, Vec<String>>,
    /// Roles, memberships, settings, the database's properties, large objects: (kind, name) →
    /// value.
    pub facts: BTreeMap<(String, String), String>,
    /// What a restore cannot keep the same: populated materialized views, inheritance children
    /// whose columns come back in another order.
    pub notes: Vec<String>,
    /// The extensions' configuration tables (their catalog and fingerprint), taken by
    /// [`Snapshot::take_extension_tables`].
    pub extension_tables: Option<(Catalog, Fingerprint)>,
}

impl Snapshot {
    /// The database's state now. Its tables are fingerprinted by `catalog` (the original's, so
    /// that both sides are cut into the same key ranges), by its own catalog measured when None;
    /// `known` stands in for a new fingerprint while the database's transaction snapshot shows
    /// that no writer has committed since it was taken, or the database has been held still
    /// since (the flag beside it: copy/hold.rs). Also says whether `known` was used.
    pub fn take(
        host: &Host,
        service: &str,
        database: &str,
        catalog: Option<&Catalog>,
        known: Option<(&Fingerprint, bool)>,
        content: bool,
    ) -> Result<(Snapshot, bool)> {
        let probe = PROBE.map(|sql| sql.replace("CATALOG", crate::facts::fingerprint::CATALOG));
        let mut snap = Snapshot::default();
        let (mut snapshot, mut own) = (String::new(), None);
        for line in host.sql_statements(service, database, &probe)? {
            let row: Value =
                serde_json::from_str(&line).with_context(|| format!("unexpected line from {service}: {line}"))?;
            let field = |i: usize| row[i].as_str().unwrap_or_default().to_string();
            let (kind, name, value) = (field(0), field(1), field(2));
            match kind.as_str() {
                "snapshot" => snapshot = value,
                "sequence" => drop(snap.sequences.insert(name, value)),
                "extension" => drop(snap.extensions.insert(name, value)),
                "available" => snap.available.entry(name).or_default().push(value),
                "catalog" => own = Some(Catalog::from_json_text(&value)?),
                "note" => snap.notes.push(name),
                "role" | "membership" | "setting" | "database" | "large objects" => {
                    // Large objects: one fact, their count and a digest of all of them.
                    let (name, value) = if kind == "large objects" {
                        (String::new(), format!("{name}, {value}"))
                    } else {
                        (name, value)
                    };
                    snap.facts.insert((kind, name), value);
                }
                _ => bail!("unexpected line from {service}: {line}"),
            }
        }
        let own = own.with_context(|| format!("Unable to read the tables of {service}"))?;
        if let Some((print, held)) = known
            && (held || print.snapshot == snapshot)
            && catalog.is_none_or(|c| same_tables(&own, c))
        {
            log::debug!("{service} at {snapshot}, its fingerprint from {} (held still: {held})", print.snapshot);
            snap.catalog = catalog.cloned().unwrap_or(own);
            snap.print = print.clone();
            return Ok((snap, true));
        }
        (snap.catalog, snap.print) = match catalog {
            Some(c) if same_tables(&own, c) => (c.clone(), Fingerprint::take(host, service, database, c, content)?),
            Some(_) => (own, Fingerprint::default()),
            None => {
                let mut own = own;
                own.measure(host, service, database)?;
                let print = Fingerprint::take(host, service, database, &own, content)?;
                (own, print)
            }
        };
        Ok((snap, false))
    }

    /// Fingerprints the extensions' configuration tables: every row of those whose extension
    /// has the same version on the other side (`other`), else the rows their users added.
    pub fn take_extension_tables(
        &mut self,
        host: &Host,
        service: &str,
        database: &str,
        other: &BTreeMap<String, String>,
    ) -> Result<()> {
        let catalog = self.catalog.extension_catalog(|ext| other.get(ext) == self.extensions.get(ext));
        let print = if catalog.tables.is_empty() {
            Fingerprint::default()
        } else {
            Fingerprint::take(host, service, database, &catalog, true)?
        };
        self.extension_tables = Some((catalog, print));
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.print.rows()
    }

    /// Every difference between the old database (`self`) and its copy, one line each.
    pub fn differences(&self, copy: &Snapshot) -> Vec<String> {
        let mut problems = table_differences(&self.catalog, &self.print, &copy.catalog, &copy.print);
        if let (Some((ours, print)), Some((_, copied))) = (&self.extension_tables, &copy.extension_tables) {
            for (i, _) in print.differences(copied) {
                problems.push(format!(
                    "the rows of {}'s table {} differ in the copy",
                    ours.tables[i].extension.as_deref().unwrap_or("an extension"),
                    ours.tables[i].display()
                ));
            }
        }
        for (seq, value) in &self.sequences {
            match copy.sequences.get(seq) {
                None => problems.push(format!("sequence {seq} is missing in the copy")),
                Some(v) if v != value => {
                    problems.push(format!("sequence {seq} is at {v} in the copy, {value} in the original"))
                }
                _ => {}
            }
        }
        for (ext, version) in &self.extensions {
            match copy.extensions.get(ext) {
                None => problems.push(format!("extension {ext} is missing in the copy")),
                // A restore installs the new image's default version: when that is not the old
                // one, the version changes, and that is said (changes), not a failure.
                Some(v) if v != version && copy.available.get(ext).is_some_and(|a| a.contains(version)) => {
                    problems.push(format!("extension {ext} is at version {v} in the copy, {version} in the original"))
                }
                _ => {}
            }
        }
        for ((kind, name), value) in &self.facts {
            let what = if name.is_empty() { kind.clone() } else { format!("{kind} {name}") };
            match copy.facts.get(&(kind.clone(), name.clone())) {
                None => problems.push(format!("{what} is missing in the copy")),
                // Role attributes carry a digest of the password hash: never shown.
                Some(v) if v != value && kind == "role" => {
                    problems.push(format!("{what} has other attributes or another password in the copy"))
                }
                Some(v) if v != value => {
                    problems.push(format!("{what} is {v:?} in the copy, {value:?} in the original"))
                }
                _ => {}
            }
        }
        for (kind, name) in copy.facts.keys().filter(|k| !self.facts.contains_key(*k)) {
            problems.push(format!("{kind} {name} exists only in the copy"));
        }
        problems
    }

    /// What the copy cannot keep as it was, and says so (docs/fidelity.md): an extension at
    /// another version than the new image's default, materialized views refreshed from the
    /// copied rows, inheritance children whose columns come back in another order.
    pub fn changes(&self, copy: &Snapshot) -> Vec<String> {
        let versions = self.extensions.iter().filter_map(|(ext, version)| {
            let v = copy.extensions.get(ext)?;
            (v != version && !copy.available.get(ext).is_some_and(|a| a.contains(version)))
                .then(|| format!("extension {ext} goes from version {version} to {v}, the new image's default"))
        });
        let notes = self.notes.iter().map(|note| note_text(note));
        versions.chain(notes).collect()
    }
}

/// Tables missing on either side, then the key ranges whose rows differ.
fn table_differences(catalog: &Catalog, print: &Fingerprint, other: &Catalog, copy: &Fingerprint) -> Vec<String> {
    let mut problems = Vec::new();
    let names = |c: &Catalog| c.tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect::<Vec<_>>();
    let (ours, theirs) = (names(catalog), names(other));
    for (schema, table) in ours.iter().filter(|t| !theirs.contains(t)) {
        problems.push(format!("table {schema}.{table} is missing in the copy"));
    }
    for (schema, table) in theirs.iter().filter(|t| !ours.contains(t)) {
        problems.push(format!("table {schema}.{table} exists only in the copy"));
    }
    if !problems.is_empty() {
        return problems;
    }
    for (i, ranges) in print.differences(copy) {
        let table = &catalog.tables[i];
        let (rows, copied) = (print.rows_of(i), copy.rows_of(i));
        if rows != copied {
            problems.push(format!("table {} has {copied} rows in the copy, {rows} in the original", table.display()));
        } else {
            problems.push(format!(
                "table {} has other rows in the copy ({} key range(s) differ, the first: {})",
                table.display(),
                ranges.len(),
                table.range_text(ranges[0])
            ));
        }
    }
    problems
}

fn same_tables(a: &Catalog, b: &Catalog) -> bool {
    let names = |c: &Catalog| c.tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect::<Vec<_>>();
    names(a) == names(b)
}

/// Fails with every difference listed.
pub fn compare(original: &Snapshot, copy: &Snapshot) -> Result<()> {
    let problems = original.differences(copy);
    if problems.is_empty() { Ok(()) } else { bail!("the copy differs from the original: {}", problems.join("; ")) }
}

/// Both databases' schemas as one pg_dump (the new image's) prints them, owners, ACLs and
/// comments included: the text must be the same. The `\\restrict KEY` lines (random on every
/// run since 17.6, 16.10, 15.14, 14.19 and 13.22) and the servers' versions are left out.
///
/// A server prints the definitions it keeps as parse trees (views, defaults, constraints,
/// policies, index expressions) its own way, and that changes between majors (17 leaves out
/// table names 15 prints: docs/fidelity.md). Across majors the old schema is therefore
/// replayed into a scratch database on the new server ([`SchemaReplay`], made before the window),
/// and the new database must print exactly as that replay does.
pub fn compare_schemas(
    host: &Host,
    client: &Client,
    old: (&str, &str),
    new: (&str, &str),
    replay: Option<&SchemaReplay>,
) -> Result<()> {
    let ours = schema_lines(&dump_schema(host, client, old)?);
    let expected = match replay {
        None => ours,
        // The replay made before the window stands while the old schema has not moved since.
        Some(r) if r.old == ours => r.replayed.clone(),
        Some(_) => SchemaReplay::make(host, client, old, new.0)?.replayed,
    };
    let theirs = schema_lines(&dump_schema(host, client, new)?);
    match schema_difference(&expected, &theirs) {
        None => Ok(()),
        Some(diff) => bail!("the schema of the copy differs from the original's:\n{diff}"),
    }
}

/// The old database's schema as the old server prints it, and as the new server prints it once
/// replayed there (into a scratch database, dropped again).
#[derive(Debug, Clone, Default)]
pub struct SchemaReplay {
    old: Vec<String>,
    replayed: Vec<String>,
}

impl SchemaReplay {
    pub fn make(host: &Host, client: &Client, old: (&str, &str), new_service: &str) -> Result<SchemaReplay> {
        let schema = dump_schema(host, client, old)?;
        let scratch = "postgres_upgrade_verify";
        let drop = format!("DROP DATABASE IF EXISTS {}", crate::facts::fingerprint::ident(scratch));
        host.sql(new_service, "postgres", &drop)?;
        host.sql(new_service, "postgres", &format!("CREATE DATABASE {}", crate::facts::fingerprint::ident(scratch)))?;
        let replay = host.psql(new_service, scratch, true).args(["-q", "-f", "-"]).input(schema.clone());
        let printed = host
            .check(&replay)
            .with_context(|| format!("Unable to replay the schema of {} on {new_service}", old.0))
            .and_then(|_| dump_schema(host, client, (new_service, scratch)));
        host.sql(new_service, "postgres", &drop)?;
        Ok(SchemaReplay { old: schema_lines(&schema), replayed: schema_lines(&printed?) })
    }
}

/// `pg_dump --schema-only` by the new image's pg_dump.
fn dump_schema(host: &Host, client: &Client, (service, database): (&str, &str)) -> Result<String> {
    client
        .run(host, service, &["pg_dump", "--schema-only", "-d", database])
        .with_context(|| format!("Unable to dump the schema of {service}"))
}

/// A schema dump's lines, without those that differ on every run or by server version.
fn schema_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !crate::host::client::restrict_line(l))
        .filter(|l| !l.starts_with("-- Dumped from database version "))
        .map(String::from)
        .collect()
}

/// The lines that differ between two dumps, as `-`/`+` lines around the first difference (a
/// few of each), or None when they are the same.
fn schema_difference(ours: &[String], theirs: &[String]) -> Option<String> {
    const SHOWN: usize = 8;
    if ours == theirs {
        return None;
    }
    let head = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
    let tail = ours[head..].iter().rev().zip(theirs[head..].iter().rev()).take_while(|(a, b)| a == b).count();
    let mut lines = Vec::new();
    let (gone, added) = (&ours[head..ours.len() - tail], &theirs[head..theirs.len() - tail]);
    lines.extend(gone.iter().filter(|l| !l.is_empty()).take(SHOWN).map(|l| format!("       - {}", redact(l))));
    lines.extend(added.iter().filter(|l| !l.is_empty()).take(SHOWN).map(|l| format!("       + {}", redact(l))));
    Some(lines.join("\n"))
}

/// A dump line with any `password '…'` option (a user mapping's) masked.
fn redact(line: &str) -> String {
    static PASSWORD: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)(password\s+)'(?:[^']|'')*'").unwrap());
    PASSWORD.replace_all(line, "${1}'<redacted>'").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fingerprint::Table;

    fn snap(tables: &[(&str, u64, &str)], seqs: &[(&str, &str)], exts: &[&str]) -> Snapshot {
        let catalog = Catalog {
            tables: tables
                .iter()
                .map(|(name, _, _)| Table {
                    schema: "public".into(),
                    name: name.to_string(),
                    columns: vec!["id".into()],
                    key: Some("id".into()),
                    shift: 10,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let print = Fingerprint {
            sums: tables.iter().enumerate().map(|(i, (_, rows, sum))| ((i, 0), (*rows, sum.to_string()))).collect(),
            ..Default::default()
        };
        Snapshot {
            catalog,
            print,
            sequences: seqs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            extensions: exts.iter().map(|e| (e.to_string(), "1.0".to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn identical_copies_pass() {
        let a = snap(&[("notes", 3, "77")], &[("public.notes_id_seq", "3")], &["plpgsql"]);
        assert!(compare(&a, &a.clone()).is_ok());
        assert_eq!(a.rows(), 3);
    }

    #[test]
    fn every_difference_is_named() {
        let a = snap(&[("a", 3, "1"), ("b", 1, "2")], &[("public.s", "9")], &["plpgsql", "postgis"]);
        let b = snap(&[("a", 3, "1"), ("c", 0, "0")], &[("public.s", "1")], &["plpgsql"]);
        assert_eq!(
            a.differences(&b),
            vec![
                "table public.b is missing in the copy",
                "table public.c exists only in the copy",
                "sequence public.s is at 1 in the copy, 9 in the original",
                "extension postgis is missing in the copy",
            ]
        );
        let c = snap(&[("a", 2, "1"), ("b", 1, "3")], &[("public.s", "9")], &["plpgsql", "postgis"]);
        assert_eq!(
            a.differences(&c),
            vec![
                "table public.a has 2 rows in the copy, 3 in the original",
                "table public.b has other rows in the copy (1 key range(s) differ, the first: id 0..1023)",
            ]
        );
    }

    #[test]
    fn roles_settings_and_large_objects_are_compared_and_passwords_never_shown() {
        let fact = |k: &str, n: &str, v: &str| ((k.to_string(), n.to_string()), v.to_string());
        let mut a = snap(&[], &[], &["plpgsql"]);
        a.facts = BTreeMap::from([
            fact("role", "ro", "false,true,d41d8cd98f"),
            fact("setting", "every role in this database", "search_path=app"),
            fact("large objects", "", "1, abc"),
        ]);
        let mut b = a.clone();
        b.facts.insert(("role".into(), "ro".into()), "false,true,0cc175b9c0".into());
        b.facts.remove(&("setting".to_string(), "every role in this database".to_string()));
        b.facts.insert(("large objects".into(), String::new()), "1, abd".into());
        b.facts.insert(("role".into(), "extra".into()), "x".into());
        let problems = a.differences(&b);
        assert_eq!(
            problems,
            [
                "large objects is \"1, abd\" in the copy, \"1, abc\" in the original",
                "role ro has other attributes or another password in the copy",
                "setting every role in this database is missing in the copy",
                "role extra exists only in the copy",
            ]
        );
        assert!(!problems.join(" ").contains("0cc175b9c0"));
    }

    #[test]
    fn an_extension_version_the_new_image_lacks_is_a_change_one_it_has_is_a_difference() {
        let a = snap(&[], &[], &["postgis"]);
        let mut b = a.clone();
        b.extensions.insert("postgis".into(), "3.4".into());
        assert!(a.differences(&b).is_empty());
        assert_eq!(a.changes(&b), ["extension postgis goes from version 1.0 to 3.4, the new image's default"]);
        // The new image installs 1.0 by default, yet the copy has 3.4: a difference.
        b.available.insert("postgis".into(), vec!["1.0".into()]);
        assert_eq!(a.differences(&b), ["extension postgis is at version 3.4 in the copy, 1.0 in the original"]);
        assert!(a.changes(&b).is_empty());
    }

    #[test]
    fn what_a_restore_changes_is_listed() {
        let mut a = snap(&[], &[], &[]);
        a.notes = vec!["materialized view public.totals".into(), "table public.child".into()];
        assert_eq!(
            a.changes(&a.clone()),
            [
                "materialized view public.totals is refreshed from the copied rows (a stale one shows current data)",
                "table public.child: its inherited columns come first now (SELECT * shows another order)",
            ]
        );
    }

    #[test]
    fn schema_differences_show_the_lines_around_the_first_one_and_mask_passwords() {
        let lines = |t: &str| t.lines().map(String::from).collect::<Vec<_>>();
        let old = lines(
            "SET x;\nALTER TABLE a OWNER TO app;\nCREATE USER MAPPING FOR ro SERVER s OPTIONS (password 'p''w');\nEND",
        );
        let new = lines("SET x;\nALTER TABLE a OWNER TO postgres;\nEND");
        assert_eq!(schema_difference(&old, &old), None);
        assert_eq!(
            schema_difference(&old, &new).unwrap(),
            "       - ALTER TABLE a OWNER TO app;\n       - CREATE USER MAPPING FOR ro SERVER s OPTIONS (password '<redacted>');\n       + ALTER TABLE a OWNER TO postgres;"
        );
    }

    #[test]
    fn content_is_compared_from_postgres_12() {
        assert!(!content_comparable(Some(1100)) && !content_comparable(Some(906)) && !content_comparable(None));
        assert!(content_comparable(Some(1200)) && content_comparable(Some(1500)));
    }
}
