//! Preflight: find out what the upgrade would do and everything that stands in its way, before
//! anything is changed. Every problem is printed, then the run fails once (cargo-release's
//! `failed |= !verify_…` pattern).

use crate::cli::UpgradeArgs;
use crate::error::{AppMissing, PreflightFailed};
use crate::host::{BackupSettings, Host, ServiceSettings};
use crate::naming;
use crate::output::Out;
use crate::switch::VarSpec;
use anyhow::{Result, bail};

/// The oldest dokku-postgres with `--no-restart` on link/unlink (1.18.0,
/// docs/dokku-postgres-service.md#versions).
const MIN_POSTGRES_PLUGIN: (u32, u32, u32) = (1, 18, 0);

/// One app that the switch moves to the new service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppState {
    pub name: String,
    pub running: bool,
    pub maintenance_on: bool,
    /// Every config var that points at the old service, primary first (the one
    /// `postgres:link --alias` recreates), without the values: they hold the password.
    pub vars: Vec<VarSpec>,
}

pub struct Plan {
    /// The app named on the command line, or None when a service was named.
    pub app: Option<String>,
    pub old: String,
    pub new: String,
    pub image: String,
    pub version: String,
    pub image_id: String,
    pub image_created: String,
    pub old_reference: String,
    pub old_major: Option<u32>,
    pub new_major: Option<u32>,
    pub old_db: String,
    /// `postgres:PW@dokku-postgres-OLD:5432/DB`: secret.
    pub old_key: String,
    pub apps: Vec<AppState>,
    pub settings: ServiceSettings,
    pub backup: BackupSettings,
    pub use_maintenance: bool,
    /// What preflight found in the old database (None for a plan read back from a journal).
    pub survey: Option<crate::survey::Survey>,
}

impl Plan {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.version)
    }
}

/// What preflight decided.
pub enum Decision {
    Upgrade(Box<Plan>),
    /// Every linked app already runs on a service made from this very image build.
    Unchanged {
        service: String,
        reference: String,
        image_id: String,
    },
    /// A service was named and the move is one dokku-postgres's in-place upgrade does safely.
    /// dokku-postgres's upgrade takes its defaults from POSTGRES_IMAGE, not from the service, and
    /// clears custom env and config options not passed again (docs/dokku-postgres-service.md#commands,
    /// upgrade, #264, #352): so the call is made with all of them spelled out, the custom env
    /// through `POSTGRES_CUSTOM_ENV` (it may hold secrets: never an argument, never printed).
    HandOver {
        service: String,
        args: Vec<String>,
        custom_env: String,
    },
}

