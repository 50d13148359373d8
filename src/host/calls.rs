//! Every `dokku` command the plugin runs, with its arguments in the order it gives them, and the
//! check that the host's `user-auth` triggers (dokku-acl) allow each one. dokku asks those
//! triggers before every command it runs, the plugin's nested calls included, as the user who
//! ran `postgres:upgrade` (docs/dokku-acl.md); the plugin asks them the same questions before it
//! changes anything, so that a refusal comes first and whole instead of half-way through.

use crate::host::Host;
use crate::host::runner::Cmd;
use anyhow::Result;

/// `{app}` is each linked app, `{old}` the old service, `{new}` the new one; the rest is as the
/// plugin passes it (dokku-acl reads the word after the command as the app or service).
pub const CALLS: &[&[&str]] = &[
    &["apps:list"],
    &["apps:exists", "{app}"],
    &["apps:lock", "{app}"],
    &["apps:locked", "{app}"],
    &["apps:unlock", "{app}"],
    &["config:export", "--format", "json", "{app}"],
    &["config:set", "--no-restart", "{app}"],
    &["config:unset", "--no-restart", "{app}"],
    &["docker-options:report", "{app}", "--docker-options-run"],
    &["ps:report", "{app}", "--running"],
    &["ps:stop", "{app}"],
    &["ps:start", "{app}"],
    &["ps:restart", "{app}"],
    &["{maintenance-on}", "{app}"],
    &["{maintenance-off}", "{app}"],
    &["{maintenance-state}", "{app}"],
    &["postgres:app-links", "{app}"],
    &["postgres:info", "{old}", "--status"],
    &["postgres:links", "{old}"],
    &["postgres:unlink", "{old}", "{app}", "--no-restart"],
    &["postgres:start", "{old}"],
    &["postgres:backup", "{old}", "{bucket}"],
    &["postgres:backup-schedule-cat", "{old}"],
    &["postgres:backup-unschedule", "{old}"],
    &["postgres:unexpose", "{old}"],
    &["postgres:destroy", "{old}", "-f"],
    &["postgres:create", "{new}", "--image", "{image}", "--image-version", "{version}"],
    &["postgres:info", "{new}", "--dsn"],
    &["postgres:links", "{new}"],
    &["postgres:link", "{new}", "{app}", "--no-restart", "--alias", "DATABASE"],
    &["postgres:start", "{new}"],
    // When a carried ALTER SYSTEM setting takes effect only at start (copy/settings.rs).
    &["postgres:restart", "{new}"],
    &["postgres:expose", "{new}"],
    &["postgres:backup-schedule", "{new}", "{schedule}", "{bucket}"],
    &["postgres:backup-set-public-key-encryption", "{new}", "{key}"],
    &["postgres:destroy", "{new}", "-f"],
];

/// What fills a call's placeholders.
pub struct Names<'a> {
    pub apps: &'a [String],
    pub old: &'a str,
    pub new: &'a str,
    pub image: &'a str,
    pub version: &'a str,
}

/// The enabled plugins with a `user-auth` trigger that dokku asks (its `dokku_auth` leaves out
/// the core `20_events`'s).
pub fn auth_plugins(host: &Host) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&host.env.plugin_enabled_path)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("user-auth").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "20_events")
        .collect();
    names.sort();
    names
}

/// Each call the upgrade would make that the `user-auth` triggers refuse, with what they said.
/// Nothing is asked when no plugin has such a trigger, or outside a dokku command (dokku exports
/// `SSH_USER` and `SSH_NAME` for the triggers).
pub fn refused(host: &Host, names: &Names) -> Result<Vec<String>> {
    let (Ok(user), Ok(name)) = (std::env::var("SSH_USER"), std::env::var("SSH_NAME")) else {
        return Ok(Vec::new());
    };
    if auth_plugins(host).is_empty() {
        return Ok(Vec::new());
    }
    let mut refused = Vec::new();
    for call in expand(host, names) {
        let cmd = Cmd::new("plugn", &["trigger", "user-auth", &user, &name]).args(call.iter().map(String::as_str));
        let out = host.run(&cmd)?;
        if !out.success() {
            let said = out.stderr.lines().map(|l| l.trim_start_matches(" !").trim()).rfind(|l| !l.is_empty());
            refused.push(format!("dokku {}: {}", call.join(" "), said.unwrap_or("refused")));
        }
    }
    Ok(refused)
}

/// The calls with their placeholders filled, once each.
fn expand(host: &Host, names: &Names) -> Vec<Vec<String>> {
    let fill = |word: &str, app: &str| -> String {
        match word {
            "{app}" => app.to_string(),
            "{old}" => names.old.to_string(),
            "{new}" => names.new.to_string(),
            "{image}" => names.image.to_string(),
            "{version}" => names.version.to_string(),
            "{maintenance-on}" => host.maintenance_command(true).to_string(),
            "{maintenance-off}" => host.maintenance_command(false).to_string(),
            "{maintenance-state}" => host.maintenance_state_command().to_string(),
            "{bucket}" => "BUCKET".to_string(),
            "{schedule}" => "@daily".to_string(),
            "{key}" => "KEY".to_string(),
            other => other.to_string(),
        }
    };
    let mut calls: Vec<Vec<String>> = Vec::new();
    for template in CALLS {
        let per_app = template.contains(&"{app}");
        let maintenance = template.iter().any(|w| w.starts_with("{maintenance"));
        if maintenance && !host.maintenance_installed() {
            continue;
        }
        let apps: Vec<&str> = if per_app { names.apps.iter().map(String::as_str).collect() } else { vec![""] };
        for app in apps {
            let call: Vec<String> = template.iter().map(|w| fill(w, app)).collect();
            if !calls.contains(&call) {
                calls.push(call);
            }
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every dokku command the source runs is in CALLS: the check asks about all of them, and
    /// the README's list for dokku-acl (docs/dokku-acl.md) is this one.
    #[test]
    fn every_dokku_command_in_the_source_is_listed() {
        let re = regex::Regex::new(r#"dokku\(&\["([a-z:-]+)""#).unwrap();
        let listed: Vec<&str> = CALLS.iter().map(|c| c[0]).collect();
        let mut files = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut missing = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().flatten().map(|e| e.path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for c in re.captures_iter(&text) {
                let command = c.get(1).unwrap().as_str();
                let maintenance = command.starts_with("maintenance");
                if !listed.contains(&command) && !maintenance && !command.starts_with('-') {
                    missing.push(format!("{}: {command}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "not in host/calls.rs CALLS: {missing:?}");
        assert!(listed.contains(&"postgres:expose"), "switch.rs builds it from a vec");
    }
}
