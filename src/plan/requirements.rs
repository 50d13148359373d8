//! What the host itself must be for an upgrade: a dokku version this plugin is written against
//! (docs/dokku-versions.md), and `user-auth` triggers (dokku-acl) that let the caller run every
//! command the upgrade runs (docs/dokku-acl.md).

use crate::host::Host;
use crate::host::calls::{self, Names};
use crate::host::versions::{DOKKU_OLDEST, Version};
use anyhow::Result;

/// Every call of the upgrade that the host's `user-auth` triggers would refuse the caller, as
/// one problem each, and what to do about them.
pub fn acl(host: &Host, names: &Names) -> Result<Vec<String>> {
    let refused = calls::refused(host, names)?;
    if refused.is_empty() {
        return Ok(refused);
    }
    let user = std::env::var("SSH_NAME").unwrap_or_default();
    let mut problems = vec![format!(
        "dokku's user-auth ({}) would refuse {} of the commands this upgrade runs as user {user}; allow them \
         (README, \"dokku-acl\"), or run it as root or as DOKKU_SUPER_USER:",
        calls::auth_plugins(host).join(", "),
        refused.len()
    )];
    problems.extend(refused);
    Ok(problems)
}

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