pub fn preflight(host: &Host, args: &UpgradeArgs, out: &Out) -> Result<Decision> {
    let target = args.target.as_str();
    let mut problems: Vec<String> = Vec::new();

    if target.is_empty() || target.starts_with('-') {
        bail!("Please specify an app or service to upgrade");
    }
    let is_app = naming::valid_app_name(target) && host.app_exists(target)?;
    let is_service = naming::valid_service_name(target) && host.service_exists(target);
    if !is_app && !is_service {
        return Err(AppMissing(target.to_string()).into());
    }
    let app = is_app.then(|| target.to_string());

    // Which service moves.
    let old = match (&app, &args.service) {
        (Some(app), Some(svc)) => {
            if !naming::valid_service_name(svc) || !host.service_exists(svc) {
                bail!("Postgres service {svc} does not exist");
            }
            if !host.app_links(app)?.contains(svc) {
                bail!("Postgres service {svc} is not linked to app {app}");
            }
            svc.clone()
        }
        (Some(app), None) => service_behind_database_url(host, app)?,
        (None, Some(_)) => bail!("--service only goes with an app; {target} is a postgres service"),
        (None, None) => target.to_string(),
    };

    let settings = host.settings(&old)?;
    let image = args.image.clone().unwrap_or_else(|| settings.image.clone());
    let Some(version) = args
        .image_version
        .clone()
        .or_else(|| crate::cli::dokku_postgres_default_version(&host.env.plugin_available_path))
    else {
        bail!("Please specify the new image version with --image-version VERSION (-I)");
    };
    if image.is_empty() {
        bail!("Service {old} has no IMAGE file; please specify --image");
    }
    if let Some(hint) = image_argument_hint(args.image.as_deref()) {
        bail!("{hint}");
    }
    let image_ok = naming::valid_repository(&image);
    let version_ok = naming::valid_tag(&version);
    if !image_ok {
        problems.push(format!("Invalid image name: {image}"));
    }
    if !version_ok {
        problems.push(format!("Invalid image version: {version}"));
    }

    // A service named on its own, moving within its image family and major version: that is
    // what dokku-postgres's in-place upgrade does safely, so hand the call over unchanged.
    if app.is_none()
        && image_ok
        && version_ok
        && image == settings.image
        && naming::major_of_tag(&version).is_some()
        && naming::major_of_tag(&version) == naming::major_of_tag(&settings.image_version)
    {
        let mut handed = vec!["postgres:upgrade".to_string(), old.clone(), "-i".into(), image, "-I".into(), version];
        let config_options = args.config_options.clone().unwrap_or(settings.config_options);
        if !config_options.is_empty() {
            handed.extend(["-c".to_string(), config_options]);
        }
        for (flag, value) in args.container_flags() {
            if let Some(value) = value {
                handed.extend([flag.to_string(), value.clone()]);
            }
        }
        let custom_env = args.custom_env.clone().unwrap_or_else(|| settings.custom_env.join(";"));
        if args.restart_apps.is_some() {
            // dokku-postgres 1.48's -R calls ps_stop, which dokku removed in 0.22 (docs/dokku-host.md#ps
            // ): it would fail after rewriting IMAGE*.
            out.warn(
                "-R/--restart-apps is not passed on: the linked apps keep running and reconnect after the restart",
            );
        }
        return Ok(Decision::HandOver { service: old, args: handed, custom_env });
    }

    // The old service must be up: its data is read live.
    let status = host.postgres_info(&old, "--status").unwrap_or_default();
    if status != "running" {
        problems.push(format!(
            "Service {old} container is not running (status: {status}); start it with: dokku postgres:start {old}"
        ));
    }
    let old_reference = host.postgres_info(&old, "--version").unwrap_or_default();

    // Pull now, outside the maintenance window.
    let reference = format!("{image}:{version}");
    let mut image_id = String::new();
    let mut image_created = String::new();
    let mut new_major = naming::major_of_tag(&version);
    if image_ok && version_ok {
        // dokku-postgres's POSTGRES_DISABLE_PULL (air-gapped hosts): use the image only if it
        // is already here, as its own upgrade does (docs/dokku-postgres-upgrade-flags.md).
        let pull = if host.env.disable_pull {
            out.verbose(&format!("POSTGRES_DISABLE_PULL is set: not pulling {reference}"));
            host.runner.run(&host.docker(&["image", "inspect", "-f", "{{.Id}}", &reference]))?
        } else {
            out.verbose(&format!("Pulling {reference}"));
            host.runner.run(&host.docker(&["pull", &reference]))?
        };
        if pull.success() {
            image_id = host.inspect_image(&reference, "{{.Id}}")?;
            image_created = host.inspect_image(&reference, "{{.Created}}")?;
            let env = host.inspect_image(&reference, "{{json .Config.Env}}").unwrap_or_default();
            if let Some(major) = pg_major_from_env(&env) {
                new_major = Some(major);
            }
        } else {
            let why = pull.stderr.trim().lines().last().unwrap_or("").to_string();
            problems.push(if host.env.disable_pull {
                format!("Image {reference} is not on this host and POSTGRES_DISABLE_PULL forbids pulling it: run docker image pull {reference} first")
            } else {
                format!("Unable to pull image {reference}: {why}")
            });
        }
    }

    if new_major.is_some_and(|m| m >= 1800) && naming::major_of_tag(&version).is_none() {
        problems.push(format!(
            "Image {reference} is PostgreSQL 18 or newer, but its tag names no version: dokku-postgres takes the data layout from the tag's leading number and would mount the data where an 18 image does not look (dokku-postgres #383); name the version, e.g. -I 18"
        ));
    }
    if !image_id.is_empty() && new_major.is_none() {
        problems.push(format!(
            "Image {reference} is not a PostgreSQL image: it sets no PG_MAJOR and its tag names no version (dokku-postgres runs the official postgres images and those built on them)"
        ));
    }

    // Idempotent for deploy scripts: the service already runs this very build.
    if status == "running" && !image_id.is_empty() {
        let current = host.inspect_container(&old, "{{.Image}}")?;
        if current.success() && current.stdout.trim() == image_id {
            if !problems.is_empty() {
                return fail(out, problems);
            }
            return Ok(Decision::Unchanged { service: old, reference, image_id });
        }
    }

    let old_db = host.database_name(&old)?;
    let old_key = host.url_key(&old)?;
    let old_major = if status == "running" {
        host.sql(&old, &old_db, "SHOW server_version_num")
            .ok()
            .and_then(|rows| rows.first().and_then(|v| v.parse::<u32>().ok()))
            .map(naming::major_of_server_version_num)
    } else {
        naming::major_of_tag(&settings.image_version)
    };
    if let (Some(from), Some(to)) = (old_major, new_major)
        && to < from
    {
        problems.push(format!(
            "Image {reference} is PostgreSQL {}, older than the service's PostgreSQL {}: a dump from a newer server does not restore into an older one (dokku-postgres #194)",
            naming::major_text(to),
            naming::major_text(from)
        ));
    }

    // dokku-postgres must be new enough for link/unlink --no-restart.
    match host.postgres_plugin_version() {
        None => problems.push("The dokku-postgres plugin is not installed".to_string()),
        Some(v) if !version_at_least(&v, MIN_POSTGRES_PLUGIN) => problems.push(format!(
            "dokku-postgres {v} is too old: version 1.18.0 or newer is needed (run: sudo dokku plugin:update postgres)"
        )),
        _ => {}
    }

    // The new service's name.
    let new = match &args.new_service {
        Some(name) => name.clone(),
        None if !image_created.is_empty() => {
            let base = app
                .clone()
                .or_else(|| host.service_links(&old).ok()?.into_iter().next())
                .unwrap_or_else(|| old.clone());
            naming::default_service_name(&base, &image, &version, &image_created)
        }
        None => String::new(),
    };
    if !new.is_empty() {
        if !naming::valid_service_name(&new) {
            problems.push(format!("Invalid new service name {new}: use only letters, digits, - and _"));
        } else if new.len() > naming::MAX_SERVICE_NAME {
            problems.push(format!(
                "The new service name {new} has {} characters: its host name dokku-postgres-{new} must fit in 63, so at most {}; choose a shorter one with --new-service",
                new.len(),
                naming::MAX_SERVICE_NAME
            ));
        } else if host.service_exists(&new) {
            problems.push(format!("Postgres service {new} already exists; choose another name with --new-service"));
        }
    }

    // The apps that move with the service.
    let use_maintenance = !args.no_maintenance && host.maintenance_installed();
    if !args.no_maintenance && !host.maintenance_installed() {
        out.warn(
            "The maintenance plugin is not installed: the apps will be stopped, not in maintenance, during the copy",
        );
    }
    let linked = host.service_links(&old)?;
    let mut apps = Vec::new();
    for name in &linked {
        if !host.app_exists(name)? {
            problems.push(format!("App {name} is in the links of service {old} but does not exist"));
            continue;
        }
        let config = host.config(name)?;
        let mut vars: Vec<VarSpec> = config
            .iter()
            .filter(|(_, v)| v.contains(old_key.as_str()))
            .map(|(k, v)| VarSpec::from_value(k, v))
            .collect();
        vars.sort_by_key(|v| (v.name != "DATABASE_URL", !v.name.ends_with("_URL"), v.name.clone()));
        if vars.is_empty() {
            problems.push(format!(
                "App {name} is linked to service {old} but none of its config vars points at it (dokku-postgres #315); fix its config first"
            ));
            continue;
        }
        if !vars[0].name.ends_with("_URL") {
            problems.push(format!(
                "App {name} refers to service {old} only through {}, which is not a *_URL variable",
                vars[0].name
            ));
            continue;
        }
        // dokku-postgres finds an app's vars by the URL with the app's current scheme (docs/dokku-postgres-service.md#commands,
        // leftover (b)): a var with another scheme would survive the unlink.
        let scheme =
            config.get("POSTGRES_DATABASE_SCHEME").filter(|s| !s.is_empty()).map_or("postgres", String::as_str);
        for (key, value) in config.iter().filter(|(_, v)| v.contains(old_key.as_str())) {
            if !value.starts_with(&format!("{scheme}://")) {
                problems.push(format!(
                    "App {name}'s {key} does not use the scheme {scheme}:// of its POSTGRES_DATABASE_SCHEME; make them agree first"
                ));
            }
        }
        // link --alias refuses a name found anywhere in the other config lines (a substring
        // grep: docs/dokku-postgres-service.md#commands), e.g. DATABASE_URL beside REPLICA_DATABASE_URL; that would strike
        // after the unlink.
        let primary = vars[0].name.clone();
        if let Some((key, _)) = config
            .iter()
            .filter(|(_, v)| !v.contains(old_key.as_str()))
            .find(|(k, v)| format!("{k}={v}").contains(primary.as_str()))
        {
            problems.push(format!(
                "App {name}'s {key} contains the name {primary}, so `postgres:link --alias {primary}` would refuse it; rename {key} first"
            ));
        }
        if host.app_locked(name)? {
            problems.push(format!(
                "App {name} is locked (a deploy may be running); retry when `dokku apps:locked {name}` says it is not"
            ));
        }
        let maintenance_on = use_maintenance && host.maintenance_enabled(name)?;
        apps.push(AppState { name: name.clone(), running: host.app_running(name)?, maintenance_on, vars });
    }
    if let Some(app) = &app
        && !linked.contains(app)
    {
        problems.push(format!("App {app} is not in the links of service {old}"));
    }
    for other in host.apps()?.into_iter().filter(|a| !linked.contains(a)) {
        let config = host.config(&other)?;
        for key in config.iter().filter(|(_, v)| v.contains(old_key.as_str())).map(|(k, _)| k) {
            problems.push(format!(
                "App {other} refers to service {old} in {key} but is not linked to it; link it or remove the variable"
            ));
        }
    }
    if app.is_none() && !apps.is_empty() {
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        out.verbose(&format!(
            "{old} is a service: a change of image family or major version is done blue-green, moving the linked apps ({})",
            names.join(", ")
        ));
    }

    // What is in the old database, and room for the dump and the new service's data.
    let survey = if status == "running" {
        let dumps = crate::copy::dumps_dir(&host.env.data_dir(), app.as_deref().unwrap_or(&old));
        match crate::survey::Survey::take(host, &old, &old_db, &dumps) {
            Ok(survey) => {
                problems.extend(survey.disk_problems());
                Some(survey)
            }
            Err(err) => {
                problems.push(format!("{err:#}"));
                None
            }
        }
    } else {
        None
    };

    let backup = host.backup_settings(&old)?;
    if !problems.is_empty() {
        return fail(out, problems);
    }
    Ok(Decision::Upgrade(Box::new(Plan {
        app,
        old,
        new,
        image,
        version,
        image_id,
        image_created,
        old_reference,
        old_major,
        new_major,
        old_db,
        old_key,
        apps,
        settings: args.new_service_settings(settings),
        backup,
        use_maintenance,
        survey,
    })))
}

