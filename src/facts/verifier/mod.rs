//! The independent verifier: the new database compared with the old one by its own reading of
//! both, sharing nothing with the copier but the connection (no fingerprint the copy took, no
//! state the copy assumed, no pg_dump text as the only witness). docs/fidelity.md says exactly
//! what it compares and how.
//!
//! Each side is read in one `psql` session, in one transaction, in two parts:
//! 1. the catalog, object by object (catalog.rs), and what the second part needs;
//! 2. the rows of every relation that holds them, as a count and a sum of keyed digests
//!    (rows.rs), in a form both servers print alike (forms.rs).
//!
//! Then the two sides' facts are compared as sets (compare.rs) and the rows relation by
//! relation. The key is drawn for this comparison from /dev/urandom and goes to the servers
//! on psql's standard input only.
//!
//! # At a stated point
//!
//! A [`Side`] is the database now ([`Side::now`]) or at an exported snapshot
//! ([`Side::at_snapshot`]; or a caller's own session, [`Side::in_session`]), so that the new
//! database can be proven against the old one while the apps still write to it:
//!
//! ```text
//! // The first copy, at the snapshot it was made from (a slot's exported snapshot, which the
//! // replication connection keeps valid until it runs its next command):
//! let mut old = Side::at_snapshot(host, "db", "db", &snapshot)?;
//! let outcome = verifier::compare(host, &mut old, &mut Side::now("db2", "db2"), &Check::everything())?;
//! // Inside the window, only the rows the copier changed since (and the cheap catalog checks):
//! let changed = vec![Selection::keys("public", "notes", vec![vec!["42".into()]])];
//! let outcome = verifier::compare(host, &mut Side::now("db", "db"), &mut Side::now("db2", "db2"), &Check::rows(changed))?;
//! ```
//!
//! Sequences are not transactional: a snapshot does not hold their values still, so they are
//! compared as they are when read.

mod catalog;
mod compare;
pub mod forms;
pub mod rows;
pub mod side;

pub use rows::Which;
pub use side::Side;

use crate::facts::verifier::compare::Facts;
use crate::facts::verifier::forms::{Type, Types};
use crate::facts::verifier::rows::{Digest, Part, Relation};
use crate::host::Host;
use crate::host::secret::Secret;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Some rows of one table (or materialized view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub schema: String,
    pub table: String,
    pub which: Which,
}

impl Selection {
    /// Every row of `schema.table`.
    pub fn all(schema: &str, table: &str) -> Selection {
        Selection { schema: schema.into(), table: table.into(), which: Which::All }
    }

    /// The rows of `schema.table` whose primary key is one of `keys` (each the key's values
    /// as text, in the key's column order).
    pub fn keys(schema: &str, table: &str, keys: Vec<Vec<String>>) -> Selection {
        Selection { schema: schema.into(), table: table.into(), which: Which::Keys(keys) }
    }

    /// The rows of `schema.table` that `condition` (SQL, on both sides) selects.
    pub fn condition(schema: &str, table: &str, condition: &str) -> Selection {
        Selection { schema: schema.into(), table: table.into(), which: Which::Condition(condition.into()) }
    }
}

/// What a comparison covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// The rows compared: every relation's (None), or only these.
    pub rows: Option<Vec<Selection>>,
    /// What may differ because the user accepted it (a flag the report records): a difference
    /// there is a note.
    pub accepted: Accepted,
    /// Server settings this upgrade itself set on the old server with `ALTER SYSTEM` (the online
    /// copy's `wal_level`, its WAL bound): not the user's, so not carried; a difference there is
    /// a note.
    pub set_here: BTreeSet<String>,
    /// The sequences' values are left out: a snapshot does not hold them still, and the caller
    /// moves them later and has them compared then (the online copy's first proof).
    pub without_sequence_values: bool,
}

/// What a copy computes again and the user accepted may differ (`--accept-recomputed`),
/// narrowly: a materialized view's rows, or a stored generated column's values, the other
/// columns of its table compared strictly still. The journal keeps it for a resumed run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accepted {
    /// Materialized views, `(schema, name)`.
    #[serde(default)]
    pub views: BTreeSet<(String, String)>,
    /// Stored generated columns, `(schema, table, column)`.
    #[serde(default)]
    pub columns: BTreeSet<(String, String, String)>,
}

