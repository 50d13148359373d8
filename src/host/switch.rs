//! Moving an app's config from one postgres service to another, the same way forward (old → new)
//! and back (new → old, on rollback). dokku-postgres's unlink drops the LINKS entry, the docker
//! `--link` and every var holding the service's URL; link `--alias NAME` recreates the primary var
//! under its own name (link always appends `_URL`: docs/dokku-postgres-service.md#commands) with the
//! app's scheme and the query string; the other vars get the same URL. When link would refuse
//! the name (its substring check: DATABASE_URL beside REPLICA_DATABASE_URL), the link is made
//! under a stand-in alias and the real names are set with config:set. Everything runs with
//! `--no-restart`: the app starts once, later. An exposed service's host ports move too
//! (docs/expose.md).

use crate::host::{Host, container};
use anyhow::{Context, Result, bail};

/// One config var that points at the service, without its value (which holds the password).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VarSpec {
    pub name: String,
    /// `pool=5` for `…/db?pool=5`.
    pub query: Option<String>,
}

impl VarSpec {
    pub fn from_value(name: &str, value: &str) -> VarSpec {
        let query = value.split_once('?').map(|(_, q)| q.to_string()).filter(|q| !q.is_empty());
        VarSpec { name: name.to_string(), query }
    }

    fn with_base(&self, base: &str) -> String {
        match &self.query {
            Some(q) => format!("{base}?{q}"),
            None => base.to_string(),
        }
    }
}

/// What a relink reads, read before the window instead (nothing changes it meanwhile: deploys
/// and config changes wait for the upgrade): the URL keys of both services (they hold the
/// password: never printed) and the app's config.
#[derive(Clone)]
pub struct Known {
    pub from_key: String,
    pub to_key: String,
    pub config: std::collections::BTreeMap<String, String>,
}

impl Known {
    pub fn read(host: &Host, app: &str, from: &str, to: &str) -> Result<Known> {
        Ok(Known { from_key: host.url_key(from)?, to_key: host.url_key(to)?, config: host.config(app)? })
    }
}

/// How strict a relink is: a rollback goes on past steps that the forward move never reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Back,
}

