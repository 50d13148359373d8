//! Preflight: find out what the upgrade would do and everything that stands in its way, before
//! anything is changed. Every problem is printed, then the run fails once (cargo-release's
//! `failed |= !verify_…` pattern).

pub mod carry;
pub mod checks;
pub mod cli;
pub mod method;
pub mod naming;
pub mod requirements;

use crate::error::{AppMissing, PreflightFailed};
use crate::host::switch::VarSpec;
use crate::host::{BackupSettings, Host, ServiceSettings};
use crate::output::Out;
use crate::plan::cli::UpgradeArgs;
use crate::state::journal::{AppRecord, Majors, PlanRecord};
use anyhow::{Result, bail};

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
    /// The old service's exposed host ports (`postgres:expose`), moved to the new one at the
    /// switch (docs/expose.md); empty when it is not exposed.
    pub exposed: Vec<String>,
    pub backup: BackupSettings,
    pub use_maintenance: bool,
    /// What preflight found in the old database (None for a plan read back from a journal).
    pub survey: Option<crate::facts::survey::Survey>,
    /// Which copy runs, and why (plan/method.rs).
    pub copy: method::CopyChoice,
    /// What the copy cannot carry as it is, and the ALTER SYSTEM settings (plan/carry.rs;
    /// None for a plan read back from a journal).
    pub carry: Option<carry::Carry>,
    /// What `--accept-recomputed` and `--keep-md5-auth` accepted, in words: kept in the journal.
    pub accepted: Vec<String>,
    /// What `--accept-recomputed` lets the verifier find different, and nothing more: kept in
    /// the journal, so that a resumed run verifies alike.
    pub recomputed: crate::facts::verifier::Accepted,
    /// What preflight's pull brought to the host (a dry run says so), None when it was here.
    pub pulled: Option<String>,
    /// The service that moves has the app's name (app `shop`, service `shop`): the plan says
    /// that this service is replaced.
    pub namesake: bool,
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
    if let Some(problem) = checks::target_given(target) {
        bail!("{problem}");
    }
    // A name that cannot be an app's or a service's names nothing (dokku's verify_app_name says
    // the same of a name it refuses): exit 20, before anything is read or made with it.
    if !naming::possible_target(target) {
        return Err(AppMissing(target.to_string()).into());
    }
    if let Some(problem) = requirements::dokku_version(host.env.dokku_version) {
        bail!("{problem}");
    }
    let is_app = naming::valid_app_name(target) && host.app_exists(target)?;
    let is_service = naming::valid_service_name(target) && host.service_exists(target);
    if !is_app && !is_service {
        return Err(AppMissing(target.to_string()).into());
    }

    // Every problem is listed, then the run fails once: first what the command line says on
    // its own, then what the host says.
    let mut problems = checks::arguments(args);
    let version = args
        .image_version
        .clone()
        .or_else(|| crate::plan::cli::dokku_postgres_default_version(&host.env.plugin_available_path));
    if version.is_none() {
        problems.push("Please specify the new image version with --image-version VERSION (-I)".to_string());
    }
    let version = version.unwrap_or_default();

    // A service moving within its image and major version: what dokku-postgres's in-place
    // upgrade does safely, and what `postgres:upgrade NAME` meant before this plugin. So it is
    // handed over unchanged, also when an app has the same name (app `shop`, service `shop`:
    // automation calling `postgres:upgrade shop -I 17.6` for the service keeps its meaning),
    // unless a flag only the blue-green upgrade has asks for that.
    if is_service && args.service.is_none() && args.blue_green_flags().is_empty() && problems.is_empty() {
        let settings = host.settings(target)?;
        let image = args.image.clone().unwrap_or_else(|| settings.image.clone());
        if checks::image_names(&image, &version).is_empty() && in_place(&image, &version, &settings) {
            if is_app {
                out.verbose(&format!(
                    "{target} is an app and a postgres service: within the service's major version the service is meant, \
                     as before this plugin; across majors, the app moves blue-green"
                ));
            }
            return Ok(hand_over(target, image, version, settings, args, out));
        }
    }
    let app = is_app.then(|| target.to_string());

    // Which service moves.
    let old = match (&app, &args.service) {
        (Some(app), Some(svc)) if !svc.is_empty() => {
            let exists = naming::valid_service_name(svc) && host.service_exists(svc);
            let linked = exists && host.app_links(app)?.contains(svc);
            match checks::named_service(app, svc, exists, linked) {
                Some(problem) => {
                    problems.push(problem);
                    String::new()
                }
                None => svc.clone(),
            }
        }
        (Some(_), Some(_)) => String::new(),
        (Some(app), None) => service_behind_database_url(host, app).unwrap_or_else(|err| {
            problems.push(format!("{err:#}"));
            String::new()
        }),
        (None, Some(_)) => {
            problems.push(format!("--service only goes with an app; {target} is a postgres service"));
            String::new()
        }
        (None, None) => target.to_string(),
    };
    if old.is_empty() {
        // Nothing more can be read without the service that moves.
        return fail(out, problems, None);
    }
    // The app and its service share the name: the plan says that this service is replaced.
    let namesake = app.as_deref() == Some(old.as_str());
    if is_app && is_service && args.service.is_none() && !namesake {
        out.warn(&format!(
            "{target} is an app and also a postgres service: the app is meant, and its own service {old} moves; \
             the service {target} is not touched"
        ));
    }

    let settings = host.settings(&old)?;
    let image = args.image.clone().unwrap_or_else(|| settings.image.clone());
    if image.is_empty() && args.image.is_none() {
        problems.push(format!("Service {old} has no IMAGE file; please specify --image"));
    }
    let names_ok = !image.is_empty() && !version.is_empty() && checks::image_names(&image, &version).is_empty();
    if !image.is_empty() && !version.is_empty() {
        problems.extend(checks::image_names(&image, &version));
    }
    if app.is_none() && names_ok && !args.blue_green_flags().is_empty() && in_place(&image, &version, &settings) {
        out.verbose(&format!(
            "{old} moves within its image and major version, blue-green because of {} (without it, dokku-postgres's in-place upgrade would do it)",
            args.blue_green_flags().join(", ")
        ));
    }

    // The old service must be up: its data is read live.
    // What dokku-postgres says of it: an error reading it is a problem of its own, not a status.
    let status = host.postgres_info(&old, "--status").unwrap_or_else(|err| {
        problems.push(format!("{err:#}"));
        String::new()
    });
    problems.extend(checks::old_running(&old, &status));
    let old_reference = host.postgres_info(&old, "--version").unwrap_or_default();
    let old_db = host.database_name(&old)?;

    // Pull now, outside the maintenance window; a dry run says what it pulled.
    let reference = format!("{image}:{version}");
    let mut image_id = String::new();
    let mut image_created = String::new();
    let mut pulled = None;
    let mut new_major = naming::major_of_tag(&version);
    if names_ok {
        let before = host.inspect_image(&reference, "{{.Id}}").ok();
        // dokku-postgres's POSTGRES_DISABLE_PULL (air-gapped hosts): use the image only if it
        // is already here, as its own upgrade does (docs/dokku-postgres-upgrade-flags.md).
        let timer = crate::output::progress::timer(format!("pulling {reference}"), out.quiet());
        let pull = if host.env.disable_pull {
            out.verbose(&format!("POSTGRES_DISABLE_PULL is set: not pulling {reference}"));
            host.run(&host.docker(&["image", "inspect", "-f", "{{.Id}}", &reference]))?
        } else {
            out.verbose(&format!("Pulling {reference}"));
            host.run(&host.docker(&["pull", &reference]))?
        };
        drop(timer);
        if pull.success() {
            image_id = host.inspect_image(&reference, "{{.Id}}")?;
            image_created = host.inspect_image(&reference, "{{.Created}}")?;
            pulled = pulled_what(&reference, before.as_deref(), &image_id);
            out.verbose(&match &pulled {
                Some(what) => format!("Pulled {what}"),
                None => format!("{reference} is on this host already ({})", short_id(&image_id)),
            });
            let env = host.inspect_image(&reference, "{{json .Config.Env}}").unwrap_or_default();
            if let Some(major) = pg_major_from_env(&env) {
                new_major = Some(major);
            }
        } else {
            let why = pull.stderr.trim().lines().last().unwrap_or("");
            problems.extend(checks::pulled(&reference, host.env.disable_pull, Some(why)));
        }
    }
    problems.extend(checks::postgres_image(&reference, &version, !image_id.is_empty(), new_major));
    // The extensions the old database uses must be in the new image: read from the image
    // itself, before anything is made (the run checks them again on the new server).
    if !image_id.is_empty() && status == "running" {
        let used = host.sql(&old, &old_db, "SELECT extname FROM pg_extension ORDER BY 1").unwrap_or_default();
        match host.image_extensions(&reference, &image_id) {
            Ok(offered) => problems.extend(checks::extensions_offered(&reference, &old, &used, &offered)),
            Err(err) => out.warn(&format!(
                "The extensions of {reference} could not be read from the image ({err:#}): they are checked on the new service"
            )),
        }
    }

    // Idempotent for deploy scripts: the service already runs this very build.
    if status == "running" && !image_id.is_empty() {
        let current = host.inspect_container(&old, "{{.Image}}")?;
        if current.success() && current.stdout.trim() == image_id {
            if !problems.is_empty() {
                return fail(out, problems, pulled);
            }
            return Ok(Decision::Unchanged { service: old, reference, image_id });
        }
    }

    let old_key = host.url_key(&old)?;
    let old_major = if status == "running" {
        host.sql(&old, &old_db, "SHOW server_version_num")
            .ok()
            .and_then(|rows| rows.first().and_then(|v| v.parse::<u32>().ok()))
            .map(naming::major_of_server_version_num)
    } else {
        naming::major_of_tag(&settings.image_version)
    };
    problems.extend(checks::not_older(&reference, old_major, new_major));
    problems.extend(checks::postgres_plugin(host.postgres_plugin_version().as_deref()));

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
    let taken = naming::valid_service_name(&new) && host.service_exists(&new);
    problems.extend(checks::new_service_name(&new, taken));

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
        if let Some(problem) = checks::linked_app_exists(name, &old, host.app_exists(name)?) {
            problems.push(problem);
            continue;
        }
        let config = host.config(name)?;
        let vars = match checks::app_vars(name, &old, &old_key, &config) {
            Ok(vars) => vars,
            Err(found) => {
                problems.extend(found);
                continue;
            }
        };
        problems.extend(checks::app_unlocked(name, host.app_locked(name)?));
        let maintenance_on = use_maintenance && host.maintenance_enabled(name)?;
        apps.push(AppState { name: name.clone(), running: host.app_running(name)?, maintenance_on, vars });
    }
    if let Some(app) = &app {
        problems.extend(checks::app_in_links(app, &old, &linked));
    }
    // Every URL of the old service names its container's alias: only apps whose config file
    // holds that are asked for their config (a dokku call each; a host has a hundred apps).
    let others: Vec<String> = host.apps()?.into_iter().filter(|a| !linked.contains(a)).collect();
    for other in host.apps_whose_config_may_hold(&others, &format!("dokku-postgres-{old}")) {
        problems.extend(checks::stray_references(&other, &old, &old_key, &host.config(&other)?));
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
        let dumps = crate::state::dumps::dumps_dir(&host.env.data_dir(), app.as_deref().unwrap_or(&old));
        match crate::facts::survey::Survey::take(host, &old, &old_db, &dumps) {
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

    // What a dump does not carry as it is: refused here, or accepted with a flag.
    let carry = if status == "running" {
        let custom_env = carry::new_custom_env(args.custom_env.as_deref(), &settings.custom_env, args.keep_md5_auth);
        let custom_env = or_problem(&mut problems, custom_env).unwrap_or_default();
        let new_service = carry::NewService {
            image: (!image_id.is_empty()).then_some(reference.as_str()),
            major: new_major,
            custom_env: &custom_env,
            config_options: args.config_options.as_deref().unwrap_or(&settings.config_options),
        };
        let taken =
            carry::Carry::take(host, out, (&old, &old_db), &new_service, args.accept_recomputed, args.keep_md5_auth);
        or_problem(&mut problems, taken).map(|(carry, found)| {
            problems.extend(found);
            carry
        })
    } else {
        None
    };

    if args.reversible && new_major.is_some_and(|m| m < 1300) {
        // Its slots' WAL could not be bounded (max_slot_wal_keep_size is from 13 on).
        problems.push("--reversible needs a new major of 13 or newer".to_string());
    }
    if args.reversible && status == "running" {
        let found = crate::facts::replication::not_reversible(host, &old, &old_db);
        if let Some(found) = or_problem(&mut problems, found) {
            problems.extend(found);
        }
    }
    let backup = host.backup_settings(&old)?;
    let exposed = host.exposed_ports(&old)?;
    let new_settings = args.new_service_settings(settings.clone());
    let copy = match method::choose(args.asked(), survey.as_ref(), old_major, &settings, &new_settings) {
        Ok(copy) => copy,
        Err(problem) => {
            problems.push(problem);
            method::CopyChoice::of(crate::copy::Method::Whole, "")
        }
    };
    let app_names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
    let names = crate::host::calls::Names { apps: &app_names, old: &old, new: &new, image: &image, version: &version };
    problems.extend(requirements::acl(host, &names)?);
    if !problems.is_empty() {
        return fail(out, problems, pulled);
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
        settings: new_settings,
        exposed,
        backup,
        use_maintenance,
        survey,
        copy,
        accepted: carry.as_ref().map(|c| c.accepted.clone()).unwrap_or_default(),
        recomputed: carry.as_ref().map(|c| c.recomputed.clone()).unwrap_or_default(),
        carry,
        pulled,
        namesake,
    })))
}

