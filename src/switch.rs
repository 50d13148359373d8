//! Moving an app's config from one postgres service to another, the same way forward (old → new)
//! and back (new → old, on rollback). dokku-postgres's unlink drops the LINKS entry, the docker
//! `--link` and every var holding the service's URL; link `--alias NAME` recreates the primary var
//! under its own name (link always appends `_URL`: dokku-postgres-behaviour.md §2, link) with the
//! app's scheme and the query string; the other vars get the same URL. Everything runs with
//! `--no-restart`: the app starts once, later.

use crate::host::{Host, container};
use anyhow::{Context, Result, bail};

/// One config var that points at the service, without its value (which holds the password).
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// How strict a relink is: a rollback goes on past steps that the forward move never reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Back,
}

/// Points `vars` of `app` (primary first) at `to` instead of `from`, then checks that it holds.
pub fn relink(host: &Host, app: &str, from: &str, to: &str, vars: &[VarSpec], mode: Mode) -> Result<()> {
    let primary = vars.first().context("no variable to move")?;
    let unlink = host.dokku(&["postgres:unlink", from, app, "--no-restart"]);
    match mode {
        Mode::Forward => host.runner.check(&unlink).map(drop)?,
        // Not linked (the forward move never got this far) is fine on the way back.
        Mode::Back => host.runner.run(&unlink).map(drop)?,
    }
    let to_key = host.url_key(to)?;
    let mut link =
        host.dokku(&["postgres:link", to, app, "--no-restart", "--alias", primary.name.trim_end_matches("_URL")]);
    if let Some(query) = &primary.query {
        link = link.arg("--querystring").arg(query.clone());
    }
    let linked = host.runner.run(&link)?;
    let config = host.config(app)?;
    let Some(value) = config.get(&primary.name).filter(|v| v.contains(to_key.as_str())) else {
        if !linked.success() {
            bail!("{}", crate::runner::failure_message(&link, &linked));
        }
        bail!("after postgres:link, {} of app {app} does not point at {to}", primary.name);
    };
    let base = value.split('?').next().unwrap_or(value).to_string();
    let others: Vec<(String, String)> = vars[1..].iter().map(|v| (v.name.clone(), v.with_base(&base))).collect();
    if !others.is_empty() {
        host.runner.check(&host.config_set(app, &others))?;
    }
    check(host, app, from, to, vars, &to_key)
}

/// What a relink promises: the same names, all on `to`, none left on `from`, no docker link to it.
fn check(host: &Host, app: &str, from: &str, to: &str, vars: &[VarSpec], to_key: &str) -> Result<()> {
    let from_key = host.url_key(from).ok();
    let config = host.config(app)?;
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
    let options = host.runner.read(&host.dokku(&["docker-options:report", app, "--docker-options-run"]))?;
    if options.contains(&format!("{}:", container(from))) {
        bail!("the docker options of app {app} still link {}", container(from));
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
}
