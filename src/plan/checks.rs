//! Preflight's rules, one small pure function each: facts in (already read from the host by
//! plan/mod.rs), the problem to print out, or nothing. Preflight runs them all and fails once
//! with every problem listed (cargo-release's `failed |= !verify_…`).

use crate::error::shown;
use crate::host::switch::VarSpec;
use crate::plan::cli::UpgradeArgs;
use crate::plan::naming;
use std::collections::BTreeMap;

/// The oldest dokku-postgres with `--no-restart` on link/unlink (1.18.0,
/// docs/dokku-postgres-service.md#versions).
pub const MIN_POSTGRES_PLUGIN: (u32, u32, u32) = (1, 18, 0);

/// The command line names something: not nothing, not a flag.
pub fn target_given(target: &str) -> Option<String> {
    (target.is_empty() || target.starts_with('-')).then(|| "Please specify an app or service to upgrade".to_string())
}

/// What the command line says on its own, before anything is read: a flag that names something
/// given an empty value, and a repository given with its tag or digest.
pub fn arguments(args: &UpgradeArgs) -> Vec<String> {
    let empty = |value: &Option<String>| value.as_deref().is_some_and(|v| v.trim().is_empty());
    let mut problems = Vec::new();
    if empty(&args.image) {
        problems.push(
            "--image is empty: give a repository, e.g. --image postgres, or leave it out to keep the old service's"
                .into(),
        );
    } else {
        problems.extend(image_argument_hint(args.image.as_deref()));
    }
    if empty(&args.image_version) {
        problems.push(
            "--image-version is empty: give a tag, e.g. -I 18, or leave it out for dokku-postgres's default".into(),
        );
    }
    if empty(&args.service) {
        problems.push(
            "--service is empty: name one of the app's postgres services, or leave it out for the one behind DATABASE_URL"
                .into(),
        );
    }
    if let Some(size) = args.shm_size.as_deref().filter(|s| !s.is_empty() && !naming::valid_size(s)) {
        problems.push(format!(
            "Invalid --shm-size {}: docker takes a number with an optional unit, e.g. 256m or 1g",
            shown(size)
        ));
    }
    if empty(&args.new_service) {
        problems.push(
            "--new-service is empty: give the new service a name, or leave it out for the default <app>-<image>-<version>-<image date>"
                .into(),
        );
    }
    problems
}

