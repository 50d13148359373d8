//! What "the copy is right" means: the same tables, the same rows in each (compared by content
//! where both servers print rows alike, by count where they do not: fingerprint.rs), the same
//! sequence values and the same extensions in the old and the new database. dokku-postgres's
//! `clone` hides restore errors (dokku-postgres-behaviour.md §2, clone), so nothing is switched
//! before this passes.

use crate::fingerprint::{Catalog, Fingerprint};
use crate::host::Host;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

/// What a snapshot needs besides the fingerprint, in one `psql` call: each row tagged.
const PROBE: [&str; 4] = [
    "SELECT 'snapshot', txid_current_snapshot()",
    "SELECT 'sequence', format('%I.%I', schemaname, sequencename) || '|' || coalesce(last_value::text, '') \
     FROM pg_sequences ORDER BY 2",
    "SELECT 'extension', extname FROM pg_extension ORDER BY 2",
    "SELECT 'catalog', (CATALOG)::jsonb::text",
];

/// Row content is compared from PostgreSQL 12 on (majors as naming.rs counts them): before
/// it, floats printed differently (fingerprint.rs).
pub fn content_comparable(old_major: Option<u32>) -> bool {
    old_major.is_some_and(|m| m >= 1200)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub catalog: Catalog,
    pub print: Fingerprint,
    pub sequences: BTreeMap<String, String>,
    pub extensions: Vec<String>,
}

impl Snapshot {
    /// The database's state now. Its tables are fingerprinted by `catalog` (the original's, so
    /// that both sides are cut into the same key ranges), by its own catalog measured when None;
    /// `known` stands in for a new fingerprint while the database's transaction snapshot shows
    /// that no writer has committed since it was taken. Also says whether `known` was used.
    pub fn take(
        host: &Host,
        service: &str,
        database: &str,
        catalog: Option<&Catalog>,
        known: Option<&Fingerprint>,
        content: bool,
    ) -> Result<(Snapshot, bool)> {
        let probe = PROBE.map(|sql| sql.replace("CATALOG", crate::fingerprint::CATALOG));
        let (mut snapshot, mut own, mut sequences, mut extensions) = (String::new(), None, BTreeMap::new(), Vec::new());
        for line in host.sql_statements(service, database, &probe)? {
            match line.split_once('|') {
                Some(("snapshot", s)) => snapshot = s.to_string(),
                Some(("extension", e)) => extensions.push(e.to_string()),
                Some(("sequence", pair)) => {
                    let (k, v) = pair.rsplit_once('|').unwrap_or((pair, ""));
                    sequences.insert(k.to_string(), v.to_string());
                }
                Some(("catalog", json)) => own = Some(Catalog::from_json_text(json)?),
                _ => bail!("unexpected line from {service}: {line}"),
            }
        }
        let own = own.with_context(|| format!("Unable to read the tables of {service}"))?;
        if let Some(print) = known
            && print.snapshot == snapshot
        {
            log::debug!("transaction snapshot of {service}: {snapshot}, as at the copy");
            let catalog = catalog.cloned().unwrap_or(own);
            return Ok((Snapshot { catalog, print: print.clone(), sequences, extensions }, true));
        }
        let (catalog, print) = match catalog {
            Some(c) if same_tables(&own, c) => (c.clone(), Fingerprint::take(host, service, database, c, content)?),
            Some(_) => (own, Fingerprint::default()),
            None => {
                let mut own = own;
                own.measure(host, service, database)?;
                let print = Fingerprint::take(host, service, database, &own, content)?;
                (own, print)
            }
        };
        Ok((Snapshot { catalog, print, sequences, extensions }, false))
    }

    pub fn rows(&self) -> u64 {
        self.print.rows()
    }

    /// Every difference between the old database (`self`) and its copy, one line each.
    pub fn differences(&self, copy: &Snapshot) -> Vec<String> {
        let mut problems = Vec::new();
        let names = |c: &Catalog| c.tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect::<Vec<_>>();
        let (ours, theirs) = (names(&self.catalog), names(&copy.catalog));
        for (schema, table) in ours.iter().filter(|t| !theirs.contains(t)) {
            problems.push(format!("table {schema}.{table} is missing in the copy"));
        }
        for (schema, table) in theirs.iter().filter(|t| !ours.contains(t)) {
            problems.push(format!("table {schema}.{table} exists only in the copy"));
        }
        if problems.is_empty() {
            for (i, ranges) in self.print.differences(&copy.print) {
                let table = &self.catalog.tables[i];
                let (rows, copied) = (self.print.rows_of(i), copy.print.rows_of(i));
                if rows != copied {
                    problems.push(format!(
                        "table {} has {copied} rows in the copy, {rows} in the original",
                        table.display()
                    ));
                } else {
                    problems.push(format!(
                        "table {} has other rows in the copy ({} key range(s) differ, the first: {})",
                        table.display(),
                        ranges.len(),
                        table.range_text(ranges[0])
                    ));
                }
            }
        }
        let (objects, copied) = (self.print.large_objects, copy.print.large_objects);
        if objects != copied {
            problems.push(format!("{copied} large objects in the copy, {objects} in the original"));
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

fn same_tables(a: &Catalog, b: &Catalog) -> bool {
    let names = |c: &Catalog| c.tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect::<Vec<_>>();
    names(a) == names(b)
}

/// Fails with every difference listed.
pub fn compare(original: &Snapshot, copy: &Snapshot) -> Result<()> {
    let problems = original.differences(copy);
    if problems.is_empty() { Ok(()) } else { bail!("the copy differs from the original: {}", problems.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Table;

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
            extensions: exts.iter().map(|e| e.to_string()).collect(),
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
        let mut c = snap(&[("a", 2, "1"), ("b", 1, "3")], &[("public.s", "9")], &["plpgsql", "postgis"]);
        c.print.large_objects = 2;
        assert_eq!(
            a.differences(&c),
            vec![
                "table public.a has 2 rows in the copy, 3 in the original",
                "table public.b has other rows in the copy (1 key range(s) differ, the first: id 0..1023)",
                "2 large objects in the copy, 0 in the original",
            ]
        );
    }

    #[test]
    fn content_is_compared_from_postgres_12() {
        assert!(!content_comparable(Some(1100)) && !content_comparable(Some(906)) && !content_comparable(None));
        assert!(content_comparable(Some(1200)) && content_comparable(Some(1500)));
    }
}
