//! The command line: dokku hands the full command name as the first argument
//! (`postgres:upgrade` or `postgres-upgrade:run`), and may leave global flags such as `--trace`
//! anywhere after it (docs/dokku-host.md: parse_args only strips the leading ones).

use crate::state::journal::NewServiceFlags;
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Moves a postgres service, and every app linked to it, to a new image: a new service is
/// created, the data copied and verified inside a maintenance window, the apps switched, and
/// the old service destroyed.
#[derive(Debug, Clone, Parser, Default)]
#[command(name = "postgres:upgrade", no_binary_name = false, disable_version_flag = true)]
pub struct UpgradeArgs {
    /// The app (or a postgres service) to upgrade
    pub target: String,
    /// Image repository of the new service (default: the old service's)
    #[arg(short = 'i', long = "image", value_name = "IMAGE")]
    pub image: Option<String>,
    /// Image tag of the new service (default: dokku-postgres's, as its own upgrade has it)
    #[arg(short = 'I', long = "image-version", value_name = "VERSION")]
    pub image_version: Option<String>,
    /// Which of the app's postgres services (default: the one behind DATABASE_URL)
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Name of the new service (default: <app>-<image>-<version>-<image date>)
    #[arg(long = "new-service", value_name = "NAME")]
    pub new_service: Option<String>,
    /// Keep the old service (unlinked) instead of destroying it
    #[arg(long)]
    pub keep_old: bool,
    /// Skip the final S3 backup of the old service
    #[arg(long)]
    pub skip_backup: bool,
    /// Keep the old service following the new one after the switch (a grace period), so that
    /// `postgres-upgrade:rollback` goes back without losing a write; `postgres-upgrade:finish`
    /// ends it (docs/reversible.md)
    #[arg(long)]
    pub reversible: bool,
    /// Copy everything inside the window (default: a first copy while the apps run, then only
    /// what changed since, from PostgreSQL 12 on)
    #[arg(long, conflicts_with_all = ["catch_up", "online"])]
    pub full_copy: bool,
    /// A first copy while the apps run, then inside the window the changed key ranges, found by
    /// reading every row (the default when the old server's wal_level is not logical)
    #[arg(long, conflicts_with = "online")]
    pub catch_up: bool,
    /// The new service follows the old one by logical replication from the first copy until the
    /// window (the default when the old server's wal_level is logical); restarts the old service
    /// once before the first copy when it is not
    #[arg(long)]
    pub online: bool,
    /// Do not turn maintenance mode on (the apps are still stopped during the copy)
    #[arg(long)]
    pub no_maintenance: bool,
    /// Accept that the copy computes again what the old database holds stale: materialized
    /// views refreshed, stored generated columns recomputed (recorded in the report)
    #[arg(long)]
    pub accept_recomputed: bool,
    /// Give the new service POSTGRES_HOST_AUTH_METHOD=md5, so that roles with md5 password
    /// hashes still log in (recorded in the report)
    #[arg(long)]
    pub keep_md5_auth: bool,
    /// Continue an interrupted upgrade from its last completed step
    #[arg(long, conflicts_with_all = ["image", "image_version", "service", "new_service", "dry_run", "online", "catch_up"])]
    pub resume: bool,
    /// Run the preflight and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// `json`: one report on stdout at the end, the progress on stderr
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Server options for the new service (default: the old service's CONFIG_OPTIONS)
    #[arg(short = 'c', long = "config-options", allow_hyphen_values = true)]
    pub config_options: Option<String>,
    /// Custom env for the new service, `;`-separated (default: the old service's ENV)
    #[arg(short = 'C', long = "custom-env", allow_hyphen_values = true)]
    pub custom_env: Option<String>,
    /// Network the new service's container starts on (default: the old service's)
    #[arg(short = 'N', long = "initial-network", value_name = "NETWORK")]
    pub initial_network: Option<String>,
    /// Networks, comma-separated, the new container joins once created (default: the old service's)
    #[arg(short = 'P', long = "post-create-network", value_name = "NETWORKS")]
    pub post_create_network: Option<String>,
    /// Networks, comma-separated, the new container joins once started (default: the old service's)
    #[arg(short = 'S', long = "post-start-network", value_name = "NETWORKS")]
    pub post_start_network: Option<String>,
    /// Shared memory size of the new container (default: the old service's)
    #[arg(short = 's', long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// dokku-postgres's flag; the apps are stopped and started once here anyway. Not passed on
    /// when the call is handed to its in-place upgrade (see docs/dokku-postgres-upgrade-flags.md)
    #[arg(short = 'R', long = "restart-apps", value_name = "BOOL")]
    pub restart_apps: Option<String>,
}

impl UpgradeArgs {
    /// The new service's container flags given on the command line, as dokku-postgres spells them.
    pub fn container_flags(&self) -> [(&'static str, &Option<String>); 4] {
        [
            ("--initial-network", &self.initial_network),
            ("--post-create-network", &self.post_create_network),
            ("--post-start-network", &self.post_start_network),
            ("--shm-size", &self.shm_size),
        ]
    }

    /// The flags given that only the blue-green upgrade has: with one of them a service is not
    /// handed to dokku-postgres's in-place upgrade, which would ignore it.
    pub fn blue_green_flags(&self) -> Vec<&'static str> {
        [
            ("--new-service", self.new_service.is_some()),
            ("--keep-old", self.keep_old),
            ("--reversible", self.reversible),
            ("--skip-backup", self.skip_backup),
            ("--full-copy", self.full_copy),
            ("--no-maintenance", self.no_maintenance),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// The flags that shape the new service, for the journal, so that a resumed run that still
    /// has to create it creates it the same. The custom env may hold secrets: only whether it
    /// was given is kept (src/verbs/recovery.rs, resume).
    pub fn new_service_flags(&self) -> NewServiceFlags {
        NewServiceFlags {
            config_options: self.config_options.clone(),
            custom_env_given: self.custom_env.is_some(),
            initial_network: self.initial_network.clone(),
            post_create_network: self.post_create_network.clone(),
            post_start_network: self.post_start_network.clone(),
            shm_size: self.shm_size.clone(),
        }
    }

    /// The inverse of `new_service_flags`, the custom env left out.
    pub fn from_new_service_flags(flags: &NewServiceFlags) -> UpgradeArgs {
        UpgradeArgs {
            config_options: flags.config_options.clone(),
            initial_network: flags.initial_network.clone(),
            post_create_network: flags.post_create_network.clone(),
            post_start_network: flags.post_start_network.clone(),
            shm_size: flags.shm_size.clone(),
            ..Default::default()
        }
    }

    /// The copy flags given (plan/method.rs).
    pub fn asked(&self) -> crate::plan::method::Asked {
        crate::plan::method::Asked { full_copy: self.full_copy, catch_up: self.catch_up, online: self.online }
    }

    /// Flags that `--resume` takes from the journal instead: giving them again is refused.
    pub fn resume_conflicts(&self) -> Vec<&'static str> {
        let mut given: Vec<&'static str> =
            self.container_flags().into_iter().filter(|(_, v)| v.is_some()).map(|(f, _)| f).collect();
        if self.config_options.is_some() {
            given.push("--config-options");
        }
        given.extend(self.accept_recomputed.then_some("--accept-recomputed"));
        given.extend(self.keep_md5_auth.then_some("--keep-md5-auth"));
        given
    }

    /// The old service's settings with this command line's container flags over them: what the
    /// new service is created with.
    pub fn new_service_settings(&self, mut s: crate::host::ServiceSettings) -> crate::host::ServiceSettings {
        for (field, value) in [
            (&mut s.initial_network, &self.initial_network),
            (&mut s.post_create_network, &self.post_create_network),
            (&mut s.post_start_network, &self.post_start_network),
            (&mut s.shm_size, &self.shm_size),
        ] {
            if let Some(value) = value {
                *field = value.clone();
            }
        }
        s
    }
}

/// The image tag dokku-postgres's own `postgres:upgrade` uses when `-I` is not given: the
/// `POSTGRES_IMAGE_VERSION` its `config` exports, from the environment (a dokkurc) or its own
/// default. Asked of `config` itself, since where the default lives changed (its Dockerfile in
/// 1.48.0, the datastore definition after #390: docs/dokku-postgres-upgrade-flags.md).
pub fn dokku_postgres_default_version(plugin_available_path: &std::path::Path) -> Option<String> {
    let config = plugin_available_path.join("postgres/config");
    let out = std::process::Command::new("bash")
        .args(["-c", r#"source "$1" >/dev/null 2>&1; printf '%s' "$POSTGRES_IMAGE_VERSION""#, "bash"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (config.is_file() && !version.is_empty()).then_some(version)
}

/// Shows the last or unfinished upgrade of an app (or service).
#[derive(Debug, Clone, Parser)]
#[command(name = "postgres-upgrade:status", disable_version_flag = true)]
pub struct StatusArgs {
    /// The app (or service) named when the upgrade was started
    pub target: String,
    /// `json`: the journal as JSON
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Takes back an unfinished upgrade, step by step, newest first.
#[derive(Debug, Clone, Parser)]
#[command(name = "postgres-upgrade:rollback", disable_version_flag = true)]
pub struct RollbackArgs {
    /// The app (or service) named when the upgrade was started
    pub target: String,
    /// `json`: one report on stdout at the end (as the upgrade's), the progress on stderr
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Ends the grace period of a `--reversible` upgrade: the replication back to the old service is
/// dropped on both servers, and the old service destroyed (or kept with `--keep-old`).
#[derive(Debug, Clone, Parser)]
#[command(name = "postgres-upgrade:finish", disable_version_flag = true)]
pub struct FinishArgs {
    /// The app (or service) named when the upgrade was started
    pub target: String,
    /// Keep the old service (unlinked) instead of destroying it
    #[arg(long)]
    pub keep_old: bool,
}

/// `postgres-upgrade:report [APP] [--format json] [--<field>]`, parsed by hand as dokku's own
/// `*:report` commands are: a field is a flag of its own name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportArgs {
    pub target: Option<String>,
    pub json: bool,
    pub field: Option<String>,
}

impl ReportArgs {
    fn parse(words: &[&str]) -> Result<ReportArgs, String> {
        let mut args = ReportArgs::default();
        let mut rest = words.iter().skip(1).copied();
        while let Some(word) = rest.next() {
            match word {
                "--format" => match rest.next() {
                    Some("json") => args.json = true,
                    Some("text") => args.json = false,
                    other => return Err(format!("Invalid --format value: {}", other.unwrap_or(""))),
                },
                w if w.starts_with("--") => args.field = Some(w.trim_start_matches("--").to_string()),
                w if args.target.is_none() => args.target = Some(w.to_string()),
                w => return Err(format!("Unexpected argument: {w}")),
            }
        }
        Ok(args)
    }
}

/// Removes the dumps of an app's upgrades but the newest ones.
#[derive(Debug, Clone, Parser)]
#[command(name = "postgres-upgrade:cleanup", disable_version_flag = true)]
pub struct CleanupArgs {
    /// The app (or service) whose dumps to remove
    pub target: String,
    /// How many of the newest upgrades' dumps to keep
    #[arg(long, default_value_t = 0)]
    pub keep: usize,
}

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Invocation {
    Upgrade(Box<UpgradeArgs>),
    Status(StatusArgs),
    Rollback(RollbackArgs),
    Finish(FinishArgs),
    Report(ReportArgs),
    Cleanup(CleanupArgs),
    Version,
    Unknown(String),
}

/// dokku's global flags this binary accepts anywhere in argv.
pub const GLOBAL_FLAGS: [&str; 3] = ["--trace", "--quiet", "--force"];

/// Splits argv (without the program name) into the invocation; clap errors come back as Err.
pub fn parse(argv: &[String]) -> Result<Invocation, clap::Error> {
    let Some(command) = argv.first() else {
        return Ok(Invocation::Unknown(String::new()));
    };
    if command == "--version" {
        return Ok(Invocation::Version);
    }
    let verb = command.split_once(':').map(|(_, v)| v).unwrap_or(command.as_str());
    let words = clap_argv(command, &argv[1..]);
    Ok(match verb {
        "upgrade" | "run" => Invocation::Upgrade(Box::new(UpgradeArgs::try_parse_from(words)?)),
        "status" => Invocation::Status(StatusArgs::try_parse_from(words)?),
        "rollback" => Invocation::Rollback(RollbackArgs::try_parse_from(words)?),
        "finish" => Invocation::Finish(FinishArgs::try_parse_from(words)?),
        "report" => Invocation::Report(ReportArgs::parse(&words).map_err(|e| {
            <StatusArgs as clap::CommandFactory>::command().error(clap::error::ErrorKind::InvalidValue, e)
        })?),
        "cleanup" => Invocation::Cleanup(CleanupArgs::try_parse_from(words)?),
        _ => Invocation::Unknown(command.clone()),
    })
}

/// A command-line mistake in dokku's words (` !     ` lines, as dokku's own commands print
/// them): the cause, then where the usage is. The argument parser's tips and usage block are
/// left out; `--help` is not a mistake and is printed as the parser has it.
pub fn mistake(err: &clap::Error, command: &str) -> String {
    use clap::error::ErrorKind;
    let text = err.render().to_string();
    let cause: Vec<&str> =
        text.lines().map(str::trim).take_while(|l| !l.is_empty()).filter(|l| !l.starts_with("tip:")).collect();
    let cause = cause.join(" ");
    let cause = cause.strip_prefix("error: ").unwrap_or(&cause);
    let cause = match err.kind() {
        ErrorKind::MissingRequiredArgument if cause.contains("<TARGET>") => {
            "Please specify an app or a postgres service to run the command on".to_string()
        }
        _ => {
            let mut chars = cause.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
        }
    };
    let command = if command.is_empty() { "postgres:upgrade" } else { command };
    format!("{cause}\nSee `dokku postgres-upgrade:help` for the usage of {command}")
}

/// The command name, then the arguments without dokku's global flags.
fn clap_argv<'a>(command: &'a str, rest: &'a [String]) -> Vec<&'a str> {
    std::iter::once(command).chain(rest.iter().map(String::as_str).filter(|a| !GLOBAL_FLAGS.contains(a))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn a_mistake_on_the_command_line_is_said_in_dokku_words() {
        let said = |w: &[&str]| {
            let argv: Vec<String> = w.iter().map(|s| s.to_string()).collect();
            mistake(&parse(&argv).expect_err("a mistake"), w[0])
        };
        assert_eq!(
            said(&["postgres:upgrade", "memo", "--bogus"]),
            "Unexpected argument '--bogus' found\nSee `dokku postgres-upgrade:help` for the usage of postgres:upgrade"
        );
        assert!(said(&["postgres:upgrade"]).starts_with("Please specify an app or a postgres service"));
        let missing = said(&["postgres-upgrade:run", "memo", "-I"]);
        assert!(missing.starts_with("A value is required for '--image-version <VERSION>'"), "{missing}");
        assert!(missing.ends_with("usage of postgres-upgrade:run"), "{missing}");
        assert!(!said(&["postgres-upgrade:status", "memo", "--format", "xml"]).contains("tip:"));
    }

    #[test]
    fn report_takes_an_app_a_format_and_a_field_as_dokku_reports_do() {
        let p = |w: &[&str]| ReportArgs::parse(&[&["postgres-upgrade:report"], w].concat());
        assert_eq!(p(&[]).unwrap(), ReportArgs::default());
        let r = p(&["memo", "--format", "json"]).unwrap();
        assert_eq!((r.target.as_deref(), r.json, r.field), (Some("memo"), true, None));
        assert_eq!(
            p(&["memo", "--postgres-upgrade-last-status"]).unwrap().field.as_deref(),
            Some("postgres-upgrade-last-status")
        );
        assert!(p(&["memo", "--format", "yaml"]).is_err() && p(&["a", "b"]).is_err());
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_grace_period_commands_parse_as_the_others() {
        let argv = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match parse(&argv(&["postgres-upgrade:finish", "memo", "--keep-old"])).unwrap() {
            Invocation::Finish(f) => assert_eq!((f.target.as_str(), f.keep_old), ("memo", true)),
            other => panic!("{other:?}"),
        }
        match parse(&argv(&["postgres-upgrade:rollback", "memo", "--format", "json"])).unwrap() {
            Invocation::Rollback(r) => assert_eq!((r.target.as_str(), r.format), ("memo", Format::Json)),
            other => panic!("{other:?}"),
        }
        match parse(&argv(&["postgres:upgrade", "memo", "-I", "18", "--reversible"])).unwrap() {
            Invocation::Upgrade(u) => assert!(u.reversible && u.blue_green_flags().contains(&"--reversible")),
            other => panic!("{other:?}"),
        }
        assert!(parse(&argv(&["postgres-upgrade:finish"])).is_err(), "finish names its target");
    }

    #[test]
    fn plugin_toml_has_cargos_version() {
        let toml = include_str!("../../plugin.toml");
        assert!(toml.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))), "{toml}");
        assert!(toml.contains("[plugin.config]"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        UpgradeArgs::command().debug_assert();
    }

    #[test]
    fn the_form_users_type_parses() {
        let inv = parse(&argv(&[
            "postgres:upgrade",
            "memo-app-r",
            "--image",
            "postgis/postgis",
            "--image-version",
            "12-3.0",
        ]))
        .unwrap();
        let Invocation::Upgrade(args) = inv else { panic!() };
        assert_eq!(args.target, "memo-app-r");
        assert_eq!(args.image.as_deref(), Some("postgis/postgis"));
        assert_eq!(args.image_version.as_deref(), Some("12-3.0"));
    }

    #[test]
    fn global_flags_are_tolerated_anywhere() {
        let inv = parse(&argv(&["postgres-upgrade:run", "--trace", "app", "-I", "17", "--quiet", "--format", "json"]))
            .unwrap();
        let Invocation::Upgrade(args) = inv else { panic!() };
        assert_eq!((args.target.as_str(), args.format), ("app", Format::Json));
    }

    #[test]
    fn dokku_postgres_upgrade_flags_parse_short_and_long() {
        let short = argv(&["postgres:upgrade", "db", "-N", "a", "-P", "b,c", "-S", "d", "-s", "512mb", "-R", "true"]);
        let long = argv(&[
            "postgres:upgrade",
            "db",
            "--initial-network",
            "a",
            "--post-create-network",
            "b,c",
            "--post-start-network",
            "d",
            "--shm-size",
            "512mb",
            "--restart-apps",
            "true",
        ]);
        for words in [short, long] {
            let Invocation::Upgrade(args) = parse(&words).unwrap() else { panic!() };
            assert_eq!(args.image_version, None, "-I is optional, as in dokku-postgres");
            let s = args.new_service_settings(crate::host::ServiceSettings {
                initial_network: "old".into(),
                memory: "1g".into(),
                ..Default::default()
            });
            assert_eq!(
                (s.initial_network.as_str(), s.post_create_network.as_str(), s.post_start_network.as_str()),
                ("a", "b,c", "d")
            );
            assert_eq!((s.shm_size.as_str(), s.memory.as_str()), ("512mb", "1g"));
            assert_eq!(args.restart_apps.as_deref(), Some("true"));
        }
    }

    #[test]
    fn the_default_version_is_the_one_dokku_postgres_config_exports() {
        let dir = std::env::temp_dir().join(format!("pgu-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("postgres")).unwrap();
        assert_eq!(dokku_postgres_default_version(&dir), None);
        // As 1.48.0's config does it: the tag of its Dockerfile's FROM line.
        std::fs::write(dir.join("postgres/Dockerfile"), "FROM postgres:18.4\n").unwrap();
        std::fs::write(
            dir.join("postgres/config"),
            "_DIR=\"$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd)\"\nexport POSTGRES_IMAGE_VERSION=${POSTGRES_IMAGE_VERSION:=\"$(awk -F '[ :]' '{print $3}' \"${_DIR}/Dockerfile\")\"}\n",
        )
        .unwrap();
        assert_eq!(dokku_postgres_default_version(&dir).as_deref(), Some("18.4"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_flags_that_accept_a_difference_parse_and_stay_with_the_first_run() {
        let words = argv(&["postgres:upgrade", "memo", "--accept-recomputed", "--keep-md5-auth", "--resume"]);
        let Invocation::Upgrade(args) = parse(&words).unwrap() else { panic!() };
        assert!(args.accept_recomputed && args.keep_md5_auth);
        assert_eq!(args.resume_conflicts(), ["--accept-recomputed", "--keep-md5-auth"]);
    }

    #[test]
    fn unknown_flags_are_errors() {
        assert!(parse(&argv(&["postgres:upgrade", "app", "--bogus"])).is_err());
    }

    #[test]
    fn one_copy_flag_at_most() {
        let Invocation::Upgrade(args) = parse(&argv(&["postgres:upgrade", "app", "--online"])).unwrap() else {
            panic!()
        };
        assert!(args.asked().online && !args.asked().catch_up);
        for pair in [["--online", "--catch-up"], ["--full-copy", "--online"], ["--catch-up", "--full-copy"]] {
            assert!(parse(&argv(&["postgres:upgrade", "app", pair[0], pair[1]])).is_err(), "{pair:?}");
        }
    }
}