fn fail(out: &Out, problems: Vec<String>) -> Result<Decision> {
    for p in &problems {
        out.warn(p);
    }
    Err(PreflightFailed(problems.len()).into())
}

/// The service whose URL the app's DATABASE_URL holds.
fn service_behind_database_url(host: &Host, app: &str) -> Result<String> {
    let linked = host.app_links(app)?;
    let config = host.config(app)?;
    let Some(url) = config.get("DATABASE_URL") else {
        bail!("App {app} has no DATABASE_URL; name the service with --service (linked: {})", list_or_none(&linked));
    };
    for service in &linked {
        if url.contains(host.url_key(service)?.as_str()) {
            return Ok(service.clone());
        }
    }
    bail!(
        "App {app}'s DATABASE_URL points at no linked postgres service; name one with --service (linked: {})",
        list_or_none(&linked)
    )
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}

/// What to type instead, for an `--image` that is not a bare repository.
fn image_argument_hint(image: Option<&str>) -> Option<String> {
    let image = image?;
    if image.trim().is_empty() {
        return Some(
            "--image needs a repository, e.g. --image postgres (leave it out to keep the old service's)".into(),
        );
    }
    if let Some((repo, _)) = image.split_once('@') {
        return Some(format!(
            "--image takes a repository, not a digest: --image {repo} --image-version TAG (the tag is pulled, and its build recorded)"
        ));
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if let Some((name, tag)) = last.split_once(':') {
        let repo = &image[..image.len() - last.len()];
        return Some(format!(
            "--image takes the repository alone, the tag goes to --image-version: --image {repo}{name} --image-version {tag}"
        ));
    }
    None
}

/// `PG_MAJOR=15` from an image's `{{json .Config.Env}}`, as the official images set it.
fn pg_major_from_env(env_json: &str) -> Option<u32> {
    let env: Vec<String> = serde_json::from_str(env_json).ok()?;
    env.iter().find_map(|e| e.strip_prefix("PG_MAJOR=")).and_then(|v| naming::major_of_tag(v.trim()))
}

fn version_at_least(version: &str, min: (u32, u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.trim().parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v >= min
}

impl Plan {
    /// The plan without anything secret: what the journal keeps and `--format json` shows.
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "app": self.app,
            "old_service": self.old,
            "new_service": self.new,
            "image": self.reference(),
            "image_repository": self.image,
            "image_version": self.version,
            "image_id": self.image_id,
            "image_created": self.image_created,
            "old_image": self.old_reference,
            "postgres_major": { "from": self.old_major.map(naming::major_text), "to": self.new_major.map(naming::major_text) },
            "old_database": self.old_db,
            "use_maintenance": self.use_maintenance,
            "apps": self.apps.iter().map(|a| serde_json::json!({
                "name": a.name,
                "running": a.running,
                "maintenance_on": a.maintenance_on,
                "vars": a.vars.iter().map(|v| serde_json::json!({"name": v.name, "query": v.query})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The plan of a journaled run, with what the journal does not keep (the URL with its
    /// password, the settings and backup credentials) read again from the old service.
    pub fn from_journal(doc: &serde_json::Value, host: &Host) -> Result<Plan> {
        let s = |k: &str| doc[k].as_str().map(String::from).unwrap_or_default();
        let old = s("old_service");
        if old.is_empty() || s("new_service").is_empty() {
            bail!("the journal has no plan");
        }
        let apps = doc["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| AppState {
                name: a["name"].as_str().unwrap_or_default().to_string(),
                running: a["running"].as_bool().unwrap_or(false),
                maintenance_on: a["maintenance_on"].as_bool().unwrap_or(false),
                vars: a["vars"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| VarSpec {
                        name: v["name"].as_str().unwrap_or_default().to_string(),
                        query: v["query"].as_str().map(String::from),
                    })
                    .collect(),
            })
            .collect();
        let old_exists = host.service_exists(&old);
        Ok(Plan {
            app: doc["app"].as_str().map(String::from),
            new: s("new_service"),
            image: s("image_repository"),
            version: s("image_version"),
            image_id: s("image_id"),
            image_created: s("image_created"),
            old_reference: s("old_image"),
            old_major: doc["postgres_major"]["from"].as_str().and_then(naming::major_of_tag),
            new_major: doc["postgres_major"]["to"].as_str().and_then(naming::major_of_tag),
            old_db: s("old_database"),
            old_key: if old_exists { host.url_key(&old)? } else { String::new() },
            apps,
            settings: if old_exists { host.settings(&old)? } else { ServiceSettings::default() },
            backup: if old_exists { host.backup_settings(&old)? } else { BackupSettings::default() },
            use_maintenance: doc["use_maintenance"].as_bool().unwrap_or(false),
            survey: None,
            old,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_that_is_not_a_bare_repository_says_what_to_type() {
        assert_eq!(image_argument_hint(None), None);
        assert_eq!(image_argument_hint(Some("postgis/postgis")), None);
        assert!(image_argument_hint(Some("")).unwrap().contains("--image postgres"));
        assert_eq!(
            image_argument_hint(Some("postgis/postgis:15-3.4")).unwrap(),
            "--image takes the repository alone, the tag goes to --image-version: --image postgis/postgis --image-version 15-3.4"
        );
        assert!(image_argument_hint(Some("localhost:5000/pg")).is_none());
        assert!(
            image_argument_hint(Some("postgres@sha256:abc")).unwrap().contains("--image postgres --image-version TAG")
        );
    }

    #[test]
    fn plugin_versions_compare_numerically() {
        assert!(version_at_least("1.48.0", MIN_POSTGRES_PLUGIN));
        assert!(version_at_least("1.18.0", MIN_POSTGRES_PLUGIN));
        assert!(!version_at_least("1.11.6", MIN_POSTGRES_PLUGIN));
        assert!(!version_at_least("1.9.20", MIN_POSTGRES_PLUGIN));
    }

    #[test]
    fn pg_major_comes_from_the_image_env() {
        assert_eq!(pg_major_from_env(r#"["PATH=/usr/bin","PG_MAJOR=17","PG_VERSION=17.10"]"#), Some(1700));
        assert_eq!(pg_major_from_env("[]"), None);
    }
}
