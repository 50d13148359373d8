//! The upgrade itself: one ordered sequence of steps with an explicit undo stack. Each step that
//! changes something pushes the commands that take it back; a failure before the apps run on
//! the new service undoes everything in reverse order and returns the original error.
//! After the window nothing is rolled back: what fails there is said, with the commands to run.

mod after;
mod before;
#[cfg(test)]
mod sequence_tests;
mod summary;
mod window;

use crate::copy::hold::Hold;
use crate::copy::{Copier, Endpoint, Job, Method};
use crate::facts::{verifier, verify};
use crate::host::Host;
use crate::host::changes::Change;
use crate::host::runner::Cmd;
use crate::host::switch::{self, Mode};
use crate::output::Out;
use crate::plan::Plan;
use crate::plan::naming;
use crate::state::journal::{Journal, RunOptions, Status};
use crate::state::undo::Action;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub keep_old: bool,
    pub skip_backup: bool,
    pub config_options: Option<String>,
    pub custom_env: Option<String>,
    /// Copy everything inside the window (no catch-up copy before it).
    pub full_copy: bool,
    /// What the copy computes again of stale materialized views and stored generated columns is
    /// accepted (plan/carry.rs).
    pub accept_recomputed: bool,
    /// The new service's host rule is md5 (POSTGRES_HOST_AUTH_METHOD in its custom env).
    pub keep_md5_auth: bool,
    /// After the switch the old service follows the new one until `postgres-upgrade:finish`
    /// (docs/reversible.md).
    pub reversible: bool,
}

impl Options {
    /// What a resume of this run must keep (the journal's `options`).
    pub fn record(&self) -> RunOptions {
        RunOptions {
            keep_old: self.keep_old,
            skip_backup: self.skip_backup,
            full_copy: self.full_copy,
            accept_recomputed: self.accept_recomputed,
            keep_md5_auth: self.keep_md5_auth,
            reversible: self.reversible,
            ..RunOptions::default()
        }
    }
}

/// The window's hold: the old database from before its last fingerprint until the apps run on
/// the new one.
#[derive(Default)]
struct Holds {
    old: Option<Hold>,
    /// The verifier's own sessions on the old and the new database, opened before the window
    /// for its comparison inside it.
    verifier: Option<(verifier::Side, verifier::Side)>,
}

struct StepRecord {
    name: String,
    status: &'static str,
    duration_ms: u128,
}

pub struct Upgrade<'a> {
    host: &'a Host<'a>,
    out: &'a Out,
    plan: &'a Plan,
    opts: &'a Options,
    copier: &'a dyn Copier,
    undo: Vec<Action>,
    steps: Vec<StepRecord>,
    window_started: Option<Instant>,
    window_ms: Option<u128>,
    /// What verification compared, once it passed.
    verified: Option<verifier::Figures>,
    /// The old and the new database held still inside the window (copy/hold.rs).
    holds: Holds,
    /// The dump of the run this one resumes, from its journal.
    earlier_dump: Option<PathBuf>,
    /// Across majors, the old schema as the new server prints it (facts/verify.rs), made before the
    /// window.
    replay: Option<verify::SchemaReplay>,
    dump: Option<PathBuf>,
    /// What the copy kept: the dump, and the catch-up script when there is one.
    kept: Vec<PathBuf>,
    warnings: Vec<String>,
    manual: Vec<String>,
    starts: usize,
    /// The phase of the step that runs (or ran last).
    phase: Phase,
    journal: Option<Journal>,
    /// Resumed: steps before this index were done by an earlier, interrupted run.
    resume_from: Option<usize>,
    /// Set while re-running the step the earlier run was in when it died: steps tolerate
    /// their own half-done work then.
    resuming: bool,
    /// An app has started on the new service: from here on its writes live only there, so
    /// nothing goes back to the old service any more; what fails is finished by hand.
    committed: bool,
    /// Test-only fault injection (POSTGRES_UPGRADE_KILL_AT, POSTGRES_UPGRADE_HOOK_AT): inert
    /// unless set.
    kill_at: Option<String>,
    hook_at: Option<String>,
    /// How long the old service's restart with `--online` kept the apps from it.
    old_restart_ms: Option<u64>,
    /// The online copy's replication objects (copy/online/stream.rs), once recorded.
    stream: Option<crate::copy::online::stream::StreamRecord>,
    /// What the switch reads of each app, read before the window (host/switch.rs).
    known: std::collections::BTreeMap<String, switch::Known>,
}

