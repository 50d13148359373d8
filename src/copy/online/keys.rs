//! Which rows changed on the old server since the first copy's snapshot, read from the old
//! server's own WAL: the `test_decoding` slot created with the stream prints every change of
//! every table, one line each (docs/online.md, "What the stream names"):
//!
//! ```text
//! BEGIN
//! table public.notes: INSERT: id[integer]:7 body[text]:'it''s'
//! table public.notes: UPDATE: old-key: id[integer]:7 new-tuple: id[integer]:8 body[text]:'x'
//! table public.notes: DELETE: id[integer]:8
//! table public.notes, public.log: TRUNCATE: (no-flags)
//! COMMIT
//! ```
//!
//! A name is printed as `quote_identifier` prints it, a column as `name[type]:value`, a value
//! unquoted for numbers and booleans, `B'…'` for bits, `null`, `unchanged-toast-datum`, or a
//! quoted literal with its quotes doubled. Only the key columns' values are kept: they name the
//! rows that verification compares on both sides inside the window.

use anyhow::{Result, bail};
use std::collections::{BTreeMap, BTreeSet};

/// A table as (schema, name), unquoted.
pub type TableName = (String, String);

/// One row's key: the values of the table's key columns as SQL literals, in the key's order.
pub type Key = Vec<String>;

/// What changed in one table since the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// These rows (by key), inserted, updated or deleted.
    Rows(BTreeSet<Key>),
    /// Rows no key names: a TRUNCATE, a table without key columns, or more rows than are kept.
    All,
}

/// Every change read from the slot so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub tables: BTreeMap<TableName, Changed>,
    /// Changes read (rows inserted, updated, deleted; tables truncated).
    pub count: u64,
    /// The end of the last commit of a transaction that changed a table in `streamed`: once
    /// the new server has applied the commit ending there, it has every streamed change.
    pub last_commit: Option<u64>,
    /// The transaction being read changed a streamed table.
    open: bool,
}

/// Above this many keys in all, a table's changes are kept as [`Changed::All`]: what a window
/// compares is then the table, not its rows.
const MAX_KEYS: usize = 200_000;

