//! The upgrade itself: one ordered sequence of steps with an explicit undo stack. Each step that
//! changes something pushes the commands that take it back; a failure before the apps run on
//! the new service undoes everything in reverse order and returns the original error.
//! After the window nothing is rolled back: what fails there is said, with the commands to run.

use crate::copy::{Copier, Endpoint, Job};
use crate::host::Host;
use crate::journal::Journal;
use crate::naming;
use crate::output::Out;
use crate::plan::Plan;
use crate::runner::Cmd;
use crate::switch::{self, Mode};
use crate::undo::Action;
use crate::verify::{self, Snapshot};
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
}

impl Options {
    /// Whether the bulk of the data is copied before the window (the catch-up copy): from
    /// PostgreSQL 12 on, unless `--full-copy`.
    pub fn catch_up(&self, plan: &Plan) -> bool {
        !self.full_copy && verify::content_comparable(plan.old_major)
    }
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
    original: Option<Snapshot>,
    dump: Option<PathBuf>,
    /// What the copy kept: the dump, and the catch-up script when there is one.
    kept: Vec<PathBuf>,
    warnings: Vec<String>,
    manual: Vec<String>,
    starts: usize,
    switching: bool,
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
}

/// The numbered steps, in order: the same list titles the dry-run plan and the progress lines.
pub fn step_titles(plan: &Plan, opts: &Options) -> Vec<String> {
    let apps = plan.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ");
    vec![
        format!("Creating service {} from {}", plan.new, plan.reference()),
        format!("Checking service {}", plan.new),
        format!("Locking deploys of {apps}"),
        if opts.catch_up(plan) {
            format!("Copying {} into {} while the apps run", plan.old, plan.new)
        } else {
            "Nothing to copy before the window (the copy is made inside it)".to_string()
        },
        if plan.use_maintenance {
            format!("Enabling maintenance for {apps}")
        } else {
            "Maintenance mode not used".to_string()
        },
        format!("Stopping {apps}"),
        if opts.skip_backup || final_backup_bucket(plan).is_none() {
            format!("No final backup of {}", plan.old)
        } else {
            format!("Backing up {} to S3", plan.old)
        },
        if opts.catch_up(plan) {
            format!("Copying what changed in {} since", plan.old)
        } else {
            format!("Copying {} into {}", plan.old, plan.new)
        },
        "Verifying the copy".to_string(),
        format!("Switching {apps} to {}", plan.new),
        format!("Starting {apps}"),
        "Ending the maintenance window".to_string(),
        if plan.backup.configured() {
            format!("Carrying backups over to {}", plan.new)
        } else {
            "No backups to carry over".to_string()
        },
        if opts.keep_old { format!("Keeping {} (unlinked)", plan.old) } else { format!("Destroying {}", plan.old) },
    ]
}

