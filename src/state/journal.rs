//! The journal: one JSON file per upgrade target under the plugin's data directory, rewritten
//! atomically (write, fsync, rename) before and after every step, so that after a crash
//! `postgres-upgrade:status` can say where the upgrade was and `postgres-upgrade:rollback` can
//! take back what was done. It names things and never holds credentials; mode 0600 anyway.

use crate::state::undo::Action;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes kept free for the journal (it is a few KB; each write needs room for a second copy).
const RESERVE: usize = 64 * 1024;

fn full(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error() == Some(nix::libc::ENOSPC)))
}

/// One upgrade's journal on disk, typed: what it records, and where.
pub struct Journal {
    path: PathBuf,
    pub record: Record,
}

/// How an upgrade stands or ended: the journal's `status`, and the JSON report's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Also what a killed upgrade leaves behind.
    Running,
    /// A rollback started (and maybe died): only `postgres-upgrade:rollback` goes on from here.
    RollingBack,
    RollbackFailed,
    RolledBack,
    /// Journals of 0.1 said `done`.
    #[serde(alias = "done")]
    Upgraded,
    #[serde(alias = "done-with-manual-steps")]
    UpgradedWithManualSteps,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::RollingBack => "rolling-back",
            Status::RollbackFailed => "rollback-failed",
            Status::RolledBack => "rolled-back",
            Status::Upgraded => "upgraded",
            Status::UpgradedWithManualSteps => "upgraded-with-manual-steps",
        }
    }
}

/// What the journal file holds. It names things and never holds credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub status: Status,
    pub pid: u32,
    pub started: String,
    pub updated: String,
    pub plan: PlanRecord,
    pub steps: Vec<StepState>,
    /// The undo stack, oldest first, each entry as written: read one by one ([`Journal::undo`])
    /// so that one that cannot be read is named, not the whole file.
    pub undo: Vec<Value>,
    pub error: Option<String>,
    /// An app has started on the new service: the point of no return is behind.
    #[serde(default)]
    pub committed: bool,
    #[serde(default)]
    pub options: RunOptions,
    /// The copy's dump: the rollback artifact.
    #[serde(default)]
    pub dump: Option<String>,
    #[serde(default)]
    pub window_ms: Option<u64>,
    /// What the verification compared, in words.
    #[serde(default)]
    pub verified: Option<String>,
    /// The replication objects of an online copy (copy/online/stream.rs): removed on success,
    /// rollback and resume, whatever step the run died in.
    #[serde(default)]
    pub stream: Option<crate::copy::online::stream::StreamRecord>,
    /// How long the old service's restart with `--online` kept the apps from it.
    #[serde(default)]
    pub old_restart_ms: Option<u64>,
    /// While the upgrade is unfinished, the one command that finishes it (written with every
    /// save, for whoever reads the file: [`Journal::next_command`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// What going back to the kept old service must put back, in undo entries' words: its
    /// backup schedule, removed when the old service was kept (steps/after.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returns: Vec<Value>,
    /// A `--reversible` upgrade's grace period: the old service follows the new one from the
    /// switch until a rollback or `finish` ends it (copy/reverse.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<crate::copy::reverse::Reverse>,
}

/// The plan without anything secret (the URL's password, the settings and backup credentials
/// are read again from the old service when it is needed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub app: Option<String>,
    pub old_service: String,
    pub new_service: String,
    /// `repository:tag`.
    pub image: String,
    pub image_repository: String,
    pub image_version: String,
    pub image_id: String,
    pub image_created: String,
    pub old_image: String,
    pub postgres_major: Majors,
    pub old_database: String,
    /// Which copy runs (plan/method.rs); None in journals of versions that did not say.
    #[serde(default)]
    pub copy_method: Option<crate::copy::Method>,
    /// The old service is restarted once with `wal_level = logical` before the first copy.
    #[serde(default)]
    pub restart_old: bool,
    pub use_maintenance: bool,
    /// The old service's exposed host ports: the switch unexposes it before it exposes the new.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// What `--accept-recomputed` and `--keep-md5-auth` accepted, in words (plan/carry.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<String>,
    /// What of it the verifier accepts may differ, by name (facts/verifier/).
    #[serde(default, skip_serializing_if = "crate::facts::verifier::Accepted::is_empty")]
    pub recomputed: crate::facts::verifier::Accepted,
    pub apps: Vec<AppRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Majors {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    pub running: bool,
    pub maintenance_on: bool,
    pub vars: Vec<crate::host::switch::VarSpec>,
}