/// What to type instead, for an `--image` that is not a bare repository.
pub fn image_argument_hint(image: Option<&str>) -> Option<String> {
    let image = image?;
    let image = shown(image);
    let image = image.as_str();
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

/// `--service SVC` with an app: a postgres service, linked to that app.
pub fn named_service(app: &str, service: &str, exists: bool, linked: bool) -> Option<String> {
    if !exists {
        Some(format!("Postgres service {} does not exist", shown(service)))
    } else if !linked {
        Some(format!("Postgres service {service} is not linked to app {app}"))
    } else {
        None
    }
}

/// An app in the old service's links must exist: dokku-postgres leaves a destroyed app's name
/// in LINKS.
pub fn linked_app_exists(app: &str, old: &str, exists: bool) -> Option<String> {
    (!exists).then(|| format!("App {app} is in the links of service {old} but does not exist"))
}

/// The app named on the command line is one the old service is linked to.
pub fn app_in_links(app: &str, old: &str, linked: &[String]) -> Option<String> {
    (!linked.iter().any(|l| l == app)).then(|| format!("App {app} is not in the links of service {old}"))
}

/// The names the new image is pulled by.
pub fn image_names(image: &str, version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !naming::valid_repository(image) {
        problems.push(format!("Invalid image name: {}", shown(image)));
    }
    if !naming::valid_tag(version) {
        problems.push(format!("Invalid image version: {}", shown(version)));
    }
    problems
}

/// The old service must be up: its data is read live.
pub fn old_running(old: &str, status: &str) -> Option<String> {
    (status != "running").then(|| {
        format!("Service {old} container is not running (status: {status}); start it with: dokku postgres:start {old}")
    })
}

/// The pull, or with POSTGRES_DISABLE_PULL the image already on the host; `error` is the
/// last line docker printed when it failed.
pub fn pulled(reference: &str, disable_pull: bool, error: Option<&str>) -> Option<String> {
    let why = error?;
    Some(if disable_pull {
        format!(
            "Image {reference} is not on this host and POSTGRES_DISABLE_PULL forbids pulling it: run docker image pull {reference} first"
        )
    } else {
        format!("Unable to pull image {reference}: {why}")
    })
}

/// The new image is PostgreSQL, and a tag dokku-postgres can mount: it takes the data layout
/// from the tag's leading number (docs/dokku-postgres-service.md#versions, #383).
pub fn postgres_image(reference: &str, version: &str, pulled: bool, new_major: Option<u32>) -> Option<String> {
    let tag_major = naming::major_of_tag(version);
    if new_major.is_some_and(|m| m >= 1800) && tag_major.is_none() {
        return Some(format!(
            "Image {reference} is PostgreSQL 18 or newer, but its tag names no version: dokku-postgres takes the data layout from the tag's leading number and would mount the data where an 18 image does not look (dokku-postgres #383); name the version, e.g. -I 18"
        ));
    }
    (pulled && new_major.is_none()).then(|| {
        format!(
            "Image {reference} is not a PostgreSQL image: it sets no PG_MAJOR and its tag names no version (dokku-postgres runs the official postgres images and those built on them)"
        )
    })
}

/// A dump from a newer server does not restore into an older one (#194).
pub fn not_older(reference: &str, old_major: Option<u32>, new_major: Option<u32>) -> Option<String> {
    let (from, to) = (old_major?, new_major?);
    (to < from).then(|| {
        format!(
            "Image {reference} is PostgreSQL {}, older than the service's PostgreSQL {}: a dump from a newer server does not restore into an older one (dokku-postgres #194)",
            naming::major_text(to),
            naming::major_text(from)
        )
    })
}

/// dokku-postgres must be installed and new enough for link/unlink `--no-restart`.
pub fn postgres_plugin(version: Option<&str>) -> Option<String> {
    match version {
        None => Some("The dokku-postgres plugin is not installed".to_string()),
        Some(v) if !version_at_least(v, MIN_POSTGRES_PLUGIN) => Some(format!(
            "dokku-postgres {v} is too old: version 1.18.0 or newer is needed (run: sudo dokku plugin:update postgres)"
        )),
        _ => None,
    }
}

/// The new service's name: valid, a name a later command can give, short enough for its host
/// name, and not taken. Empty when no default could be made (the pull's problem says why; an
/// empty `--new-service` is one of [`arguments`]).
pub fn new_service_name(new: &str, exists: bool) -> Option<String> {
    if new.trim().is_empty() {
        None
    } else if new.starts_with('-') {
        Some(format!(
            "Invalid new service name {}: it must not start with -, or no later command could name it (each would read it as a flag)",
            shown(new)
        ))
    } else if !new.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        // dokku-postgres's own rule (naming.rs), the length said on its own below.
        Some(format!("Invalid new service name {}: use only letters, digits, - and _", shown(new)))
    } else if new.len() > naming::MAX_SERVICE_NAME {
        Some(format!(
            "The new service name {new} has {} characters: its host name dokku-postgres-{new} must fit in 63, so at most {}; choose a shorter one with --new-service",
            new.len(),
            naming::MAX_SERVICE_NAME
        ))
    } else if exists {
        Some(format!("Postgres service {new} already exists; choose another name with --new-service"))
    } else {
        None
    }
}

/// The extensions the old database uses that the new image does not offer (its control files,
/// read from the image: host/mod.rs, image_extensions): the restore would fail on them.
pub fn extensions_offered(reference: &str, old: &str, used: &[String], offered: &[String]) -> Option<String> {
    let missing: Vec<&str> = used.iter().filter(|e| !offered.contains(e)).map(String::as_str).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "Image {reference} lacks extension(s) used by {old}: {}; choose an image that has them (postgis/postgis for PostGIS, say)",
            missing.join(", ")
        )
    })
}