/// The bucket the final backup goes to: the one the schedule uses (dokku-postgres stores no
/// other), and only when credentials or IAM are set up.
fn final_backup_bucket(plan: &Plan) -> Option<&crate::host::Schedule> {
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
            original: None,
            dump: None,
            kept: Vec::new(),
            warnings: Vec::new(),
            manual: Vec::new(),
            starts: 0,
            switching: false,
            journal: None,
            resume_from: None,
            resuming: false,
            committed: false,
            kill_at: host.env.kill_at.clone(),
            hook_at: host.env.hook_at.clone(),
        }
    }

    /// Continues a journaled run: its done steps are skipped, its undo stack taken over.
    pub fn resume(mut self, journal: Journal) -> Upgrade<'a> {
        self.undo = journal.undo();
        let steps = journal.doc["steps"].as_array().cloned().unwrap_or_default();
        self.resume_from = Some(steps.iter().take_while(|s| s["state"] == "done").count());
        self.committed = journal.doc["committed"].as_bool().unwrap_or(false);
        self.journal = Some(journal);
        self
    }

    /// Records every step and the undo stack in `journal` as the run goes.
    pub fn with_journal(mut self, journal: Journal) -> Upgrade<'a> {
        self.journal = Some(journal);
        self
    }

    /// Runs every step; on failure rolls back what can be, then returns the report and the error.
    pub fn run(mut self) -> (Value, Result<()>) {
        let titles = step_titles(self.plan, self.opts);
        self.out.plan_steps(titles.len());
        let mut result = self.sequence(&titles);
        if let Err(err) = &result
            && !self.committed
        {
            self.out.warn(&format!("{err:#}"));
            self.rollback();
        }
        if result.is_ok()
            && let Some(signal) = crate::signals::received()
        {
            result = Err(crate::signals::Interrupted(signal).into());
        } else if result.is_ok() && !self.manual.is_empty() {
            result = Err(anyhow::anyhow!(
                "The apps run on {} but {} step(s) after the window must be done by hand (see above)",
                self.plan.new,
                self.manual.len()
            ));
        }
        if let Some(journal) = &mut self.journal {
            let status = match (&result, self.committed) {
                (Ok(()), _) => "done",
                (Err(_), true) => "done-with-manual-steps",
                (Err(_), false) if self.undo.is_empty() => "rolled-back",
                (Err(_), false) => "rollback-failed",
            };
            if let Err(err) = journal.finish(status, result.as_ref().err().map(|e| format!("{e:#}"))) {
                self.out.warn(&format!("{err:#}"));
            }
        }
        (self.report(&result), result)
    }

    fn sequence(&mut self, titles: &[String]) -> Result<()> {
        let plan = self.plan;
        let mut title = titles.iter().cloned();
        let mut next = move || title.next().unwrap_or_default();

        // BEFORE THE WINDOW: nothing the apps use changes yet.
        self.step(next(), |u| u.create_service())?;
        self.step(next(), |u| u.check_new_service())?;

        // Deploys locked (no migration while the data moves), then the first copy.
        self.step(next(), |u| u.lock_deploys())?;
        self.step(next(), |u| u.copy_before_window())?;

        // THE WINDOW: apps stopped so that nothing writes during the copy (maintenance mode
        // alone does not stop workers: dokku-postgres-behaviour.md §5).
        self.step(next(), |u| u.maintenance_on())?;
        self.step(next(), |u| u.stop_apps())?;
        self.step(next(), |u| u.final_backup())?;
        self.step(next(), |u| u.copy())?;
        self.step(next(), |u| u.verify())?;
        self.step(next(), |u| u.switch())?;
        self.step(next(), |u| u.start_apps())?;
        self.step(next(), |u| u.end_window())?;

        // AFTER THE WINDOW: the apps run on the new service; failures here are reported, not undone.
        self.step(next(), |u| u.carry_backups_over())?;
        self.step(next(), |u| u.retire_old())?;
        self.summary(plan);
        Ok(())
    }

    fn step(&mut self, name: String, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let index = self.steps.len();
        if self.resume_from.is_some_and(|first| index < first) {
            self.out.plan_steps_skip();
            self.steps.push(StepRecord { name, status: "done-before", duration_ms: 0 });
            return Ok(());
        }
        self.resuming = self.resume_from == Some(index);
        self.fault_point(&format!("{}", index + 1));
        // A signal stops the run at the next boundary while going back is still possible; once
        // the switch has begun, the window is finished first (the apps end on the new service).
        if !self.switching
            && let Some(signal) = crate::signals::received()
        {
            return Err(crate::signals::Interrupted(signal).into());
        }
        self.out.step(&name);
        self.journal_step(index, "running")?;
        let started = Instant::now();
        let result = f(self);
        let status = if result.is_ok() { "done" } else { "failed" };
        self.journal_step(index, status)?;
        if result.is_ok() {
            self.fault_point(&format!("{}+", index + 1));
        }
        self.steps.push(StepRecord { name: name.clone(), status, duration_ms: started.elapsed().as_millis() });
        result.with_context(|| format!("Step '{name}' failed"))
    }

    fn check(&self, cmd: &Cmd) -> Result<()> {
        self.host.runner.check(cmd).map(|_| ())
    }

    fn dokku(&self, args: &[&str]) -> Cmd {
        self.host.dokku(args)
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
    /// `N` is just before step N, `N+` just after it (journal written). Runs the test-only
    /// hook program named for this point (`N:PROGRAM`) and waits for it.
    fn fault_point(&self, point: &str) {
        if self.kill_at.as_deref() == Some(point) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
        if let Some((at, program)) = self.hook_at.as_deref().and_then(|h| h.split_once(':'))
            && at == point
        {
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

    // ----- steps -------------------------------------------------------------------------

    fn create_service(&mut self) -> Result<()> {
        let plan = self.plan;
        if self.resuming && self.host.service_exists(&plan.new) {
            // The earlier run died while creating it: start again from nothing.
            self.check(&self.dokku(&["postgres:destroy", &plan.new, "-f"]))?;
        }
        let s = &plan.settings;
        let mut cmd =
            self.dokku(&["postgres:create", &plan.new, "--image", &plan.image, "--image-version", &plan.version]);
        let config_options = self.opts.config_options.clone().unwrap_or_else(|| s.config_options.clone());
        if !config_options.is_empty() {
            cmd = cmd.arg("--config-options").arg(config_options);
        }
        let custom_env = self.opts.custom_env.clone().unwrap_or_else(|| s.custom_env.join(";"));
        if !custom_env.is_empty() {
            cmd = cmd.arg("--custom-env").secret(custom_env);
        }
        for (flag, value) in [
            ("--shm-size", &s.shm_size),
            ("--memory", &s.memory),
            ("--initial-network", &s.initial_network),
            ("--post-create-network", &s.post_create_network),
            ("--post-start-network", &s.post_start_network),
        ] {
            if !value.is_empty() {
                cmd = cmd.arg(flag).arg(value.clone());
            }
        }
        // Undo first: a create that fails half-way leaves its directory behind (§2, clone).
        self.push_undo(Action::DestroyService { service: plan.new.clone() })?;
        self.check(&cmd)?;
        self.out.verbose(&format!("Service {} created from {}", plan.new, plan.reference()));
        Ok(())
    }

    fn check_new_service(&mut self) -> Result<()> {
        let plan = self.plan;
        let status = self.host.postgres_info(&plan.new, "--status")?;
        if status != "running" {
            bail!("the new service {} is not running (status: {status})", plan.new);
        }
        let new_db = self.host.database_name(&plan.new)?;
        let used = self.host.sql(&plan.old, &plan.old_db, "SELECT extname FROM pg_extension ORDER BY 1")?;
        let available = self.host.sql(&plan.new, &new_db, "SELECT name FROM pg_available_extensions ORDER BY 1")?;
        let missing: Vec<&String> = used.iter().filter(|e| !available.contains(e)).collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            bail!("image {} lacks extension(s) used by {}: {}", plan.reference(), plan.old, names.join(", "));
        }
        self.out.verbose(&format!(
            "Extensions available: {}",
            if used.is_empty() { "none used".to_string() } else { used.join(", ") }
        ));
        Ok(())
    }

    fn lock_deploys(&mut self) -> Result<()> {
        for app in &self.plan.apps {
            // What stops a `git push` is the flock on the file apps:lock creates, taken first so
            // that a push already running is refused before anything is pushed on the undo stack.
            let apps_dir = self.host.env.dokku_lib_root.join("data/apps");
            crate::lock::hold_deploy(&apps_dir, &app.name, true)?;
            self.push_undo(Action::Unlock { app: app.name.clone() })?;
            self.check(&self.dokku(&["apps:lock", &app.name]))?;
        }
        Ok(())
    }

    fn maintenance_on(&mut self) -> Result<()> {
        self.window_started = Some(Instant::now());
        if !self.plan.use_maintenance {
            self.out.verbose("Skipped: the apps are stopped instead");
            return Ok(());
        }
        for app in self.plan.apps.iter().filter(|a| !a.maintenance_on) {
            self.push_undo(Action::MaintenanceOff { app: app.name.clone() })?;
            self.check(&self.dokku(&["maintenance:enable", &app.name]))?;
        }
        Ok(())
    }

    fn stop_apps(&mut self) -> Result<()> {
        for app in &self.plan.apps {
            if app.running {
                self.push_undo(Action::Restart { app: app.name.clone() })?;
            }
            self.check(&self.dokku(&["ps:stop", &app.name]))?;
        }
        Ok(())
    }

    fn final_backup(&mut self) -> Result<()> {
        let plan = self.plan;
        if self.opts.skip_backup {
            self.out.verbose("Skipped (--skip-backup)");
            return Ok(());
        }
        let Some(schedule) = final_backup_bucket(plan) else {
            self.out.verbose(&format!("Skipped: {} has no S3 backup schedule", plan.old));
            return Ok(());
        };
        let mut cmd = self.dokku(&["postgres:backup", &plan.old, &schedule.bucket]);
        if schedule.use_iam {
            cmd = cmd.arg("--use-iam");
        }
        self.check(&cmd)?;
        self.out.verbose(&format!("Backed up to bucket {}", schedule.bucket));
        Ok(())
    }

    fn copy_before_window(&mut self) -> Result<()> {
        if !self.opts.catch_up(self.plan) {
            self.out.verbose("Skipped: the whole copy is made inside the window");
            return Ok(());
        }
        self.with_copy_job(|copier, job| copier.prepare(job))
    }

    fn copy(&mut self) -> Result<()> {
        self.with_copy_job(|copier, job| copier.copy(job))?;
        let kept = self.copier.artifacts().unwrap_or_else(|| self.dump.iter().cloned().collect());
        for file in &kept {
            let size = disk_usage(file);
            self.out.verbose(&format!("Kept as the rollback artifact: {} ({} MB)", file.display(), size / 1_000_000));
        }
        self.kept = kept;
        Ok(())
    }

    /// Runs one of the copier's phases on the two services, with the dump path of this run
    /// (chosen once, in the plugin's data folder, which only root and dokku can read).
    fn with_copy_job(&mut self, f: impl FnOnce(&dyn Copier, &Job) -> Result<()>) -> Result<()> {
        let plan = self.plan;
        let dump = match &self.dump {
            Some(dump) => dump.clone(),
            None => {
                let dir = self.host.env.data_dir().join(plan.app.as_deref().unwrap_or(&plan.old)).join("dumps");
                std::fs::create_dir_all(&dir).with_context(|| format!("Unable to create {}", dir.display()))?;
                restrict(&dir, 0o700);
                dir.join(format!("{}-{}", plan.old, crate::clock::now_compact()))
            }
        };
        self.dump = Some(dump.clone());
        let new_db = self.host.database_name(&plan.new)?;
        let job = Job {
            host: self.host,
            out: self.out,
            from: Endpoint { service: &plan.old, database: &plan.old_db },
            to: Endpoint { service: &plan.new, database: &new_db },
            dump: &dump,
            resuming: self.resuming,
        };
        f(self.copier, &job)
    }

    fn verify(&mut self) -> Result<()> {
        let (host, plan) = (self.host, self.plan);
        let content = verify::content_comparable(plan.old_major);
        let new_db = host.database_name(&plan.new)?;
        // The original as it is now, after the copy: a write that reached it during the copy
        // (a cron job, a `dokku run`, anything the stopped apps do not cover) shows up here.
        // The copier's fingerprints stand for "now" while no writer has committed since.
        let prints = self.copier.fingerprints();
        let (original, reused) = Snapshot::take(
            host,
            &plan.old,
            &plan.old_db,
            prints.as_ref().map(|p| &p.catalog),
            prints.as_ref().map(|p| &p.original),
            content,
        )?;
        if reused {
            self.out.verbose(&format!("{} has committed nothing since the copy's fingerprint of it", plan.old));
        }
        let known = prints.as_ref().filter(|p| p.catalog == original.catalog).map(|p| &p.copy);
        let (copy, _) = Snapshot::take(host, &plan.new, &new_db, Some(&original.catalog), known, content)?;
        verify::compare(&original, &copy)?;
        self.out.verbose(&format!(
            "{} tables, {} rows{}, {} sequences, extensions: {}",
            original.catalog.tables.len(),
            original.rows(),
            if content { " (content compared)" } else { " (counted)" },
            original.sequences.len(),
            original.extensions.join(", ")
        ));
        self.original = Some(original);
        Ok(())
    }

    fn switch(&mut self) -> Result<()> {
        let plan = self.plan;
        self.switching = true;
        for app in &plan.apps {
            let vars = app.vars.clone();
            self.push_undo(Action::Relink {
                app: app.name.clone(),
                from: plan.new.clone(),
                to: plan.old.clone(),
                vars: vars.clone(),
            })?;
            switch::relink(
                self.host,
                &app.name,
                &plan.old,
                &plan.new,
                &vars,
                if self.resuming { Mode::Back } else { Mode::Forward },
            )?;
            let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
            self.out.verbose(&format!("{}: {} now on {}", app.name, names.join(", "), plan.new));
        }
        Ok(())
    }

    /// Each app starts once, on the new service. If the first one fails, nothing has written to
    /// the new service yet and the rollback switches back; once one runs, its writes exist only
    /// on the new service, so the others' failures are reported, never rolled back.
    fn start_apps(&mut self) -> Result<()> {
        for app in self.plan.apps.iter().filter(|a| a.running) {
            let cmd = self.dokku(&["ps:start", &app.name]);
            match self.host.runner.check(&cmd) {
                Ok(_) => {
                    self.starts += 1;
                    self.commit()?;
                }
                Err(err) if !self.committed => return Err(err),
                Err(err) => self.by_hand(err, cmd.display()),
            }
        }
        if self.plan.apps.iter().all(|a| !a.running) {
            self.out.verbose("No app was running before the upgrade: left stopped");
        }
        self.commit()
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
            Some(journal) => journal.set("committed", serde_json::Value::Bool(true)),
            None => Ok(()),
        }
    }

    /// A failure after the commit point: a warning and a command to run by hand.
    fn by_hand(&mut self, err: anyhow::Error, command: String) {
        self.out.warn(&format!("{err:#}"));
        self.warnings.push(format!("{err:#}"));
        self.manual.push(command);
    }

    /// Maintenance off and deploys unlocked (past the commit point: failures are by hand).
    fn end_window(&mut self) -> Result<()> {
        let plan = self.plan;
        let mut cmds = Vec::new();
        if plan.use_maintenance {
            cmds.extend(
                plan.apps.iter().filter(|a| !a.maintenance_on).map(|a| self.dokku(&["maintenance:disable", &a.name])),
            );
        }
        for app in &plan.apps {
            if self.resuming && !self.host.app_locked(&app.name)? {
                continue;
            }
            cmds.push(self.dokku(&["apps:unlock", &app.name]));
        }
        for cmd in cmds {
            if let Err(err) = self.host.runner.check(&cmd) {
                self.by_hand(err, cmd.display());
            }
        }
        self.window_ms = self.window_started.map(|t| t.elapsed().as_millis());
        if let Some(ms) = self.window_ms {
            self.out.verbose(&format!("Maintenance window: {:.1}s", ms as f64 / 1000.0));
        }
        Ok(())
    }

    fn carry_backups_over(&mut self) -> Result<()> {
        let plan = self.plan;
        let backup = &plan.backup;
        if !backup.configured() {
            self.out.verbose(&format!("{} had no backup configuration", plan.old));
            return Ok(());
        }
        let old_dir = self.host.service_dir(&plan.old);
        if let Some(auth) = &backup.auth {
            // backup-auth is not idempotent (§2): clear first.
            let mut cmd = self.dokku(&["postgres:backup-auth", &plan.new]);
            for value in auth {
                cmd = cmd.secret(value.clone());
            }
            let files = [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
                "AWS_SIGNATURE_VERSION",
                "ENDPOINT_URL",
            ];
            let by_hand = format!(
                "dokku postgres:backup-auth {} {}",
                plan.new,
                files[..auth.len()]
                    .iter()
                    .map(|f| format!("\"$(cat {})\"", old_dir.join("backup").join(f).display()))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            self.after_window(vec![self.dokku(&["postgres:backup-deauth", &plan.new]), cmd], by_hand);
        }
        if backup.encryption_key.is_some() {
            let key = backup.encryption_key.clone().unwrap_or_default();
            let cmd = self.dokku(&["postgres:backup-set-encryption", &plan.new]).secret(key);
            let by_hand = format!(
                "dokku postgres:backup-set-encryption {} \"$(cat {})\"",
                plan.new,
                old_dir.join("backup-encryption/ENCRYPTION_KEY").display()
            );
            self.after_window(vec![cmd], by_hand);
        }
        if let Some(key_id) = &backup.public_key_id {
            let cmd = self.dokku(&["postgres:backup-set-public-key-encryption", &plan.new, key_id]);
            self.after_window(vec![cmd.clone()], cmd.display());
        }
        if let Some(schedule) = &backup.schedule {
            let mut cmd = self.dokku(&["postgres:backup-schedule", &plan.new, &schedule.when, &schedule.bucket]);
            if schedule.use_iam {
                cmd = cmd.arg("--use-iam");
            }
            self.after_window(vec![cmd.clone()], cmd.display());
            self.out.verbose(&format!("Schedule '{}' to bucket {} carried over", schedule.when, schedule.bucket));
        }
        // One backup proves the carried-over configuration works.
        if self.manual.is_empty()
            && let Some(schedule) = final_backup_bucket(plan)
        {
            let mut cmd = self.dokku(&["postgres:backup", &plan.new, &schedule.bucket]);
            if schedule.use_iam {
                cmd = cmd.arg("--use-iam");
            }
            self.after_window(vec![cmd.clone()], cmd.display());
            if self.manual.is_empty() {
                self.out.verbose(&format!("Test backup of {} written to bucket {}", plan.new, schedule.bucket));
            }
        }
        Ok(())
    }

    /// Runs commands after the window; a failure becomes a warning and a command to run by hand.
    fn after_window(&mut self, cmds: Vec<Cmd>, by_hand: String) {
        for cmd in &cmds {
            if let Err(err) = self.host.runner.check(cmd) {
                self.by_hand(err, by_hand);
                return;
            }
        }
    }

    fn retire_old(&mut self) -> Result<()> {
        let plan = self.plan;
        if !self.host.service_exists(&plan.old) {
            self.out.verbose(&format!("{} is already gone", plan.old));
            return Ok(());
        }
        if self.opts.keep_old {
            self.out.verbose(&format!(
                "{} is kept, unlinked; remove it with: dokku postgres:destroy {} -f",
                plan.old, plan.old
            ));
            return Ok(());
        }
        if !self.manual.is_empty() {
            let text = format!("{} is kept: the commands above read its backup settings", plan.old);
            self.out.warn(&text);
            self.warnings.push(text);
            self.manual.push(format!("dokku postgres:destroy {} -f", plan.old));
            return Ok(());
        }
        let cmd = self.dokku(&["postgres:destroy", &plan.old, "-f"]);
        self.after_window(vec![cmd.clone()], cmd.display());
        Ok(())
    }

    fn summary(&self, plan: &Plan) {
        self.out.info2(&format!("Upgraded to {} ({})", plan.new, plan.reference()));
        let apps: Vec<&str> = plan.apps.iter().map(|a| a.name.as_str()).collect();
        self.out.verbose(&format!("Apps:                {}", apps.join(", ")));
        if let Some(ms) = self.window_ms {
            self.out.verbose(&format!("Maintenance window:  {:.1}s", ms as f64 / 1000.0));
        }
        if let Some(s) = &self.original {
            self.out.verbose(&format!(
                "Verified:            {} tables, {} rows, {} sequences",
                s.catalog.tables.len(),
                s.rows(),
                s.sequences.len()
            ));
        }
        for file in &self.kept {
            self.out.verbose(&format!("Kept:                {}", file.display()));
        }
        for m in &self.manual {
            self.out.warn(&format!("Run by hand: {m}"));
        }
    }

    /// Undoes every recorded step, newest first; a failing undo is a warning, never the error.
    fn rollback(&mut self) {
        self.out.info1("Rolling back");
        let mut journal = self.journal.take();
        if let Some(j) = &mut journal
            && let Err(err) = j.set("status", serde_json::json!("rolling-back"))
        {
            self.out.warn(&format!("{err:#}"));
        }
        let stack = std::mem::take(&mut self.undo);
        self.undo = crate::undo::roll_back(self.host, self.out, stack, |left| match &mut journal {
            Some(j) => j.set_undo(left),
            None => Ok(()),
        });
        self.journal = journal;
    }

    fn report(&self, result: &Result<()>) -> Value {
        let plan = self.plan;
        json!({
            "changed": result.is_ok() || self.committed,
            "status": match (result.is_ok(), self.committed) {
                (true, _) => "upgraded",
                (false, true) => "upgraded-with-manual-steps",
                (false, false) if self.undo.is_empty() => "rolled-back",
                (false, false) => "rollback-failed",
            },
            "app": plan.app,
            "apps": plan.apps.iter().map(|a| json!({
                "name": a.name,
                "vars": a.vars.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "old_service": plan.old,
            "new_service": plan.new,
            "image": plan.reference(),
            "image_id": plan.image_id,
            "image_created": plan.image_created,
            "old_image": plan.old_reference,
            "postgres_major": { "from": plan.old_major.map(naming::major_text), "to": plan.new_major.map(naming::major_text) },
            "copy_method": self.copier.name(),
            "steps": self.steps.iter().map(|s| json!({"name": s.name, "status": s.status, "duration_ms": s.duration_ms as u64})).collect::<Vec<_>>(),
            "maintenance_window_ms": self.window_ms.map(|v| v as u64),
            "app_starts": self.starts,
            "verification": self.original.as_ref().map(|s| json!({
                "tables": s.catalog.tables.len(),
                "content_compared": verify::content_comparable(plan.old_major),
                "rows": s.rows(),
                "sequences": s.sequences.len(),
                "extensions": s.extensions,
            })),
            "dump": self.kept.first().or(self.dump.as_ref()).map(|d| d.display().to_string()),
            "catch_up_script": self.kept.get(1).map(|d| d.display().to_string()),
            "old_service_kept": self.opts.keep_old || !self.manual.is_empty(),
            "warnings": self.warnings,
            "manual_steps": self.manual,
            "error": result.as_ref().err().map(|e| format!("{e:#}")),
        })
    }
}

/// Bytes under `path` (a file, or a directory-format dump).
fn disk_usage(path: &std::path::Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries.flatten().map(|e| disk_usage(&e.path())).sum(),
        Err(_) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

fn restrict(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