/// Points `vars` of `app` (primary first) at `to` instead of `from`, then checks that it holds.
/// `known`: what was read before the window (else it is read now).
pub fn relink(
    host: &Host,
    app: &str,
    from: &str,
    to: &str,
    vars: &[VarSpec],
    mode: Mode,
    known: Option<&Known>,
) -> Result<()> {
    let primary = vars.first().context("no variable to move")?;
    let unlink = |service: &str| host.dokku(&["postgres:unlink", service, app, "--no-restart"]);
    match mode {
        Mode::Forward => host.check(&unlink(from)).map(drop)?,
        // Going back (or redoing a move that died half-way), any of the two links may be half
        // there: unlink drops the LINKS entry and the docker link before it checks the vars
        // (docs/dokku-postgres-service.md#commands, unlink; #315), so "Not linked" is fine, and `to` is
        // unlinked too so that the link below starts clean.
        Mode::Back => {
            host.run(&unlink(from))?;
            host.run(&unlink(to))?;
        }
    }
    let to_key = match known {
        Some(k) => k.to_key.clone(),
        None => host.url_key(to)?,
    };
    // After the unlink the config is what it was without the moved vars.
    let config = match known {
        Some(k) => k
            .config
            .iter()
            .filter(|(name, _)| !vars.iter().any(|v| &v.name == *name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => host.config(app)?,
    };
    // link --alias refuses a name found anywhere in the app's config lines, a substring grep
    // (docs/dokku-postgres-service.md#commands, link): DATABASE_URL beside REPLICA_DATABASE_URL.
    // The moved vars themselves are gone after the unlinks.
    let collides = config
        .iter()
        .filter(|(k, _)| !vars.iter().any(|v| &v.name == *k))
        .any(|(k, v)| format!("{k}={v}").contains(primary.name.as_str()));
    let (alias, query) = match collides {
        true => (free_alias(&config), None),
        // link --alias strips one trailing _URL and appends _URL again: the full name round-trips.
        false => (primary.name.clone(), primary.query.clone()),
    };
    let mut link = host.dokku(&["postgres:link", to, app, "--no-restart", "--alias", &alias]);
    if let Some(query) = &query {
        link = link.arg("--querystring").arg(query.clone());
    }
    host.check(&link)?;
    if !collides && vars.len() == 1 {
        // Nothing more to set: the check reads what it needs at once.
        return check(host, app, from, to, vars, &to_key, known.map(|k| k.from_key.as_str()), None);
    }
    let linked = format!("{}_URL", alias.strip_suffix("_URL").unwrap_or(&alias));
    let config = host.config(app)?;
    let value = config
        .get(&linked)
        .filter(|v| v.contains(to_key.as_str()))
        .with_context(|| format!("after postgres:link, {linked} of app {app} does not point at {to}"))?;
    let base = value.split('?').next().unwrap_or(value).to_string();
    let rest = if collides { vars } else { &vars[1..] };
    let others: Vec<(String, String)> = rest.iter().map(|v| (v.name.clone(), v.with_base(&base))).collect();
    if !others.is_empty() {
        host.check(&host.config_set(app, &others))?;
    }
    if collides {
        // The stand-in var has done its work: the service's URL now sits under the real names,
        // which unlink finds by that URL (docs/dokku-postgres-service.md#commands, unlink).
        host.check(&host.dokku(&["config:unset", "--no-restart", app, &linked]))?;
    }
    // The config just read is the app's still when nothing was set or unset since.
    let unchanged = (others.is_empty() && !collides).then_some(config);
    check(host, app, from, to, vars, &to_key, known.map(|k| k.from_key.as_str()), unchanged)
}

/// A link alias no config line mentions, so that link accepts it.
fn free_alias(config: &std::collections::BTreeMap<String, String>) -> String {
    let used = |name: &str| config.iter().any(|(k, v)| format!("{k}={v}").contains(name));
    (0..).map(|n| format!("POSTGRES_UPGRADE_SWITCH{n}")).find(|a| !used(&format!("{a}_URL"))).unwrap_or_default()
}

/// Moves an exposure (docs/expose.md): `from` is unexposed first, since two ambassadors cannot
/// publish one host port, then `to` is exposed on `ports`. Each half is skipped when already
/// done, so an interrupted move can be run again; a PORT file left by a refused expose counts as
/// exposed and is cleared too.
pub fn move_exposure(host: &Host, from: &str, to: &str, ports: &[String]) -> Result<()> {
    if host.service_exists(from) && !host.exposed_ports(from)?.is_empty() {
        host.check(&host.dokku(&["postgres:unexpose", from]))?;
    }
    if host.exposed_ports(to)? != ports {
        if !host.exposed_ports(to)?.is_empty() {
            host.check(&host.dokku(&["postgres:unexpose", to]))?;
        }
        let mut args = vec!["postgres:expose", to];
        args.extend(ports.iter().map(String::as_str));
        host.check(&host.dokku(&args))?;
    }
    Ok(())
}

/// What a relink promises: the same names, all on `to`, none left on `from`; the app in `to`'s
/// links and its docker options linking `to`'s container, not `from`'s (#335).
#[allow(clippy::too_many_arguments)]
fn check(
    host: &Host,
    app: &str,
    from: &str,
    to: &str,
    vars: &[VarSpec],
    to_key: &str,
    from_key: Option<&str>,
    config: Option<std::collections::BTreeMap<String, String>>,
) -> Result<()> {
    let from_key = match from_key {
        Some(key) => Some(key.to_string()),
        None => host.url_key(from).ok(),
    };
    // The app's config (unless read already), its docker options and the new service's links,
    // read at once: each is a dokku call.
    let mut reads =
        vec![host.dokku(&["docker-options:report", app, "--docker-options-run"]), host.dokku(&["postgres:links", to])];
    if config.is_none() {
        reads.push(host.config_export(app));
    }
    let read = host.check_all(&reads.iter().collect::<Vec<_>>())?;
    let config = match config {
        Some(config) => config,
        None => crate::host::parse_config(app, &read[2].stdout)?,
    };
    for var in vars {
        if !config.get(&var.name).is_some_and(|v| v.contains(to_key)) {
            bail!("{} of app {app} does not point at {to} after the switch", var.name);
        }
    }
    if let Some(from_key) = from_key
        && let Some((name, _)) = config.iter().find(|(_, v)| v.contains(from_key.as_str()))
    {
        bail!("{name} of app {app} still points at {from} after the switch");
    }
    let options = read[0].stdout.trim();
    if options.contains(&format!("{}:", container(from))) {
        bail!("the docker options of app {app} still link {}", container(from));
    }
    if !options.contains(&format!("{}:", container(to))) {
        bail!("the docker options of app {app} do not link {}", container(to));
    }
    if !read[1].stdout.lines().map(str::trim).any(|a| a == app) {
        bail!("app {app} is not in the links of {to}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_stay_with_their_variable() {
        let v = VarSpec::from_value("ANALYTICS_URL", "postgres://u:p@h:5432/db?pool=5&ssl=1");
        assert_eq!(v.query.as_deref(), Some("pool=5&ssl=1"));
        assert_eq!(v.with_base("postgres://n"), "postgres://n?pool=5&ssl=1");
        assert_eq!(VarSpec::from_value("X", "postgres://u:p@h/db").query, None);
    }

    #[test]
    fn the_stand_in_alias_is_one_no_config_line_mentions() {
        let mut config = std::collections::BTreeMap::new();
        config.insert("REPLICA_DATABASE_URL".to_string(), "postgres://r".to_string());
        assert_eq!(free_alias(&config), "POSTGRES_UPGRADE_SWITCH0");
        config.insert("NOTE".to_string(), "see POSTGRES_UPGRADE_SWITCH0_URL".to_string());
        assert_eq!(free_alias(&config), "POSTGRES_UPGRADE_SWITCH1");
    }
}