/// The config vars of a linked app that point at the old service (`old_key`, the URL's
/// secret part), primary first, or what stands in the way of relinking them.
pub fn app_vars(
    app: &str,
    old: &str,
    old_key: &str,
    config: &BTreeMap<String, String>,
) -> Result<Vec<VarSpec>, Vec<String>> {
    let pointing = || config.iter().filter(|(_, v)| v.contains(old_key));
    let mut vars: Vec<VarSpec> = pointing().map(|(k, v)| VarSpec::from_value(k, v)).collect();
    vars.sort_by_key(|v| (v.name != "DATABASE_URL", !v.name.ends_with("_URL"), v.name.clone()));
    let Some(primary) = vars.first().map(|v| v.name.clone()) else {
        return Err(vec![format!(
            "App {app} is linked to service {old} but none of its config vars points at it (dokku-postgres #315); fix its config first"
        )]);
    };
    if !primary.ends_with("_URL") {
        return Err(vec![format!(
            "App {app} refers to service {old} only through {primary}, which is not a *_URL variable"
        )]);
    }
    let mut problems = Vec::new();
    // dokku-postgres finds an app's vars by the URL with the app's current scheme
    // (docs/dokku-postgres-service.md#commands, leftover (b)): a var with another scheme would
    // survive the unlink.
    let scheme = config.get("POSTGRES_DATABASE_SCHEME").filter(|s| !s.is_empty()).map_or("postgres", String::as_str);
    for (key, value) in pointing() {
        if !value.starts_with(&format!("{scheme}://")) {
            problems.push(format!(
                "App {app}'s {key} does not use the scheme {scheme}:// of its POSTGRES_DATABASE_SCHEME; make them agree first"
            ));
        }
    }
    // A name that link --alias would refuse (DATABASE_URL beside REPLICA_DATABASE_URL) is set
    // by the switch itself (host/switch.rs, relink): no problem here.
    if problems.is_empty() { Ok(vars) } else { Err(problems) }
}

/// A deploy may be running.
pub fn app_unlocked(app: &str, locked: bool) -> Option<String> {
    locked.then(|| {
        format!("App {app} is locked (a deploy may be running); retry when `dokku apps:locked {app}` says it is not")
    })
}

/// An app that is not linked but points at the old service would be left behind on it.
pub fn stray_references(app: &str, old: &str, old_key: &str, config: &BTreeMap<String, String>) -> Vec<String> {
    config
        .iter()
        .filter(|(_, v)| v.contains(old_key))
        .map(|(key, _)| {
            format!(
                "App {app} refers to service {old} in {key} but is not linked to it; link it or remove the variable"
            )
        })
        .collect()
}

