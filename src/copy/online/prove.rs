//! What the online copy has proven, and what it leaves to verification. The proof is never the
//! copier's own: the independent verifier (facts/verifier/) reads both databases itself.
//!
//! - [`FirstProof`]: the new database after the restore holds what the old one held at the
//!   stream's snapshot, read by the verifier in a session that imported that snapshot while the
//!   apps ran ([`crate::facts::verifier::Side::at_snapshot`]), every row and the catalog (the
//!   sequences' values aside: no snapshot holds them, and the window moves them).
//! - [`selections`]: inside the window, which rows verification reads: every row the old
//!   server's WAL names as changed since that snapshot (by primary key), every table no key
//!   names (a TRUNCATE, a table keyed otherwise), every table copied whole in the window, every
//!   materialized view, every table an extension owns. The WAL only *selects*; the verifier
//!   proves. Rows it does not name are unchanged on the old side since the snapshot (the WAL
//!   would name them), and on the new side since the restore: nothing but the stream writes
//!   there, and the stream's writes are the WAL's (docs/online.md, "What is proven").

use crate::copy::online::keys::{Changed, Changes, TableName};
use crate::facts::verifier::{self, Check, Figures, Selection, Side};
use crate::host::Host;
use anyhow::{Result, bail};
use std::collections::BTreeSet;

/// The old database at the stream's snapshot, held by the verifier's own session until the
/// first copy is compared with it.
pub struct FirstProof {
    old: Side,
}

impl FirstProof {
    /// Imports `snapshot` (the slot's exported one, valid while the slot's connection waits)
    /// into a session of the verifier's: later writes are not seen by it.
    pub fn start(host: &Host, service: &str, database: &str, snapshot: &str) -> Result<FirstProof> {
        Ok(FirstProof { old: Side::at_snapshot(host, service, database, snapshot)? })
    }

    /// The first copy against the old database at the snapshot, every row and the catalog;
    /// fails with every difference. `set_here`: settings this upgrade set on the old server.
    pub fn finish(mut self, host: &Host, new: (&str, &str), set_here: &[&str]) -> Result<Figures> {
        let check = Check { without_sequence_values: true, ..Check::everything().with_settings_set_here(set_here) };
        let outcome = verifier::compare(host, &mut self.old, &mut Side::now(new.0, new.1), &check)?;
        if !outcome.differences.is_empty() {
            bail!(
                "the first copy differs from {} at the stream's snapshot in {} way(s): {}",
                self.old.service,
                outcome.differences.len(),
                outcome.differences.join("; ")
            );
        }
        Ok(outcome.figures)
    }
}

/// The rows verification reads inside the window. `primary`: the tables whose WAL key is their
/// primary key (the verifier selects by it); `whole`: the tables read whole whatever the WAL
/// says.
pub fn selections(changes: &Changes, primary: &BTreeSet<TableName>, whole: &BTreeSet<TableName>) -> Vec<Selection> {
    let mut out: Vec<Selection> = whole.iter().map(|(s, t)| Selection::all(s, t)).collect();
    for (table, changed) in &changes.tables {
        if whole.contains(table) {
            continue;
        }
        let (schema, name) = table;
        out.push(match changed {
            Changed::Rows(keys) if primary.contains(table) => {
                Selection::keys(schema, name, keys.iter().map(|k| k.iter().map(|v| text_of(v)).collect()).collect())
            }
            _ => Selection::all(schema, name),
        });
    }
    out
}

/// A key value as the WAL prints it (an SQL literal: `42`, `true`, `'it''s'`, `B'101'`) as the
/// text the verifier compares it as.
fn text_of(literal: &str) -> String {
    let quoted = literal.strip_prefix("B'").or_else(|| literal.strip_prefix('\''));
    match quoted.and_then(|q| q.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => literal.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::verifier::Which;
    use std::collections::BTreeMap;

    #[test]
    fn the_wal_selects_rows_by_primary_key_and_the_rest_whole() {
        let t = |n: &str| ("public".to_string(), n.to_string());
        let keys = |k: &[&str]| Changed::Rows(k.iter().map(|v| vec![v.to_string()]).collect::<BTreeSet<_>>());
        let mut changes = Changes::default();
        changes.tables = BTreeMap::from([
            (t("notes"), keys(&["1", "'it''s'", "B'101'"])),
            (t("by_index"), keys(&["2"])),
            (t("tags"), Changed::All),
            (t("copied"), keys(&["3"])),
        ]);
        let primary = BTreeSet::from([t("notes"), t("tags"), t("copied")]);
        let whole = BTreeSet::from([t("copied"), t("mv")]);
        let found = selections(&changes, &primary, &whole);
        let by_name: BTreeMap<&str, &Which> = found.iter().map(|s| (s.table.as_str(), &s.which)).collect();
        assert_eq!(found.len(), 5);
        assert_eq!(by_name["copied"], &Which::All);
        assert_eq!(by_name["mv"], &Which::All);
        assert_eq!(by_name["tags"], &Which::All);
        assert_eq!(by_name["by_index"], &Which::All, "a key that is not the primary key selects the whole table");
        let Which::Keys(notes) = by_name["notes"] else { panic!("{:?}", by_name["notes"]) };
        let mut values: Vec<&str> = notes.iter().map(|k| k[0].as_str()).collect();
        values.sort_unstable();
        assert_eq!(values, ["1", "101", "it's"]);
        assert!(selections(&Changes::default(), &primary, &BTreeSet::new()).is_empty());
    }
}
