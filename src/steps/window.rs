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
            crate::copy::carry_database_properties(job, &client)
        })?;
        let kept = self.copier.artifacts().unwrap_or_else(|| self.dump.iter().cloned().collect());
        for file in &kept {
            let size = crate::state::dumps::size(file);
            self.out.verbose(&format!("Kept as the rollback artifact: {} ({} MB)", file.display(), size / 1_000_000));
        }
        self.kept = kept;
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

    /// The independent verifier's comparison of both databases (facts/verifier/), the old one
    /// as it is after the copy, still held: a write that reached it during the copy (a cron
    /// job, a `dokku run`, anything the stopped apps do not cover) shows up here. Every row,
    /// unless the copier proved the whole copy with the verifier before the window and names
    /// what changed since (the online copy: docs/online.md); the catalog always. Then the
    /// schema as pg_dump prints both, a second witness.
    pub(super) fn verify(&mut self) -> Result<()> {
        let (host, plan) = (self.host, self.plan);
        let _timer =
            crate::output::progress::timer(format!("verifying {} against {}", plan.new, plan.old), self.out.quiet());
        let new_db = host.database_name(&plan.new)?;
        // The sessions opened before the window, while both still answer.
        let ready = self
            .holds
            .verifier
            .take()
            .and_then(|(mut old, mut new)| (old.answers() && new.answers()).then_some((old, new)));
        let (mut old, mut new) = ready
            .unwrap_or_else(|| (verifier::Side::now(&plan.old, &plan.old_db), verifier::Side::now(&plan.new, &new_db)));
        let check = match self.copier.changed_since_proven() {
            Some(selections) => {
                self.out.verbose(&format!(
                    "Rows: the {} relation part(s) changed since the first copy was proven (the rest was proven then)",
                    selections.len()
                ));
                verifier::Check::rows(selections)
            }
            None => verifier::Check::everything(),
        };
        let set_here = self.stream.as_ref().map(|s| s.settings_set_here()).unwrap_or_default();
        let mut check = check.with_settings_set_here(&set_here);
        // What --accept-recomputed accepted may differ (plan/carry.rs), as narrowly as preflight found it.
        check.accepted = plan.recomputed.clone();
        let outcome = verifier::compare(host, &mut old, &mut new, &check)?;
        if let Some(refusal) = outcome.refusal(&plan.old) {
            bail!("{refusal}");
        }
        // What was read stands only while the old database is still held (its session could
        // have been ended, by an administrator or the server).
        if let Some(hold) = &mut self.holds.old
            && !hold.holding()?
        {
            bail!(
                "the hold on {} was lost during verification: a write may have come after it; run the upgrade again",
                plan.old
            );
        }
        // The schema as pg_dump prints it: proven before the window when neither catalog has
        // changed since (the online copy's first proof), else compared now.
        let proven = self.copier.schema_proven_at();
        let states = &outcome.figures.catalog_states;
        if proven.as_ref().is_some_and(|p| p == states && !p.0.is_empty() && !p.1.is_empty()) {
            self.out.verbose("Schema: as proven before the window (neither catalog changed since)");
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
        for note in &outcome.notes {
            self.out.warn(note);
            self.warnings.push(note.clone());
        }
        let f = &outcome.figures;
        self.out.verbose(&format!(
            "{} tables, {} rows (content compared), {} sequences, {} catalog facts, the schema; extensions: {}",
            f.relations,
            f.rows,
            f.sequences,
            f.facts,
            f.extensions.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        self.verified = Some(outcome.figures);
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
        if self.opts.reversible {
            self.begin_following_back()?;
        }
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

    /// `--reversible`: the old service follows the new one from here (copy/reverse.rs). Both
    /// databases were just proven equal and the apps are stopped, so the new server's slots begin
    /// where the old database stands. Recorded first, undone with the rest before the commit.
    fn begin_following_back(&mut self) -> Result<()> {
        let plan = self.plan;
        let new_db = self.host.database_name(&plan.new)?;
        let record = crate::copy::reverse::planned((&plan.new, &new_db), (&plan.old, &plan.old_db));
        self.push_undo(Action::DropStream(record.clone()))?;
        if self.resuming {
            record.drop_all(self.host)?;
        }
        let reverse = crate::copy::reverse::begin(
            self.host,
            record,
            &Endpoint { service: &plan.new, database: &new_db },
            &Endpoint { service: &plan.old, database: &plan.old_db },
        )?;
        self.out.verbose(&format!(
            "{} follows {} from {} ({}): postgres-upgrade:rollback goes back without losing a write, \
             postgres-upgrade:finish ends it",
            plan.old, plan.new, reverse.start_lsn, reverse.stream.name
        ));
        if let Some(journal) = &mut self.journal {
            journal.update(|r| r.reverse = Some(reverse))?;
        }
        Ok(())
    }
}
