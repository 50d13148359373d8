//! Where each app's (or service's) state lives under the plugin's data folder: its journal and
//! dumps in `apps/<name>/`, apart from the plugin's own files beside `apps/` (`bin/`, `locks/`,
//! `build/`), so that no app name, `build` or `locks` included, can meet them, and uninstalling
//! the plugin never reaches an app's state.
//!
//! Versions up to 0.1 kept them in `<data dir>/<name>/`, beside the plugin's files. Such a folder
//! is moved to the new place by the next run for that name (`migrate`); until then, the readers
//! (status, report, cleanup) find it where it is.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What a target's folder holds: the journal, the journal's reserve, the dumps.
const ENTRIES: [&str; 3] = ["journal.json", "journal.reserve", "dumps"];

/// The folder of `name`'s state.
pub fn folder(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("apps").join(name)
}

/// Where versions up to 0.1 kept it.
pub fn legacy_folder(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(name)
}

/// The folder whose entries are `name`'s state now: the legacy one while it still holds some of
/// it and the new one holds none.
pub fn current(data_dir: &Path, name: &str) -> PathBuf {
    let new = folder(data_dir, name);
    let old = legacy_folder(data_dir, name);
    if !holds_state(&new) && holds_state(&old) { old } else { new }
}

fn holds_state(dir: &Path) -> bool {
    ENTRIES.iter().any(|e| dir.join(e).symlink_metadata().is_ok())
}

/// Moves `name`'s state from the legacy folder to the new one; the paths moved. An entry that
/// exists in both places is left where it is and named in the error: nothing is overwritten.
/// Only the state's own entries move, so a legacy folder that is also one of the plugin's own
/// (an app named `build` or `locks`) keeps the plugin's files.
pub fn migrate(data_dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let old = legacy_folder(data_dir, name);
    if !holds_state(&old) {
        return Ok(Vec::new());
    }
    let new = folder(data_dir, name);
    std::fs::create_dir_all(&new).with_context(|| format!("Unable to create {}", new.display()))?;
    let mut moved = Vec::new();
    for entry in ENTRIES {
        let (from, to) = (old.join(entry), new.join(entry));
        if from.symlink_metadata().is_err() {
            continue;
        }
        if to.symlink_metadata().is_ok() {
            anyhow::bail!(
                "{} and {} both exist: keep one of them (the newer journal says which upgrade it belongs to)",
                from.display(),
                to.display()
            );
        }
        std::fs::rename(&from, &to)
            .with_context(|| format!("Unable to move {} to {}: move it by hand", from.display(), to.display()))?;
        moved.push(to);
    }
    // Leave no empty legacy folder behind (one the plugin also uses is not empty and stays).
    let _ = std::fs::remove_dir(&old);
    Ok(moved)
}

/// Every name with a journal, in either layout, sorted and once each.
pub fn targets(data_dir: &Path) -> Vec<String> {
    let with_journal = |dir: PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("journal.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let mut names = with_journal(data_dir.join("apps"));
    names.extend(with_journal(data_dir.to_path_buf()));
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pgu-layout-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_legacy_folder_is_read_until_moved_and_the_plugins_own_files_stay() {
        let data = scratch("migrate");
        // An app named `build` in the old layout: its state and the docker build's cache share a folder.
        let legacy = data.join("build");
        std::fs::create_dir_all(legacy.join("dumps/db-20260101-000000")).unwrap();
        std::fs::create_dir_all(legacy.join("target")).unwrap();
        std::fs::write(legacy.join("journal.json"), "{}").unwrap();
        assert_eq!(current(&data, "build"), legacy);
        assert_eq!(targets(&data), ["build"]);

        let moved = migrate(&data, "build").unwrap();
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert_eq!(current(&data, "build"), data.join("apps/build"));
        assert!(data.join("apps/build/journal.json").is_file());
        assert!(data.join("apps/build/dumps/db-20260101-000000").is_dir());
        assert!(legacy.join("target").is_dir(), "the plugin's own files are not state");
        assert_eq!(targets(&data), ["build"]);
        // Nothing more to move.
        assert!(migrate(&data, "build").unwrap().is_empty());
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn state_in_both_places_is_never_overwritten() {
        let data = scratch("both");
        std::fs::create_dir_all(data.join("memo")).unwrap();
        std::fs::write(data.join("memo/journal.json"), "old").unwrap();
        std::fs::create_dir_all(data.join("apps/memo")).unwrap();
        std::fs::write(data.join("apps/memo/journal.json"), "new").unwrap();
        let err = migrate(&data, "memo").unwrap_err().to_string();
        assert!(err.contains("both exist"), "{err}");
        assert_eq!(std::fs::read_to_string(data.join("memo/journal.json")).unwrap(), "old");
        assert_eq!(current(&data, "memo"), data.join("apps/memo"));
        std::fs::remove_dir_all(&data).unwrap();
    }
}
