//! Server settings made with `ALTER SYSTEM`: they live in the old server's
//! `postgresql.auto.conf`, outside every dump, and a new service starts without them. Each one
//! the new major knows is set there again with `ALTER SYSTEM` before the window (the server
//! reloaded, and restarted when a setting takes effect only at start); one it does not know (a
//! setting removed since, or a library's setting the new server cannot take) is named, not
//! carried (docs/fidelity.md, "ALTER SYSTEM").

use crate::facts::fingerprint::{ident, literal};
use crate::host::Host;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;

/// One line of the old server's `postgresql.auto.conf`, as `pg_file_settings` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    /// The value as the file holds it, unquoted: never printed (an `archive_command` may hold
    /// a secret).
    pub value: String,
}

/// Which of the old server's settings the new server takes, and which it does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sorted {
    pub carried: Vec<Setting>,
    pub left_out: Vec<String>,
    /// Carried settings that take effect only when the server starts.
    pub at_start: Vec<String>,
}

/// The settings `ALTER SYSTEM` made on a server, in the order its file has them.
pub fn read(host: &Host, service: &str, database: &str) -> Result<Vec<Setting>> {
    let lines = host.sql(
        service,
        database,
        "SELECT json_build_array(name, setting) FROM pg_file_settings \
         WHERE sourcefile ~ '(^|/)postgresql\\.auto\\.conf$' ORDER BY seqno",
    )?;
    lines
        .iter()
        .map(|line| match serde_json::from_str::<Vec<Option<String>>>(line).ok().as_deref() {
            Some([Some(name), value]) => Ok(Setting { name: name.clone(), value: value.clone().unwrap_or_default() }),
            _ => bail!("unexpected answer about the ALTER SYSTEM settings of {service}: {line}"),
        })
        .collect()
}

/// The settings a PostgreSQL image knows and the context of each (`postmaster`: at start
/// only), from `postgres --describe-config` in a throwaway container of it: the image's
/// entrypoint runs that as given, and the server allows it as root.
pub fn known_to_image(host: &Host, image: &str) -> Result<BTreeMap<String, String>> {
    let out = host
        .check(&host.docker(&["run", "--rm", image, "postgres", "--describe-config"]))
        .with_context(|| format!("Unable to list the settings image {image} knows"))?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            Some((fields.next()?.to_lowercase(), fields.next()?.to_string()))
        })
        .collect())
}

/// The settings a running server knows, with their contexts.
fn known_to_server(host: &Host, service: &str, database: &str) -> Result<BTreeMap<String, String>> {
    let lines = host.sql(service, database, "SELECT name || '|' || context FROM pg_settings")?;
    Ok(lines.iter().filter_map(|l| l.split_once('|')).map(|(n, c)| (n.to_lowercase(), c.to_string())).collect())
}

/// Sorts `settings` by what the new server knows (`known`: name and context). A name with a dot
/// is an extension's (a placeholder until its library loads): from PostgreSQL 17 on
/// `ALTER SYSTEM` takes one the server does not know yet, before it refuses it.
pub fn sort(settings: &[Setting], known: &BTreeMap<String, String>, new_major: Option<u32>) -> Sorted {
    let mut sorted = Sorted::default();
    for setting in settings {
        let name = setting.name.to_lowercase();
        match known.get(&name) {
            Some(context) => {
                if context == "postmaster" {
                    sorted.at_start.push(setting.name.clone());
                }
                sorted.carried.push(setting.clone());
            }
            None if name.contains('.') && new_major.is_some_and(|m| m >= 1700) => sorted.carried.push(setting.clone()),
            None => sorted.left_out.push(setting.name.clone()),
        }
    }
    sorted
}