/// `1.48.0` against `(1, 18, 0)`, numerically.
pub fn version_at_least(version: &str, min: (u32, u32, u32)) -> bool {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v >= min
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const KEY: &str = "postgres:pw@dokku-postgres-memo-db:5432/memo_db";

    #[test]
    fn the_target_and_the_service_named_are_real() {
        assert!(target_given("").is_some() && target_given("--dry-run").is_some());
        assert_eq!(target_given("memo"), None);
        assert_eq!(named_service("memo", "db", false, false).unwrap(), "Postgres service db does not exist");
        assert_eq!(named_service("memo", "db", true, false).unwrap(), "Postgres service db is not linked to app memo");
        assert_eq!(named_service("memo", "db", true, true), None);
        assert!(
            linked_app_exists("gone", "db", false).unwrap().contains("in the links of service db but does not exist")
        );
        assert_eq!(linked_app_exists("memo", "db", true), None);
        assert!(app_in_links("memo", "db", &["other".into()]).is_some());
        assert_eq!(app_in_links("memo", "db", &["memo".into()]), None);
    }

    #[test]
    fn image_names_are_checked_as_docker_has_them() {
        assert!(image_names("postgis/postgis", "12-3.0").is_empty());
        assert_eq!(image_names("Postgres;id", "17"), ["Invalid image name: Postgres;id"]);
        assert_eq!(image_names("postgres", "17 x"), ["Invalid image version: 17 x"]);
    }

    #[test]
    fn the_command_line_is_checked_on_its_own_every_problem_at_once() {
        let args = UpgradeArgs {
            image: Some(String::new()),
            image_version: Some(" ".into()),
            new_service: Some(String::new()),
            service: Some(String::new()),
            ..Default::default()
        };
        let said = arguments(&args);
        assert_eq!(said.len(), 4, "{said:?}");
        assert!(said[0].starts_with("--image is empty") && said[1].starts_with("--image-version is empty"));
        assert!(said[2].starts_with("--service is empty") && said[3].starts_with("--new-service is empty"));
        assert!(arguments(&UpgradeArgs::default()).is_empty());
        let shm = UpgradeArgs { shm_size: Some("lots".into()), ..Default::default() };
        assert_eq!(
            arguments(&shm),
            ["Invalid --shm-size lots: docker takes a number with an optional unit, e.g. 256m or 1g"]
        );
        let tagged = UpgradeArgs { image: Some("postgis/postgis:15-3.4".into()), ..Default::default() };
        assert_eq!(
            arguments(&tagged),
            [
                "--image takes the repository alone, the tag goes to --image-version: --image postgis/postgis --image-version 15-3.4"
            ]
        );
    }

    #[test]
    fn an_image_that_is_not_a_bare_repository_says_what_to_type() {
        assert_eq!(image_argument_hint(None), None);
        assert_eq!(image_argument_hint(Some("postgis/postgis")), None);
        assert!(image_argument_hint(Some("localhost:5000/pg")).is_none());
        assert!(
            image_argument_hint(Some("postgres@sha256:abc")).unwrap().contains("--image postgres --image-version TAG")
        );
        assert!(image_argument_hint(Some("pg:1\n !     x")).unwrap().contains("--image-version 1\\n !     x"));
    }

    #[test]
    fn an_extension_the_new_image_lacks_is_named() {
        let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let offered = list(&["hstore", "plpgsql"]);
        assert_eq!(extensions_offered("postgres:18", "geo-db", &list(&["plpgsql", "hstore"]), &offered), None);
        assert_eq!(
            extensions_offered("postgres:18", "geo-db", &list(&["plpgsql", "postgis", "postgis_topology"]), &offered)
                .unwrap(),
            "Image postgres:18 lacks extension(s) used by geo-db: postgis, postgis_topology; choose an image that has them (postgis/postgis for PostGIS, say)"
        );
    }

    #[test]
    fn a_stopped_old_service_says_how_to_start_it() {
        assert_eq!(old_running("memo-db", "running"), None);
        assert!(old_running("memo-db", "exited").unwrap().contains("dokku postgres:start memo-db"));
    }

    #[test]
    fn a_failed_pull_says_why_or_what_to_pull_by_hand() {
        assert_eq!(pulled("postgres:17", false, None), None);
        assert_eq!(
            pulled("postgres:17", false, Some("manifest unknown")).unwrap(),
            "Unable to pull image postgres:17: manifest unknown"
        );
        assert!(pulled("postgres:17", true, Some("")).unwrap().contains("run docker image pull postgres:17 first"));
    }

    #[test]
    fn the_new_image_is_postgres_with_a_tag_dokku_postgres_can_mount() {
        assert_eq!(postgres_image("postgres:17", "17", true, Some(1700)), None);
        assert!(postgres_image("busybox:latest", "latest", true, None).unwrap().contains("is not a PostgreSQL image"));
        // Not pulled: the pull's own problem is the one said.
        assert_eq!(postgres_image("busybox:latest", "latest", false, None), None);
        assert!(postgres_image("postgres:latest", "latest", true, Some(1800)).unwrap().contains("#383"));
        assert_eq!(postgres_image("postgres:18", "18", true, Some(1800)), None);
    }

    #[test]
    fn a_newer_server_does_not_restore_into_an_older_one() {
        assert!(
            not_older("postgres:15", Some(1700), Some(1500))
                .unwrap()
                .contains("older than the service's PostgreSQL 17")
        );
        assert_eq!(not_older("postgres:17", Some(1500), Some(1700)), None);
        assert_eq!(not_older("postgres:17", None, Some(1700)), None);
    }

    #[test]
    fn dokku_postgres_must_be_there_and_new_enough() {
        assert!(postgres_plugin(None).unwrap().contains("not installed"));
        assert!(postgres_plugin(Some("1.17.9")).unwrap().contains("too old"));
        assert_eq!(postgres_plugin(Some("1.48.0")), None);
        assert!(version_at_least("1.48.0", (1, 18, 0)));
        assert!(!version_at_least("1.9.20", MIN_POSTGRES_PLUGIN) && !version_at_least("1.11.6", MIN_POSTGRES_PLUGIN));
        assert!(version_at_least("v2.0", (1, 18, 0)));
    }

    #[test]
    fn the_new_service_name_is_valid_short_and_free() {
        assert_eq!(new_service_name("memo-v17", false), None);
        assert_eq!(new_service_name("", false), None);
        assert!(new_service_name("x$(id)", false).unwrap().starts_with("Invalid new service name"));
        assert!(new_service_name("-x", false).unwrap().contains("must not start with -"));
        assert_eq!(
            new_service_name("a\nb", false).unwrap(),
            "Invalid new service name a\\nb: use only letters, digits, - and _"
        );
        assert!(new_service_name(&"a".repeat(49), false).unwrap().contains("has 49 characters"));
        assert!(new_service_name(&"a".repeat(300), false).unwrap().contains("has 300 characters"));
        assert!(new_service_name("memo-v17", true).unwrap().contains("already exists"));
    }

    #[test]
    fn an_apps_vars_are_found_primary_first() {
        let url = format!("postgres://{KEY}");
        let vars =
            app_vars("memo", "memo-db", KEY, &config(&[("DOKKU_POSTGRES_AQUA_URL", &url), ("DATABASE_URL", &url)]))
                .unwrap();
        assert_eq!(
            vars.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["DATABASE_URL", "DOKKU_POSTGRES_AQUA_URL"]
        );
    }

    #[test]
    fn an_app_whose_config_cannot_be_relinked_is_refused() {
        let url = format!("postgres://{KEY}");
        let said = |c: &[(&str, &str)]| app_vars("memo", "memo-db", KEY, &config(c)).unwrap_err().join("\n");
        assert!(said(&[("OTHER", "x")]).contains("#315"));
        assert!(said(&[("DB_PASSWORD_HINT", KEY)]).contains("not a *_URL variable"));
        assert!(
            said(&[("DATABASE_URL", &url), ("POSTGRES_DATABASE_SCHEME", "postgresql")])
                .contains("scheme postgresql://")
        );
        // Beside another *DATABASE_URL the switch relinks through a stand-in alias: no problem.
        let replica = config(&[("DATABASE_URL", &url), ("REPLICA_DATABASE_URL", "postgres://elsewhere/x")]);
        assert_eq!(app_vars("memo", "memo-db", KEY, &replica).unwrap().len(), 1);
    }

    #[test]
    fn a_locked_app_and_a_stray_reference_are_problems() {
        assert!(app_unlocked("memo", true).unwrap().contains("dokku apps:locked memo"));
        assert_eq!(app_unlocked("memo", false), None);
        let url = format!("postgres://{KEY}");
        assert_eq!(stray_references("other", "memo-db", KEY, &config(&[("X_URL", &url), ("Y", "z")])).len(), 1);
        assert!(stray_references("other", "memo-db", KEY, &config(&[("Y", "z")])).is_empty());
    }
}