/// The options of the run that a resume must keep.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    #[serde(default)]
    pub keep_old: bool,
    #[serde(default)]
    pub skip_backup: bool,
    #[serde(default)]
    pub full_copy: bool,
    #[serde(default)]
    pub accept_recomputed: bool,
    #[serde(default)]
    pub keep_md5_auth: bool,
    #[serde(default)]
    pub reversible: bool,
    #[serde(default)]
    pub new_service: NewServiceFlags,
}

/// dokku-postgres's flags for the new service as the first run was given them. The custom env
/// may hold secrets: only whether it was given is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewServiceFlags {
    pub config_options: Option<String>,
    #[serde(default)]
    pub custom_env_given: bool,
    pub initial_network: Option<String>,
    pub post_create_network: Option<String>,
    pub post_start_network: Option<String>,
    pub shm_size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    /// The step's id in the steps' table (steps/mod.rs, `STEPS`).
    pub id: String,
    pub name: String,
    /// `pending`, `running`, `done` or `failed`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
}

impl Journal {
    /// Where the journal of `key` is written (state/layout.rs).
    pub fn path_for(data_dir: &Path, key: &str) -> PathBuf {
        crate::state::layout::folder(data_dir, key).join("journal.json")
    }

    /// Where the journal of `key` is read from: the legacy folder until a run has moved it.
    pub fn found_for(data_dir: &Path, key: &str) -> PathBuf {
        crate::state::layout::current(data_dir, key).join("journal.json")
    }

