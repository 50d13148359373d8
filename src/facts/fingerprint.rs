//! What the catch-up copy compares to find what changed since its first copy: for every table,
//! per range of its integer primary key, the row count and the sum of a keyed 64-bit digest of
//! each row's text, `md5(key || row)`, the key drawn for the run (host/secret.rs). Equal sums
//! mean equal rows (up to a 2^-64 chance per changed row); a range that differs is the part of
//! a table the catch-up copy moves again (copy/catch_up.rs). Without the key, no one who
//! writes rows can choose a change whose digests cancel out and so is never copied: a plain
//! hash with a fixed seed allows that in seconds (docs/fidelity.md, "The digest").
//!
//! The row text is the server's own output for the row, under pinned settings, so that the same
//! data prints alike on both servers. Float output changed in PostgreSQL 12 (shortest exact
//! digits), so the catch-up copy runs only when the old server is 12 or newer
//! ([`catch_up_compares`]).

use crate::host::Host;
use crate::host::psql::Psql;
use crate::host::secret::Secret;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;

/// The settings under which both servers print and read rows: what pg_dump pins for the same
/// reason. An empty search_path makes every name print qualified (a `regclass` value means the
/// same table on both sides) and keeps a user's function from standing in for a built-in one.
pub const SESSION: [&str; 12] = [
    "SET client_encoding = 'UTF8'",
    "SET standard_conforming_strings = on",
    "SET search_path = ''",
    "SET DateStyle = 'ISO'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET TimeZone = 'UTC'",
    "SET bytea_output = 'hex'",
    "SET xmloption = content",
    "SET statement_timeout = 0",
    "SET lock_timeout = 0",
    "SET idle_in_transaction_session_timeout = 0",
];

/// Every ordinary table (partitions included, their parents hold no rows) and sequence outside
/// the system schemas, as one JSON document. The system schemas are named exactly
/// (`pg_toast`, `pg_temp_N`, `pg_toast_temp_N`): a LIKE pattern would also skip a user's
/// `pg-temp` or `pgXtoast`, since `_` matches any character. Objects an extension owns are
/// left out: CREATE EXTENSION fills them from the new image's version; the tables it marked as
/// configuration (`pg_extension.extconfig`, PostGIS's spatial_ref_sys), whose user rows pg_dump
/// carries, are listed apart with the condition that selects those rows. `attgenerated` is read
/// through to_jsonb so the query runs before 12 too.
pub const CATALOG: &str = "WITH rel AS (
  SELECT c.oid, c.relkind, c.relispopulated, n.nspname, c.relname
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.objid = c.oid AND d.deptype = 'e')),
cols AS (
  SELECT a.attrelid, json_agg(a.attname ORDER BY a.attnum) AS names FROM pg_catalog.pg_attribute a
  WHERE a.attnum > 0 AND NOT a.attisdropped AND coalesce(to_jsonb(a)->>'attgenerated', '') = ''
  GROUP BY a.attrelid)
SELECT json_build_object(
  'tables', coalesce((SELECT json_agg(json_build_object('schema', r.nspname, 'name', r.relname,
    'columns', coalesce((SELECT names FROM cols WHERE attrelid = r.oid), '[]'),
    'key', (SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a
       ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       WHERE i.indrelid = r.oid AND i.indisprimary AND i.indnatts = 1
       AND a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                          'pg_catalog.int8'::pg_catalog.regtype)))
    ORDER BY r.nspname, r.relname) FROM rel r WHERE r.relkind = 'r'), '[]'),
  'sequences', coalesce((SELECT json_agg(json_build_array(r.nspname, r.relname) ORDER BY r.nspname, r.relname)
    FROM rel r WHERE r.relkind = 'S'), '[]'),
  'extension_tables', coalesce((SELECT json_agg(json_build_object('schema', n.nspname, 'name', c.relname,
      'columns', coalesce((SELECT names FROM cols WHERE attrelid = c.oid), '[]'), 'extension', e.extname,
      'filter', nullif(e.extcondition[x.i], '')) ORDER BY n.nspname, c.relname)
    FROM pg_catalog.pg_extension e CROSS JOIN LATERAL unnest(e.extconfig) WITH ORDINALITY AS x(oid, i)
    JOIN pg_catalog.pg_class c ON c.oid = x.oid AND c.relkind = 'r'
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace), '[]'),
  'replica_triggers', (SELECT count(*) FROM pg_catalog.pg_trigger WHERE NOT tgisinternal AND tgenabled IN ('A', 'R'))
    + (SELECT count(*) FROM pg_catalog.pg_rewrite WHERE ev_enabled IN ('A', 'R')),
  'large_objects', (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata))";

