//! Each column in a form both servers print alike. From PostgreSQL 12 on every type the
//! verifier has met prints the same text on 12 to 18, so a row is its own text. PostgreSQL 11
//! printed floating-point numbers with 17 significant digits where 12 prints the shortest
//! exact ones: `float4`, `float8`, the geometric types (`point`, `line`, `lseg`, `box`, `path`,
//! `polygon`, `circle`) and the `cube` extension's type print differently on 11 for the same
//! value, and so does anything made of them (a domain, an array, a composite, a range).
//! Compared with an 11 server, those take an exact form on both sides: the type's binary send
//! form in hex, a cube by its coordinates so, and the types made of them piece by piece
//! (docs/fidelity.md, "Forms").

use crate::facts::fingerprint::{ident, literal};
use anyhow::{Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;

/// A type as the first part (catalog.rs, `type`) describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Type {
    pub name: String,
    pub schema: String,
    /// pg_type.typtype: b base, c composite, d domain, e enum, r range, p pseudo, m multirange.
    pub kind: String,
    /// The binary send function, `-` when the type has none.
    pub send: String,
    pub base: Option<String>,
    pub element: Option<String>,
    pub subtype: Option<String>,
    /// (name, type oid) of a composite's fields.
    pub fields: Vec<(String, String)>,
}

/// The types of one side, by OID (text).
pub type Types = BTreeMap<String, Type>;

/// The types whose text changed in 12: their binary form is exact on every version.
const FLOATING: [&str; 9] = ["float4", "float8", "point", "line", "lseg", "box", "path", "polygon", "circle"];

/// Nesting deeper than this is not followed (a type cannot contain itself, but a chain of
/// domains and composites could be long): such a column is refused with its name.
const DEPTH: usize = 8;

impl Type {
    pub fn from_json(value: &Value) -> Type {
        let text = |k: &str| value[k].as_str().map(String::from);
        Type {
            name: text("name").unwrap_or_default(),
            schema: text("schema").unwrap_or_default(),
            kind: text("kind").unwrap_or_default(),
            send: text("send").unwrap_or_else(|| "-".into()),
            base: text("base"),
            element: text("element"),
            subtype: text("subtype"),
            fields: super::pairs(&value["fields"]),
        }
    }

    fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    fn builtin(&self, names: &[&str]) -> bool {
        self.schema == "pg_catalog" && names.contains(&self.name.as_str())
    }

    /// The cube extension's type (wherever the extension lives; from its version 1.5 on it
    /// has a send function, before it none: both sides read it by its coordinates).
    fn cube(&self) -> bool {
        self.name == "cube" && self.kind == "b" && self.schema != "pg_catalog"
    }
}

/// The SQL for one value in its exact form, or None when its text is exact already.
pub struct Forms<'a> {
    types: &'a Types,
}

