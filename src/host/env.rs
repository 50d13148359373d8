//! The plugin environment dokku exports (docs/dokku-host.md), read once.

use crate::host::versions::{self, Version};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Env {
    pub dokku_lib_root: PathBuf,
    /// `DOKKU_ROOT`, the dokku user's home: one folder per app.
    pub dokku_root: PathBuf,
    /// dokku's version (host/versions.rs); None when its files name none (a build of master).
    pub dokku_version: Option<Version>,
    /// The same directory as the docker daemon sees it: not the same path when dokku itself
    /// runs in a container (`DOKKU_LIB_HOST_ROOT`, as dokku-postgres reads it: docs/networks.md).
    pub dokku_lib_host_root: PathBuf,
    pub plugin_enabled_path: PathBuf,
    pub plugin_available_path: PathBuf,
    /// `dokku` itself, for calling other plugins' commands.
    pub dokku_bin: String,
    pub docker_bin: String,
    pub quiet: bool,
    pub trace: bool,
    /// dokku-postgres's `POSTGRES_DISABLE_PULL=true`: images are never pulled.
    pub disable_pull: bool,
    /// Test-only: the step boundary at which the upgrade kills itself (see steps/mod.rs).
    pub kill_at: Option<String>,
    /// Test-only: `N:PROGRAM` runs PROGRAM (no shell) just before step N, as another writer
    /// would act at that moment (see steps/mod.rs).
    pub hook_at: Option<String>,
    /// Test-only: the bound, in MB, on the WAL the online copy's slots may hold
    /// (`POSTGRES_UPGRADE_WAL_BOUND_MB`; copy/online/): a stream that falls that far behind is
    /// refused before the window.
    pub wal_bound_mb: Option<i64>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let lib_root = PathBuf::from(
            var("DOKKU_LIB_ROOT").or_else(|| var("DOKKU_LIB_PATH")).unwrap_or_else(|| "/var/lib/dokku".into()),
        );
        let plugin_path = var("PLUGIN_PATH").map(PathBuf::from).unwrap_or_else(|| lib_root.join("plugins"));
        Env {
            dokku_root: PathBuf::from(var("DOKKU_ROOT").unwrap_or_else(|| "/home/dokku".into())),
            dokku_version: versions::dokku(&lib_root),
            dokku_lib_host_root: var("DOKKU_LIB_HOST_ROOT").map(PathBuf::from).unwrap_or_else(|| lib_root.clone()),
            plugin_enabled_path: var("PLUGIN_ENABLED_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| plugin_path.join("enabled")),
            plugin_available_path: var("PLUGIN_AVAILABLE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| plugin_path.join("available")),
            dokku_lib_root: lib_root,
            dokku_bin: which::which("dokku")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "dokku".into()),
            docker_bin: var("DOCKER_BIN").unwrap_or_else(|| "docker".into()),
            quiet: var("DOKKU_QUIET_OUTPUT").is_some(),
            trace: var("DOKKU_TRACE").as_deref() == Some("1"),
            disable_pull: var("POSTGRES_DISABLE_PULL").as_deref() == Some("true"),
            kill_at: var("POSTGRES_UPGRADE_KILL_AT"),
            hook_at: var("POSTGRES_UPGRADE_HOOK_AT"),
            wal_bound_mb: var("POSTGRES_UPGRADE_WAL_BOUND_MB").and_then(|v| v.parse().ok()),
        }
    }

    /// Where the plugin keeps its own files: dumps, reports (and later the journal).
    pub fn data_dir(&self) -> PathBuf {
        self.dokku_lib_root.join("data/postgres-upgrade")
    }

    /// `path` (under `DOKKU_LIB_ROOT`) as a `docker run -v` source: under the host root.
    pub fn host_path(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.dokku_lib_root) {
            Ok(rest) => self.dokku_lib_host_root.join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

    /// The file a `git push` of `app` takes its deploy lock on, on this dokku (docs/deploy-lock.md):
    /// the app's data folder from 0.34, its folder in `DOKKU_ROOT` before.
    pub fn deploy_lock(&self, app: &str) -> PathBuf {
        if self.dokku_version.is_some_and(|v| v < versions::DEPLOY_LOCK_IN_DATA) {
            self.dokku_root.join(app).join(".deploy.lock")
        } else {
            self.dokku_lib_root.join("data/apps").join(app).join(".deploy.lock")
        }
    }

    /// The file dokku keeps `app`'s own config in on this dokku (docs/dokku-versions.md): the
    /// config folder of `DOKKU_LIB_ROOT` from 0.38, the app's folder in `DOKKU_ROOT` before.
    pub fn app_config_file(&self, app: &str) -> PathBuf {
        if self.dokku_version.is_some_and(|v| v < versions::CONFIG_IN_LIB_ROOT) {
            self.dokku_root.join(app).join("ENV")
        } else {
            self.dokku_lib_root.join("config").join(app).join("ENV")
        }
    }

    /// dokku-maintenance's version, when it is installed and says one.
    pub fn maintenance_version(&self) -> Option<Version> {
        versions::plugin(&self.plugin_available_path, "maintenance")
    }

    /// dokku-postgres's service root (`POSTGRES_ROOT`, docs/dokku-postgres-service.md#files).
    pub fn services_root(&self) -> PathBuf {
        self.dokku_lib_root.join("services/postgres")
    }

    #[cfg(test)]
    pub fn for_tests(lib_root: &Path) -> Env {
        Env {
            dokku_root: lib_root.join("home"),
            dokku_version: None,
            dokku_lib_root: lib_root.to_path_buf(),
            dokku_lib_host_root: lib_root.to_path_buf(),
            plugin_enabled_path: lib_root.join("plugins/enabled"),
            plugin_available_path: lib_root.join("plugins/available"),
            dokku_bin: "dokku".into(),
            docker_bin: "docker".into(),
            quiet: false,
            trace: false,
            disable_pull: false,
            kill_at: None,
            hook_at: None,
            wal_bound_mb: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_name_the_hosts_path_when_dokku_runs_in_a_container() {
        let mut env = Env::for_tests(std::path::Path::new("/var/lib/dokku"));
        let dumps = std::path::Path::new("/var/lib/dokku/data/postgres-upgrade/memo/dumps");
        assert_eq!(env.host_path(dumps), dumps);
        env.dokku_lib_host_root = PathBuf::from("/srv/dokku");
        assert_eq!(env.host_path(dumps), std::path::Path::new("/srv/dokku/data/postgres-upgrade/memo/dumps"));
        assert_eq!(env.host_path(std::path::Path::new("/tmp/x")), std::path::Path::new("/tmp/x"));
    }
}