/// The condition, on `pg_class c`, that no extension owns the relation.
pub const NOT_EXTENSION_OWNED: &str = "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e')";

/// The custom setting that holds the run's key in the fingerprint's session, and the key as a
/// query reads it back (an init plan: evaluated once per query, passed to parallel workers).
const KEY_SETTING: &str = "postgres_upgrade.catch_up_key";
const KEY: &str = "(SELECT pg_catalog.current_setting('postgres_upgrade.catch_up_key'))";

/// Whether the catch-up copy can compare the old database with the new one: from PostgreSQL 12
/// on (majors as plan/naming.rs counts them), where floats print alike on both.
pub fn catch_up_compares(old_major: Option<u32>) -> bool {
    old_major.is_some_and(|m| m >= 1200)
}

/// A key range covers at least 2^10 key values, and a table at most about 1024 ranges when it is
/// measured: the fingerprint of a table stays a few hundred lines whatever its size.
const MIN_SHIFT: u32 = 10;
const RANGES: i128 = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// Columns a COPY writes and the fingerprint hashes, in the old database's order
    /// (generated ones are computed by the server from these).
    pub columns: Vec<String>,
    /// A one-column integer primary key, the unit of a partial copy; None: the whole table.
    pub key: Option<String>,
    /// Range r of the key holds the keys k with k >> shift == r.
    pub shift: u32,
    /// Only the rows this condition selects count (an extension's configuration table: the
    /// rows its users added, as `pg_extension.extcondition` says).
    pub filter: Option<String>,
    /// The extension that owns the table, if one does.
    pub extension: Option<String>,
}

