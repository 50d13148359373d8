//! Typed calls into the dokku host: dokku's core commands, dokku-postgres, dokku-maintenance and
//! docker. Each method builds a [`Cmd`] and parses its answer; nothing here decides policy.
//! Where dokku-postgres has no command for a piece of state (custom env, config options, backup
//! credentials) it is read from the service directory, whose layout is in
//! docs/dokku-postgres-service.md#files.

pub mod calls;
pub mod changes;
pub mod client;
pub mod clock;
pub mod env;
pub mod lock;
pub mod psql;
pub mod runner;
pub mod secret;
pub mod signals;
pub mod switch;
pub mod versions;

use crate::host::env::Env;
use crate::host::runner::{Cmd, Output, Runner};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Host<'a> {
    pub env: &'a Env,
    /// Private: every command outside this layer goes through the methods below.
    runner: &'a dyn Runner,
}

/// A service's settings that dokku-postgres's `clone` does not carry over (docs/dokku-postgres-service.md#commands, clone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    pub image: String,
    pub image_version: String,
    pub custom_env: Vec<String>,
    pub config_options: String,
    pub shm_size: String,
    pub memory: String,
    pub initial_network: String,
    pub post_create_network: String,
    pub post_start_network: String,
}

/// S3 backup configuration: credentials stay in memory only and never reach output (its
/// `Debug` says which parts are set, never their values).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BackupSettings {
    /// `backup/` files, in backup-auth's positional order, None when not configured.
    pub auth: Option<Vec<String>>,
    pub encryption_key: Option<String>,
    pub public_key_id: Option<String>,
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub when: String,
    pub bucket: String,
    pub use_iam: bool,
}

impl std::fmt::Debug for BackupSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: bool| if v { "<set>" } else { "<none>" };
        f.debug_struct("BackupSettings")
            .field("auth", &set(self.auth.is_some()))
            .field("encryption_key", &set(self.encryption_key.is_some()))
            .field("public_key_id", &self.public_key_id)
            .field("schedule", &self.schedule)
            .finish()
    }
}

impl BackupSettings {
    pub fn configured(&self) -> bool {
        self.auth.is_some() || self.encryption_key.is_some() || self.public_key_id.is_some() || self.schedule.is_some()
    }
}

/// The files `postgres:backup-auth` writes under `backup/`, in its arguments' order.
pub const BACKUP_AUTH_FILES: [&str; 5] =
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_SIGNATURE_VERSION", "ENDPOINT_URL"];

/// The container name dokku-postgres gives a service (docs/dokku-postgres-service.md#names).
pub fn container(service: &str) -> String {
    format!("dokku.postgres.{service}")
}