/// Whether moving a service of `settings` to `image:version` is what dokku-postgres's in-place
/// upgrade does safely: the same image, a tag of the same major version.
fn in_place(image: &str, version: &str, settings: &ServiceSettings) -> bool {
    image == settings.image
        && naming::major_of_tag(version).is_some()
        && naming::major_of_tag(version) == naming::major_of_tag(&settings.image_version)
}

/// The call to dokku-postgres's own upgrade of `service`, every setting it would otherwise
/// reset spelled out.
fn hand_over(
    service: &str,
    image: String,
    version: String,
    settings: ServiceSettings,
    args: &UpgradeArgs,
    out: &Out,
) -> Decision {
    let mut handed =
        vec!["postgres:upgrade".to_string(), service.to_string(), "-i".into(), image, "-I".into(), version];
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
        out.warn("-R/--restart-apps is not passed on: the linked apps keep running and reconnect after the restart");
    }
    Decision::HandOver { service: service.to_string(), args: handed, custom_env }
}

/// What the pull changed on the host, said by a dry run too: the image, when it was not here,
/// or its newer build.
fn pulled_what(reference: &str, before: Option<&str>, after: &str) -> Option<String> {
    match before {
        None => Some(format!("{reference} (it was not on this host)")),
        Some(id) if id.trim() != after.trim() => Some(format!("a newer build of {reference} ({})", short_id(after))),
        Some(_) => None,
    }
}