impl Table {
    pub fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    /// The sum of a keyed 64-bit digest of each row's text, the columns in the old database's
    /// order (a restore may put an inherited table's columns in another order).
    fn row_hash_sum(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| format!("t.{}", ident(c))).collect();
        format!("coalesce(sum(('x' || pg_catalog.md5({KEY} || ROW({})::text))::bit(64)::int8), 0)", columns.join(", "))
    }

    /// The name as the user knows it, for messages.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The WHERE clause of a query on this table that reads `ranges` of it (None: all of it),
    /// or "" when it reads every row.
    pub fn where_clause(&self, ranges: Option<&Vec<i64>>) -> String {
        match (&self.filter, ranges.and_then(|r| self.range_condition(r))) {
            (None, None) => String::new(),
            (Some(filter), None) => format!(" WHERE {filter}"),
            (None, Some(range)) => format!(" WHERE {range}"),
            (Some(filter), Some(range)) => format!(" WHERE ({filter}) AND ({range})"),
        }
    }

    fn range_expr(&self) -> String {
        match &self.key {
            Some(key) => format!("({}::int8 >> {})", ident(key), self.shift),
            None => "0".to_string(),
        }
    }

    /// A WHERE condition selecting exactly the keys of `ranges` (every row without a key).
    pub fn range_condition(&self, ranges: &[i64]) -> Option<String> {
        let key = ident(self.key.as_ref()?);
        let parts: Vec<String> = ranges
            .iter()
            .map(|&r| {
                let low = (r as i128) << self.shift;
                let high = ((r as i128) + 1) << self.shift;
                if high > i64::MAX as i128 {
                    format!("{key} >= {low}")
                } else {
                    format!("({key} >= {low} AND {key} < {high})")
                }
            })
            .collect();
        Some(parts.join(" OR "))
    }

    /// The first and last key of a range, for messages.
    pub fn range_text(&self, range: i64) -> String {
        match &self.key {
            Some(key) => {
                let low = (range as i128) << self.shift;
                format!("{key} {low}..{}", low + (1i128 << self.shift) - 1)
            }
            None => "all rows".to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub tables: Vec<Table>,
    /// (schema, name)
    pub sequences: Vec<(String, String)>,
    pub large_objects: u64,
    /// Triggers and rules enabled ALWAYS or REPLICA: they fire even with
    /// `session_replication_role = replica`, the mode the catch-up stream writes in.
    pub replica_triggers: u64,
    /// Tables an extension owns (PostGIS's spatial_ref_sys): pg_dump copies the rows users
    /// added to them, the catch-up copy does not, so it only checks that they did not change.
    pub extension_tables: Vec<Table>,
}

impl Catalog {
    pub fn read(host: &Host, service: &str, database: &str) -> Result<Catalog> {
        let text = host.sql(service, database, CATALOG)?.join("\n");
        Catalog::from_json_text(&text).with_context(|| format!("Unable to read the tables of {service}"))
    }

    /// The catalog from [`CATALOG`]'s document.
    pub fn from_json_text(text: &str) -> Result<Catalog> {
        let doc: Value = serde_json::from_str(text)?;
        Catalog::from_json(&doc)
    }

    fn from_json(doc: &Value) -> Result<Catalog> {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let pairs = |v: &Value| -> Vec<(String, String)> {
            v.as_array()
                .map(|a| {
                    a.iter().filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string()))).collect()
                })
                .unwrap_or_default()
        };
        let Some(tables) = doc["tables"].as_array() else { bail!("no table list in {doc}") };
        let table = |t: &Value| Table {
            schema: t["schema"].as_str().unwrap_or_default().to_string(),
            name: t["name"].as_str().unwrap_or_default().to_string(),
            columns: strings(&t["columns"]),
            key: t["key"].as_str().map(String::from),
            shift: MIN_SHIFT,
            // extcondition is a whole clause: `WHERE NOT (srid BETWEEN 2000 AND 6999 …)`.
            filter: t["filter"].as_str().map(|f| {
                let f = f.trim();
                f.get(..6).filter(|w| w.eq_ignore_ascii_case("where ")).map_or(f, |_| &f[6..]).to_string()
            }),
            extension: t["extension"].as_str().map(String::from),
        };
        Ok(Catalog {
            tables: tables.iter().map(table).collect(),
            sequences: pairs(&doc["sequences"]),
            large_objects: doc["large_objects"].as_u64().unwrap_or(0),
            replica_triggers: doc["replica_triggers"].as_u64().unwrap_or(0),
            extension_tables: doc["extension_tables"]
                .as_array()
                .map(|a| a.iter().map(table).collect())
                .unwrap_or_default(),
        })
    }

    /// The extensions' configuration tables as a catalog of their own: the rows their users
    /// added (what pg_dump carries), or every row where `whole` says the extension's version
    /// is the same on both sides (its own rows must then be equal too).
    pub fn extension_catalog(&self, whole: impl Fn(&str) -> bool) -> Catalog {
        let tables = self
            .extension_tables
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if t.extension.as_deref().is_some_and(&whole) {
                    t.filter = None;
                }
                t
            })
            .collect();
        Catalog { tables, ..Catalog::default() }
    }

    /// Sizes each keyed table's ranges from its keys now (min and max come from the index).
    pub fn measure(&mut self, host: &Host, service: &str, database: &str) -> Result<()> {
        let keyed: Vec<usize> = (0..self.tables.len()).filter(|&i| self.tables[i].key.is_some()).collect();
        if keyed.is_empty() {
            return Ok(());
        }
        let statements: Vec<String> = keyed
            .iter()
            .map(|&i| {
                let t = &self.tables[i];
                let key = ident(t.key.as_deref().unwrap_or_default());
                format!("SELECT {i}, min({key})::int8, max({key})::int8 FROM ONLY {}", t.qualified())
            })
            .collect();
        for line in host.sql_statements(service, database, &statements)? {
            // An empty table has no min and max: it keeps the smallest ranges.
            let mut fields = line.split('|');
            let (Some(i), Some(min), Some(max)) = (fields.next(), fields.next(), fields.next()) else { continue };
            if let (Ok(i), Ok(min), Ok(max)) = (i.parse::<usize>(), min.parse::<i64>(), max.parse::<i64>())
                && let Some(table) = self.tables.get_mut(i)
            {
                table.shift = shift_for(min, max);
            }
        }
        Ok(())
    }
}

