//! The window: the apps stopped, the old database held still, the copy finished and verified,
//! then the switch, the one start of each app and the end of the window.

use super::*;

impl Upgrade<'_> {
    pub(super) fn maintenance_on(&mut self) -> Result<()> {
        self.window_started = Some(Instant::now());
        if !self.plan.use_maintenance {
            self.out.verbose("Skipped: the apps are stopped instead");
            return Ok(());
        }
        for app in self.plan.apps.iter().filter(|a| !a.maintenance_on) {
            self.push_undo(Action::MaintenanceOff { app: app.name.clone() })?;
            self.check(&self.host.change(Change::MaintenanceOn(&app.name)))?;
        }
        Ok(())
    }

    pub(super) fn stop_apps(&mut self) -> Result<()> {
        for app in &self.plan.apps {
            if app.running {
                self.push_undo(Action::Restart { app: app.name.clone() })?;
            }
            self.check(&self.host.change(Change::StopApp(&app.name)))?;
        }
        Ok(())
    }

    pub(super) fn copy(&mut self) -> Result<()> {
        let (host, plan) = (self.host, self.plan);
        // From here until the apps run on the new service, nothing writes to the old tables.
        let mut hold = match self.holds.old.take() {
            Some(hold) => hold,
            None => Hold::open(host, &plan.old, &plan.old_db)?,
        };
        hold.lock()?;
        self.holds.old = Some(hold);
        self.with_copy_job(|copier, job| {
            copier.copy(job)?;
            if copier.carries_database_properties() {
                return Ok(());
            }
            let dir = job.dump.parent().context("dump path has no folder")?;
            let client = crate::host::client::Client { image: job.image.to_string(), dir: dir.to_path_buf() };
            let set = crate::copy::globals::copy_database_properties(
                job.host,
                &client,
                (job.from.service, job.from.database),
                (job.to.service, job.to.database),
            )?;
            job.out.verbose(&format!("{} database setting(s), comment and grants carried over", set.len()));
            Ok(())
        })?;
        let kept = self.copier.artifacts().unwrap_or_else(|| self.dump.iter().cloned().collect());
        for file in &kept {
            let size = crate::state::dumps::size(file);
            self.out.verbose(&format!("Kept as the rollback artifact: {} ({} MB)", file.display(), size / 1_000_000));
        }
        self.kept = kept;
        // The copy as its fingerprint found it, held so: nothing else has committed between.
        if let Some(prints) = self.copier.fingerprints() {
            let new_db = host.database_name(&plan.new)?;
            // Only saves a fingerprint later: without it, verification takes one again.
            let hold = match self.holds.new.take() {
                Some(mut hold) => hold.lock().map(|()| hold),
                None => Hold::take(host, &plan.new, &new_db),
            };
            match hold {
                Ok(hold) if hold.since == prints.copy.snapshot => self.holds.new = Some(hold),
                Ok(_) => {}
                Err(err) => log::debug!("{err:#}"),
            }
        } else {
            self.holds.new = None;
        }
        Ok(())
    }

    /// Runs one of the copier's phases on the two services, with the dump path of this run
    /// (chosen once, in the plugin's data folder, which only root and dokku can read).
    pub(super) fn with_copy_job<T>(&mut self, f: impl FnOnce(&dyn Copier, &Job) -> Result<T>) -> Result<T> {
        let plan = self.plan;
        let dump = match &self.dump {
            Some(dump) => dump.clone(),
            None => {
                let dir = self.dumps_dir()?;
                let dump = dir.join(format!("{}-{}", plan.old, crate::host::clock::now_compact()));
                // A rollback after a crash removes this attempt's files by this name.
                if let Some(journal) = &mut self.journal {
                    journal.update(|r| r.dump = Some(dump.display().to_string()))?;
                }
                dump
            }
        };
        self.dump = Some(dump.clone());
        let new_db = self.host.database_name(&plan.new)?;
        let image = plan.reference();
        let job = Job {
            host: self.host,
            out: self.out,
            from: Endpoint { service: &plan.old, database: &plan.old_db },
            to: Endpoint { service: &plan.new, database: &new_db },
            dump: &dump,
            image: &image,
            resuming: self.resuming,
            replay: self.replay.as_ref(),
        };
        // A resumed run's copier goes on with the replication objects the journal recorded.
        if let Some(stream) = &self.stream {
            self.copier.stream(&job, Some(stream.clone()))?;
        }
        f(self.copier, &job)
    }

    pub(super) fn verify(&mut self) -> Result<()> {
        let (host, plan) = (self.host, self.plan);
        let _timer =
            crate::output::progress::timer(format!("verifying {} against {}", plan.new, plan.old), self.out.quiet());
        let content = verify::content_comparable(plan.old_major);
        let new_db = host.database_name(&plan.new)?;
        // The original as it is now, after the copy: a write that reached it during the copy
        // (a cron job, a `dokku run`, anything the stopped apps do not cover) shows up here.
        // The copier's fingerprints stand for "now" while no writer has committed since.
        let prints = self.copier.fingerprints();
        let still = |hold: &mut Option<Hold>| -> Result<bool> {
            Ok(match hold {
                Some(h) => h.holding()?,
                None => false,
            })
        };
        let (old_still, new_still) = (still(&mut self.holds.old)?, still(&mut self.holds.new)?);
        let (original, reused) = Snapshot::take(
            host,
            &plan.old,
            &plan.old_db,
            prints.as_ref().map(|p| &p.catalog),
            prints.as_ref().map(|p| (&p.original, old_still)),
            content,
        )?;
        if reused {
            self.out.verbose(&format!("{} has not changed since the copy's fingerprint of it", plan.old));
        }
        let known = prints.as_ref().filter(|p| p.catalog == original.catalog).map(|p| (&p.copy, new_still));
        let (mut copy, _) = Snapshot::take(host, &plan.new, &new_db, Some(&original.catalog), known, content)?;
        self.holds.new = None;
        let mut original = original;
        original.take_extension_tables(host, &plan.old, &plan.old_db, &copy.extensions)?;
        copy.take_extension_tables(host, &plan.new, &new_db, &original.extensions)?;
        verify::compare(&original, &copy)?;
        // Proven by the copy, and no transaction has taken an id on the old database since (every
        // schema change does): the same schema still.
        let now = match self.holds.old.as_mut().and_then(Hold::snapshot) {
            Some(snapshot) => Some(snapshot),
            None => crate::facts::fingerprint::Fingerprint::current_snapshot(host, &plan.old, &plan.old_db).ok(),
        };
        let xmax = |s: &str| s.split(':').nth(1).map(String::from);
        let proven = self.copier.schema_proven().is_some_and(|at| now.is_some_and(|n| xmax(&n) == xmax(&at)));
        if proven {
            self.out.verbose("The schema: the same as the copy proved it, unchanged since on the old service");
        } else {
            let client = crate::host::client::Client { image: plan.reference(), dir: self.dumps_dir()? };
            verify::compare_schemas(
                host,
                &client,
                (&plan.old, &plan.old_db),
                (&plan.new, &new_db),
                self.replay.as_ref(),
            )?;
        }
        self.no_writer_waits()?;
        for change in original.changes(&copy) {
            self.out.warn(&change);
            self.warnings.push(change);
        }
        self.out.verbose(&format!(
            "{} tables, {} rows{}, {} sequences, the schema, {} roles and settings, extensions: {}",
            original.catalog.tables.len(),
            original.rows(),
            if content { " (content compared)" } else { " (counted)" },
            original.sequences.len(),
            original.facts.len(),
            original.extensions.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.original = Some(original);
        Ok(())
    }

    /// Fails when a session waits to write to the held old database: a writer the stopped apps
    /// do not cover, whose writes would be lost after the switch.
    fn no_writer_waits(&mut self) -> Result<()> {
        let Some(hold) = &mut self.holds.old else { return Ok(()) };
        let waiting = hold.waiters()?;
        if !waiting.is_empty() {
            bail!(
                "{}; a process that is none of the apps' writes to {}: stop it (a cron job, a `dokku run`?), then run the upgrade again",
                waiting.join("; "),
                self.plan.old
            );
        }
        Ok(())
    }

    pub(super) fn switch(&mut self) -> Result<()> {
        self.no_writer_waits()?;
        let plan = self.plan;
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
                self.known.get(&app.name).filter(|_| !self.resuming),
            )?;
            let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
            self.out.verbose(&format!("{}: {} now on {}", app.name, names.join(", "), plan.new));
        }
        if !plan.exposed.is_empty() {
            // Undone first on a rollback, before the apps go back: the old ambassador returns.
            self.push_undo(Action::Expose {
                service: plan.old.clone(),
                from: plan.new.clone(),
                ports: plan.exposed.clone(),
            })?;
            switch::move_exposure(self.host, &plan.old, &plan.new, &plan.exposed)?;
            self.out.verbose(&format!("Exposed on {}: {}", plan.exposed.join(" "), plan.new));
        }
        Ok(())
    }

    /// Each app starts once, on the new service. If the first one fails, nothing has written to
    /// the new service yet and the rollback switches back; once one runs, its writes exist only
    /// on the new service, so the others' failures are reported, never rolled back.
    pub(super) fn start_apps(&mut self) -> Result<()> {
        for app in self.plan.apps.iter().filter(|a| a.running) {
            let cmd = self.host.change(Change::StartApp(&app.name));
            match self.host.check(&cmd) {
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

    /// Maintenance off and deploys unlocked (past the commit point: failures are by hand).
    pub(super) fn end_window(&mut self) -> Result<()> {
        let plan = self.plan;
        if let Some(hold) = self.holds.old.take()
            && let Err(err) = hold.release_to_the_new_service()
        {
            self.out.warn(&format!("{err:#}"));
        }
        let mut cmds = Vec::new();
        if plan.use_maintenance {
            cmds.extend(
                plan.apps
                    .iter()
                    .filter(|a| !a.maintenance_on)
                    .map(|a| self.host.change(Change::MaintenanceOff(&a.name))),
            );
        }
        for app in &plan.apps {
            if self.resuming && !self.host.app_locked(&app.name)? {
                continue;
            }
            cmds.push(self.host.change(Change::UnlockApp(&app.name)));
        }
        for cmd in cmds {
            if let Err(err) = self.host.check(&cmd) {
                self.by_hand(err, cmd.display());
            }
        }
        self.window_ms = self.window_started.map(|t| t.elapsed().as_millis());
        if let Some(ms) = self.window_ms {
            self.out.verbose(&format!("Maintenance window: {:.1}s", ms as f64 / 1000.0));
        }
        Ok(())
    }
}