/// Where a step stands, and so what a failure or a signal in it does. Before the window
/// nothing the apps use changes; inside it the apps are stopped and all can still be undone;
/// from the switch on a signal no longer cuts a command (the window is finished first, the apps
/// end on the new service); after the window failures are reported and finished by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Before,
    Window,
    Switch,
    After,
}

/// One row of [`STEPS`]: its id (what the journal records), its phase, its title for this plan
/// and what it does.
pub struct Step {
    pub id: &'static str,
    pub phase: Phase,
    title: fn(&Plan, &Options, &str) -> String,
    run: fn(&mut Upgrade<'_>) -> Result<()>,
}

/// The upgrade, step by step: the one list of its steps, in order. The dry run's plan, the
/// numbered progress lines and the journal (by id) are made from it; the test hooks count its
/// rows (`POSTGRES_UPGRADE_HOOK_AT=N`: just before step N, `N+`: just after).
pub const STEPS: &[Step] = &[
    // BEFORE THE WINDOW: nothing the apps use changes yet.
    Step {
        id: "create-service",
        phase: Phase::Before,
        title: |p, _, _| format!("Creating service {} from {}", p.new, p.reference()),
        run: |u| u.create_service(),
    },
    Step {
        id: "check-service",
        phase: Phase::Before,
        title: |p, _, _| format!("Checking service {}", p.new),
        run: |u| u.check_new_service(),
    },
    // Deploys locked (no migration while the data moves), then the first copy.
    Step {
        id: "lock-deploys",
        phase: Phase::Before,
        title: |_, _, apps| format!("Locking deploys of {apps}"),
        run: |u| u.lock_deploys(),
    },
    // The one pause before the window that `--online` permits: the old server restarted to
    // write logical WAL (docs/online.md).
    Step {
        id: "restart-old",
        phase: Phase::Before,
        title: |p, _, _| {
            if p.copy.restart_old {
                format!("Restarting {} with wal_level = logical (--online)", p.old)
            } else {
                format!("No restart of {}", p.old)
            }
        },
        run: |u| u.restart_old(),
    },
    Step {
        id: "first-copy",
        phase: Phase::Before,
        title: |p, _, _| {
            if p.copy.method == Method::Online {
                format!("Copying {} into {} at the snapshot where its replication begins", p.old, p.new)
            } else if p.copy.method == Method::CatchUp {
                format!("Copying {} into {} while the apps run", p.old, p.new)
            } else if across_majors(p) {
                format!(
                    "Replaying the schema of {} on {} for the verification (the copy is made inside the window)",
                    p.old, p.new
                )
            } else {
                "Nothing to copy before the window (the copy is made inside it)".to_string()
            }
        },
        run: |u| u.copy_before_window(),
    },
    Step {
        id: "follow",
        phase: Phase::Before,
        title: |p, _, _| {
            if p.copy.method == Method::Online {
                format!("Following {} until {} has caught up", p.old, p.new)
            } else {
                format!("Nothing to follow ({} is not replicated)", p.old)
            }
        },
        run: |u| u.follow(),
    },
    // THE WINDOW: apps stopped so that nothing writes during the copy (maintenance mode alone
    // does not stop workers: docs/dokku-postgres-service.md#dokku-maintenance-010).
    Step {
        id: "maintenance-on",
        phase: Phase::Window,
        title: |p, _, apps| {
            if p.use_maintenance {
                format!("Enabling maintenance for {apps}")
            } else {
                "Maintenance mode not used".into()
            }
        },
        run: |u| u.maintenance_on(),
    },
    Step {
        id: "stop-apps",
        phase: Phase::Window,
        title: |_, _, apps| format!("Stopping {apps}"),
        run: |u| u.stop_apps(),
    },
    Step {
        id: "copy",
        phase: Phase::Window,
        title: |p, _, _| match p.copy.method {
            Method::Online => format!("Proving what changed in {} since the first copy, applied in {}", p.old, p.new),
            Method::CatchUp => format!("Copying what changed in {} since the first copy into {}", p.old, p.new),
            Method::Whole => format!("Copying {} into {}", p.old, p.new),
        },
        run: |u| u.copy(),
    },
    Step { id: "verify", phase: Phase::Window, title: |_, _, _| "Verifying the copy".into(), run: |u| u.verify() },
    // FROM THE SWITCH ON: the window is finished whatever comes.
    Step {
        id: "switch",
        phase: Phase::Switch,
        title: |p, _, apps| {
            if p.exposed.is_empty() {
                format!("Switching {apps} to {}", p.new)
            } else {
                format!("Switching {apps} to {}, and its exposed port(s) {}", p.new, p.exposed.join(" "))
            }
        },
        run: |u| u.switch(),
    },
    Step {
        id: "start-apps",
        phase: Phase::Switch,
        title: |_, _, apps| format!("Starting {apps}"),
        run: |u| u.start_apps(),
    },
    Step {
        id: "end-window",
        phase: Phase::Switch,
        title: |_, _, _| "Ending the maintenance window".into(),
        run: |u| u.end_window(),
    },
    // AFTER THE WINDOW: the apps run on the new service; failures here are reported, not undone.
    // The old service is frozen (no app uses it): its backup holds the final state, and no
    // longer keeps the apps waiting.
    Step {
        id: "final-backup",
        phase: Phase::After,
        title: |p, o, _| {
            if o.skip_backup || final_backup_bucket(p).is_none() {
                format!("No final backup of {}", p.old)
            } else {
                format!("Backing up {} to S3", p.old)
            }
        },
        run: |u| u.final_backup(),
    },
    Step {
        id: "carry-backups",
        phase: Phase::After,
        title: |p, _, _| {
            if p.backup.configured() {
                format!("Carrying backups over to {}", p.new)
            } else {
                "No backups to carry over".to_string()
            }
        },
        run: |u| u.carry_backups_over(),
    },
    Step {
        id: "retire-old",
        phase: Phase::After,
        title: |p, o, _| {
            let stream = if p.copy.method == Method::Online { "Removing the replication, " } else { "" };
            match o.keep_old || o.reversible {
                true => {
                    format!("{stream}{}{} (unlinked)", if stream.is_empty() { "Keeping " } else { "keeping " }, p.old)
                }
                false => format!("{stream}{}{}", if stream.is_empty() { "Destroying " } else { "destroying " }, p.old),
            }
        },
        run: |u| u.retire_old(),
    },
];

/// Each step's id and title for this plan, in order: what a journal starts with.
pub fn step_list(plan: &Plan, opts: &Options) -> Vec<(&'static str, String)> {
    STEPS.iter().map(|s| s.id).zip(step_titles(plan, opts)).collect()
}

/// The steps' titles for this plan, in order.
pub fn step_titles(plan: &Plan, opts: &Options) -> Vec<String> {
    let apps = if plan.apps.is_empty() {
        "no app (none is linked)".to_string()
    } else {
        plan.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
    };
    STEPS.iter().map(|step| (step.title)(plan, opts, &apps)).collect()
}

/// Whether the old and the new server are of different majors (or one is not known): the
/// schema is then compared with its replay on the new server (facts/verify.rs, SchemaReplay).
fn across_majors(plan: &Plan) -> bool {
    plan.old_major.is_none() || plan.old_major != plan.new_major
}

/// The copier of the copy the plan chose (plan/method.rs).
pub fn choose(plan: &Plan) -> Box<dyn crate::copy::Copier> {
    let full = crate::copy::ParallelDirectory::new(plan.reference());
    match plan.copy.method {
        Method::Online => Box::new(crate::copy::online::Online::new(full)),
        Method::CatchUp => Box::new(crate::copy::catch_up::CatchUp::new(full)),
        Method::Whole => Box::new(full),
    }
}

/// The bucket the final backup goes to: the one the schedule uses (dokku-postgres stores no
/// other), and only when credentials or IAM are set up.
pub fn final_backup_bucket(plan: &Plan) -> Option<&crate::host::Schedule> {
    let schedule = plan.backup.schedule.as_ref()?;
    (plan.backup.auth.is_some() || schedule.use_iam).then_some(schedule)
}

impl<'a> Upgrade<'a> {
    pub fn new(
        host: &'a Host<'a>,
        out: &'a Out,
        plan: &'a Plan,
        opts: &'a Options,
        copier: &'a dyn Copier,
    ) -> Upgrade<'a> {
        Upgrade {
            host,
            out,
            plan,
            opts,
            copier,
            undo: Vec::new(),
            steps: Vec::new(),
            window_started: None,
            window_ms: None,
            verified: None,
            dump: None,
            kept: Vec::new(),
            warnings: Vec::new(),
            holds: Holds::default(),
            earlier_dump: None,
            replay: None,
            manual: Vec::new(),
            starts: 0,
            phase: Phase::Before,
            journal: None,
            resume_from: None,
            resuming: false,
            committed: false,
            kill_at: host.env.kill_at.clone(),
            hook_at: host.env.hook_at.clone(),
            old_restart_ms: None,
            stream: None,
            known: std::collections::BTreeMap::new(),
        }
    }