/// `sha256:1234…` as docker shows it: 12 hex digits.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// The value, or its error as one more of preflight's problems.
fn or_problem<T>(problems: &mut Vec<String>, result: Result<T>) -> Option<T> {
    result.map_err(|err| problems.push(format!("{err:#}"))).ok()
}

fn fail(out: &Out, problems: Vec<String>, pulled: Option<String>) -> Result<Decision> {
    for p in &problems {
        out.warn(p);
    }
    Err(PreflightFailed { problems: problems.len(), pulled }.into())
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

/// `PG_MAJOR=15` from an image's `{{json .Config.Env}}`, as the official images set it.
fn pg_major_from_env(env_json: &str) -> Option<u32> {
    let env: Vec<String> = serde_json::from_str(env_json).ok()?;
    env.iter().find_map(|e| e.strip_prefix("PG_MAJOR=")).and_then(|v| naming::major_of_tag(v.trim()))
}

impl Plan {
    /// The plan without anything secret: what the journal keeps and `--format json` shows.
    pub fn record(&self) -> PlanRecord {
        PlanRecord {
            app: self.app.clone(),
            old_service: self.old.clone(),
            new_service: self.new.clone(),
            image: self.reference(),
            image_repository: self.image.clone(),
            image_version: self.version.clone(),
            image_id: self.image_id.clone(),
            image_created: self.image_created.clone(),
            old_image: self.old_reference.clone(),
            postgres_major: Majors {
                from: self.old_major.map(naming::major_text),
                to: self.new_major.map(naming::major_text),
            },
            old_database: self.old_db.clone(),
            copy_method: Some(self.copy.method),
            restart_old: self.copy.restart_old,
            use_maintenance: self.use_maintenance,
            exposed_ports: self.exposed.clone(),
            accepted: self.accepted.clone(),
            recomputed: self.recomputed.clone(),
            apps: self
                .apps
                .iter()
                .map(|a| AppRecord {
                    name: a.name.clone(),
                    running: a.running,
                    maintenance_on: a.maintenance_on,
                    vars: a.vars.clone(),
                })
                .collect(),
        }
    }

    pub fn public_json(&self) -> serde_json::Value {
        serde_json::to_value(self.record()).expect("a plan record is JSON")
    }

    /// The plan of a journaled run, with what the journal does not keep (the URL with its
    /// password, the settings and backup credentials) read again from the old service.
    /// `full_copy`: the run's flag, for a journal that does not name its copy (before 0.3).
    pub fn from_journal(record: &PlanRecord, host: &Host, full_copy: bool) -> Result<Plan> {
        let old = record.old_service.clone();
        if old.is_empty() || record.new_service.is_empty() {
            bail!("the journal names no old or no new service");
        }
        let old_exists = host.service_exists(&old);
        Ok(Plan {
            app: record.app.clone(),
            new: record.new_service.clone(),
            image: record.image_repository.clone(),
            version: record.image_version.clone(),
            image_id: record.image_id.clone(),
            image_created: record.image_created.clone(),
            old_reference: record.old_image.clone(),
            old_major: record.postgres_major.from.as_deref().and_then(naming::major_of_tag),
            new_major: record.postgres_major.to.as_deref().and_then(naming::major_of_tag),
            old_db: record.old_database.clone(),
            old_key: if old_exists { host.url_key(&old)? } else { String::new() },
            apps: record
                .apps
                .iter()
                .map(|a| AppState {
                    name: a.name.clone(),
                    running: a.running,
                    maintenance_on: a.maintenance_on,
                    vars: a.vars.clone(),
                })
                .collect(),
            settings: if old_exists { host.settings(&old)? } else { ServiceSettings::default() },
            // Kept in the journal: the switch unexposes the old service before it exposes the new.
            exposed: record.exposed_ports.clone(),
            backup: if old_exists { host.backup_settings(&old)? } else { BackupSettings::default() },
            use_maintenance: record.use_maintenance,
            survey: None,
            copy: method::CopyChoice {
                method: record.copy_method.unwrap_or_else(|| {
                    let majors = record.postgres_major.from.as_deref().and_then(naming::major_of_tag);
                    match !full_copy && crate::facts::fingerprint::catch_up_compares(majors) {
                        true => crate::copy::Method::CatchUp,
                        false => crate::copy::Method::Whole,
                    }
                }),
                why: "as the interrupted run chose".into(),
                restart_old: record.restart_old,
            },
            carry: None,
            accepted: record.accepted.clone(),
            recomputed: record.recomputed.clone(),
            pulled: None,
            namesake: record.app.as_deref() == Some(old.as_str()),
            old,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_says_what_its_pull_brought() {
        assert_eq!(
            pulled_what("postgres:18", None, "sha256:aa").as_deref(),
            Some("postgres:18 (it was not on this host)")
        );
        assert_eq!(
            pulled_what("postgres:18", Some("sha256:aa"), "sha256:bbbbbbbbbbbbbbbb").as_deref(),
            Some("a newer build of postgres:18 (bbbbbbbbbbbb)")
        );
        assert_eq!(pulled_what("postgres:18", Some("sha256:aa\n"), "sha256:aa"), None);
    }

    #[test]
    fn in_place_is_the_same_image_within_its_major() {
        let on = |image: &str, version: &str| ServiceSettings {
            image: image.into(),
            image_version: version.into(),
            ..Default::default()
        };
        assert!(in_place("postgres", "17.6", &on("postgres", "17.2")));
        assert!(!in_place("postgres", "18", &on("postgres", "17.2")));
        assert!(!in_place("postgis/postgis", "17-3.5", &on("postgres", "17.2")));
        assert!(!in_place("postgres", "latest", &on("postgres", "latest")));
    }

    #[test]
    fn pg_major_comes_from_the_image_env() {
        assert_eq!(pg_major_from_env(r#"["PATH=/usr/bin","PG_MAJOR=17","PG_VERSION=17.10"]"#), Some(1700));
        assert_eq!(pg_major_from_env("[]"), None);
    }
}
