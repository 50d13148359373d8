//! The dumps an upgrade leaves in `<data dir>/apps/<app>/dumps/` (state/layout.rs): each attempt's files are named
//! `<old service>-<YYYYMMDD-HHMMSS>` (the dump, a directory) with siblings that add a suffix
//! (`-catch-up.sql`, `-window`). Uncompressed, they are as big as the database: a rolled-back
//! attempt's are removed once it is rolled back, and after an upgrade only the newest
//! attempts are kept (`POSTGRES_UPGRADE_KEEP_DUMPS`, 1 by default: the rollback artifact of the
//! last upgrade).

use std::path::{Path, PathBuf};

/// The folder of an upgrade's dumps (and, while a tool runs, its password files), named after
/// the app, or the service when a service was upgraded.
pub fn dumps_dir(data_dir: &Path, name: &str) -> PathBuf {
    crate::state::layout::folder(data_dir, name).join("dumps")
}

/// The folder the dumps of `name` are in now: the legacy one until a run has moved them.
pub fn found_dir(data_dir: &Path, name: &str) -> PathBuf {
    crate::state::layout::current(data_dir, name).join("dumps")
}

/// How many upgrades' dumps are kept per app when the environment does not say.
const KEEP: usize = 1;

/// The number of attempts to keep: `POSTGRES_UPGRADE_KEEP_DUMPS` when it is a number.
pub fn keep() -> usize {
    std::env::var("POSTGRES_UPGRADE_KEEP_DUMPS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(KEEP)
}

/// The attempt a file in the dumps folder belongs to: `name-YYYYMMDD-HHMMSS`, whatever follows.
fn attempt_of(name: &str) -> Option<&str> {
    static STAMP: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^(.+-\d{8}-\d{6})(-.+)?$").unwrap());
    STAMP.captures(name).and_then(|c| c.get(1)).map(|m| m.as_str())
}

/// The stamp `YYYYMMDD-HHMMSS` of an attempt, by which attempts are ordered.
fn stamp(attempt: &str) -> &str {
    &attempt[attempt.len().saturating_sub(15)..]
}

/// Every file of the attempt `dump` names, the dump itself included.
pub fn files_of(dump: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (dump.parent(), dump.file_name().map(|n| n.to_string_lossy().into_owned())) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| attempt_of(&e.file_name().to_string_lossy()) == Some(name.as_str()))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// Removes the attempt's files; the bytes it freed.
pub fn remove_attempt(dump: &Path) -> u64 {
    files_of(dump).iter().map(|f| remove(f)).sum()
}

/// The attempts in `dir`, newest first, each with the bytes of its files.
pub fn attempts(dir: &Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.flatten().filter_map(|e| attempt_of(&e.file_name().to_string_lossy()).map(String::from)).collect();
    names.sort_by(|a, b| stamp(b).cmp(stamp(a)).then(b.cmp(a)));
    names.dedup();
    names.into_iter().map(|n| (n.clone(), files_of(&dir.join(&n)).iter().map(|f| size(f)).sum())).collect()
}

/// Keeps the `keep` newest attempts in `dir`, removes the others; what it removed.
pub fn prune(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for (attempt, _) in attempts(dir).iter().skip(keep) {
        for file in files_of(&dir.join(attempt)) {
            remove(&file);
            removed.push(file);
        }
    }
    removed
}

/// Bytes under `path` (a file, or a directory-format dump).
pub fn size(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries.flatten().map(|e| size(&e.path())).sum(),
        Err(_) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

fn remove(path: &Path) -> u64 {
    let bytes = size(path);
    let gone = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    if gone.is_ok() { bytes } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_told_apart_by_their_stamp_and_the_newest_are_kept() {
        assert_eq!(attempt_of("memo-db-20261201-090000"), Some("memo-db-20261201-090000"));
        assert_eq!(attempt_of("memo-db-20261201-090000-catch-up.sql"), Some("memo-db-20261201-090000"));
        assert_eq!(attempt_of(".memo-db.env"), None);
        let dir = std::env::temp_dir().join(format!("pgu-dumps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for attempt in ["db-20261101-100000", "db-20261201-090000", "db-2-20261115-080000"] {
            std::fs::create_dir_all(dir.join(attempt)).unwrap();
            std::fs::write(dir.join(attempt).join("toc.dat"), "x").unwrap();
            std::fs::write(dir.join(format!("{attempt}-catch-up.sql")), "yy").unwrap();
        }
        assert_eq!(files_of(&dir.join("db-20261201-090000")).len(), 2);
        let removed = prune(&dir, 1);
        assert_eq!(removed.len(), 4, "{removed:?}");
        let left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert!(left.iter().all(|n| n.starts_with("db-20261201-090000")), "{left:?}");
        assert_eq!(remove_attempt(&dir.join("db-20261201-090000")), 3);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