    /// Continues a journaled run: its done steps are skipped, its undo stack taken over.
    pub fn resume(mut self, journal: Journal) -> Result<Upgrade<'a>> {
        self.undo = journal.undo()?;
        let ids: Vec<&str> = STEPS.iter().map(|s| s.id).collect();
        self.resume_from = Some(match journal.next_step(&ids)? {
            Some(id) => STEPS.iter().position(|s| s.id == id).unwrap_or(STEPS.len()),
            None => STEPS.len(),
        });
        self.committed = journal.record.committed;
        self.earlier_dump = journal.record.dump.as_ref().map(PathBuf::from);
        self.stream = journal.record.stream.clone();
        self.old_restart_ms = journal.record.old_restart_ms;
        self.journal = Some(journal);
        Ok(self)
    }

    /// Records every step and the undo stack in `journal` as the run goes.
    pub fn with_journal(mut self, journal: Journal) -> Upgrade<'a> {
        self.journal = Some(journal);
        self
    }

    /// Runs every step; on failure rolls back what can be, then returns the report and the error.
    pub fn run(mut self) -> (Value, Result<()>) {
        let name = self.plan.app.as_deref().unwrap_or(&self.plan.old);
        crate::host::client::remove_password_files(&crate::state::dumps::dumps_dir(&self.host.env.data_dir(), name));
        let titles = step_titles(self.plan, self.opts);
        self.out.plan_steps(titles.len());
        crate::host::signals::stop_commands(true);
        let mut result = self.sequence(&titles);
        crate::host::signals::stop_commands(false);
        if let Err(err) = result {
            result = Err(self.with_next_step(err));
        }
        if !self.committed
            && let Err(err) = std::mem::replace(&mut result, Ok(()))
        {
            // The cause first, once, then what the rollback does about it.
            self.out.failure(&format!("{err:#}"));
            self.rollback();
            let target = self.plan.app.as_deref().unwrap_or(&self.plan.old);
            result = Err(if self.undo.is_empty() {
                err
            } else {
                let next = format!(
                    "{} rollback step(s) are not done: fix what is said above, then run `dokku postgres-upgrade:rollback {target}`",
                    self.undo.len()
                );
                self.out.warn(&next);
                err.context(next)
            });
        }
        if let Some(signal) = crate::host::signals::received() {
            // What the signal did: a rollback before the switch, a kept old service after it.
            let what = if self.committed {
                format!("the apps run on {}; {} was kept", self.plan.new, self.plan.old)
            } else {
                format!("rolled back: the apps run on {}", self.plan.old)
            };
            let err = anyhow::Error::new(crate::host::signals::Interrupted(signal)).context(what.clone());
            // Said even when the command it stopped was already reported as the failure.
            self.out.conclusion(&format!("{}; {what}", crate::host::signals::Interrupted(signal)));
            result = Err(err);
        } else if result.is_ok() && !self.manual.is_empty() {
            result = Err(anyhow::anyhow!(
                "The apps run on {} but {} step(s) after the window must be done by hand (see above)",
                self.plan.new,
                self.manual.len()
            ));
        }
        let status = self.outcome(&result);
        if let Some(journal) = &mut self.journal {
            // What postgres-upgrade:report shows of this run.
            journal.record.window_ms = self.window_ms.map(|v| v as u64);
            journal.record.verified = self.verified.as_ref().map(|f| {
                format!(
                    "{} tables, {} rows (content compared), {} catalog facts, the schema",
                    f.relations, f.rows, f.facts
                )
            });
            if let Err(err) = journal.finish(status, result.as_ref().err().map(|e| format!("{e:#}"))) {
                self.out.warn(&format!("{err:#}"));
            }
        }
        (self.report(&result), result)
    }

    fn sequence(&mut self, titles: &[String]) -> Result<()> {
        for (step, title) in STEPS.iter().zip(titles) {
            self.step(step, title.clone())?;
        }
        self.prune_dumps();
        self.summary(self.plan);
        Ok(())
    }

    /// Runs one step: the journal before and after it, the test hooks, and a signal that came
    /// since the last step, which ends the run here while the switch has not begun.
    fn step(&mut self, step: &Step, name: String) -> Result<()> {
        let index = self.steps.len();
        if self.resume_from.is_some_and(|first| index < first) {
            self.phase = step.phase;
            self.out.plan_steps_skip();
            self.steps.push(StepRecord { name, status: "done-before", duration_ms: 0 });
            return Ok(());
        }
        self.resuming = self.resume_from == Some(index);
        self.fault_point(index + 1, step.id, "");
        // A signal stops the run at the next boundary while going back is still possible; once
        // the switch has begun, the window is finished first (the apps end on the new service).
        if self.phase < Phase::Switch
            && let Some(signal) = crate::host::signals::received()
        {
            return Err(crate::host::signals::Interrupted(signal).into());
        }
        self.phase = step.phase;
        if step.phase >= Phase::Switch {
            // From here a signal no longer cuts a command: a `postgres:link` cut in half would
            // leave an app between services.
            crate::host::signals::stop_commands(false);
        }
        self.out.step(&name);
        self.journal_step(index, "running")?;
        let started = Instant::now();
        // One progress owner per step: a line within seconds of its start and then regularly,
        // whichever of its parts runs (output/progress.rs).
        let progress = crate::output::progress::step(name.clone(), self.out.quiet());
        let result = (step.run)(self);
        drop(progress);
        let status = if result.is_ok() { "done" } else { "failed" };
        self.journal_step(index, status)?;
        if result.is_ok() {
            self.fault_point(index + 1, step.id, "+");
        }
        self.steps.push(StepRecord { name: name.clone(), status, duration_ms: started.elapsed().as_millis() });
        result.with_context(|| format!("Step '{name}' failed"))
    }

    fn check(&self, cmd: &Cmd) -> Result<()> {
        self.host.check(cmd).map(|_| ())
    }

    /// Records how to take back what is about to change, on disk before the change. A resumed
    /// step may push what the earlier run already pushed: once is enough.
    fn push_undo(&mut self, action: Action) -> Result<()> {
        if !self.undo.contains(&action) {
            self.undo.push(action);
        }
        self.save_undo()
    }

    /// Dies here, as a crash or `kill -9` would, when the test-only hook names this point:
    /// `N` (or the step's id) is just before step N, `N+` (`id+`) just after it (journal
    /// written). Runs the test-only hook program named for this point (`N:PROGRAM`,
    /// `id:PROGRAM`) and waits for it.
    /// The hook is a writer that got in at that point, as if the window's hold (copy/hold.rs) had
    /// not been there: the hold is let go first, else its write would wait for the upgrade
    /// that waits for it.
    fn fault_point(&mut self, number: usize, id: &str, after: &str) {
        let here = |point: &str| point == format!("{number}{after}") || point == format!("{id}{after}");
        if self.kill_at.as_deref().is_some_and(here) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
        if let Some((at, program)) = self.hook_at.clone().as_deref().and_then(|h| h.split_once(':'))
            && here(at)
        {
            self.holds = Holds::default();
            let _ = std::process::Command::new(program).status();
        }
    }

    fn journal_step(&mut self, index: usize, state: &str) -> Result<()> {
        match &mut self.journal {
            Some(journal) => journal.step(index, state),
            None => Ok(()),
        }
    }

    fn save_undo(&mut self) -> Result<()> {
        match &mut self.journal {
            Some(journal) => journal.set_undo(&self.undo),
            None => Ok(()),
        }
    }

    /// The point of no return: the undo stack is dropped and the journal says so.
    fn commit(&mut self) -> Result<()> {
        if self.committed {
            return Ok(());
        }
        self.committed = true;
        self.undo.clear();
        self.save_undo()?;
        match &mut self.journal {
            Some(journal) => journal.update(|r| r.committed = true),
            None => Ok(()),
        }
    }

    /// A failure after the commit point: a warning and a command to run by hand.
    fn by_hand(&mut self, err: anyhow::Error, command: String) {
        self.out.warn(&format!("{err:#}"));
        self.warnings.push(format!("{err:#}"));
        self.manual.push(command);
    }

    /// A failure with what to do next, when the cause says what it is: a full disk names its
    /// filesystem.
    fn with_next_step(&self, err: anyhow::Error) -> anyhow::Error {
        let target = self.plan.app.as_deref().unwrap_or(&self.plan.old);
        let full = err
            .chain()
            .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error() == Some(nix::libc::ENOSPC)))
            || format!("{err:#}").contains("No space left on device");
        let mut hints = Vec::new();
        if full {
            // The dumps and the journal are in the app's own folder, which may be a filesystem of
            // its own; the new service's server writes under dokku-postgres's services folder.
            let folder = crate::state::layout::folder(&self.host.env.data_dir(), target);
            hints.push(format!("the filesystem of {} is full: free some space there", folder.display()));
            let services = self.host.env.services_root();
            if device(&folder) != device(&services) {
                hints.push(format!("or on that of {}, if the new service's server said so", services.display()));
            }
        }
        if self.committed && full {
            hints.push(format!("then run `dokku postgres:upgrade {target} --resume`"));
        }
        if hints.is_empty() { err } else { err.context(hints.join("; ")) }
    }

    /// This upgrade's dumps folder (and its tools' password files), made when missing; only root
    /// and the dokku user can read it.
    fn dumps_dir(&self) -> Result<PathBuf> {
        let plan = self.plan;
        let dir = crate::state::dumps::dumps_dir(&self.host.env.data_dir(), plan.app.as_deref().unwrap_or(&plan.old));
        std::fs::create_dir_all(&dir).with_context(|| format!("Unable to create {}", dir.display()))?;
        restrict(&dir, 0o700);
        Ok(dir)
    }

    /// Keeps the dumps of the newest upgrades of this app only (state/dumps.rs).
    fn prune_dumps(&mut self) {
        let Ok(dir) = self.dumps_dir() else { return };
        let removed = crate::state::dumps::prune(&dir, crate::state::dumps::keep());
        if !removed.is_empty() {
            self.out.verbose(&format!(
                "Removed {} file(s) of older upgrades' dumps from {}",
                removed.len(),
                dir.display()
            ));
        }
    }

    /// Undoes every recorded step, newest first; a failing undo is a warning, never the error.
    fn rollback(&mut self) {
        self.out.info1("Rolling back");
        let _progress = crate::output::progress::step("Rolling back".into(), self.out.quiet());
        // The old service takes writes again before its apps start on it.
        self.holds = Holds::default();
        let mut journal = self.journal.take();
        if let Some(j) = &mut journal
            && let Err(err) = j.update(|r| r.status = Status::RollingBack)
        {
            self.out.warn(&format!("{err:#}"));
        }
        crate::state::undo::revive(self.host, self.out, &self.plan.old);
        let stack = std::mem::take(&mut self.undo);
        self.undo = crate::state::undo::roll_back(self.host, self.out, stack, |left| match &mut journal {
            Some(j) => j.set_undo(left),
            None => Ok(()),
        });
        self.journal = journal;
        // The old service is as it was: this attempt's dumps (and those of the run it resumed)
        // are of no use any more.
        if self.undo.is_empty() {
            let freed: u64 =
                self.dump.iter().chain(&self.earlier_dump).map(|d| crate::state::dumps::remove_attempt(d)).sum();
            self.out.verbose(&format!("Removed this attempt's dumps ({} MB)", freed / 1_000_000));
            self.kept.clear();
        }
    }

    /// How the run ended: the one name the journal and the report both give it.
    fn outcome(&self, result: &Result<()>) -> Status {
        match (result.is_ok(), self.committed) {
            (true, _) => Status::Upgraded,
            (false, true) => Status::UpgradedWithManualSteps,
            (false, false) if self.undo.is_empty() => Status::RolledBack,
            (false, false) => Status::RollbackFailed,
        }
    }
}

/// The filesystem `path` is on (None when it cannot be read).
fn device(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.dev())
}

fn restrict(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