impl<'a> Forms<'a> {
    pub fn new(types: &'a Types) -> Forms<'a> {
        Forms { types }
    }

    /// Whether values of type `oid` print differently on 11 (see the module's comment).
    pub fn inexact(&self, oid: &str) -> bool {
        self.inexact_at(oid, 0)
    }

    fn inexact_at(&self, oid: &str, depth: usize) -> bool {
        let Some(t) = self.types.get(oid) else { return false };
        if depth > DEPTH {
            return true;
        }
        let nested = |o: &Option<String>| o.as_deref().is_some_and(|o| self.inexact_at(o, depth + 1));
        t.builtin(&FLOATING)
            || t.cube()
            || nested(&t.base)
            || nested(&t.element)
            || nested(&t.subtype)
            || (t.kind == "c" && t.fields.iter().any(|(_, f)| self.inexact_at(f, depth + 1)))
    }

    /// `expr` (of type `oid`) in a form that prints alike on every version: itself when its
    /// text does, else an exact text. `what` names the column in a refusal.
    pub fn exact(&self, expr: &str, oid: &str, what: &str) -> Result<String> {
        if !self.inexact(oid) { Ok(expr.to_string()) } else { self.text(expr, oid, what, 0) }
    }

    /// The exact text of `expr`, whose type prints differently on 11.
    fn text(&self, expr: &str, oid: &str, what: &str, depth: usize) -> Result<String> {
        let Some(t) = self.types.get(oid).filter(|_| depth <= DEPTH) else {
            bail!("column {what} holds values whose text PostgreSQL 11 prints otherwise, nested too deep to compare");
        };
        let inner = |e: &str, o: &str| -> Result<String> {
            if self.inexact_at(o, depth + 1) { self.text(e, o, what, depth + 1) } else { Ok(format!("({e})::text")) }
        };
        if t.builtin(&FLOATING) && t.send != "-" {
            return Ok(format!("pg_catalog.encode(pg_catalog.{}({expr}), 'hex')", t.send));
        }
        if t.cube() {
            let f = |name: &str| format!("{}.{}", ident(&t.schema), ident(name));
            let coord = |side: &str| format!("pg_catalog.encode(pg_catalog.float8send({}({expr}, g)), 'hex')", f(side));
            return Ok(format!(
                "CASE WHEN ({expr}) IS NULL THEN NULL ELSE {}({expr})::text || ':' || coalesce((SELECT \
                 pg_catalog.string_agg({} || '/' || {}, ',' ORDER BY g) FROM pg_catalog.generate_series(1, {}({expr})) g), '') END",
                f("cube_is_point"),
                coord("cube_ll_coord"),
                coord("cube_ur_coord"),
                f("cube_dim")
            ));
        }
        if let Some(base) = &t.base {
            let base_type = self.types.get(base).map(Type::qualified).unwrap_or_default();
            return inner(&format!("({expr})::{base_type}"), base);
        }
        if let Some(element) = &t.element {
            // The elements in order with their dimensions: two set-returning functions in a
            // select list run in step (from PostgreSQL 10 on).
            let each = inner("s.e", element)?;
            return Ok(format!(
                "CASE WHEN ({expr}) IS NULL THEN NULL ELSE coalesce(pg_catalog.array_dims({expr}), '[]') || ':' || \
                 coalesce((SELECT pg_catalog.string_agg(coalesce({each}, 'NULL'), ',' ORDER BY s.n) FROM (SELECT \
                 pg_catalog.unnest({expr}) AS e, pg_catalog.generate_series(1, pg_catalog.cardinality({expr})) AS n) s), '') END"
            ));
        }
        if let Some(subtype) = &t.subtype {
            let bound = |f: &str| inner(&format!("pg_catalog.{f}({expr})"), subtype);
            return Ok(format!(
                "CASE WHEN ({expr}) IS NULL THEN NULL WHEN pg_catalog.isempty({expr}) THEN 'empty' ELSE \
                 pg_catalog.concat(CASE WHEN pg_catalog.lower_inc({expr}) THEN '[' ELSE '(' END, {}, ',', {}, \
                 CASE WHEN pg_catalog.upper_inc({expr}) THEN ']' ELSE ')' END) END",
                bound("lower")?,
                bound("upper")?
            ));
        }
        if t.kind == "c" {
            let fields: Vec<String> = t
                .fields
                .iter()
                .map(|(name, o)| inner(&format!("({expr}).{}", ident(name)), o))
                .collect::<Result<_>>()?;
            // num_nulls tells a null composite from one whose fields are all null.
            return Ok(format!(
                "CASE WHEN pg_catalog.num_nulls({expr}) = 1 THEN NULL ELSE ROW({})::text END",
                fields.join(", ")
            ));
        }
        bail!("column {what} holds values whose text PostgreSQL 11 prints otherwise ({})", literal(&t.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> Types {
        let t = |oid: &str, name: &str, schema: &str, kind: &str, send: &str| {
            (
                oid.to_string(),
                Type {
                    name: name.into(),
                    schema: schema.into(),
                    kind: kind.into(),
                    send: send.into(),
                    ..Default::default()
                },
            )
        };
        let mut types: Types = [
            t("701", "float8", "pg_catalog", "b", "float8send"),
            t("25", "text", "pg_catalog", "b", "textsend"),
            t("600", "point", "pg_catalog", "b", "point_send"),
            t("900", "cube", "public", "b", "-"),
            t("1022", "_float8", "pg_catalog", "b", "array_send"),
            t("5000", "money_ish", "public", "d", "domain_send"),
            t("5001", "pair", "public", "c", "record_send"),
            t("5002", "floatrange", "public", "r", "range_send"),
            t("1009", "_text", "pg_catalog", "b", "array_send"),
        ]
        .into_iter()
        .collect();
        types.get_mut("1022").unwrap().element = Some("701".into());
        types.get_mut("1009").unwrap().element = Some("25".into());
        types.get_mut("5000").unwrap().base = Some("701".into());
        types.get_mut("5001").unwrap().fields = vec![("a".into(), "701".into()), ("b".into(), "25".into())];
        types.get_mut("5002").unwrap().subtype = Some("701".into());
        types
    }

    #[test]
    fn only_what_prints_differently_on_11_takes_an_exact_form() {
        let types = types();
        let forms = Forms::new(&types);
        assert_eq!(forms.exact("t.\"body\"", "25", "t.body").unwrap(), "t.\"body\"");
        assert_eq!(forms.exact("t.x", "1009", "t.x").unwrap(), "t.x");
        assert_eq!(forms.exact("t.x", "701", "t.x").unwrap(), "pg_catalog.encode(pg_catalog.float8send(t.x), 'hex')");
        assert_eq!(forms.exact("t.p", "600", "t.p").unwrap(), "pg_catalog.encode(pg_catalog.point_send(t.p), 'hex')");
        for oid in ["900", "1022", "5000", "5001", "5002"] {
            assert!(forms.inexact(oid), "{oid}");
        }
    }

    #[test]
    fn types_made_of_floats_are_taken_apart() {
        let types = types();
        let forms = Forms::new(&types);
        let domain = forms.exact("t.d", "5000", "t.d").unwrap();
        assert_eq!(domain, "pg_catalog.encode(pg_catalog.float8send((t.d)::\"pg_catalog\".\"float8\"), 'hex')");
        let array = forms.exact("t.a", "1022", "t.a").unwrap();
        assert!(array.contains("pg_catalog.array_dims(t.a)") && array.contains("float8send(s.e)"), "{array}");
        let pair = forms.exact("t.c", "5001", "t.c").unwrap();
        assert!(
            pair.contains("ROW(pg_catalog.encode(pg_catalog.float8send((t.c).\"a\"), 'hex'), ((t.c).\"b\")::text)")
        );
        let range = forms.exact("t.r", "5002", "t.r").unwrap();
        assert!(range.contains("float8send(pg_catalog.lower(t.r))") && range.contains("pg_catalog.isempty(t.r)"));
        let cube = forms.exact("t.k", "900", "t.k").unwrap();
        assert!(cube.contains("\"public\".\"cube_ll_coord\"(t.k, g)"), "{cube}");
    }

    #[test]
    fn a_type_too_deep_to_follow_is_refused_with_the_column_named() {
        let mut types = types();
        // A domain over a domain over … (more than DEPTH levels) down to float8.
        for level in 0..=DEPTH + 1 {
            let base = if level == 0 { "701".to_string() } else { format!("60{level:02}") };
            types.insert(
                format!("60{:02}", level + 1),
                Type {
                    name: format!("d{level}"),
                    schema: "public".into(),
                    kind: "d".into(),
                    base: Some(base),
                    ..Default::default()
                },
            );
        }
        let top = format!("60{:02}", DEPTH + 2);
        let err = Forms::new(&types).exact("t.x", &top, "public.t.x").unwrap_err().to_string();
        assert!(err.contains("column public.t.x"), "{err}");
    }
}
