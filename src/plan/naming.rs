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
/// dokku's app name rule (`IsValidAppName`), and the older one that existing apps may still
/// have (`IsValidAppNameOld`, underscores too), which `VerifyAppName` accepts as well
/// (docs/dokku-host.md#names).
static APP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9.-]*$").unwrap());
static APP_OLD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9._-]*$").unwrap());
/// dokku-postgres's `is_valid_service_name` (hyphens are allowed despite its error text,
/// docs/dokku-postgres-service.md#names).
static SERVICE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]+$").unwrap());

/// A size as docker's `--shm-size` takes it (go-units' `RAMInBytes`): a number, an optional
/// space, then nothing, `b`, or `k`, `m`, `g`, `t`, `p` with an optional `b` or `ib`, any case.
static SIZE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+\.?[0-9]*|\.[0-9]+) ?([bB]|[kKmMgGtTpP]([bB]|[iI][bB])?)?$").unwrap());

pub fn valid_size(size: &str) -> bool {
    SIZE.is_match(size)
}

/// The longest name a folder can have (Linux's `NAME_MAX`): an app's, a service's and this
/// plugin's own folder for either are each one path component, so a longer name names nothing.
pub const MAX_NAME_BYTES: usize = 255;

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

/// A name dokku takes for an app (`VerifyAppName`: the rule, or the older one).
pub fn valid_app_name(name: &str) -> bool {
    name.len() <= MAX_NAME_BYTES && (APP.is_match(name) || APP_OLD.is_match(name))
}

/// A name dokku-postgres takes for a service.
pub fn valid_service_name(name: &str) -> bool {
    name.len() <= MAX_NAME_BYTES && SERVICE.is_match(name)
}

/// A name the plugin's commands can be given as their target: an app's or a service's, and not
/// led by `-`, which every command line reads as a flag (dokku-postgres's rule allows it, so a
/// service named so cannot be named again: docs/dokku-postgres-service.md#names).
pub fn possible_target(name: &str) -> bool {
    !name.starts_with('-') && (valid_app_name(name) || valid_service_name(name))
}

/// The database dokku-postgres's `postgres:create` gives a service: its name with `.` and `-`
/// as `_` (docs/dokku-postgres-service.md#names).
pub fn database_name(service: &str) -> String {
    service.replace(['.', '-'], "_")
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
        assert!(!valid_service_name("a\nb") && !valid_service_name("a\n") && !valid_service_name("a/b"));
        assert!(valid_service_name("-x"), "dokku-postgres's own rule allows it");
    }

    #[test]
    fn app_names_follow_dokku_with_its_older_rule() {
        for ok in ["memo", "my-app.prod", "0", "legacy_app"] {
            assert!(valid_app_name(ok), "{ok}");
        }
        for bad in ["", "App", "-app", ".app", "_app", "a b", "a\nb", "a\n", "a;b", "a/b", "a:b", "\u{1b}[31m"] {
            assert!(!valid_app_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_target_is_a_name_of_one_path_component_that_is_no_flag() {
        assert!(possible_target("memo") && possible_target("Memo_DB") && possible_target(&"a".repeat(255)));
        for bad in ["", "-x", "--dry-run", "a/b", "..", "a\nb", &"a".repeat(256)] {
            assert!(!possible_target(bad), "{bad:?}");
        }
    }

    #[test]
    fn sizes_are_docker_s() {
        for ok in ["256m", "256mb", "1.5g", "512 MiB", "67108864", "64K"] {
            assert!(valid_size(ok), "{ok}");
        }
        for bad in ["", "abc", "256 mbb", "-1g", "1x", "256m\n"] {
            assert!(!valid_size(bad), "{bad:?}");
        }
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
