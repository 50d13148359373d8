//! Extensions' members, which no dump holds: a dump says `CREATE EXTENSION`, and the new
//! image's script makes the members. What a user added to an extension (`ALTER EXTENSION …
//! ADD`) would be lost, and what a user took out of one (`… DROP`) would be made twice. Only
//! the new server can tell what its script makes: each extension is created, at the old
//! server's version, in a scratch database on the new server, and its members compared with
//! the old ones, before the window (docs/fidelity.md, "Extensions' members").

use crate::facts::fingerprint::{ident, literal};
use crate::host::Host;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The scratch database, dropped again straight after.
const SCRATCH: &str = "postgres_upgrade_extensions";

/// Every extension with its version, schema, the extensions it needs and its members (kind
/// and identity, as `pg_identify_object` prints them on any version).
const EXTENSIONS: &str = "SELECT json_build_array(e.extname, e.extversion, n.nspname,
  (SELECT coalesce(json_agg(r.extname), '[]') FROM pg_depend d JOIN pg_extension r ON r.oid = d.refobjid
    WHERE d.classid = 'pg_extension'::regclass AND d.objid = e.oid AND d.refclassid = 'pg_extension'::regclass),
  (SELECT coalesce(json_agg(x.type || ' ' || x.identity), '[]') FROM pg_depend d,
    LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) x
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'))
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY e.extname";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Extension {
    name: String,
    version: String,
    schema: String,
    requires: Vec<String>,
    members: BTreeSet<String>,
}

fn read(host: &Host, service: &str, database: &str) -> Result<BTreeMap<String, Extension>> {
    let mut found = BTreeMap::new();
    for line in host.sql(service, database, &EXTENSIONS.replace('\n', " "))? {
        let row: Vec<Value> = serde_json::from_str(&line).with_context(|| format!("unexpected answer: {line}"))?;
        let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or_default().to_string();
        let list = |i: usize| -> Vec<String> {
            row.get(i)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        };
        let extension = Extension {
            name: text(0),
            version: text(1),
            schema: text(2),
            requires: list(3),
            members: list(4).iter().filter_map(|m| comparable(m)).collect(),
        };
        found.insert(extension.name.clone(), extension);
    }
    Ok(found)
}

/// A member as both servers print it, or None for one that only some versions count: an
/// array type (a member of its extension from 18 on, not before). Built-in types are named
/// without `pg_catalog.` from 16 on when they are keywords (`json`): every such prefix goes.
fn comparable(member: &str) -> Option<String> {
    if member.starts_with("type ") && member.ends_with("[]") {
        return None;
    }
    Some(member.replace("pg_catalog.", ""))
}

/// What the copy would not carry of the old database's extensions' members, one line each
/// with its way out; empty when the new image makes exactly the old members. An extension
/// whose old version the new image cannot install is left to the version warning (its
/// members are the new version's, facts/verify.rs).
pub fn not_carried(host: &Host, old: (&str, &str), new: &str) -> Result<Vec<String>> {
    let theirs = read(host, old.0, old.1)?;
    if theirs.is_empty() {
        return Ok(Vec::new());
    }
    // What the new server's initdb made already (plpgsql, in every database) is compared as its
    // own database has it: no scratch database for a database that uses nothing else.
    let made = read(host, new, "postgres")?;
    if theirs.iter().all(|(name, e)| made.get(name).is_some_and(|m| m.version == e.version && m.schema == e.schema)) {
        return Ok(differences(old.0, &theirs, &made));
    }
    let names: Vec<String> = theirs.keys().map(|n| literal(n)).collect();
    let setup = [
        format!("DROP DATABASE IF EXISTS {}", ident(SCRATCH)),
        format!("CREATE DATABASE {} TEMPLATE template0", ident(SCRATCH)),
        format!(
            "SELECT name || '|' || version FROM pg_available_extension_versions WHERE name IN ({})",
            names.join(", ")
        ),
    ];
    let available: BTreeSet<String> = host.sql_statements(new, "postgres", &setup)?.into_iter().collect();
    let installable: Vec<&Extension> = in_dependency_order(&theirs)
        .into_iter()
        .filter(|e| available.contains(&format!("{}|{}", e.name, e.version)))
        .collect();
    let made = make_in_scratch(host, new, &installable);
    let dropped = host.sql(new, "postgres", &format!("DROP DATABASE IF EXISTS {}", ident(SCRATCH)));
    let made = made?;
    dropped?;
    Ok(differences(old.0, &theirs, &made))
}

/// Each installable extension created in the scratch database at the old version (those it
/// needs first, at theirs); what the new image made of each, as it is there.
fn make_in_scratch(host: &Host, new: &str, extensions: &[&Extension]) -> Result<BTreeMap<String, Extension>> {
    let mut script = String::new();
    for e in extensions {
        script.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};\nCREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {schema} VERSION {} CASCADE;\n",
            ident(&e.name),
            literal(&e.version),
            schema = ident(&e.schema)
        ));
    }
    // One that cannot be made here (a library the server must preload) is not compared: the
    // restore makes it the same way, and fails the same way.
    let cmd = host.psql(new, SCRATCH, true).args(["-v", "ON_ERROR_STOP=0", "-q", "-f", "-"]).input(script);
    let out = host.run(&cmd)?;
    if !out.stderr.trim().is_empty() {
        log::info!("extensions not compared on {new}: {}", out.stderr.trim());
    }
    read(host, new, SCRATCH)
}

