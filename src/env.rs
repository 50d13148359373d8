//! The plugin environment dokku exports (docs/dokku-host.md), read once.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Env {
    pub dokku_lib_root: PathBuf,
    pub plugin_enabled_path: PathBuf,
    pub plugin_available_path: PathBuf,
    /// `dokku` itself, for calling other plugins' commands.
    pub dokku_bin: String,
    pub docker_bin: String,
    pub quiet: bool,
    pub trace: bool,
    /// Test-only: the step boundary at which the upgrade kills itself (see upgrade.rs).
    pub kill_at: Option<String>,
    /// Test-only: `N:PROGRAM` runs PROGRAM (no shell) just before step N, as another writer
    /// would act at that moment (see upgrade.rs).
    pub hook_at: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let lib_root = PathBuf::from(
            var("DOKKU_LIB_ROOT").or_else(|| var("DOKKU_LIB_PATH")).unwrap_or_else(|| "/var/lib/dokku".into()),
        );
        let plugin_path = var("PLUGIN_PATH").map(PathBuf::from).unwrap_or_else(|| lib_root.join("plugins"));
        Env {
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
            kill_at: var("POSTGRES_UPGRADE_KILL_AT"),
            hook_at: var("POSTGRES_UPGRADE_HOOK_AT"),
        }
    }

    /// Where the plugin keeps its own files: dumps, reports (and later the journal).
    pub fn data_dir(&self) -> PathBuf {
        self.dokku_lib_root.join("data/postgres-upgrade")
    }

    /// dokku-postgres's service root (`POSTGRES_ROOT`, docs/dokku-postgres-service.md#files).
    pub fn services_root(&self) -> PathBuf {
        self.dokku_lib_root.join("services/postgres")
    }

    #[cfg(test)]
    pub fn for_tests(lib_root: &std::path::Path) -> Env {
        Env {
            dokku_lib_root: lib_root.to_path_buf(),
            plugin_enabled_path: lib_root.join("plugins/enabled"),
            plugin_available_path: lib_root.join("plugins/available"),
            dokku_bin: "dokku".into(),
            docker_bin: "docker".into(),
            quiet: false,
            trace: false,
            kill_at: None,
            hook_at: None,
        }
    }
}
