//! The second part the verifier asks each side: the rows of each relation, as a count and a
//! digest that the data cannot be tuned against. Each row's text (its columns by name, in the
//! forms of forms.rs) is hashed with this run's key in front, `md5(key || row)`, its first 64
//! bits taken as a signed integer, and the integers summed exactly. A keyed pseudo-random
//! function's sum is a sound digest of a multiset: without the key, no one can choose rows
//! whose digests cancel out (docs/fidelity.md, "The digest").

use crate::facts::fingerprint::{ident, literal};
use crate::facts::verifier::forms::{Forms, Types};
use crate::facts::verifier::side::KEY;
use anyhow::Result;
use serde_json::Value;

/// A relation that holds rows, as the first part (catalog.rs, `relation`) describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// pg_class.relkind: `r` (a table or partition) or `m` (a materialized view).
    pub kind: String,
    pub populated: bool,
    /// The extension that owns it, and the condition that selects its users' rows (a
    /// configuration table's `extcondition`, `""` for all of them; None: not a configuration
    /// table).
    pub extension: Option<String>,
    pub filter: Option<String>,
    pub key: Vec<String>,
    /// (name, type oid), in the table's own order.
    pub columns: Vec<(String, String)>,
}

impl Relation {
    pub fn from_json(value: &Value) -> Relation {
        let text = |k: &str| value[k].as_str().map(String::from);
        Relation {
            schema: text("schema").unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            kind: text("kind").unwrap_or_default(),
            populated: value["populated"].as_bool().unwrap_or(true),
            extension: text("extension"),
            filter: text("filter"),
            key: value["key"]
                .as_array()
                .map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect())
                .unwrap_or_default(),
            columns: super::pairs(&value["columns"]),
        }
    }

    /// `schema.name`, as messages and the facts name it.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn what(&self) -> &'static str {
        if self.kind == "m" { "materialized view" } else { "table" }
    }

    fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }
}

/// Which rows of a relation are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    All,
    /// The rows whose primary key is one of these (each the key's columns' values as text, in
    /// the key's order).
    Keys(Vec<Vec<String>>),
    /// The rows this SQL condition selects (the caller's own text, on both sides).
    Condition(String),
}

/// One relation's rows to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub relation: Relation,
    pub which: Which,
}

impl Part {
    /// What the comparison calls this part in a message.
    pub fn display(&self) -> String {
        let name = format!("{} {}", self.relation.what(), self.relation.display());
        match &self.which {
            Which::All => name,
            Which::Keys(keys) => format!("{name} ({} given key(s))", keys.len()),
            Which::Condition(c) => format!("{name} (where {c})"),
        }
    }

    /// The statement that prints `["rows", index, {rows, digest}]` for this part, its columns
    /// by name in the forms `forms` gives them (None: their own text).
    pub fn statement(&self, index: usize, forms: Option<&Forms>) -> Result<String> {
        let r = &self.relation;
        let mut columns = r.columns.clone();
        // By name: a restore may put an inheritance child's columns in another order.
        columns.sort();
        let values: Vec<String> = columns
            .iter()
            .map(|(name, oid)| {
                let column = format!("t.{}", ident(name));
                match forms {
                    Some(forms) => forms.exact(&column, oid, &format!("{}.{name}", r.display())),
                    None => Ok(column),
                }
            })
            .collect::<Result<_>>()?;
        let row = if values.is_empty() { "ROW()".to_string() } else { format!("ROW({})", values.join(", ")) };
        let mut conditions = Vec::new();
        if let Some(filter) = r.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            // extcondition is a whole clause: `WHERE NOT (srid BETWEEN 2000 AND 6999 …)`.
            let f = filter.trim();
            let f = f.get(..6).filter(|w| w.eq_ignore_ascii_case("where ")).map_or(f, |_| &f[6..]);
            conditions.push(format!("({f})"));
        }
        match &self.which {
            Which::All => {}
            Which::Keys(keys) => conditions.push(key_condition(&r.key, keys)),
            Which::Condition(c) => conditions.push(format!("({c})")),
        }
        let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        Ok(format!(
            "SELECT pg_catalog.json_build_array('rows', '{index}', pg_catalog.jsonb_build_object('rows', pg_catalog.count(*), \
             'digest', coalesce(pg_catalog.sum(('x' || pg_catalog.md5({KEY} || {row}::text))::bit(64)::int8), 0)::text)) \
             FROM ONLY {} t{filter};",
            r.qualified()
        ))
    }
}

