//! The journal: one JSON file per upgrade target under the plugin's data directory, rewritten
//! atomically (write, fsync, rename) before and after every step, so that after a crash
//! `postgres-upgrade:status` can say where the upgrade was and `postgres-upgrade:rollback` can
//! take back what was done. It names things and never holds credentials; mode 0600 anyway.

use crate::undo::Action;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Journal {
    path: PathBuf,
    pub doc: Value,
}

/// `running` is also what a killed upgrade leaves behind.
pub const RUNNING: &str = "running";
/// A rollback started (and maybe died): only `postgres-upgrade:rollback` goes on from here.
pub const ROLLING_BACK: &str = "rolling-back";
pub const ROLLBACK_FAILED: &str = "rollback-failed";

/// Bytes kept free for the journal (it is a few KB; each write needs room for a second copy).
const RESERVE: usize = 64 * 1024;

fn full(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error() == Some(nix::libc::ENOSPC)))
}

impl Journal {
    pub fn path_for(data_dir: &Path, key: &str) -> PathBuf {
        data_dir.join(key).join("journal.json")
    }

    pub fn load(path: &Path) -> Result<Option<Journal>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let doc = serde_json::from_str(&text).with_context(|| format!("Unable to parse {}", path.display()))?;
                Ok(Some(Journal { path: path.to_path_buf(), doc }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("Unable to read {}", path.display())),
        }
    }

    /// A new journal for a run about to start; `plan` is the plan's public part.
    pub fn start(path: &Path, plan: Value, steps: &[String]) -> Result<Journal> {
        let now = crate::clock::now_rfc3339();
        let journal = Journal {
            path: path.to_path_buf(),
            doc: json!({
                "status": RUNNING,
                "pid": std::process::id(),
                "started": now,
                "updated": now,
                "plan": plan,
                "steps": steps.iter().map(|s| json!({"name": s, "state": "pending"})).collect::<Vec<_>>(),
                "undo": [],
                "error": null,
            }),
        };
        journal.save()?;
        journal.keep_room();
        Ok(journal)
    }

    /// Room kept beside the journal for its own writes: a disk that fills during the run (the
    /// dump, or anything else on that filesystem) still lets the rollback record what it did,
    /// so that nothing stays "running" with undo steps that are already undone. Made again by
    /// a resume or a rollback; on a disk too full for it, none is left half-written.
    pub fn keep_room(&self) {
        let reserve = self.path.with_extension("reserve");
        if std::fs::write(&reserve, vec![0u8; RESERVE]).is_err() {
            let _ = std::fs::remove_file(&reserve);
        }
    }

    pub fn status(&self) -> &str {
        self.doc["status"].as_str().unwrap_or("unknown")
    }

    pub fn step(&mut self, index: usize, state: &str) -> Result<()> {
        let now = crate::clock::now_rfc3339();
        if let Some(step) = self.doc["steps"].get_mut(index) {
            step["state"] = json!(state);
            let key = if state == "running" { "started" } else { "finished" };
            step[key] = json!(now);
        }
        self.save()
    }

    pub fn set_undo(&mut self, undo: &[Action]) -> Result<()> {
        self.doc["undo"] = Value::Array(undo.iter().map(Action::to_json).collect());
        self.save()
    }

    /// The undo stack, oldest first. An entry that cannot be read stops here: a rollback that
    /// skipped it would leave its change in place without a word.
    pub fn undo(&self) -> Result<Vec<Action>> {
        let entries = self.doc["undo"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                Action::from_json(entry).with_context(|| {
                    format!(
                        "Entry {} of the undo list in {} cannot be read ({entry}): undo it by hand (README, \"When something goes wrong\"), then remove the entry",
                        i + 1,
                        self.path.display()
                    )
                })
            })
            .collect()
    }

    pub fn finish(&mut self, status: &str, error: Option<String>) -> Result<()> {
        self.doc["status"] = json!(status);
        self.doc["error"] = json!(error);
        self.save()
    }

    pub fn set(&mut self, key: &str, value: Value) -> Result<()> {
        self.doc[key] = value;
        self.save()
    }

    /// Atomic: a crash leaves either the old or the new file, never half of one. On a full disk
    /// the reserve is given up once and the write tried again.
    fn save(&self) -> Result<()> {
        match self.write() {
            Err(err) if full(&err) && std::fs::remove_file(self.path.with_extension("reserve")).is_ok() => self
                .write()
                .context("the filesystem is full: the room kept for the journal was used, free some space there"),
            result => result,
        }
    }

    fn write(&self) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().context("journal path has no folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("Unable to create {}", dir.display()))?;
        let mut doc = self.doc.clone();
        doc["updated"] = json!(crate::clock::now_rfc3339());
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("Unable to write {}", tmp.display()))?;
        // A write that fails (a full disk) leaves the journal as it was before this change.
        let written = file.write_all(serde_json::to_string_pretty(&doc)?.as_bytes()).and_then(|()| file.sync_all());
        if let Err(err) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err).with_context(|| format!("Unable to write {} (the journal is unchanged)", tmp.display()));
        }
        std::fs::rename(&tmp, &self.path).with_context(|| format!("Unable to write {}", self.path.display()))?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undo_entry_that_cannot_be_read_stops_the_rollback() {
        let path = std::env::temp_dir().join(format!("pgu-journal-bad-{}/journal.json", std::process::id()));
        let mut journal = Journal::start(&path, json!({}), &[]).unwrap();
        journal.set("undo", json!([{"action": "unlock", "app": "memo"}, {"action": "teleport"}])).unwrap();
        let err = format!("{:#}", Journal::load(&path).unwrap().unwrap().undo().unwrap_err());
        assert!(err.contains("Entry 2 of the undo list") && err.contains("teleport"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn round_trips_steps_and_undo() {
        let dir = std::env::temp_dir().join(format!("pgu-journal-{}", std::process::id()));
        let path = Journal::path_for(&dir, "memo");
        let mut j = Journal::start(&path, json!({"old": "db"}), &["a".into(), "b".into()]).unwrap();
        j.step(0, "running").unwrap();
        j.step(0, "done").unwrap();
        let undo = vec![Action::DestroyService { service: "db2".into() }, Action::Unlock { app: "memo".into() }];
        j.set_undo(&undo).unwrap();
        let back = Journal::load(&path).unwrap().unwrap();
        assert_eq!(back.status(), RUNNING);
        assert_eq!(back.doc["steps"][0]["state"], "done");
        assert_eq!(back.undo().unwrap(), undo);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