/// The old server's `ALTER SYSTEM` settings set on the new one (and the configuration
/// reloaded): what was carried and left out. A restart is the caller's, when `at_start` is not
/// empty: before the window nothing uses the new service yet.
pub fn carry(host: &Host, old: (&str, &str), new: (&str, &str), new_major: Option<u32>) -> Result<Sorted> {
    let settings = read(host, old.0, old.1)?;
    if settings.is_empty() {
        return Ok(Sorted::default());
    }
    let sorted = sort(&settings, &known_to_server(host, new.0, new.1)?, new_major);
    if sorted.carried.is_empty() {
        return Ok(sorted);
    }
    let script = carry_script(&sorted.carried);
    let values: Vec<String> = sorted.carried.iter().map(|s| s.value.clone()).filter(|v| v.len() > 3).collect();
    // ALTER SYSTEM runs outside a transaction block: one statement after the other.
    let cmd = host.psql(new.0, new.1, true).args(["-q", "-f", "-"]).input(script).hiding(values);
    host.check(&cmd).with_context(|| {
        format!(
            "Unable to carry the ALTER SYSTEM settings of {} to {}: change or reset the setting on {} (ALTER SYSTEM RESET name), then run the upgrade again",
            old.0, new.0, old.0
        )
    })?;
    Ok(sorted)
}

/// `ALTER SYSTEM SET` for each setting, then a reload.
pub fn carry_script(settings: &[Setting]) -> String {
    let mut lines: Vec<String> = settings
        .iter()
        .map(|s| {
            let values: Vec<String> = if LIST_QUOTED.contains(&s.name.to_lowercase().as_str()) {
                list_elements(&s.value).iter().map(|e| literal(e)).collect()
            } else {
                vec![literal(&s.value)]
            };
            let values = if values.is_empty() { "''".to_string() } else { values.join(", ") };
            format!("ALTER SYSTEM SET {} = {values};", ident(&s.name))
        })
        .collect();
    lines.push("SELECT pg_reload_conf();".into());
    lines.join("\n") + "\n"
}

/// The settings whose value is a list the server quotes element by element (pg_dump's
/// `variable_is_guc_list_quote`): given as one string they would become one element.
const LIST_QUOTED: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// The elements of a list setting as the server prints it: comma-separated, each one an
/// identifier, double-quoted when it must be.
fn list_elements(value: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let (mut current, mut quoted, mut chars) = (String::new(), false, value.chars().peekable());
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            ',' if !quoted => {
                elements.push(std::mem::take(&mut current));
                was_quoted = false;
            }
            c if c.is_whitespace() && !quoted => {}
            c => current.push(c),
        }
    }
    if !current.is_empty() || was_quoted || !elements.is_empty() {
        elements.push(current);
    }
    elements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, value: &str) -> Setting {
        Setting { name: name.into(), value: value.into() }
    }

    #[test]
    fn settings_the_new_major_does_not_know_are_left_out() {
        let known = BTreeMap::from([
            ("work_mem".to_string(), "user".to_string()),
            ("max_connections".to_string(), "postmaster".to_string()),
        ]);
        let settings = [
            setting("work_mem", "8MB"),
            setting("max_connections", "120"),
            setting("db_user_namespace", "off"),
            setting("pg_stat_statements.track", "all"),
        ];
        let on_18 = sort(&settings, &known, Some(1800));
        assert_eq!(on_18.left_out, ["db_user_namespace"]);
        assert_eq!(on_18.at_start, ["max_connections"]);
        assert_eq!(on_18.carried.len(), 3);
        // Before 17 ALTER SYSTEM refuses a setting of a library that is not loaded.
        assert_eq!(sort(&settings, &known, Some(1600)).left_out, ["db_user_namespace", "pg_stat_statements.track"]);
    }

    #[test]
    fn a_list_setting_is_given_element_by_element() {
        let script = carry_script(&[
            setting("search_path", "\"$user\", public, \"we ird\", \"a\"\"b\""),
            setting("work_mem", "8MB"),
            setting("archive_command", "cp '%p' /x"),
            setting("shared_preload_libraries", ""),
        ]);
        assert_eq!(
            script.lines().collect::<Vec<_>>(),
            [
                "ALTER SYSTEM SET \"search_path\" = '$user', 'public', 'we ird', 'a\"b';",
                "ALTER SYSTEM SET \"work_mem\" = '8MB';",
                "ALTER SYSTEM SET \"archive_command\" = 'cp ''%p'' /x';",
                "ALTER SYSTEM SET \"shared_preload_libraries\" = '';",
                "SELECT pg_reload_conf();",
            ]
        );
        assert_eq!(list_elements("a,b"), ["a", "b"]);
        assert_eq!(list_elements("\"\""), [""]);
    }
}