/// `(k1, k2) IN (('1', 'a'), …)`: each value an untyped literal, which takes its column's type
/// (so the primary key's index is used).
fn key_condition(key: &[String], keys: &[Vec<String>]) -> String {
    if key.is_empty() || keys.is_empty() {
        return "false".into();
    }
    let tuple = |values: &[String]| {
        let parts: Vec<String> = values.iter().map(|v| literal(v)).collect();
        if parts.len() == 1 { parts[0].clone() } else { format!("({})", parts.join(", ")) }
    };
    let columns: Vec<String> = key.iter().map(|c| format!("t.{}", ident(c))).collect();
    let column = if columns.len() == 1 { columns[0].clone() } else { format!("({})", columns.join(", ")) };
    let list: Vec<String> = keys.iter().map(|k| tuple(k)).collect();
    format!("{column} IN ({})", list.join(", "))
}

/// A part's count and digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub digest: String,
}

impl Digest {
    pub fn from_json(value: &Value) -> Digest {
        Digest {
            rows: value["rows"].as_u64().unwrap_or(0),
            digest: value["digest"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// Whether one side's types call for the exact forms (see forms.rs): only when a server
/// before 12 takes part.
pub fn forms_for(min_major: u32, types: &Types) -> Option<Forms<'_>> {
    (min_major < 120000).then(|| Forms::new(types))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes() -> Relation {
        Relation {
            schema: "public".into(),
            name: "it's".into(),
            kind: "r".into(),
            populated: true,
            key: vec!["id".into()],
            columns: vec![("id".into(), "23".into()), ("body".into(), "25".into())],
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_hashed_with_the_key_their_columns_by_name() {
        let part = Part { relation: notes(), which: Which::All };
        let sql = part.statement(3, None).unwrap();
        assert_eq!(
            sql,
            format!(
                "SELECT pg_catalog.json_build_array('rows', '3', pg_catalog.jsonb_build_object('rows', pg_catalog.count(*), \
                 'digest', coalesce(pg_catalog.sum(('x' || pg_catalog.md5({KEY} || ROW(t.\"body\", t.\"id\")::text))::bit(64)::int8), 0)::text)) \
                 FROM ONLY \"public\".\"it's\" t;"
            )
        );
    }

    #[test]
    fn given_rows_are_selected_by_key_or_condition() {
        let mut relation = notes();
        let keys = Part { relation: relation.clone(), which: Which::Keys(vec![vec!["1".into()], vec!["o'k".into()]]) };
        assert!(keys.statement(0, None).unwrap().ends_with(" t WHERE t.\"id\" IN ('1', 'o''k');"));
        assert_eq!(keys.display(), "table public.it's (2 given key(s))");
        relation.key = vec!["a".into(), "b".into()];
        assert_eq!(key_condition(&relation.key, &[vec!["1".into(), "x".into()]]), "(t.\"a\", t.\"b\") IN (('1', 'x'))");
        assert_eq!(key_condition(&[], &[vec!["1".into()]]), "false");
        let cond = Part { relation: relation.clone(), which: Which::Condition("id > 10".into()) };
        assert!(cond.statement(0, None).unwrap().ends_with(" t WHERE (id > 10);"));
        // An extension's configuration table: the rows its users added, and the given ones.
        relation.filter = Some("WHERE NOT (srid BETWEEN 2000 AND 6999)".into());
        let both = Part { relation, which: Which::Condition("srid > 1".into()) };
        assert!(
            both.statement(0, None).unwrap().ends_with(" t WHERE (NOT (srid BETWEEN 2000 AND 6999)) AND (srid > 1);")
        );
    }

    #[test]
    fn the_relation_description_parses() {
        let v: Value = serde_json::from_str(
            r#"{"schema": "public", "name": "mv", "kind": "m", "populated": false, "key": null,
                "columns": [["n", "20"]], "extension": null, "filter": null}"#,
        )
        .unwrap();
        let r = Relation::from_json(&v);
        assert_eq!((r.what(), r.populated, r.columns.len(), r.key.len()), ("materialized view", false, 1, 0));
    }
}
