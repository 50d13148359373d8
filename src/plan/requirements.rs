//! What the host itself must be for an upgrade: a dokku version this plugin is written against
//! (docs/dokku-versions.md).

use crate::host::versions::{DOKKU_OLDEST, Version};

/// dokku older than the oldest version whose behaviour this plugin follows. An unknown version
/// (a build of dokku's master names none) is taken for the newest.
pub fn dokku_version(found: Option<Version>) -> Option<String> {
    let found = found?;
    (found < DOKKU_OLDEST).then(|| {
        format!(
            "dokku {found} is older than {DOKKU_OLDEST}, the oldest this plugin supports (docs/dokku-versions.md): \
             upgrade dokku first (https://dokku.com/docs/getting-started/upgrading/)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dokku_older_than_supported_is_named() {
        let problem = dokku_version(Some(Version(0, 24, 10))).unwrap();
        assert!(problem.starts_with("dokku 0.24.10 is older than 0.25.0"), "{problem}");
        assert_eq!(dokku_version(Some(Version(0, 25, 0))), None);
        assert_eq!(dokku_version(None), None);
    }
}