impl Accepted {
    pub fn is_empty(&self) -> bool {
        self.views.is_empty() && self.columns.is_empty()
    }

    fn view(&self, r: &Relation) -> bool {
        r.kind == "m" && self.views.contains(&(r.schema.clone(), r.name.clone()))
    }

    /// The columns of `r` whose values may differ.
    fn loose(&self, r: &Relation) -> Vec<String> {
        r.columns
            .iter()
            .filter(|(c, _)| self.columns.contains(&(r.schema.clone(), r.name.clone(), c.clone())))
            .map(|(c, _)| c.clone())
            .collect()
    }
}

impl Check {
    pub fn everything() -> Check {
        Check::default()
    }

    pub fn rows(selections: Vec<Selection>) -> Check {
        Check { rows: Some(selections), ..Check::default() }
    }

    pub fn with_settings_set_here(mut self, names: &[&str]) -> Check {
        self.set_here.extend(names.iter().map(|n| n.to_string()));
        self
    }
}

/// What the comparison found, and its figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Every difference, one line each.
    pub differences: Vec<String>,
    /// What is expected to change, one line each (an extension's new version, …).
    pub notes: Vec<String>,
    pub figures: Figures,
}

/// What the report shows of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Relations whose rows were compared, and their rows on the old side.
    pub relations: usize,
    pub rows: u64,
    /// Catalog facts compared (objects, columns, roles, settings, …).
    pub facts: usize,
    pub sequences: usize,
    /// The old side's extensions: name → version.
    pub extensions: BTreeMap<String, String>,
    /// Both servers' `server_version_num`.
    pub versions: (u32, u32),
    /// Each side's catalog state (catalog.rs): equal to one taken earlier, nothing in that
    /// side's catalog changed since.
    pub catalog_states: (String, String),
}

impl Outcome {
    /// The refusal, when anything differs: every difference, and what to do next.
    pub fn refusal(&self, old_service: &str) -> Option<String> {
        if self.differences.is_empty() {
            return None;
        }
        Some(format!(
            "the copy differs from the original in {} way(s):\n       - {}\n       Nothing was switched: the apps \
             stay on {old_service}. If a process that is none of the apps' (a cron job, a `dokku run`) changed \
             {old_service} during the window, stop it and run the upgrade again; otherwise the copy cannot carry \
             what is listed: see docs/fidelity.md",
            self.differences.len(),
            self.differences.join("\n       - ")
        ))
    }
}

/// Each side's catalog state now (catalog.rs), both read at once: what a comparison's
/// [`Figures::catalog_states`] is later compared with, to tell that neither catalog changed.
pub fn catalog_states(host: &Host, old: &mut Side, new: &mut Side) -> Result<(String, String)> {
    let key = Secret::draw()?;
    old.open(host, &key, catalog::CATALOG_STATE)?;
    new.open(host, &key, catalog::CATALOG_STATE)?;
    let old_state = catalog_state(&facts_of(old.receive(Some(&key))?, &old.service)?);
    let new_state = catalog_state(&facts_of(new.receive(Some(&key))?, &new.service)?);
    old.finish();
    new.finish();
    if old_state.is_empty() || new_state.is_empty() {
        bail!("{} or {} did not say its catalog state", old.service, new.service);
    }
    Ok((old_state, new_state))
}

