//! Two sides' catalog facts compared as sets: every `(kind, name)` one side has and the other
//! lacks, and every field that differs. Values are made comparable first, knowing both
//! servers' versions: arrays are sets (sorted), an ACL is the set of what it grants (one item
//! per grantee, privilege and grantor, whatever the order of its entries), a field only the
//! newer server knows is left out, and what a restore cannot keep the same is a note, not a
//! difference (docs/fidelity.md, "The catalog").

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `(kind, name)` → value, as catalog.rs prints them.
pub type Facts = BTreeMap<(String, String), Value>;

/// What the comparison found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub differences: Vec<String>,
    pub notes: Vec<String>,
}

/// Kinds that describe a side for the verifier itself, not facts to compare.
const INFO: [&str; 5] = ["server", "relation", "type", "column order", "catalog state"];

/// Fields only servers from a version on have: compared when both sides are that new.
const SINCE: [(&str, &str, u32); 2] = [("membership", "grantor", 160000), ("database", "locale provider", 150000)];

/// Kinds read as whole catalog rows (`to_jsonb`): compared on the fields both servers have.
const ROWS_AS_THEY_ARE: [&str; 2] = ["subscription", "publication"];

/// Fields that hold a keyed digest of a secret: said to differ, never shown. A setting's
/// value can hold one too: an `ALTER SYSTEM` setting's is the same, and the items of a
/// role's or database's settings are shown by name only (catalog.rs).
const SECRET: [&str; 3] = ["password", "connection", "value"];

/// Privileges a server grants only from a version on (MAINTAIN, 17): `ALL` on an older one
/// comes back with it. Left out of ACLs compared with an older server.
const NEW_PRIVILEGES: [(char, u32); 1] = [('m', 170000)];

/// Compares `old` with `new` (the copy); `versions` are both servers' `server_version_num`.
pub fn compare(old: &Facts, new: &Facts, versions: (u32, u32)) -> Found {
    let older = versions.0.min(versions.1);
    let mut found = Found::default();
    let extension = |facts: &Facts, name: &str| -> Option<String> {
        facts.get(&("extension".into(), name.into())).and_then(|v| v["version"].as_str()).map(String::from)
    };
    // An extension whose version changes: its objects come from the new version's script.
    let changed: BTreeSet<String> = old
        .keys()
        .filter(|(kind, _)| kind == "extension")
        .filter(|(_, name)| extension(new, name).is_some_and(|v| Some(v) != extension(old, name)))
        .map(|(_, name)| name.clone())
        .collect();
    let of_changed = |v: &Value| v["extension"].as_str().is_some_and(|e| changed.contains(e));
    let keys: BTreeSet<&(String, String)> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let (kind, name) = key;
        if INFO.contains(&kind.as_str()) {
            continue;
        }
        let what = if name.is_empty() { kind.clone() } else { format!("{kind} {name}") };
        if old.get(key).is_some_and(of_changed) || new.get(key).is_some_and(of_changed) {
            continue;
        }
        match (old.get(key), new.get(key)) {
            (Some(_), None) if kind == "server setting" && !known(new, name) => found
                .notes
                .push(format!("{what} (set with ALTER SYSTEM) is not a setting the new server knows: not carried")),
            (Some(_), None) => found.differences.push(format!("{what} is missing in the copy")),
            (None, Some(_)) => found.differences.push(format!("{what} exists only in the copy")),
            (Some(a), Some(b)) => {
                let (a, b) = (comparable(kind, a, older), comparable(kind, b, older));
                let (a, b) = if ROWS_AS_THEY_ARE.contains(&kind.as_str()) { common(a, b) } else { (a, b) };
                if let Some(said) = field_differences(kind, &a, &b) {
                    found.differences.push(match kind.as_str() {
                        "large objects" => format!("the set of large objects is different in the copy ({said})"),
                        _ => format!("{what}: {said}"),
                    });
                }
            }
            (None, None) => {}
        }
    }
    for name in &changed {
        let (from, to) = (extension(old, name).unwrap_or_default(), extension(new, name).unwrap_or_default());
        let default = new.get(&("extension".into(), name.clone())).and_then(|v| v["default"].as_str());
        if default == Some(from.as_str()) {
            // The new image would install the old version: a restore should have.
            found.differences.push(format!("extension {name} is at version {to} in the copy, {from} in the original"));
        } else {
            found.notes.push(format!(
                "extension {name} goes from version {from} to {to}, the new image's default \
                 (its objects are those of {to}; its configuration tables are compared by the rows users added)"
            ));
        }
    }
    found
}