/// `extensions` with each one after those it needs.
fn in_dependency_order(extensions: &BTreeMap<String, Extension>) -> Vec<&Extension> {
    let mut ordered: Vec<&Extension> = Vec::new();
    let mut placed = BTreeSet::new();
    while ordered.len() < extensions.len() {
        let before = ordered.len();
        for e in extensions.values() {
            if !placed.contains(&e.name) && e.requires.iter().all(|r| placed.contains(r) || !extensions.contains_key(r))
            {
                placed.insert(e.name.clone());
                ordered.push(e);
            }
        }
        if ordered.len() == before {
            // A cycle cannot be made by CREATE EXTENSION; the rest in name order.
            ordered.extend(extensions.values().filter(|e| !placed.contains(&e.name)));
            break;
        }
    }
    ordered
}

/// The members the old database has and the new image does not make, and the reverse, for
/// each extension made at the same version on both.
fn differences(old: &str, theirs: &BTreeMap<String, Extension>, made: &BTreeMap<String, Extension>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, e) in theirs {
        let Some(ours) = made.get(name).filter(|m| m.version == e.version) else { continue };
        let x = ident(name);
        for member in e.members.difference(&ours.members) {
            let (kind, identity) = split_member(member);
            problems.push(format!(
                "{member} of {old} is a member of extension {name} that {name} {} does not make (added with ALTER EXTENSION … ADD), and no dump holds an extension's members: run ALTER EXTENSION {x} DROP {kind} {identity} on {old} (it is then copied as an object of its own)",
                e.version
            ));
        }
        for member in ours.members.difference(&e.members) {
            let (kind, identity) = split_member(member);
            problems.push(format!(
                "extension {name} {} makes {member}, which it lacks on {old} (taken out with ALTER EXTENSION … DROP), so a copy would make it twice: run ALTER EXTENSION {x} ADD {kind} {identity} on {old} (make it again first if it was dropped)",
                e.version
            ));
        }
    }
    problems
}

/// `function public.f(integer)` as (`FUNCTION`, `public.f(integer)`): the kinds
/// `pg_identify_object` names are the words `ALTER EXTENSION` takes, upper-cased.
fn split_member(member: &str) -> (String, &str) {
    const KINDS: [&str; 8] = [
        "materialized view",
        "foreign table",
        "operator class",
        "operator family",
        "text search configuration",
        "text search dictionary",
        "text search parser",
        "text search template",
    ];
    let kind = KINDS
        .iter()
        .find(|k| member.starts_with(&format!("{k} ")))
        .copied()
        .unwrap_or_else(|| member.split(' ').next().unwrap_or(member));
    (kind.to_uppercase(), member[kind.len()..].trim_start())
}

/// Fails with every member not carried, one line each.
pub fn check(host: &Host, old: (&str, &str), new: &str) -> Result<()> {
    let problems = not_carried(host, old, new)?;
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extension(name: &str, version: &str, requires: &[&str], members: &[&str]) -> Extension {
        Extension {
            name: name.into(),
            version: version.into(),
            schema: "public".into(),
            requires: requires.iter().map(|s| s.to_string()).collect(),
            members: members.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn members_added_or_taken_out_are_refused_with_the_statement_that_undoes_it() {
        let theirs = BTreeMap::from([
            ("hstore".to_string(), extension("hstore", "1.8", &[], &["type public.hstore", "table public.extra"])),
            ("cube".to_string(), extension("cube", "1.4", &[], &["type public.cube"])),
            ("old".to_string(), extension("old", "1.0", &[], &["function public.gone()"])),
        ]);
        let made = BTreeMap::from([
            ("hstore".to_string(), extension("hstore", "1.8", &[], &["type public.hstore"])),
            (
                "cube".to_string(),
                extension("cube", "1.4", &[], &["type public.cube", "function public.cube_in(cstring)"]),
            ),
            // At another version: its members are that version's, not compared.
            ("old".to_string(), extension("old", "2.0", &[], &[])),
        ]);
        let problems = differences("db", &theirs, &made);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].starts_with("extension cube 1.4 makes function public.cube_in(cstring), which it lacks on db")
        );
        assert!(problems[0].contains("ALTER EXTENSION \"cube\" ADD FUNCTION public.cube_in(cstring) on db"));
        assert!(
            problems[1].contains("run ALTER EXTENSION \"hstore\" DROP TABLE public.extra on db"),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn members_compare_alike_across_versions() {
        assert_eq!(comparable("cast (public.hstore AS pg_catalog.json)").unwrap(), "cast (public.hstore AS json)");
        assert_eq!(comparable("type public.hstore[]"), None);
        assert_eq!(comparable("function public.f(pg_catalog.text[])").unwrap(), "function public.f(text[])");
    }

    #[test]
    fn kinds_of_more_than_one_word_are_kept_whole() {
        assert_eq!(
            split_member("operator class public.c USING btree"),
            ("OPERATOR CLASS".into(), "public.c USING btree")
        );
        assert_eq!(split_member("cast (text AS public.h)"), ("CAST".into(), "(text AS public.h)"));
    }

    #[test]
    fn an_extension_comes_after_those_it_needs() {
        let all = BTreeMap::from([
            ("a_earthdistance".to_string(), extension("a_earthdistance", "1.1", &["cube"], &[])),
            ("cube".to_string(), extension("cube", "1.4", &[], &[])),
        ]);
        let names: Vec<&str> = in_dependency_order(&all).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["cube", "a_earthdistance"]);
    }
}