/// Compares `new` with `old` as `check` says. Errors are failures to read a side; what
/// differs is in the outcome.
pub fn compare(host: &Host, old: &mut Side, new: &mut Side, check: &Check) -> Result<Outcome> {
    let key = Secret::draw()?;
    let first = catalog::script();
    old.open(host, &key, &first)?;
    new.open(host, &key, &first)?;
    let mut old_facts = facts(old.receive(Some(&key))?, &old.service)?;
    let mut new_facts = facts(new.receive(Some(&key))?, &new.service)?;
    if check.without_sequence_values {
        for facts in [&mut old_facts, &mut new_facts] {
            for ((kind, _), value) in facts.iter_mut() {
                if let (true, Some(fields)) = (kind == "sequence", value.as_object_mut()) {
                    fields.remove("last value");
                    fields.remove("called");
                }
            }
        }
    }
    let versions = (version(&old_facts), version(&new_facts));
    let mut found = compare::compare(&old_facts, &new_facts, versions);
    let set_here = |said: &String| {
        check.set_here.iter().any(|name| {
            said.strip_prefix(&format!("server setting {name}")).is_some_and(|rest| rest.starts_with([' ', ':']))
        })
    };
    let (ours, differences): (Vec<String>, Vec<String>) = found.differences.drain(..).partition(set_here);
    found.differences = differences;
    found.notes.extend(ours.into_iter().map(|d| format!("{d}: set on the old server by this upgrade")));

    let same_version = |ext: &str| {
        let v = |f: &Facts| f.get(&("extension".into(), ext.into())).map(|v| v["version"].clone());
        v(&old_facts) == v(&new_facts)
    };
    let (old_parts, new_parts) = (
        parts(&old_facts, check, &same_version, &old.service)?,
        parts(&new_facts, check, &same_version, &new.service)?,
    );
    let min = versions.0.min(versions.1);
    let (old_types, new_types) = (types(&old_facts), types(&new_facts));
    let (old_sql, old_refused) = statements(&old_parts, rows::forms_for(min, &old_types).as_ref());
    let (new_sql, _) = statements(&new_parts, rows::forms_for(min, &new_types).as_ref());
    found.differences.extend(old_refused);
    old.send(&old_sql)?;
    new.send(&new_sql)?;
    let old_rows = digests(old.receive(Some(&key))?, &old_parts);
    let new_rows = digests(new.receive(Some(&key))?, &new_parts);
    old.finish();
    new.finish();

    for (name, (part, digest)) in &old_rows {
        let Some((_, copied)) = new_rows.get(name) else { continue };
        match judged(part, digest, copied, &check.accepted) {
            Some((said, true)) => found.notes.push(said),
            Some((said, false)) => found.differences.push(said),
            None => {}
        }
    }
    for (kind, name) in old_facts.keys().filter(|(kind, _)| kind == "column order") {
        if !new_facts.contains_key(&(kind.clone(), name.clone())) {
            found
                .notes
                .push(format!("table {name}: its inherited columns come first now (SELECT * shows another order)"));
        }
    }
    let counted = |kind: &str| old_facts.keys().filter(|(k, _)| k == kind).count();
    let figures = Figures {
        relations: old_rows.len(),
        rows: old_rows.values().map(|(_, d)| d.rows).sum(),
        facts: old_facts.len()
            - ["server", "relation", "type", "column order", "catalog state"].iter().map(|k| counted(k)).sum::<usize>(),
        sequences: counted("sequence"),
        extensions: old_facts
            .iter()
            .filter(|((kind, _), _)| kind == "extension")
            .map(|((_, name), v)| (name.clone(), v["version"].as_str().unwrap_or_default().to_string()))
            .collect(),
        versions,
        catalog_states: (catalog_state(&old_facts), catalog_state(&new_facts)),
    };
    Ok(Outcome { differences: found.differences, notes: found.notes, figures })
}

/// What one part's digests on both sides say: nothing when they agree, else a line and
/// whether the user accepted it (a note). A table's loose columns are left out of its strict
/// digest: a difference in them alone is accepted, one anywhere else is not.
fn judged(part: &Part, old: &Digest, new: &Digest, accepted: &Accepted) -> Option<(String, bool)> {
    let r = &part.relation;
    let mut said = if old.rows != new.rows {
        format!("{} has {} rows in the copy, {} in the original", part.display(), new.rows, old.rows)
    } else if old.digest != new.digest {
        format!("{} has other rows in the copy (the same number: {})", part.display(), old.rows)
    } else if old.whole.is_some() && new.whole.is_some() && old.whole != new.whole {
        return Some((
            format!(
                "{}: the stored generated column(s) {} hold other values in the copy (computed again), as accepted",
                part.display(),
                part.loose.join(", ")
            ),
            true,
        ));
    } else {
        return None;
    };
    if r.kind == "m" {
        // A restore refreshes it from the copied rows: the original's was stale.
        said.push_str(": it is refreshed from the copied rows, so the original's was stale");
        if accepted.view(r) {
            return Some((format!("{said}, as accepted"), true));
        }
        said.push_str("; refresh it there, then run the upgrade again");
    }
    Some((said, false))
}

/// One side's answer to the first part, by `(kind, name)`.
fn facts(lines: Vec<Value>, service: &str) -> Result<Facts> {
    let facts = facts_of(lines, service)?;
    facts.get(&("server".into(), String::new())).with_context(|| format!("{service} did not say its version"))?;
    Ok(facts)
}

