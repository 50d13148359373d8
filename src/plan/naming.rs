//! Names: image references, service names, and the new service's default name.

use regex::Regex;
use std::sync::LazyLock;

/// Docker's reference grammar, the parts we accept: `[registry[:port]/]path` and a tag.
static REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
    )
    .unwrap()
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap());
/// dokku-postgres's `is_valid_service_name` (hyphens are allowed despite its error text,
/// docs/dokku-postgres-service.md#names).
static APP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9.-]*$").unwrap());
static SERVICE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]+$").unwrap());

pub fn valid_repository(repo: &str) -> bool {
    repo.len() <= 255 && REPOSITORY.is_match(repo)
}

pub fn valid_tag(tag: &str) -> bool {
    TAG.is_match(tag)
}

/// The longest service name dokku-postgres can run: its container's name on the apps' network,
/// `dokku-postgres-<service>`, is one DNS label of at most 63 characters (and the database
/// name, the service's with `_`, fits PostgreSQL's 63 then too).
pub const MAX_SERVICE_NAME: usize = 63 - "dokku-postgres-".len();

/// dokku's app name rule (docs/dokku-host.md#names).
pub fn valid_app_name(name: &str) -> bool {
    APP.is_match(name)
}

pub fn valid_service_name(name: &str) -> bool {
    SERVICE.is_match(name)
}

/// The image's own name: the last path component (`postgis/postgis` → `postgis`).
pub fn image_name(repo: &str) -> &str {
    repo.rsplit('/').next().unwrap_or(repo)
}

/// The PostgreSQL major version a tag names, as major × 100 (+ minor before 10, when the
/// major was two numbers: `9.6` → 906, `12-3.0` → 1200, `17.5` → 1700), so that majors compare
/// as numbers. It is the tag's leading number, dokku-postgres's own rule for
/// `PG_MAJOR` and the 18 layout (docs/dokku-postgres-service.md#versions); None for `latest`, `pg18`, ….
pub fn major_of_tag(tag: &str) -> Option<u32> {
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    let major: u32 = digits.parse().ok()?;
    if major >= 10 {
        return Some(major * 100);
    }
    let minor: String = tag[digits.len()..].strip_prefix('.')?.chars().take_while(char::is_ascii_digit).collect();
    Some(major * 100 + minor.parse::<u32>().ok()?)
}

/// The same scale from `SHOW server_version_num` (90605 → 906, 170002 → 1700).
pub fn major_of_server_version_num(n: u32) -> u32 {
    if n >= 100_000 { n / 10_000 * 100 } else { n / 100 }
}

/// `1700` → `17`, `906` → `9.6`.
pub fn major_text(major: u32) -> String {
    if major >= 1000 { (major / 100).to_string() } else { format!("{}.{}", major / 100, major % 100) }
}

/// `<base>-<image name>-<version with . as _>-<YYYY-MM-DD>`, e.g. `memo-app-r-postgis-12-3_0-2020-06-10`.
pub fn default_service_name(base: &str, repo: &str, tag: &str, created: &str) -> String {
    let date: String = created.chars().take(10).collect();
    let name = format!("{base}-{}-{}-{date}", image_name(repo), tag.replace('.', "_"));
    // Characters dokku-postgres refuses (an app name may hold dots) become `_`.
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_follows_the_convention() {
        assert_eq!(
            default_service_name("memo-app-r", "postgis/postgis", "12-3.0", "2020-06-10T12:00:00Z"),
            "memo-app-r-postgis-12-3_0-2020-06-10"
        );
        assert_eq!(default_service_name("a.b", "postgres", "17", "2026-01-02T00:00:00Z"), "a_b-postgres-17-2026-01-02");
    }

    #[test]
    fn references_are_checked() {
        for ok in ["postgres", "postgis/postgis", "registry.example.com:5000/team/pg", "pgvector/pgvector"] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in ["Postgres", "post gres", "pg;rm -rf /", "", "/postgres", "a//b", "$(id)"] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert!(valid_tag("12-3.0") && valid_tag("17") && valid_tag("pg17"));
        assert!(!valid_tag("") && !valid_tag("-x") && !valid_tag("1 2") && !valid_tag("a;b"));
    }

    #[test]
    fn service_names_follow_dokku_postgres() {
        assert!(valid_service_name("memo-app-r-postgis-12-3_0-2020-06-10"));
        assert!(!valid_service_name("a.b") && !valid_service_name("x;y") && !valid_service_name(""));
    }

    #[test]
    fn major_is_the_leading_integer() {
        assert_eq!(major_of_tag("12-3.0"), Some(1200));
        assert_eq!(major_of_tag("17.5"), Some(1700));
        assert_eq!(major_of_tag("9.6"), Some(906));
        assert_eq!(major_of_tag("9.5-2.5"), Some(905));
        assert!(major_of_tag("9.6") < major_of_tag("10"));
        assert_eq!(major_of_server_version_num(90605), 906);
        assert_eq!(major_of_server_version_num(170002), 1700);
        assert_eq!((major_text(1700), major_text(906)), ("17".to_string(), "9.6".to_string()));
        assert_eq!(major_of_tag("pg18"), None);
        assert_eq!(major_of_tag("latest"), None);
    }
}