    /// The journal at `path`, if there is one. One that cannot be read as a journal is an
    /// error that says which file and why: recovery never guesses what it held.
    pub fn load(path: &Path) -> Result<Option<Journal>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let record = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "Unable to read the journal {}: fix or remove it by hand (README, \"When something goes wrong\")",
                        path.display()
                    )
                })?;
                Ok(Some(Journal { path: path.to_path_buf(), record }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("Unable to read {}", path.display())),
        }
    }

    /// A new journal for a run about to start; `steps` each step's id and title, in order.
    pub fn start(path: &Path, plan: PlanRecord, steps: &[(&str, String)], options: RunOptions) -> Result<Journal> {
        let now = crate::host::clock::now_rfc3339();
        let journal = Journal {
            path: path.to_path_buf(),
            record: Record {
                status: Status::Running,
                pid: std::process::id(),
                started: now.clone(),
                updated: now,
                plan,
                steps: steps
                    .iter()
                    .map(|(id, name)| StepState {
                        id: id.to_string(),
                        name: name.clone(),
                        state: "pending".into(),
                        started: None,
                        finished: None,
                    })
                    .collect(),
                undo: Vec::new(),
                error: None,
                committed: false,
                options,
                dump: None,
                window_ms: None,
                verified: None,
                stream: None,
                old_restart_ms: None,
                next: None,
                returns: Vec::new(),
                reverse: None,
            },
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

    /// The id of the first step not done, `None` when all are. A step the journal names but
    /// `known` does not hold (a journal of another version) is an error, not a guess.
    pub fn next_step<'k>(&self, known: &[&'k str]) -> Result<Option<&'k str>> {
        let Some(step) = self.record.steps.iter().find(|s| s.state != "done") else { return Ok(None) };
        match known.iter().find(|k| **k == step.id) {
            Some(k) => Ok(Some(k)),
            None => anyhow::bail!(
                "{} names a step this version does not have ({}): finish it with the version that started it, or take it back with `postgres-upgrade:rollback`",
                self.path.display(),
                if step.id.is_empty() { "none" } else { &step.id }
            ),
        }
    }

    /// How many steps are done, from the first.
    pub fn steps_done(&self) -> usize {
        self.record.steps.iter().take_while(|s| s.state == "done").count()
    }

    pub fn status(&self) -> Status {
        self.record.status
    }

    /// Whether the upgrade is unfinished: running (or killed while it ran), being rolled back,
    /// or rolled back in part. A new upgrade waits for it; `status`, `report` and `rollback` say
    /// the same of it.
    pub fn unfinished(&self) -> bool {
        matches!(self.status(), Status::Running | Status::RollingBack | Status::RollbackFailed)
    }

    /// The one command that finishes an unfinished upgrade, whatever state it is in: a rollback
    /// takes back what was done, or finishes the upgrade once the apps ran on the new service
    /// (verbs/recovery.rs).
    pub fn next_command(&self) -> String {
        format!("dokku postgres-upgrade:rollback {}", self.target())
    }

    /// The app or service the journal is of: its folder's name.
    pub fn target(&self) -> String {
        let folder = self.path.parent().and_then(Path::file_name);
        folder.map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
    }

    pub fn step(&mut self, index: usize, state: &str) -> Result<()> {
        let now = crate::host::clock::now_rfc3339();
        if let Some(step) = self.record.steps.get_mut(index) {
            step.state = state.to_string();
            if state == "running" {
                step.started = Some(now);
            } else {
                step.finished = Some(now);
            }
        }
        self.save()
    }

    pub fn set_undo(&mut self, undo: &[Action]) -> Result<()> {
        self.record.undo = undo.iter().map(|a| serde_json::to_value(a).expect("an undo entry is JSON")).collect();
        self.save()
    }

    /// The undo stack, oldest first. An entry that cannot be read stops here: a rollback that
    /// skipped it would leave its change in place without a word.
    pub fn undo(&self) -> Result<Vec<Action>> {
        self.record
            .undo
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                serde_json::from_value(entry.clone()).with_context(|| {
                    format!(
                        "Entry {} of the undo list in {} cannot be read ({entry}): undo it by hand (README, \"When something goes wrong\"), then remove the entry",
                        i + 1,
                        self.path.display()
                    )
                })
            })
            .collect()
    }

    pub fn finish(&mut self, status: Status, error: Option<String>) -> Result<()> {
        self.record.status = status;
        self.record.error = error;
        self.save()
    }

    /// Changes the record and writes it out.
    pub fn update(&mut self, change: impl FnOnce(&mut Record)) -> Result<()> {
        change(&mut self.record);
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
        let mut record = self.record.clone();
        record.updated = crate::host::clock::now_rfc3339();
        record.next = self.unfinished().then(|| self.next_command());
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("Unable to write {}", tmp.display()))?;
        // A write that fails (a full disk) leaves the journal as it was before this change.
        let written = file.write_all(serde_json::to_string_pretty(&record)?.as_bytes()).and_then(|()| file.sync_all());
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

    fn temp(name: &str) -> PathBuf {
        Journal::path_for(&std::env::temp_dir().join(format!("pgu-journal-{name}-{}", std::process::id())), "memo")
    }

    #[test]
    fn an_undo_entry_that_cannot_be_read_stops_the_rollback() {
        let path = temp("bad-entry");
        let mut journal = Journal::start(&path, PlanRecord::default(), &[], RunOptions::default()).unwrap();
        journal
            .update(|r| {
                r.undo = vec![
                    serde_json::json!({"action": "unlock", "app": "memo"}),
                    serde_json::json!({"action": "teleport"}),
                ]
            })
            .unwrap();
        let err = format!("{:#}", Journal::load(&path).unwrap().unwrap().undo().unwrap_err());
        assert!(err.contains("Entry 2 of the undo list") && err.contains("teleport"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_journal_that_is_not_one_is_refused_with_its_name() {
        let path = temp("corrupt");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"status": "running", "pid": 1}"#).unwrap();
        let err = format!("{:#}", Journal::load(&path).err().unwrap());
        assert!(err.contains("Unable to read the journal") && err.contains("missing field"), "{err}");
        std::fs::write(&path, r#"{"status": "exploded"#).unwrap();
        assert!(Journal::load(&path).is_err());
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn round_trips_steps_and_undo() {
        let path = temp("round-trip");
        // What the verifier accepts may differ, as preflight found it: a resume verifies alike.
        let recomputed = crate::facts::verifier::Accepted {
            views: [("public".to_string(), "totals".to_string())].into(),
            columns: [("public".to_string(), "t".to_string(), "total".to_string())].into(),
        };
        let plan =
            PlanRecord { old_service: "db".into(), new_service: "db2".into(), recomputed, ..PlanRecord::default() };
        // The flags a resume must keep, those that accept a difference among them.
        let options =
            RunOptions { keep_old: true, accept_recomputed: true, keep_md5_auth: true, ..RunOptions::default() };
        let mut j =
            Journal::start(&path, plan.clone(), &[("a", "A".into()), ("b", "B".into())], options.clone()).unwrap();
        j.step(0, "running").unwrap();
        j.step(0, "done").unwrap();
        let undo = vec![Action::DestroyService { service: "db2".into() }, Action::Unlock { app: "memo".into() }];
        j.set_undo(&undo).unwrap();
        j.update(|r| r.dump = Some("/x/dump".into())).unwrap();
        let back = Journal::load(&path).unwrap().unwrap();
        assert_eq!(back.status(), Status::Running);
        assert_eq!((&back.record.plan, &back.record.options), (&plan, &options));
        assert_eq!(back.record.steps[0].state, "done");
        assert_eq!(back.record.dump.as_deref(), Some("/x/dump"));
        assert_eq!(back.undo().unwrap(), undo);
        assert_eq!(back.record.undo[0], serde_json::json!({"action": "destroy-service", "service": "db2"}));
        // Resumed by id: the next step is the first not done, and an id this version does not
        // know is refused.
        assert_eq!(back.next_step(&["a", "b"]).unwrap(), Some("b"));
        let err = format!("{:#}", back.next_step(&["a", "c"]).unwrap_err());
        assert!(err.contains("names a step this version does not have (b)"), "{err}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn an_unfinished_journal_names_the_command_that_finishes_it() {
        let path = temp("next");
        let mut journal = Journal::start(&path, PlanRecord::default(), &[], RunOptions::default()).unwrap();
        let on_disk = |p: &Path| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(on_disk(&path)["next"], "dokku postgres-upgrade:rollback memo");
        for (status, unfinished) in [
            (Status::RollbackFailed, true),
            (Status::RollingBack, true),
            (Status::RolledBack, false),
            (Status::Upgraded, false),
            (Status::UpgradedWithManualSteps, false),
        ] {
            journal.finish(status, None).unwrap();
            assert_eq!(journal.unfinished(), unfinished, "{status:?}");
            assert_eq!(on_disk(&path).get("next").is_some(), unfinished, "{status:?}");
        }
        std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn statuses_are_the_reports_and_old_journals_still_read() {
        assert_eq!(serde_json::to_value(Status::UpgradedWithManualSteps).unwrap(), "upgraded-with-manual-steps");
        assert_eq!(serde_json::from_value::<Status>(serde_json::json!("done")).unwrap(), Status::Upgraded);
        assert_eq!(Status::RollingBack.as_str(), "rolling-back");
    }
}