impl<'a> Host<'a> {
    pub fn new(env: &'a Env, runner: &'a dyn Runner) -> Host<'a> {
        Host { env, runner }
    }

    /// Runs `cmd`; its output whatever its exit code.
    pub fn run(&self, cmd: &Cmd) -> Result<Output> {
        self.runner.run(cmd)
    }

    /// Runs `cmd`; a non-zero exit is an error that says what failed.
    pub fn check(&self, cmd: &Cmd) -> Result<Output> {
        self.runner.check(cmd)
    }

    /// Runs independent commands at once ([`runner::Runner::run_all`]); the first that failed
    /// (in their order) is the error.
    pub fn check_all(&self, cmds: &[&Cmd]) -> Result<Vec<Output>> {
        let outs = self.runner.run_all(cmds)?;
        for (cmd, out) in cmds.iter().zip(&outs) {
            if !out.success() {
                bail!("{}", runner::failure_message(cmd, out));
            }
        }
        Ok(outs)
    }

    /// Runs `cmd` and returns its standard output, trimmed of the last newline.
    pub fn read(&self, cmd: &Cmd) -> Result<String> {
        self.runner.read(cmd)
    }

    /// A long-lived process to talk to (a held session).
    pub fn session(&self, cmd: &Cmd) -> Result<Box<dyn runner::Session>> {
        self.runner.session(cmd)
    }

    /// A producer piped into a consumer, the stream kept as `tee`.
    pub fn check_pipe(&self, pipe: &runner::Pipe) -> Result<Output> {
        self.runner.check_pipe(pipe)
    }

    pub fn dokku(&self, args: &[&str]) -> Cmd {
        Cmd::new(&self.env.dokku_bin, args)
    }

    pub fn docker(&self, args: &[&str]) -> Cmd {
        Cmd::new(&self.env.docker_bin, args)
    }

    fn status(&self, cmd: &Cmd) -> Result<bool> {
        Ok(self.runner.run(cmd)?.success())
    }

    // ----- apps -------------------------------------------------------------------------

    pub fn app_exists(&self, app: &str) -> Result<bool> {
        self.status(&self.dokku(&["apps:exists", app]))
    }

    pub fn apps(&self) -> Result<Vec<String>> {
        let out = self.runner.read(&self.dokku(&["--quiet", "apps:list"]))?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("=====>")).map(String::from).collect())
    }

    /// The apps among `apps` whose own config may hold `needle`: every app whose config file
    /// (where this dokku keeps it: `Env::app_config_file`) holds it or cannot be read. dokku
    /// writes a value's letters, digits and `@:/._-` as they are in every version
    /// (docs/dokku-versions.md), so an app left out cannot hold a value with `needle` in it; the
    /// ones kept are asked with `config:export`. One read per app instead of one dokku call.
    pub fn apps_whose_config_may_hold(&self, apps: &[String], needle: &str) -> Vec<String> {
        apps.iter()
            .filter(|app| {
                std::fs::read(self.env.app_config_file(app))
                    .map(|text| text.windows(needle.len()).any(|w| w == needle.as_bytes()))
                    .unwrap_or(true)
            })
            .cloned()
            .collect()
    }

    /// The app's whole config, via `config:export --format json`.
    pub fn config(&self, app: &str) -> Result<BTreeMap<String, String>> {
        parse_config(app, &self.runner.read(&self.config_export(app))?)
    }

    /// The call that prints the app's config ([`parse_config`] reads it).
    pub fn config_export(&self, app: &str) -> Cmd {
        self.dokku(&["config:export", "--format", "json", app])
    }

    /// `config:set --no-restart APP K=V…`; values are secret (they hold passwords).
    pub fn config_set(&self, app: &str, pairs: &[(String, String)]) -> Cmd {
        let mut cmd = self.dokku(&["config:set", "--no-restart", app]);
        for (k, v) in pairs {
            cmd = cmd.secret(format!("{k}={v}"));
        }
        cmd
    }

    pub fn app_running(&self, app: &str) -> Result<bool> {
        // dokku prints `mixed` when only some processes run: that is running too.
        Ok(self.runner.read(&self.dokku(&["ps:report", app, "--running"]))? != "false")
    }

    pub fn app_locked(&self, app: &str) -> Result<bool> {
        self.status(&self.dokku(&["apps:locked", app]))
    }

    // ----- maintenance --------------------------------------------------------------------

    /// dokku-maintenance is enabled (`plugin:installed` is root-only, so look at the plugin
    /// directory instead: docs/dokku-host.md).
    pub fn maintenance_installed(&self) -> bool {
        self.env.plugin_enabled_path.join("maintenance").exists()
    }

    /// Whether maintenance is on for `app`: `maintenance:report` from dokku-maintenance 0.6; 0.5
    /// has only `dokku maintenance APP`, whose last line says `on` or `off` (docs/dokku-versions.md).
    pub fn maintenance_enabled(&self, app: &str) -> Result<bool> {
        if self.env.maintenance_version().is_some_and(|v| v < versions::MAINTENANCE_REPORT) {
            let out = self.runner.read(&self.dokku(&[self.maintenance_state_command(), app]))?;
            return Ok(out.lines().last().map(str::trim) == Some("on"));
        }
        Ok(self.runner.read(&self.dokku(&["maintenance:report", app, "--maintenance-enabled"]))? == "true")
    }

    /// The command that says whether maintenance is on (see `maintenance_enabled`).
    pub fn maintenance_state_command(&self) -> &'static str {
        if self.env.maintenance_version().is_some_and(|v| v < versions::MAINTENANCE_REPORT) {
            "maintenance"
        } else {
            "maintenance:report"
        }
    }

    /// The command that turns maintenance on or off: `maintenance:enable`/`disable` from
    /// dokku-maintenance 0.7, `maintenance:on`/`off` before (docs/dokku-versions.md).
    pub fn maintenance_command(&self, on: bool) -> &'static str {
        let old = self.env.maintenance_version().is_some_and(|v| v < versions::MAINTENANCE_ENABLE);
        match (on, old) {
            (true, false) => "maintenance:enable",
            (false, false) => "maintenance:disable",
            (true, true) => "maintenance:on",
            (false, true) => "maintenance:off",
        }
    }

    // ----- dokku-postgres ----------------------------------------------------------------

    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.env.services_root().join(service)
    }

    /// Whether the service's folder is there. A name that is no one folder (empty, `..`, with a
    /// `/`) names no service: its path would be the services root or outside it.
    pub fn service_exists(&self, service: &str) -> bool {
        one_component(service) && self.service_dir(service).is_dir()
    }

    pub fn postgres_info(&self, service: &str, flag: &str) -> Result<String> {
        self.runner.read(&self.dokku(&["postgres:info", service, flag]))
    }

    /// The host ports a service is exposed on, as `postgres:expose` was given them (`4242` or
    /// `127.0.0.1:4242`); empty when it is not exposed. `--exposed-ports` prints `-` or
    /// `5432->PORT` per container port (docs/expose.md).
    pub fn exposed_ports(&self, service: &str) -> Result<Vec<String>> {
        let out = self.postgres_info(service, "--exposed-ports")?;
        Ok(parse_exposed_ports(&out))
    }

    /// The apps in the service's LINKS file.
    pub fn service_links(&self, service: &str) -> Result<Vec<String>> {
        let out = self.runner.read(&self.dokku(&["postgres:links", service]))?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// The services whose LINKS file names the app.
    pub fn app_links(&self, app: &str) -> Result<Vec<String>> {
        let out = self.runner.read(&self.dokku(&["postgres:app-links", app]))?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// The part of a service's URL that every app var pointing at it contains, whatever the
    /// scheme and query string: `postgres:PW@dokku-postgres-SVC:5432/DB` (docs/dokku-postgres-service.md#commands, link: "scheme and
    /// querystring"). It holds the password: never print it.
    pub fn url_key(&self, service: &str) -> Result<String> {
        let dsn = self.postgres_info(service, "--dsn")?;
        match dsn.split_once("://") {
            Some((_, rest)) if !rest.is_empty() => Ok(rest.to_string()),
            _ => bail!("Unable to read the DSN of service {service}"),
        }
    }

    /// The service's database. `create` writes DATABASE_NAME with `.` and `-` made `_`; when the
    /// file is missing, dokku-postgres's `get_database_name` writes and uses the service name as
    /// it is (docs/dokku-datastore.md), so that is the name here too.
    pub fn database_name(&self, service: &str) -> Result<String> {
        let name = read_trimmed(&self.service_dir(service).join("DATABASE_NAME"));
        if name.is_empty() { Ok(service.to_string()) } else { Ok(name) }
    }

    pub fn settings(&self, service: &str) -> Result<ServiceSettings> {
        let dir = self.service_dir(service);
        let custom_env =
            read_trimmed(&dir.join("ENV")).lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
        Ok(ServiceSettings {
            image: read_trimmed(&dir.join("IMAGE")),
            image_version: read_trimmed(&dir.join("IMAGE_VERSION")),
            custom_env,
            config_options: read_trimmed(&dir.join("CONFIG_OPTIONS")),
            shm_size: read_trimmed(&dir.join("SHM_SIZE")),
            memory: read_trimmed(&dir.join("SERVICE_MEMORY")),
            initial_network: self.network_property(service, "initial-network"),
            post_create_network: self.network_property(service, "post-create-network"),
            post_start_network: self.network_property(service, "post-start-network"),
        })
    }

    /// Network properties live in dokku's property store, not the service directory (docs/dokku-postgres-service.md#files).
    fn network_property(&self, service: &str, key: &str) -> String {
        read_trimmed(&self.env.dokku_lib_root.join("config/postgres").join(service).join(key))
    }

    pub fn backup_settings(&self, service: &str) -> Result<BackupSettings> {
        let dir = self.service_dir(service);
        let backup = dir.join("backup");
        let auth = if backup.is_dir() {
            let mut values: Vec<String> = BACKUP_AUTH_FILES.iter().map(|f| read_trimmed(&backup.join(f))).collect();
            // backup-auth's arguments are positional: drop only the empty ones at the end.
            while values.len() > 2 && values.last().is_some_and(String::is_empty) {
                values.pop();
            }
            Some(values)
        } else {
            None
        };
        let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        let encryption = dir.join("backup-encryption");
        let out = self.runner.run(&self.dokku(&["postgres:backup-schedule-cat", service]))?;
        let schedule = if out.success() { parse_cron_line(out.stdout.trim()) } else { None };
        Ok(BackupSettings {
            auth,
            encryption_key: non_empty(read_trimmed(&encryption.join("ENCRYPTION_KEY"))),
            public_key_id: non_empty(read_trimmed(&encryption.join("ENCRYPT_WITH_PUBLIC_KEY_ID"))),
            schedule,
        })
    }

    /// Gives service `to` the backup files of `from` in folder `folder` (`backup` or
    /// `backup-encryption`): what `postgres:backup-auth` and `postgres:backup-set-encryption`
    /// write, one value a file (docs/dokku-postgres-service.md#files). Those commands take the secrets as
    /// arguments, where every local user would see them (`ps`); the files are written here the
    /// way they write them, readable by their owner only, and nothing else changes.
    pub fn copy_backup_files(&self, from: &str, to: &str, folder: &str, names: &[&str]) -> Result<Vec<String>> {
        let (source, target) = (self.service_dir(from).join(folder), self.service_dir(to).join(folder));
        std::fs::create_dir_all(&target).with_context(|| format!("Unable to create {}", target.display()))?;
        let mut copied = Vec::new();
        for name in names {
            let Ok(value) = std::fs::read(source.join(name)) else { continue };
            write_private(&target.join(name), &value)?;
            copied.push(name.to_string());
        }
        Ok(copied)
    }

    /// The installed dokku-postgres version, from its plugin.toml.
    pub fn postgres_plugin_version(&self) -> Option<String> {
        Host::plugin_version_at(&self.env.plugin_available_path, "postgres")
    }

    /// A plugin's version as its plugin.toml says it.
    pub fn plugin_version_at(plugin_available_path: &std::path::Path, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(plugin_available_path.join(name).join("plugin.toml")).ok()?;
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("version")
                .map(|v| v.trim_start_matches([' ', '=']).trim().trim_matches('"').to_string())
        })
    }

    /// Runs SQL in a service's database as the container's local superuser; rows as `|`-separated lines.
    pub fn sql(&self, service: &str, database: &str, sql: &str) -> Result<Vec<String>> {
        self.sql_statements(service, database, &[sql])
    }

    /// Runs statements one after the other in one session (each its own top-level query, so
    /// each may use parallel workers); the rows of all of them, in order.
    pub fn sql_statements<S: AsRef<str>>(
        &self,
        service: &str,
        database: &str,
        statements: &[S],
    ) -> Result<Vec<String>> {
        // Names resolve to the system's objects first, whatever search_path the database or
        // its role sets (a user's table named like a catalog must not stand in for it).
        let mut cmd = self.psql(service, database, false).args([
            "-q",
            "-At",
            "-F",
            "|",
            "-c",
            "SET search_path = pg_catalog, pg_temp",
        ]);
        for sql in statements {
            cmd = cmd.arg("-c").arg(sql.as_ref());
        }
        let out = self.runner.check(&cmd)?;
        Ok(out.stdout.lines().filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// Runs a script given on psql's standard input, not on its command line (it holds a run's
    /// key: `hidden`, which no message shows); rows as `|`-separated lines.
    pub fn sql_script(&self, service: &str, database: &str, script: &str, hidden: &[&str]) -> Result<Vec<String>> {
        let cmd = self
            .psql(service, database, true)
            .args(["-q", "-At", "-F", "|", "-f", "-"])
            .input(format!("SET search_path = pg_catalog, pg_temp;\n{script}"))
            .hiding(hidden.iter().map(|s| s.to_string()));
        let out = self.runner.check(&cmd)?;
        Ok(out.stdout.lines().filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// `psql` inside the service's container, connected over its socket as the local superuser
    /// (the image trusts local connections: no password on any command line), stopping at the
    /// first error. `stdin`: it reads a script on its standard input.
    pub fn psql(&self, service: &str, database: &str, stdin: bool) -> Cmd {
        let exec = if stdin { vec!["container", "exec", "-i"] } else { vec!["container", "exec"] };
        self.docker(&exec).arg(container(service)).args([
            "psql",
            "-X",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
        ])
    }

    // ----- docker -----------------------------------------------------------------------

    pub fn inspect_container(&self, service: &str, format: &str) -> Result<Output> {
        self.runner.run(&self.docker(&["container", "inspect", "-f", format, &container(service)]))
    }

    pub fn inspect_image(&self, reference: &str, format: &str) -> Result<String> {
        self.runner.read(&self.docker(&["image", "inspect", "-f", format, reference]))
    }

    /// dokku-postgres's own `postgres:upgrade` of `service` with `args` (its subcommand, as the
    /// dispatcher would run it), its output shown as it comes but for the service's password
    /// and any URL's (its service info prints the DSN), and the custom env in
    /// `POSTGRES_CUSTOM_ENV`, which it reads when `-C` is absent. Returns its exit code.
    pub fn hand_over(&self, service: &str, args: &[String], custom_env: &str, to_stderr: bool) -> Result<i32> {
        let script = self.env.plugin_enabled_path.join("postgres/subcommands/upgrade");
        let password = read_trimmed(&self.service_dir(service).join("PASSWORD"));
        let cmd = Cmd::new(&script.to_string_lossy(), &[])
            .args(args.iter().cloned())
            .secret_env("POSTGRES_CUSTOM_ENV", custom_env)
            .hiding([password]);
        self.runner.stream(&cmd, to_stderr)
    }

    /// The extensions an image's server offers, read from the image alone, without a service:
    /// the control files under pg_config's share folder, listed by a throwaway container
    /// (docs/postgres-image.md#extensions). A build never changes, so the list is kept per
    /// image id in the plugin's data folder and read from there the next time.
    pub fn image_extensions(&self, reference: &str, image_id: &str) -> Result<Vec<String>> {
        let id: String = image_id.trim().trim_start_matches("sha256:").to_string();
        let cache = (id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| self.env.data_dir().join("images").join(format!("{id}.extensions")));
        if let Some(text) = cache.as_ref().and_then(|c| std::fs::read_to_string(c).ok())
            && !text.trim().is_empty()
        {
            return Ok(text.lines().map(String::from).collect());
        }
        let list = r#"ls -1 "$(pg_config --sharedir)/extension""#;
        let listed = self.runner.read(&self.docker(&["container", "run", "--rm", reference, "sh", "-c", list]))?;
        let mut names: Vec<String> =
            listed.lines().filter_map(|f| f.trim().strip_suffix(".control")).map(String::from).collect();
        names.sort();
        // Every server has plpgsql: a list without it was not read from a server's share folder.
        if !names.iter().any(|n| n == "plpgsql") {
            bail!("no extension control file was found in image {reference}");
        }
        if let Some(cache) = cache {
            // Only saves a read next time: a cache that cannot be written is no problem.
            let tmp = cache.with_extension("tmp");
            let written = cache.parent().map(std::fs::create_dir_all).transpose().is_ok()
                && std::fs::write(&tmp, names.join("\n") + "\n").is_ok()
                && std::fs::rename(&tmp, &cache).is_ok();
            if !written {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(names)
    }
}

/// A name that is one path component: not empty, no `/`, not `.` or `..`, and short enough.
fn one_component(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.contains('/') && name != "." && name != ".."
}

/// Splits a dokku-postgres cron line on " dokku " rather than taking five fields, since the
/// schedule may be `@daily` (docs/dokku-postgres-service.md#files):
/// `SCHEDULE dokku DOKKU_BIN postgres:backup SERVICE BUCKET [--use-iam]`.
pub fn parse_cron_line(line: &str) -> Option<Schedule> {
    let (when, rest) = line.split_once(" dokku ")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "postgres:backup")?;
    let bucket = words.get(at + 2)?.to_string();
    // backup-schedule writes its flag as given: `--use-iam` or `-u` (docs/dokku-postgres-upgrade-flags.md).
    let use_iam = words[at + 3..].iter().any(|w| *w == "--use-iam" || *w == "-u");
    Some(Schedule { when: when.trim().to_string(), bucket, use_iam })
}

/// Writes `contents` to a file only its owner may read (mode 0600 from its creation on).
/// `5432->4242 ` to `["4242"]`, `-` to nothing.
fn parse_exposed_ports(out: &str) -> Vec<String> {
    out.split_whitespace().filter_map(|w| w.split_once("->")).map(|(_, host)| host.to_string()).collect()
}

pub fn write_private(path: &std::path::Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("Unable to write {}", path.display()))?;
    file.write_all(contents).with_context(|| format!("Unable to write {}", path.display()))
}

fn read_trimmed(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// `config:export --format json`'s output as a map (values hold passwords: never print them).
pub fn parse_config(app: &str, out: &str) -> Result<BTreeMap<String, String>> {
    let value: serde_json::Value =
        serde_json::from_str(out.trim()).with_context(|| format!("Unable to parse the config of app {app}"))?;
    let mut config = BTreeMap::new();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            config.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_settings_never_print_their_secrets() {
        let b = BackupSettings {
            auth: Some(vec!["AKIAKEY".into(), "secret-key".into()]),
            encryption_key: Some("passphrase".into()),
            ..Default::default()
        };
        let shown = format!("{b:?}");
        assert!(
            shown.contains("auth: \"<set>\"") && !shown.contains("secret-key") && !shown.contains("passphrase"),
            "{shown}"
        );
    }

    #[test]
    fn exposed_ports_are_the_host_side() {
        assert_eq!(parse_exposed_ports("5432->4242 \n"), ["4242"]);
        assert_eq!(parse_exposed_ports("5432->127.0.0.1:4242"), ["127.0.0.1:4242"]);
        assert!(parse_exposed_ports("-\n").is_empty());
    }

    #[test]
    fn cron_lines_parse_with_and_without_iam() {
        let s = parse_cron_line("0 3 * * * dokku /usr/bin/dokku postgres:backup db my-bucket ").unwrap();
        assert_eq!((s.when.as_str(), s.bucket.as_str(), s.use_iam), ("0 3 * * *", "my-bucket", false));
        let s = parse_cron_line("@daily dokku /usr/bin/dokku postgres:backup db b --use-iam").unwrap();
        assert_eq!((s.when.as_str(), s.bucket.as_str(), s.use_iam), ("@daily", "b", true));
        let s = parse_cron_line("0 3 * * * dokku /usr/bin/dokku postgres:backup db b -u").unwrap();
        assert!(s.use_iam, "backup-schedule keeps -u as typed");
        assert!(parse_cron_line("garbage").is_none());
    }
}