fn shift_for(min: i64, max: i64) -> u32 {
    let span = max as i128 - min as i128;
    (MIN_SHIFT..64).find(|&s| span >> s < RANGES).unwrap_or(63)
}

/// (table index in the catalog, key range) → (rows, sum of row hashes; "" when not taken).
pub type Sums = BTreeMap<(usize, i64), (u64, String)>;

/// Parts of a database, by table index in the catalog: the whole table (None) or some of its
/// key ranges.
pub type Parts = BTreeMap<usize, Option<Vec<i64>>>;

/// A database's fingerprint, taken in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub sums: Sums,
    /// `txid_current_snapshot()` of that transaction: while it is the same, no transaction that
    /// wrote anything has committed since (every writer takes a transaction id), so the
    /// fingerprint still holds.
    pub snapshot: String,
    pub large_objects: u64,
}

impl Fingerprint {
    /// Every table's sums, with the run's `key`.
    pub fn take(host: &Host, service: &str, database: &str, catalog: &Catalog, key: &Secret) -> Result<Fingerprint> {
        let all: Parts = (0..catalog.tables.len()).map(|i| (i, None)).collect();
        Fingerprint::take_parts(host, service, database, catalog, &all, key)
    }

    /// The sums of some tables only, or of some of their key ranges. The key reaches the server
    /// on psql's standard input, after settings that keep this session's statements out of the
    /// server's logs and activity view.
    pub fn take_parts(
        host: &Host,
        service: &str,
        database: &str,
        catalog: &Catalog,
        parts: &Parts,
        key: &Secret,
    ) -> Result<Fingerprint> {
        let script = Fingerprint::script(catalog, parts, key);
        Fingerprint::parse(&host.sql_script(service, database, &script, &[key.expose()])?)
    }

    /// The script that takes the fingerprint (settings, key, one transaction).
    fn script(catalog: &Catalog, parts: &Parts, key: &Secret) -> String {
        let mut statements: Vec<String> = SESSION.iter().map(|s| s.to_string()).collect();
        statements.push(
            "SELECT pg_catalog.set_config(s.name, s.value, false) FROM (VALUES ('log_statement', 'none'), \
             ('log_min_duration_statement', '-1'), ('log_min_duration_sample', '-1'), ('log_transaction_sample_rate', '0'), \
             ('track_activities', 'off')) AS s(name, value) WHERE s.name IN (SELECT name FROM pg_catalog.pg_settings) \\g /dev/null"
                .into(),
        );
        statements
            .push(format!("SELECT pg_catalog.set_config('{KEY_SETTING}', '{}', false) \\g /dev/null", key.expose()));
        // The planner cannot tell how many key ranges there are (it guesses one per row), so it
        // would sort every row to group them, in one process. A hash table of a thousand ranges
        // is the right plan, built by each parallel worker for its share of the rows: no sort,
        // and hash tables it believes fit (hash_mem_multiplier: PostgreSQL 13 and newer).
        statements.push("SET enable_sort = off".into());
        statements.push("SET parallel_tuple_cost = 0".into());
        statements.push(
            "DO $$BEGIN IF current_setting('server_version_num')::int >= 130000 THEN \
             SET hash_mem_multiplier = 100; END IF; END$$"
                .into(),
        );
        statements.push("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".into());
        statements.push("SELECT 'snapshot', txid_current_snapshot()".into());
        statements.push("SELECT 'large_objects', count(*) FROM pg_largeobject_metadata".into());
        for (&i, ranges) in parts {
            let table = &catalog.tables[i];
            let sum = table.row_hash_sum();
            let filter = table.where_clause(ranges.as_ref());
            statements.push(format!(
                "SELECT {i}, {range}, count(*), {sum} FROM ONLY {name} t{filter} GROUP BY 2",
                range = table.range_expr(),
                name = table.qualified()
            ));
        }
        statements.push("COMMIT".into());
        statements.iter().map(|s| if s.ends_with("/dev/null") { format!("{s}\n") } else { format!("{s};\n") }).collect()
    }