/// Whether the side's server knows setting `name`.
fn known(facts: &Facts, name: &str) -> bool {
    let settings = &facts.get(&("server".into(), String::new())).map(|v| v["settings"].clone()).unwrap_or_default();
    settings.as_array().is_some_and(|s| s.iter().any(|n| n.as_str() == Some(name.to_lowercase().as_str())))
}

/// `value` as it compares: empty things are absent, scalars are text, arrays sorted sets,
/// ACLs expanded, fields this pair of versions cannot both have left out.
fn comparable(kind: &str, value: &Value, older: u32) -> Value {
    let Value::Object(fields) = value else { return scalar(value) };
    let mut out = Map::new();
    for (field, v) in fields {
        if SINCE.iter().any(|(k, f, since)| *k == kind && f == field && older < *since) {
            continue;
        }
        // An extension's version is compared against the new image's default (below).
        if kind == "extension" && (field == "version" || field == "default") {
            continue;
        }
        let v = if field == "acl" { acl_set(v, older) } else { normal(v, kind, older) };
        if !v.is_null() {
            out.insert(field.clone(), v);
        }
    }
    Value::Object(out)
}

fn normal(value: &Value, kind: &str, older: u32) -> Value {
    match value {
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|i| comparable(kind, i, older)).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        Value::Object(_) => comparable(kind, value, older),
        other => scalar(other),
    }
}