impl Changes {
    /// Reads the slot's rows (`lsn|data`, data as JSON text). `keys` names each table's key
    /// columns (none: the table is compared whole); `streamed` says which tables the stream
    /// carries.
    pub fn read(
        &mut self,
        rows: &[String],
        keys: &BTreeMap<TableName, Vec<String>>,
        streamed: &dyn Fn(&TableName) -> bool,
    ) -> Result<()> {
        for row in rows {
            let Some((lsn, json)) = row.split_once('|') else { bail!("unexpected change: {row}") };
            let data: String =
                serde_json::from_str(json).map_err(|e| anyhow::anyhow!("unexpected change {row}: {e}"))?;
            if data == "BEGIN" || data.starts_with("BEGIN ") {
                self.open = false;
            } else if data == "COMMIT" || data.starts_with("COMMIT ") {
                if self.open {
                    self.last_commit = Some(parse_lsn(lsn)?);
                }
                self.open = false;
            } else if let Some(change) = parse_change(&data)? {
                self.count += 1;
                for table in &change.tables {
                    self.open |= streamed(table);
                    let columns = keys.get(table).map(Vec::as_slice).unwrap_or(&[]);
                    self.add(table, &change, columns);
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, table: &TableName, change: &Change, columns: &[String]) {
        let total: usize = self.tables.values().map(|c| if let Changed::Rows(r) = c { r.len() } else { 0 }).sum();
        let keys: Option<Vec<Key>> = match &change.kind {
            Kind::Truncate => None,
            _ if columns.is_empty() || total >= MAX_KEYS => None,
            Kind::Row { tuples } => tuples.iter().map(|t| key_of(t, columns)).collect(),
        };
        let entry = self.tables.entry(table.clone()).or_insert_with(|| Changed::Rows(BTreeSet::new()));
        match (entry, keys) {
            (Changed::Rows(set), Some(keys)) => set.extend(keys),
            (entry, _) => *entry = Changed::All,
        }
    }

    /// How many rows are named by key, and how many tables changed without one.
    pub fn summary(&self) -> (usize, usize) {
        self.tables.values().fold((0, 0), |(rows, all), c| match c {
            Changed::Rows(r) => (rows + r.len(), all),
            Changed::All => (rows, all + 1),
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// The row before and after (an INSERT has only the new one, a DELETE only the old key,
    /// an UPDATE of the key both).
    Row {
        tuples: Vec<Vec<(String, String)>>,
    },
    Truncate,
}

#[derive(Debug, PartialEq, Eq)]
struct Change {
    tables: Vec<TableName>,
    kind: Kind,
}

/// The key's values in a printed tuple, or None when one is missing (an UPDATE that printed no
/// key, a NULL in a unique index key): the table is then compared whole.
fn key_of(tuple: &[(String, String)], columns: &[String]) -> Option<Key> {
    columns
        .iter()
        .map(|c| tuple.iter().find(|(name, _)| name == c).map(|(_, v)| v.clone()))
        .collect::<Option<Vec<String>>>()
        .filter(|k| k.iter().all(|v| v != "null" && v != "unchanged-toast-datum"))
}

/// One line of `test_decoding`: None for what is not a change (a message).
fn parse_change(data: &str) -> Result<Option<Change>> {
    let Some(rest) = data.strip_prefix("table ") else { return Ok(None) };
    let mut s = Scanner { text: rest, at: 0 };
    let mut tables = Vec::new();
    loop {
        let schema = s.identifier()?;
        s.expect(".")?;
        let name = s.identifier()?;
        tables.push((schema, name));
        if s.eat(", ") {
            continue;
        }
        s.expect(": ")?;
        break;
    }
    let rest = s.rest();
    let (kind, body) = rest.split_once(':').ok_or_else(|| anyhow::anyhow!("unexpected change: {data}"))?;
    let kind = match kind {
        "TRUNCATE" => Kind::Truncate,
        "INSERT" | "DELETE" => Kind::Row { tuples: vec![tuple(body)?] },
        "UPDATE" => match body.strip_prefix(" old-key:") {
            Some(both) => {
                let at = find_new_tuple(both)?;
                Kind::Row { tuples: vec![tuple(&both[..at])?, tuple(&both[at + " new-tuple:".len()..])?] }
            }
            None => Kind::Row { tuples: vec![tuple(body)?] },
        },
        _ => bail!("unexpected change: {data}"),
    };
    Ok(Some(Change { tables, kind }))
}

/// Where ` new-tuple:` starts after an old key: the first one outside a quoted value.
fn find_new_tuple(text: &str) -> Result<usize> {
    let mut s = Scanner { text, at: 0 };
    while !s.done() {
        if s.rest().starts_with(" new-tuple:") {
            return Ok(s.at);
        }
        s.eat(" ");
        s.column()?;
    }
    bail!("an UPDATE's old key without its new tuple: {text}")
}

/// ` name[type]:value …` as (name, value) pairs; `(no-tuple-data)` is none.
fn tuple(text: &str) -> Result<Vec<(String, String)>> {
    if text.trim() == "(no-tuple-data)" {
        return Ok(Vec::new());
    }
    let mut s = Scanner { text, at: 0 };
    let mut columns = Vec::new();
    while s.eat(" ") {
        columns.push(s.column()?);
    }
    if !s.done() {
        bail!("unexpected tuple: {text}");
    }
    Ok(columns)
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl Scanner<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn done(&self) -> bool {
        self.at >= self.text.len()
    }

    fn eat(&mut self, what: &str) -> bool {
        let found = self.rest().starts_with(what);
        if found {
            self.at += what.len();
        }
        found
    }

    fn expect(&mut self, what: &str) -> Result<()> {
        if !self.eat(what) {
            bail!("expected {what:?} at {:?}", self.rest());
        }
        Ok(())
    }

    /// A name as `quote_identifier` prints it, unquoted.
    fn identifier(&mut self) -> Result<String> {
        if self.eat("\"") {
            let mut name = String::new();
            loop {
                let Some(c) = self.rest().chars().next() else { bail!("an unterminated name in {:?}", self.text) };
                self.at += c.len_utf8();
                if c == '"' {
                    if self.eat("\"") {
                        name.push('"');
                    } else {
                        return Ok(name);
                    }
                } else {
                    name.push(c);
                }
            }
        }
        let end =
            self.rest().find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(self.rest().len());
        if end == 0 {
            bail!("expected a name at {:?}", self.rest());
        }
        let name = self.rest()[..end].to_string();
        self.at += end;
        Ok(name)
    }

    /// `name[type]:value`: the name unquoted, the value as an SQL literal.
    fn column(&mut self) -> Result<(String, String)> {
        let name = self.identifier()?;
        self.expect("[")?;
        let Some(end) = self.rest().find("]:") else { bail!("a column without its type in {:?}", self.text) };
        self.at += end + 2;
        let value = if self.rest().starts_with('\'') || self.rest().starts_with("B'") {
            let start = self.at;
            self.at += self.rest().find('\'').unwrap_or(0) + 1;
            loop {
                let Some(q) = self.rest().find('\'') else { bail!("an unterminated value in {:?}", self.text) };
                self.at += q + 1;
                if !self.eat("'") {
                    break;
                }
            }
            self.text[start..self.at].to_string()
        } else {
            let end = self.rest().find(' ').unwrap_or(self.rest().len());
            let word = self.rest()[..end].to_string();
            self.at += end;
            // Numbers and booleans are SQL as printed; NaN and Infinity need quotes.
            if word.parse::<f64>().is_ok() && !word.chars().any(char::is_alphabetic)
                || ["true", "false", "null", "unchanged-toast-datum"].contains(&word.as_str())
            {
                word
            } else {
                format!("'{word}'")
            }
        };
        Ok((name, value))
    }
}

/// `X/Y` as a number.
pub fn parse_lsn(text: &str) -> Result<u64> {
    let (high, low) = text.trim().split_once('/').ok_or_else(|| anyhow::anyhow!("not an LSN: {text}"))?;
    let parse = |h: &str| u64::from_str_radix(h, 16).map_err(|_| anyhow::anyhow!("not an LSN: {text}"));
    Ok((parse(high)? << 32) | parse(low)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[(&str, &str)]) -> Vec<String> {
        lines.iter().map(|(lsn, data)| format!("{lsn}|{}", serde_json::to_string(data).unwrap())).collect()
    }

    fn t(schema: &str, name: &str) -> TableName {
        (schema.to_string(), name.to_string())
    }

    #[test]
    fn inserts_updates_and_deletes_name_their_rows_by_key() {
        let keys = BTreeMap::from([
            (t("public", "notes"), vec!["id".to_string()]),
            (t("s", "Odd \"T\""), vec!["a".to_string(), "b c".to_string()]),
        ]);
        let mut changes = Changes::default();
        changes
            .read(
                &rows(&[
                    ("0/10", "BEGIN"),
                    ("0/10", "table public.notes: INSERT: id[integer]:7 body[text]:'it''s: a new-tuple: x'"),
                    ("0/20", "table public.notes: UPDATE: old-key: id[integer]:7 new-tuple: id[integer]:8 body[text]:null"),
                    ("0/30", "table public.notes: DELETE: id[integer]:-3"),
                    ("0/38", "table s.\"Odd \"\"T\"\"\": INSERT: a[character varying(10)]:'x y' \"b c\"[numeric]:NaN d[integer[]]:'{1,2}'"),
                    ("0/40", "COMMIT"),
                ]),
                &keys,
                &|table| table.1 == "notes",
            )
            .unwrap();
        assert_eq!(changes.count, 4);
        assert_eq!(changes.last_commit, Some(0x40));
        let notes = &changes.tables[&t("public", "notes")];
        assert_eq!(
            notes,
            &Changed::Rows(BTreeSet::from([vec!["7".to_string()], vec!["8".to_string()], vec!["-3".to_string()]]))
        );
        assert_eq!(
            changes.tables[&t("s", "Odd \"T\"")],
            Changed::Rows(BTreeSet::from([vec!["'x y'".to_string(), "'NaN'".to_string()]]))
        );
        assert_eq!(changes.summary(), (4, 0));
    }

    #[test]
    fn a_truncate_a_keyless_table_and_a_missing_key_take_the_whole_table() {
        let keys = BTreeMap::from([(t("public", "notes"), vec!["id".to_string()])]);
        let mut changes = Changes::default();
        changes
            .read(
                &rows(&[
                    ("0/10", "BEGIN"),
                    ("0/18", "table public.log: INSERT: line[text]:'x'"),
                    ("0/20", "COMMIT"),
                    ("0/28", "BEGIN"),
                    ("0/30", "table public.notes, public.\"user\": TRUNCATE: restart_seqs cascade"),
                    ("0/40", "COMMIT"),
                    ("0/48", "table public.other: UPDATE: (no-tuple-data)"),
                ]),
                &keys,
                &|table| table.1 != "log",
            )
            .unwrap();
        assert_eq!(changes.tables[&t("public", "log")], Changed::All);
        assert_eq!(changes.tables[&t("public", "notes")], Changed::All);
        assert_eq!(changes.tables[&t("public", "user")], Changed::All);
        assert_eq!(changes.tables[&t("public", "other")], Changed::All);
        // The first transaction changed only a table outside the stream.
        assert_eq!(changes.last_commit, Some(0x40));
    }

    #[test]
    fn what_is_not_a_change_line_is_refused_or_passed_over() {
        assert!(parse_change("message: transactional: 1 prefix: x, sz: 1 content:y").unwrap().is_none());
        assert!(parse_change("table public.t: MERGE: x").is_err());
        assert!(tuple(" id[integer]:'unterminated").is_err());
        assert_eq!(parse_lsn("1/A0").unwrap(), (1 << 32) | 0xa0);
        assert!(parse_lsn("x").is_err());
    }
}