    /// [`Fingerprint::take`] in a session kept open (`host/psql.rs`: the window's, no `docker
    /// exec`); the session's settings, the key among them, are reset afterwards.
    pub fn take_in(psql: &mut Psql, catalog: &Catalog, key: &Secret) -> Result<Fingerprint> {
        let all: Parts = (0..catalog.tables.len()).map(|i| (i, None)).collect();
        let script = Fingerprint::script(catalog, &all, key);
        psql.hide(key.expose());
        let taken = psql.script(&script);
        let reset = psql.query(&[
            format!("SELECT pg_catalog.set_config('{KEY_SETTING}', '', false)"),
            "RESET ALL".into(),
            "SET search_path = pg_catalog, pg_temp".into(),
        ]);
        let (rows, failed) = taken?;
        reset?;
        if let Some(message) = failed {
            bail!("Unable to fingerprint {}: {message}", psql.service);
        }
        // Only the script's own rows: the reset's come after its end.
        Fingerprint::parse(&rows)
    }

    fn parse(lines: &[String]) -> Result<Fingerprint> {
        let mut print = Fingerprint::default();
        for line in lines.iter().filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split('|').collect();
            match fields.as_slice() {
                ["snapshot", s] => print.snapshot = s.to_string(),
                ["large_objects", n] => print.large_objects = n.parse().unwrap_or(0),
                [i, range, rows, sum] => {
                    let parsed = (i.parse::<usize>(), range.parse::<i64>(), rows.parse::<u64>());
                    let (Ok(i), Ok(range), Ok(rows)) = parsed else { bail!("unexpected fingerprint line: {line}") };
                    print.sums.insert((i, range), (rows, sum.to_string()));
                }
                _ => bail!("unexpected fingerprint line: {line}"),
            }
        }
        Ok(print)
    }

    /// The snapshot the database is at now (see [`Fingerprint::snapshot`]).
    pub fn current_snapshot(host: &Host, service: &str, database: &str) -> Result<String> {
        Ok(host.sql(service, database, "SELECT txid_current_snapshot()")?.join(""))
    }

    pub fn rows(&self) -> u64 {
        self.sums.values().map(|(rows, _)| rows).sum()
    }

    pub fn rows_of(&self, table: usize) -> u64 {
        self.sums.range((table, i64::MIN)..=(table, i64::MAX)).map(|(_, (rows, _))| rows).sum()
    }

    /// The ranges of each table that differ between `self` and `other`, tables in catalog order.
    pub fn differences(&self, other: &Fingerprint) -> BTreeMap<usize, Vec<i64>> {
        let mut changed: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        let keys: std::collections::BTreeSet<&(usize, i64)> = self.sums.keys().chain(other.sums.keys()).collect();
        for key in keys {
            if self.sums.get(key) != other.sums.get(key) {
                changed.entry(key.0).or_default().push(key.1);
            }
        }
        changed
    }
}

