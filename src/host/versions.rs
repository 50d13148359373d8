//! The versions of dokku and dokku-maintenance on this host, and what each changes for the
//! plugin (docs/dokku-versions.md): where a push takes its deploy lock, where an app's config
//! file is, which maintenance commands exist.

use std::path::Path;

/// A release number, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// The first `N.N.N` in `text`: dokku's version files hold `0.38.27`, `v0.38.27-3-gabc`, or
    /// a build's epoch first (`1712345678:0.38.27`), and a plugin.toml `version = "0.10.1"`.
    pub fn find(text: &str) -> Option<Version> {
        static RE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"(\d+)\.(\d+)\.(\d+)").unwrap());
        let c = RE.captures(text)?;
        let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse().ok());
        Some(Version(n(1)?, n(2)?, n(3)?))
    }
}

/// The oldest dokku this plugin is written against; older ones are refused in preflight.
pub const DOKKU_OLDEST: Version = Version(0, 25, 0);
/// From 0.34 a push locks `$DOKKU_LIB_ROOT/data/apps/APP/.deploy.lock`; before, `$DOKKU_ROOT/APP/.deploy.lock`.
pub const DEPLOY_LOCK_IN_DATA: Version = Version(0, 34, 0);
/// From 0.38 an app's config is `$DOKKU_LIB_ROOT/config/APP/ENV`; before, `$DOKKU_ROOT/APP/ENV`.
pub const CONFIG_IN_LIB_ROOT: Version = Version(0, 38, 0);
/// dokku-maintenance: `report` from 0.6, `enable`/`disable` from 0.7 (`on`/`off` before).
pub const MAINTENANCE_REPORT: Version = Version(0, 6, 0);
pub const MAINTENANCE_ENABLE: Version = Version(0, 7, 0);

/// dokku's version as its own `dokku version` reads it: `STABLE_VERSION`, else `VERSION`, in
/// `DOKKU_LIB_ROOT`. None when neither holds a release number (a build of dokku's master says
/// `~master (date)`: it is then taken for the newest).
pub fn dokku(lib_root: &Path) -> Option<Version> {
    ["STABLE_VERSION", "VERSION"].iter().find_map(|f| Version::find(&std::fs::read_to_string(lib_root.join(f)).ok()?))
}

/// A plugin's version, from the `version` line of its plugin.toml.
pub fn plugin(plugin_available_path: &Path, name: &str) -> Option<Version> {
    let text = std::fs::read_to_string(plugin_available_path.join(name).join("plugin.toml")).ok()?;
    text.lines().filter(|l| l.trim_start().starts_with("version")).find_map(Version::find)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_dokku_writes_them() {
        assert_eq!(Version::find("0.38.27\n"), Some(Version(0, 38, 27)));
        assert_eq!(Version::find("v0.32.4-12-gdeadbee"), Some(Version(0, 32, 4)));
        assert_eq!(Version::find("1712345678:0.30.1"), Some(Version(0, 30, 1)));
        assert_eq!(Version::find("~master (2026-01-01T00:00Z)"), None);
        assert!(Version(0, 33, 9) < DEPLOY_LOCK_IN_DATA && DEPLOY_LOCK_IN_DATA <= Version(0, 34, 0));
        assert!(Version(0, 9, 9) < Version(0, 10, 0));
    }

    #[test]
    fn stable_version_wins_over_version() {
        let dir = std::env::temp_dir().join(format!("pgu-versions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(dokku(&dir), None);
        std::fs::write(dir.join("VERSION"), "v0.33.8").unwrap();
        assert_eq!(dokku(&dir), Some(Version(0, 33, 8)));
        std::fs::write(dir.join("STABLE_VERSION"), "0.34.1").unwrap();
        assert_eq!(dokku(&dir), Some(Version(0, 34, 1)));
        std::fs::create_dir_all(dir.join("maintenance")).unwrap();
        std::fs::write(
            dir.join("maintenance/plugin.toml"),
            "[plugin]\ndescription = \"x 1.2.3\"\nversion = \"0.5.1\"\n",
        )
        .unwrap();
        assert_eq!(plugin(&dir, "maintenance"), Some(Version(0, 5, 1)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