fn scalar(value: &Value) -> Value {
    match value {
        Value::Bool(b) => Value::String(if *b { "t" } else { "f" }.into()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    }
}

/// The fields both have (a catalog row of two versions).
fn common(a: Value, b: Value) -> (Value, Value) {
    match (a, b) {
        (Value::Object(mut a), Value::Object(mut b)) => {
            a.retain(|k, _| b.contains_key(k) || !k.starts_with("sub") && !k.starts_with("pub"));
            b.retain(|k, _| a.contains_key(k) || !k.starts_with("sub") && !k.starts_with("pub"));
            (Value::Object(a), Value::Object(b))
        }
        pair => pair,
    }
}

/// An ACL (`aclitem[]` as text) as the set of what it grants: `grantee: PRIVILEGE[*] by grantor`.
fn acl_set(acl: &Value, older: u32) -> Value {
    let Some(items) = acl.as_array() else { return Value::Null };
    let mut set = BTreeSet::new();
    for item in items.iter().filter_map(Value::as_str) {
        match parse_aclitem(item) {
            Some((grantee, privileges, grantor)) => {
                for (privilege, grantable) in privileges {
                    if NEW_PRIVILEGES.iter().any(|(p, since)| *p == privilege && older < *since) {
                        continue;
                    }
                    let grantee = if grantee.is_empty() { "PUBLIC" } else { grantee.as_str() };
                    let star = if grantable { " with grant option" } else { "" };
                    set.insert(format!("{grantee}: {}{star} by {grantor}", privilege_name(privilege)));
                }
            }
            None => drop(set.insert(item.to_string())),
        }
    }
    if set.is_empty() { Value::Null } else { Value::Array(set.into_iter().map(Value::String).collect()) }
}

/// One entry of an ACL: grantee (empty: PUBLIC), privileges (letter, with grant option), grantor.
type AclItem = (String, Vec<(char, bool)>, String);

/// `grantee=privileges/grantor` (aclitemout's text; names double-quoted when they must be).
fn parse_aclitem(item: &str) -> Option<AclItem> {
    let (grantee, rest) = name(item)?;
    let rest = rest.strip_prefix('=')?;
    let (letters, grantor) = rest.split_once('/')?;
    let (grantor, tail) = name(grantor)?;
    if !tail.is_empty() {
        return None;
    }
    let mut privileges: Vec<(char, bool)> = Vec::new();
    for c in letters.chars() {
        match (c, privileges.last_mut()) {
            ('*', Some(last)) => last.1 = true,
            ('*', None) => return None,
            (c, _) => privileges.push((c, false)),
        }
    }
    Some((grantee, privileges, grantor))
}

/// A role name at the start of `text` (possibly double-quoted, `""` for a quote) and the rest.
fn name(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(['=', '/']).unwrap_or(text.len());
        return Some((text[..end].to_string(), &text[end..]));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            if chars.peek().map(|(_, c)| *c) == Some('"') {
                out.push('"');
                chars.next();
            } else {
                return Some((out, &quoted[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn privilege_name(letter: char) -> String {
    match letter {
        'r' => "SELECT",
        'w' => "UPDATE",
        'a' => "INSERT",
        'd' => "DELETE",
        'D' => "TRUNCATE",
        'x' => "REFERENCES",
        't' => "TRIGGER",
        'X' => "EXECUTE",
        'U' => "USAGE",
        'C' => "CREATE",
        'c' => "CONNECT",
        'T' => "TEMPORARY",
        'm' => "MAINTAIN",
        's' => "SET",
        'A' => "ALTER SYSTEM",
        other => return other.to_string(),
    }
    .to_string()
}

/// What differs between two comparable values, one clause per field, or None.
fn field_differences(kind: &str, a: &Value, b: &Value) -> Option<String> {
    if a == b {
        return None;
    }
    let empty = Map::new();
    let (fa, fb) = (a.as_object().unwrap_or(&empty), b.as_object().unwrap_or(&empty));
    let fields: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    let mut said = Vec::new();
    for field in fields {
        let (x, y) = (fa.get(field).unwrap_or(&Value::Null), fb.get(field).unwrap_or(&Value::Null));
        if x == y {
            continue;
        }
        if SECRET.contains(&field.as_str()) {
            said.push(format!("its {field} differs"));
        } else if kind == "large objects" && field == "digest" {
            said.push("their content, owners, ACLs or comments differ".into());
        } else if let (Some(xs), Some(ys)) = (set_of(x), set_of(y)) {
            let only = |p: &BTreeSet<String>, q: &BTreeSet<String>| {
                p.difference(q).map(|item| shown_item(kind, item)).collect::<Vec<_>>().join("; ")
            };
            let (gone, added) = (only(&xs, &ys), only(&ys, &xs));
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!("{added} in the copy only"));
            }
            if !gone.is_empty() {
                parts.push(format!("{gone} in the original only"));
            }
            said.push(format!("{field}: {}", parts.join(", ")));
        } else {
            said.push(format!("{field} is {} in the copy, {} in the original", shown(y), shown(x)));
        }
    }
    Some(said.join(", "))
}

/// An array or absent value as a set of texts (None for any other value).
fn set_of(value: &Value) -> Option<BTreeSet<String>> {
    match value {
        Value::Null => Some(BTreeSet::new()),
        Value::Array(items) => {
            Some(items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), String::from)).collect())
        }
        _ => None,
    }
}

/// An item of a set as a message shows it: a setting by its name (`name=…`), its value's
/// digest left out.
fn shown_item(kind: &str, item: &str) -> String {
    match item.split_once('=') {
        Some((name, _)) if kind == "setting" => format!("{name}=…"),
        _ => item.to_string(),
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(items: &[(&str, &str, Value)]) -> Facts {
        items.iter().map(|(k, n, v)| ((k.to_string(), n.to_string()), v.clone())).collect()
    }

    const V15: (u32, u32) = (150000, 180000);

    #[test]
    fn an_acl_is_compared_as_what_it_grants_whatever_the_order_of_its_entries() {
        // After REVOKE CONNECT … FROM PUBLIC and GRANT TEMPORARY … TO PUBLIC on one side.
        let old =
            facts(&[("database", "", json!({"acl": ["=T/postgres", "postgres=CTc/postgres", "reader=c/postgres"]}))]);
        let new =
            facts(&[("database", "", json!({"acl": ["postgres=CTc/postgres", "reader=c/postgres", "=T/postgres"]}))]);
        assert_eq!(compare(&old, &new, V15), Found::default());
        let fewer = facts(&[("database", "", json!({"acl": ["postgres=CTc/postgres", "=T/postgres"]}))]);
        assert_eq!(
            compare(&old, &fewer, V15).differences,
            ["database: acl: reader: CONNECT by postgres in the original only"]
        );
    }

    #[test]
    fn acl_items_parse_with_quoted_names_and_grant_options() {
        assert_eq!(
            parse_aclitem("\"a \"\"b\"=r*w/\"x=y\""),
            Some(("a \"b".to_string(), vec![('r', true), ('w', false)], "x=y".to_string()))
        );
        assert_eq!(parse_aclitem("=U/postgres"), Some((String::new(), vec![('U', false)], "postgres".to_string())));
        assert_eq!(parse_aclitem("nonsense"), None);
        // MAINTAIN, which 17 adds to ALL, is left out against an older server.
        let acl = json!(["app=arwdDxtm/app"]);
        assert!(!acl_set(&acl, 150000).to_string().contains("MAINTAIN"));
        assert!(acl_set(&acl, 170000).to_string().contains("app: MAINTAIN by app"));
    }

    #[test]
    fn missing_extra_and_changed_facts_are_each_named_and_secrets_never_shown() {
        let old = facts(&[
            ("role", "reader", json!({"login": true, "password": "d41d8cd98f00b204", "comment": "reads"})),
            ("event trigger", "audit", json!({"enabled": "A", "tags": ["CREATE TABLE"]})),
            ("schema", "app", json!({"owner": "app"})),
        ]);
        let new = facts(&[
            ("role", "reader", json!({"login": true, "password": "0cc175b9c0f1b6a8", "comment": null})),
            ("event trigger", "audit", json!({"enabled": "O", "tags": ["CREATE TABLE"]})),
            ("schema", "extra", json!({"owner": "app"})),
        ]);
        let found = compare(&old, &new, V15);
        assert_eq!(
            found.differences,
            [
                "event trigger audit: enabled is \"O\" in the copy, \"A\" in the original",
                "role reader: comment is none in the copy, \"reads\" in the original, its password differs",
                "schema app is missing in the copy",
                "schema extra exists only in the copy",
            ]
        );
        assert!(!found.differences.join(" ").contains("d41d8cd98f"));
    }

    #[test]
    fn what_only_one_version_has_is_left_out() {
        // A membership's grantor is compared from 16 on; 15 has no inherit or set option of
        // its own (catalog.rs gives it what 16 would), and no stream option as 16 spells it.
        let old = facts(&[
            (
                "membership",
                "app in writers",
                json!({"grants": [{"admin": false, "inherit": true, "set": true, "grantor": "bob"}]}),
            ),
            ("subscription", "s", json!({"subenabled": false, "substream": false, "subslotname": "s"})),
        ]);
        let new = facts(&[
            (
                "membership",
                "app in writers",
                json!({"grants": [{"admin": false, "inherit": true, "set": true, "grantor": "postgres"}]}),
            ),
            (
                "subscription",
                "s",
                json!({"subenabled": false, "substream": "f", "subslotname": "s", "subfailover": false}),
            ),
        ]);
        assert_eq!(compare(&old, &new, V15), Found::default());
        let found = compare(&old, &new, (160000, 180000));
        assert_eq!(found.differences.len(), 1, "{found:?}");
        assert!(found.differences[0].contains("grantor"), "{found:?}");
    }

    #[test]
    fn extension_versions_objects_and_alter_system_settings() {
        let ext = |v: &str, default: &str| json!({"version": v, "default": default, "schema": "public"});
        let old = facts(&[
            ("extension", "hstore", ext("1.5", "1.5")),
            ("extension member", "hstore: function public.hstore_in(cstring)", json!({"extension": "hstore"})),
            ("server setting", "work_mem", json!({"value": "8MB"})),
            ("server setting", "vacuum_cleanup_index_scale_factor", json!({"value": "0.2"})),
            ("server", "", json!({"settings": ["work_mem"]})),
        ]);
        let mut new = facts(&[
            ("extension", "hstore", ext("1.8", "1.8")),
            ("server", "", json!({"settings": ["work_mem"]})),
            ("server setting", "work_mem", json!({"value": "8MB"})),
        ]);
        let found = compare(&old, &new, (110000, 180000));
        assert_eq!(found.differences, Vec::<String>::new());
        assert_eq!(found.notes.len(), 2, "{found:?}");
        assert!(found.notes[0].starts_with("server setting vacuum_cleanup_index_scale_factor (set with ALTER SYSTEM"));
        assert!(!found.notes[0].contains("0.2"), "a value is never shown: {found:?}");
        assert!(found.notes[1].starts_with("extension hstore goes from version 1.5 to 1.8"));
        // The new image installs 1.5 by default, yet the copy has 1.8: a difference.
        new.insert(("extension".into(), "hstore".into()), ext("1.8", "1.5"));
        new.remove(&("server setting".into(), "work_mem".into()));
        let found = compare(&old, &new, (110000, 180000));
        assert_eq!(
            found.differences,
            [
                "server setting work_mem is missing in the copy",
                "extension hstore is at version 1.8 in the copy, 1.5 in the original"
            ]
        );
        // A setting's value (a keyed digest of it) is never shown, only its name.
        let set = |v: Value| {
            facts(&[
                ("server setting", "primary_conninfo", json!({"value": v.clone()})),
                ("setting", "app everywhere", json!({"settings": ["work_mem=1a", v]})),
            ])
        };
        let found = compare(&set(json!("search_path=9f")), &set(json!("search_path=c4")), (130000, 180000));
        assert_eq!(
            found.differences,
            [
                "server setting primary_conninfo: its value differs",
                "setting app everywhere: settings: search_path=… in the copy only, search_path=… in the original only"
            ]
        );
    }
}
