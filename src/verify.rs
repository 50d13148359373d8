//! What "the copy is right" means: the same tables, the same row count in each, the same
//! sequence values and the same extensions in the old and the new database. dokku-postgres's
//! `clone` hides restore errors (dokku-postgres-behaviour.md §2, clone), so nothing is switched
//! before this passes.

use crate::host::Host;
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// Counts rows of every ordinary table in one query, so a database with many tables costs one
/// `docker exec`, not one per table. Tables an extension owns (PostGIS's spatial_ref_sys) are
/// left out: CREATE EXTENSION fills them from the new image's version of the extension.
const TABLE_ROWS: &str = "SELECT format('%I.%I', n.nspname, c.relname), \
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text \
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') \
  ORDER BY 1";
const SEQUENCES: &str =
    "SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value::text, '') FROM pg_sequences ORDER BY 1";
const EXTENSIONS: &str = "SELECT extname FROM pg_extension ORDER BY 1";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub tables: BTreeMap<String, u64>,
    pub sequences: BTreeMap<String, String>,
    pub extensions: Vec<String>,
}

impl Snapshot {
    pub fn take(host: &Host, service: &str, database: &str) -> Result<Snapshot> {
        let pairs = |sql: &str| -> Result<Vec<(String, String)>> {
            Ok(host
                .sql(service, database, sql)?
                .into_iter()
                .map(|l| match l.rsplit_once('|') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (l, String::new()),
                })
                .collect())
        };
        let mut tables = BTreeMap::new();
        for (table, rows) in pairs(TABLE_ROWS)? {
            tables.insert(table, rows.parse().unwrap_or(0));
        }
        Ok(Snapshot {
            tables,
            sequences: pairs(SEQUENCES)?.into_iter().collect(),
            extensions: host.sql(service, database, EXTENSIONS)?,
        })
    }

    pub fn rows(&self) -> u64 {
        self.tables.values().sum()
    }

    /// Every difference between the old database (`self`) and its copy, one line each.
    pub fn differences(&self, copy: &Snapshot) -> Vec<String> {
        let mut problems = Vec::new();
        for (table, rows) in &self.tables {
            match copy.tables.get(table) {
                None => problems.push(format!("table {table} is missing in the copy")),
                Some(n) if n != rows => {
                    problems.push(format!("table {table} has {n} rows in the copy, {rows} in the original"))
                }
                _ => {}
            }
        }
        for table in copy.tables.keys().filter(|t| !self.tables.contains_key(*t)) {
            problems.push(format!("table {table} exists only in the copy"));
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
        for ext in self.extensions.iter().filter(|e| !copy.extensions.contains(e)) {
            problems.push(format!("extension {ext} is missing in the copy"));
        }
        problems
    }
}

/// Fails with every difference listed.
pub fn compare(original: &Snapshot, copy: &Snapshot) -> Result<()> {
    let problems = original.differences(copy);
    if problems.is_empty() { Ok(()) } else { bail!("the copy differs from the original: {}", problems.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(tables: &[(&str, u64)], seqs: &[(&str, &str)], exts: &[&str]) -> Snapshot {
        Snapshot {
            tables: tables.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            sequences: seqs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            extensions: exts.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn identical_copies_pass() {
        let a = snap(&[("public.notes", 3)], &[("public.notes_id_seq", "3")], &["plpgsql"]);
        assert!(compare(&a, &a.clone()).is_ok());
        assert_eq!(a.rows(), 3);
    }

    #[test]
    fn every_difference_is_named() {
        let a = snap(&[("public.a", 3), ("public.b", 1)], &[("public.s", "9")], &["plpgsql", "postgis"]);
        let b = snap(&[("public.a", 2), ("public.c", 0)], &[("public.s", "1")], &["plpgsql"]);
        assert_eq!(
            a.differences(&b),
            vec![
                "table public.a has 2 rows in the copy, 3 in the original",
                "table public.b is missing in the copy",
                "table public.c exists only in the copy",
                "sequence public.s is at 1 in the copy, 9 in the original",
                "extension postgis is missing in the copy",
            ]
        );
    }
}
