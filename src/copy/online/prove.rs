//! What the online copy proves, and where the product's verifier comes in. Two questions, each
//! behind one function, so that the verifier that reads both databases on its own (at a given
//! exported snapshot, and only given rows: facts/) can answer them in place of what they use
//! now, the fingerprints of facts/fingerprint.rs:
//!
//! - [`prove_first_copy`]: the new database after the restore holds what the old one held at the
//!   stream's snapshot, read by a session that imported that snapshot while the apps ran;
//! - [`prove_changes`]: inside the window, every row the old server's WAL names as changed since
//!   that snapshot is the same on both sides. Rows it does not name are unchanged on the old
//!   side since the snapshot, and on the new side since the restore (nothing but the stream and
//!   this copy writes there), so they are as the first proof found them.
//!
//! The keys the WAL names become the fingerprint's key ranges for now (a table without an
//! integer key is compared whole); the verifier's given-rows comparison takes them as they are.

use crate::copy::Prints;
use crate::copy::online::keys::{Changed, Changes};
use crate::facts::fingerprint::{Catalog, Fingerprint, Parts};
use crate::host::psql::Psql;
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// Both databases as the first proof found them.
#[derive(Debug, Clone)]
pub struct FirstCopy {
    pub old: Fingerprint,
    pub new: Fingerprint,
}

/// Starts reading the old database as `snapshot` sees it, in `old` (a session of its own: the
/// reading runs while the restore does). [`prove_first_copy`] ends it.
pub fn start_first_copy_proof(old: &mut Psql, catalog: &Catalog, snapshot: &str) -> Result<()> {
    let all: Parts = (0..catalog.tables.len()).map(|i| (i, None)).collect();
    old.send(&Fingerprint::statements(catalog, &all, true, Some(snapshot)))
}

/// The first copy against the old database at the stream's snapshot: fails with what differs.
pub fn prove_first_copy(old: &mut Psql, new: &mut Psql, catalog: &Catalog) -> Result<FirstCopy> {
    let all: Parts = (0..catalog.tables.len()).map(|i| (i, None)).collect();
    new.send(&Fingerprint::statements(catalog, &all, true, None))?;
    let at_snapshot = Fingerprint::parse(&old.collect()?)?;
    let copied = Fingerprint::parse(&new.collect()?)?;
    let differ = differences(catalog, &at_snapshot, &copied);
    if !differ.is_empty() {
        bail!("the first copy differs from {} at the stream's snapshot: {}", old.service, differ.join("; "));
    }
    Ok(FirstCopy { old: at_snapshot, new: copied })
}

/// The parts of the database the changes name: each changed table's key ranges (its whole
/// when it has no integer key, when a change named no key, or when too many ranges changed),
/// and every table in `whole`.
pub fn changed_parts(catalog: &Catalog, changes: &Changes, whole: &[usize]) -> Parts {
    let index: BTreeMap<(&str, &str), usize> =
        catalog.tables.iter().enumerate().map(|(i, t)| ((t.schema.as_str(), t.name.as_str()), i)).collect();
    let mut ranges: BTreeMap<usize, Option<Vec<i64>>> = BTreeMap::new();
    for ((schema, name), changed) in &changes.tables {
        let Some(&i) = index.get(&(schema.as_str(), name.as_str())) else { continue };
        let table = &catalog.tables[i];
        let keyed: Option<Vec<i64>> = match changed {
            Changed::All => None,
            Changed::Rows(keys) if table.key.is_some() => {
                keys.iter().map(|k| Some(k.first()?.parse::<i64>().ok()? >> table.shift)).collect()
            }
            Changed::Rows(_) => None,
        };
        ranges.insert(i, keyed);
    }
    for &i in whole {
        ranges.insert(i, None);
    }
    let listed: BTreeMap<usize, Vec<i64>> = ranges
        .iter()
        .map(|(&i, r)| {
            let mut r = r.clone().unwrap_or_default();
            r.sort_unstable();
            r.dedup();
            (i, r)
        })
        .collect();
    let mut parts = crate::copy::catch_up::parts_to_copy(catalog, &listed);
    for (i, r) in ranges {
        if r.is_none() {
            parts.insert(i, None);
        }
    }
    parts
}

/// The changed parts, read on both sides at once and compared; both databases' fingerprints as
/// they are now (what verification reuses while they are held still: copy/hold.rs).
pub fn prove_changes(
    old: &mut Psql,
    new: &mut Psql,
    catalog: &Catalog,
    first: &FirstCopy,
    parts: &Parts,
) -> Result<Prints> {
    old.send(&Fingerprint::statements(catalog, parts, true, None))?;
    new.send(&Fingerprint::statements(catalog, parts, true, None))?;
    let (theirs, ours) = (Fingerprint::parse(&old.collect()?)?, Fingerprint::parse(&new.collect()?)?);
    let differ = differences(catalog, &theirs, &ours);
    if !differ.is_empty() {
        bail!("the rows changed since the first copy differ: {}", differ.join("; "));
    }
    Ok(Prints {
        catalog: catalog.clone(),
        original: first.old.replace(parts, &theirs),
        copy: first.new.replace(parts, &ours),
    })
}

/// Each table whose key ranges differ, and how.
fn differences(catalog: &Catalog, old: &Fingerprint, new: &Fingerprint) -> Vec<String> {
    old.differences(new)
        .into_iter()
        .map(|(i, ranges)| {
            let table = &catalog.tables[i];
            format!(
                "table {} ({} rows there, {} in the copy; {} key range(s) differ, the first: {})",
                table.display(),
                old.rows_of(i),
                new.rows_of(i),
                ranges.len(),
                table.range_text(ranges[0])
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fingerprint::Table;
    use std::collections::BTreeSet;

    #[test]
    fn changed_keys_become_key_ranges_and_the_rest_whole_tables() {
        let table = |name: &str, key: Option<&str>| Table {
            schema: "public".into(),
            name: name.into(),
            key: key.map(String::from),
            shift: 10,
            ..Default::default()
        };
        let catalog = Catalog {
            tables: vec![
                table("notes", Some("id")),
                table("log", None),
                table("tags", Some("id")),
                table("cache", None),
            ],
            ..Catalog::default()
        };
        let t = |n: &str| ("public".to_string(), n.to_string());
        let keys = |k: &[&str]| Changed::Rows(k.iter().map(|v| vec![v.to_string()]).collect::<BTreeSet<_>>());
        let mut changes = Changes::default();
        changes.tables = BTreeMap::from([
            (t("notes"), keys(&["1", "5", "3000", "-1"])),
            (t("log"), keys(&["'a'"])),
            (t("tags"), Changed::All),
            (t("gone"), Changed::All),
        ]);
        let parts = changed_parts(&catalog, &changes, &[3]);
        assert_eq!(parts, Parts::from([(0, Some(vec![-1, 0, 2])), (1, None), (2, None), (3, None)]));
        assert!(changed_parts(&catalog, &Changes::default(), &[]).is_empty());
    }
}
