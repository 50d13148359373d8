//! The command line: dokku hands the full command name as the first argument
//! (`postgres:upgrade` or `postgres-upgrade:run`), and may leave global flags such as `--trace`
//! anywhere after it (docs/dokku-host.md: parse_args only strips the leading ones).

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
    /// Image tag of the new service
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
    /// Copy everything inside the window (default: a first copy while the apps run, then only
    /// what changed since, from PostgreSQL 12 on)
    #[arg(long)]
    pub full_copy: bool,
    /// Do not turn maintenance mode on (the apps are still stopped during the copy)
    #[arg(long)]
    pub no_maintenance: bool,
    /// Continue an interrupted upgrade from its last completed step
    #[arg(long, conflicts_with_all = ["image", "image_version", "service", "new_service", "dry_run"])]
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
    /// dokku-postgres's in-place upgrade flag, passed on when the call is handed to it
    #[arg(short = 'R', long = "restart-apps", hide = true)]
    pub restart_apps: Option<String>,
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
}

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Invocation {
    Upgrade(UpgradeArgs),
    Status(StatusArgs),
    Rollback(RollbackArgs),
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
        "upgrade" | "run" => Invocation::Upgrade(UpgradeArgs::try_parse_from(words)?),
        "status" => Invocation::Status(StatusArgs::try_parse_from(words)?),
        "rollback" => Invocation::Rollback(RollbackArgs::try_parse_from(words)?),
        _ => Invocation::Unknown(command.clone()),
    })
}

/// The command name, then the arguments without dokku's global flags.
fn clap_argv<'a>(command: &'a str, rest: &'a [String]) -> Vec<&'a str> {
    std::iter::once(command).chain(rest.iter().map(String::as_str).filter(|a| !GLOBAL_FLAGS.contains(a))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plugin_toml_has_cargos_version() {
        let toml = include_str!("../plugin.toml");
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
    fn unknown_flags_are_errors() {
        assert!(parse(&argv(&["postgres:upgrade", "app", "--bogus"])).is_err());
    }
}