/// A double-quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted SQL string (standard_conforming_strings on: backslashes are plain).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(key: Option<&str>, shift: u32) -> Table {
        Table {
            schema: "public".into(),
            name: "odd\"name".into(),
            columns: vec!["id".into(), "body".into()],
            key: key.map(String::from),
            shift,
            ..Default::default()
        }
    }

    #[test]
    fn the_catalog_document_parses_into_tables_sequences_and_what_stops_a_catch_up() {
        let doc: Value = serde_json::from_str(
            r#"{"tables": [{"schema": "public", "name": "notes", "columns": ["id", "body"], "key": "id"},
                           {"schema": "s", "name": "log", "columns": ["line"], "key": null}],
                "sequences": [["public", "notes_id_seq"]], "large_objects": 2, "replica_triggers": 1,
                "extension_tables": [{"schema": "public", "name": "spatial_ref_sys"}]}"#,
        )
        .unwrap();
        let c = Catalog::from_json(&doc).unwrap();
        assert_eq!(c.tables.len(), 2);
        assert_eq!((c.tables[0].key.as_deref(), c.tables[1].key.as_deref()), (Some("id"), None));
        assert_eq!(c.tables[1].columns, ["line"]);
        assert_eq!(c.sequences, [("public".to_string(), "notes_id_seq".to_string())]);
        assert_eq!((c.large_objects, c.replica_triggers), (2, 1));
        let owned = c.extension_catalog(|_| true);
        assert_eq!(
            (owned.tables[0].display().as_str(), owned.tables[0].key.is_none()),
            ("public.spatial_ref_sys", true)
        );
        assert!(Catalog::from_json(&serde_json::json!({})).is_err());
    }

    #[test]
    fn ranges_cover_about_a_thousand_parts_of_the_key_span_and_at_least_1024_keys() {
        assert_eq!(shift_for(1, 10), 10);
        assert_eq!(shift_for(1, 6_800_000), 13);
        assert_eq!(shift_for(i64::MIN, i64::MAX), 54);
        for (min, max) in [(1, 6_800_000), (-5_000_000, 5_000_000), (0, 1 << 40)] {
            let s = shift_for(min, max);
            assert!(((max as i128) >> s) - ((min as i128) >> s) <= RANGES, "{min}..{max} by {s}");
        }
    }

    #[test]
    fn range_conditions_select_exactly_the_keys_of_each_range() {
        let t = table(Some("id"), 13);
        assert_eq!(t.range_expr(), "(\"id\"::int8 >> 13)");
        assert_eq!(
            t.range_condition(&[0, 2, -1]).unwrap(),
            "(\"id\" >= 0 AND \"id\" < 8192) OR (\"id\" >= 16384 AND \"id\" < 24576) OR (\"id\" >= -8192 AND \"id\" < 0)"
        );
        // The last range has no upper bound: 2^63 does not fit in a bigint.
        assert_eq!(table(Some("id"), 62).range_condition(&[1]).unwrap(), "\"id\" >= 4611686018427387904");
        assert_eq!(t.range_text(1), "id 8192..16383");
        assert_eq!(table(None, 10).range_condition(&[0]), None);
        assert_eq!(table(None, 10).range_expr(), "0");
    }

    #[test]
    fn names_are_quoted_for_sql() {
        assert_eq!(table(None, 10).qualified(), "\"public\".\"odd\"\"name\"");
        assert_eq!(literal("it's \\ here"), "'it''s \\ here'");
    }

    #[test]
    fn differences_name_every_range_that_is_missing_or_unequal() {
        // (table, range, rows, sum)
        let print = |sums: &[(usize, i64, u64, &str)]| Fingerprint {
            sums: sums.iter().map(|&(t, r, n, s)| ((t, r), (n, s.to_string()))).collect(),
            ..Default::default()
        };
        let old = print(&[(0, 0, 5, "10"), (0, 1, 5, "20"), (1, 0, 2, "7"), (2, 0, 1, "1")]);
        let new = print(&[(0, 0, 5, "10"), (0, 1, 5, "21"), (0, 2, 1, "3"), (2, 0, 1, "1")]);
        let d = old.differences(&new);
        assert_eq!(d.clone().into_iter().collect::<Vec<_>>(), [(0, vec![1, 2]), (1, vec![0])]);
        assert_eq!((old.rows(), old.rows_of(0), new.rows_of(1)), (13, 10, 0));
        assert!(old.differences(&old.clone()).is_empty());
    }

    #[test]
    fn rows_are_summed_by_a_digest_keyed_for_the_run() {
        let sum = table(Some("id"), 10).row_hash_sum();
        assert_eq!(
            sum,
            format!(
                "coalesce(sum(('x' || pg_catalog.md5({KEY} || ROW(t.\"id\", t.\"body\")::text))::bit(64)::int8), 0)"
            )
        );
        assert!(KEY.contains(KEY_SETTING) && !sum.contains("hashtext"));
    }

    #[test]
    fn the_catch_up_compares_from_postgres_12() {
        assert!(!catch_up_compares(Some(1100)) && !catch_up_compares(Some(906)) && !catch_up_compares(None));
        assert!(catch_up_compares(Some(1200)) && catch_up_compares(Some(1500)));
    }
}