/// `[kind, name, value]` lines by `(kind, name)`.
fn facts_of(lines: Vec<Value>, service: &str) -> Result<Facts> {
    let mut facts = Facts::new();
    for line in lines {
        let (Some(kind), Some(name)) = (line[0].as_str(), line[1].as_str()) else {
            bail!("unexpected line from {service}: {line}");
        };
        facts.insert((kind.to_string(), name.to_string()), line[2].clone());
    }
    Ok(facts)
}

/// `[[a, b], …]` of strings as pairs (columns and their types, a composite's fields).
fn pairs(value: &Value) -> Vec<(String, String)> {
    let pair = |p: &Value| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string()));
    value.as_array().map(|a| a.iter().filter_map(pair).collect()).unwrap_or_default()
}

fn catalog_state(facts: &Facts) -> String {
    facts
        .get(&("catalog state".into(), String::new()))
        .and_then(|v| v["digest"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn version(facts: &Facts) -> u32 {
    facts.get(&("server".into(), String::new())).and_then(|v| v["version"].as_u64()).unwrap_or(0) as u32
}

fn types(facts: &Facts) -> Types {
    facts
        .iter()
        .filter(|((kind, _), _)| kind == "type")
        .map(|((_, oid), v)| (oid.clone(), Type::from_json(v)))
        .collect()
}

/// The rows one side reads: every populated relation's, or the selections'. Of an extension's
/// relation, all of them when the extension has the same version on both sides, else a
/// configuration table's users' rows (an other's rows come from the new version's script).
fn parts(
    facts: &Facts,
    check: &Check,
    same_version: &dyn Fn(&str) -> bool,
    service: &str,
) -> Result<Vec<(String, Part)>> {
    let relations: BTreeMap<String, Relation> = facts
        .iter()
        .filter(|((kind, _), _)| kind == "relation")
        .map(|((_, name), v)| (name.clone(), Relation::from_json(v)))
        .collect();
    let readable = |r: &Relation| -> Option<Relation> {
        let mut r = r.clone();
        if !r.populated {
            return None;
        }
        match r.extension.as_deref() {
            Some(ext) if same_version(ext) => r.filter = None,
            Some(_) if r.filter.is_none() => return None,
            _ => {}
        }
        Some(r)
    };
    let Some(selections) = &check.rows else {
        return Ok(relations
            .values()
            .filter_map(readable)
            .map(|relation| {
                let loose = check.accepted.loose(&relation);
                (relation.display(), Part { relation, which: Which::All, loose })
            })
            .collect());
    };
    let mut parts = Vec::new();
    for (i, s) in selections.iter().enumerate() {
        let name = format!("{}.{}", s.schema, s.table);
        // A relation one side lacks is a difference the catalog names.
        let Some(relation) = relations.get(&name).and_then(readable) else { continue };
        if matches!(s.which, Which::Keys(_)) && relation.key.is_empty() {
            bail!("table {name} of {service} has no primary key: its rows cannot be selected by key");
        }
        let loose = check.accepted.loose(&relation);
        parts.push((format!("{name} #{i}"), Part { relation, which: s.which.clone(), loose }));
    }
    Ok(parts)
}

/// The second part's SQL, and a refusal for each column whose values cannot be put in a form
/// both servers print alike.
fn statements(parts: &[(String, Part)], forms: Option<&forms::Forms>) -> (String, Vec<String>) {
    let mut sql = Vec::new();
    let mut refused = Vec::new();
    for (i, (_, part)) in parts.iter().enumerate() {
        match part.statement(i, forms) {
            Ok(statement) => sql.push(statement),
            Err(err) => refused.push(format!(
                "{err}: alter the column to a type without floating-point values, or upgrade to 12 first, then to this image"
            )),
        }
    }
    (sql.join("\n"), refused)
}

/// The second part's answer by each part's name.
fn digests(lines: Vec<Value>, parts: &[(String, Part)]) -> BTreeMap<String, (Part, Digest)> {
    let mut out = BTreeMap::new();
    for line in lines {
        let Some((name, part)) = line[1].as_str().and_then(|i| i.parse::<usize>().ok()).and_then(|i| parts.get(i))
        else {
            continue;
        };
        out.insert(name.clone(), (part.clone(), Digest::from_json(&line[2])));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_lists_every_difference_and_says_what_to_do() {
        let mut outcome = Outcome::default();
        assert_eq!(outcome.refusal("db"), None);
        outcome.differences = vec!["table public.a has 2 rows in the copy, 3 in the original".into(), "x".into()];
        let said = outcome.refusal("db").unwrap();
        assert!(said.starts_with("the copy differs from the original in 2 way(s):\n       - table public.a"));
        assert!(said.contains("stop it and run the upgrade again"), "{said}");
    }

    #[test]
    fn only_what_was_accepted_may_differ() {
        let relation = |kind: &str| Relation {
            schema: "public".into(),
            name: "gen".into(),
            kind: kind.into(),
            columns: vec![("a".into(), "23".into()), ("b".into(), "23".into())],
            ..Relation::default()
        };
        let accepted = Accepted {
            views: [("public".to_string(), "gen".to_string())].into(),
            columns: [("public".to_string(), "gen".to_string(), "b".to_string())].into(),
        };
        let table = Part { loose: accepted.loose(&relation("r")), relation: relation("r"), which: Which::All };
        assert_eq!(table.loose, ["b"]);
        let d = |digest: &str, whole: &str| Digest { rows: 5, digest: digest.into(), whole: Some(whole.into()) };
        assert_eq!(judged(&table, &d("1", "2"), &d("1", "2"), &accepted), None);
        // Only the accepted column differs: a note.
        let (said, note) = judged(&table, &d("1", "2"), &d("1", "3"), &accepted).unwrap();
        assert!(note && said.contains("column(s) b hold other values"), "{said}");
        // Another column differs too (a lost write): refused, whatever the accepted one does.
        let (said, note) = judged(&table, &d("1", "2"), &d("4", "3"), &accepted).unwrap();
        assert!(!note && said == "table public.gen has other rows in the copy (the same number: 5)", "{said}");
        let fewer = Digest { rows: 4, ..d("1", "2") };
        assert!(!judged(&table, &d("1", "2"), &fewer, &accepted).unwrap().1);
        // A view's rows, when it was accepted.
        let view = Part { relation: relation("m"), which: Which::All, loose: vec![] };
        let d = |digest: &str| Digest { rows: 1, digest: digest.into(), whole: None };
        let (said, note) = judged(&view, &d("1"), &d("2"), &accepted).unwrap();
        assert!(note && said.ends_with("was stale, as accepted"), "{said}");
        let (said, note) = judged(&view, &d("1"), &d("2"), &Accepted::default()).unwrap();
        assert!(!note && said.ends_with("refresh it there, then run the upgrade again"), "{said}");
    }

    #[test]
    fn the_parts_read_follow_extensions_and_selections() {
        let rel = |name: &str, ext: Option<&str>, filter: Option<&str>, populated: bool| {
            (
                ("relation".to_string(), format!("public.{name}")),
                serde_json::json!({"schema": "public", "name": name, "kind": "r", "populated": populated,
                    "extension": ext, "filter": filter, "key": ["id"], "columns": [["id", "23"]]}),
            )
        };
        let facts: Facts = [
            rel("notes", None, None, true),
            rel("stale", None, None, false),
            rel("spatial_ref_sys", Some("postgis"), Some("WHERE srid > 999000"), true),
            rel("layer", Some("postgis"), None, true),
        ]
        .into_iter()
        .collect();
        let names = |parts: Vec<(String, Part)>| parts.iter().map(|(_, p)| p.display()).collect::<Vec<_>>();
        let all = parts(&facts, &Check::everything(), &|_| true, "db").unwrap();
        assert_eq!(names(all.clone()), ["table public.layer", "table public.notes", "table public.spatial_ref_sys"]);
        assert!(all.iter().all(|(_, p)| p.relation.filter.is_none()));
        let other = parts(&facts, &Check::everything(), &|_| false, "db").unwrap();
        assert_eq!(names(other.clone()), ["table public.notes", "table public.spatial_ref_sys"]);
        assert!(other[1].1.relation.filter.is_some());
        let some = Check::rows(vec![
            Selection::keys("public", "notes", vec![vec!["1".into()]]),
            Selection::condition("public", "gone", "true"),
        ]);
        assert_eq!(names(parts(&facts, &some, &|_| true, "db").unwrap()), ["table public.notes (1 given key(s))"]);
    }
}
