//! Before the window: nothing the apps use changes yet. The new service is made and checked,
//! deploys are locked, and the first copy is made while the apps still write.

use super::*;

impl Upgrade<'_> {
    pub(super) fn create_service(&mut self) -> Result<()> {
        let plan = self.plan;
        if self.resuming && self.host.service_exists(&plan.new) {
            // The earlier run died while creating it: start again from nothing.
            self.check(&self.host.change(Change::DestroyService(&plan.new)))?;
        }
        let s = &plan.settings;
        let mut config_options = self.opts.config_options.clone().unwrap_or_else(|| s.config_options.clone());
        if self.opts.reversible {
            // Ready at its creation to publish after the switch, so that nothing the apps use
            // restarts for it; its slots' WAL bounded (docs/reversible.md).
            let bound = crate::copy::online::wal_bound_mb(
                self.host,
                &crate::copy::Endpoint { service: &plan.old, database: &plan.old_db },
            )?;
            config_options =
                format!("{} -c wal_level=logical -c max_slot_wal_keep_size={bound}MB", config_options.trim())
                    .trim()
                    .to_string();
        }
        let custom_env = crate::plan::carry::new_custom_env(
            self.opts.custom_env.as_deref(),
            &s.custom_env,
            self.opts.keep_md5_auth,
        )?;
        let cmd = self.host.change(Change::CreateService {
            service: &plan.new,
            image: &plan.image,
            version: &plan.version,
            settings: s,
            config_options: &config_options,
            custom_env: &custom_env,
        });
        // Undo first: a create that fails half-way leaves its directory behind (docs/dokku-postgres-service.md#commands).
        self.push_undo(Action::DestroyService { service: plan.new.clone() })?;
        self.check(&cmd)?;
        self.out.verbose(&format!("Service {} created from {}", plan.new, plan.reference()));
        Ok(())
    }

    pub(super) fn check_new_service(&mut self) -> Result<()> {
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
        let conflicts = crate::copy::globals::conflicting_roles(self.host, &plan.old, &plan.new)?;
        if !conflicts.is_empty() {
            bail!(
                "image {} comes with role(s) that {} has with other attributes or not at all: {}",
                plan.reference(),
                plan.old,
                conflicts.join(", ")
            );
        }
        self.out.verbose(&format!(
            "Extensions available: {}",
            if used.is_empty() { "none used".to_string() } else { used.join(", ") }
        ));
        // What no dump holds, and only the new server can tell: the members its extensions'
        // scripts make, against the old ones.
        crate::copy::extensions::check(self.host, (&plan.old, &plan.old_db), &plan.new)?;
        self.carry_settings(&new_db)
    }

    /// The old server's ALTER SYSTEM settings on the new one, before the window: a restart of
    /// the new service when one takes effect only at start (nothing uses it yet).
    fn carry_settings(&mut self, new_db: &str) -> Result<()> {
        let plan = self.plan;
        let sorted =
            crate::copy::settings::carry(self.host, (&plan.old, &plan.old_db), (&plan.new, new_db), plan.new_major)?;
        if sorted.carried.is_empty() && sorted.left_out.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = sorted.carried.iter().map(|s| s.name.as_str()).collect();
        if !names.is_empty() {
            self.out.verbose(&format!("ALTER SYSTEM settings of {} carried: {}", plan.old, names.join(", ")));
        }
        if !sorted.at_start.is_empty() {
            self.out.verbose(&format!("Restarting {} for {}", plan.new, sorted.at_start.join(", ")));
            self.check(&self.host.change(Change::RestartService(&plan.new)))?;
        }
        if !sorted.left_out.is_empty() {
            let said = format!(
                "ALTER SYSTEM setting(s) of {} that PostgreSQL {} does not know, not carried: {}",
                plan.old,
                plan.new_major.map(naming::major_text).unwrap_or_else(|| "?".into()),
                sorted.left_out.join(", ")
            );
            self.out.warn(&said);
            self.warnings.push(said);
        }
        Ok(())
    }

    pub(super) fn lock_deploys(&mut self) -> Result<()> {
        for app in &self.plan.apps {
            // What stops a `git push` is the flock on the file apps:lock creates, taken first so
            // that a push already running is refused before anything is pushed on the undo stack.
            crate::host::lock::hold_deploy(&self.host.env.deploy_lock(&app.name), &app.name, true)?;
            self.push_undo(Action::Unlock { app: app.name.clone() })?;
            self.check(&self.host.change(Change::LockApp(&app.name)))?;
        }
        Ok(())
    }

    /// With `--online`, the old server is restarted once so that it writes logical WAL; its
    /// wal_level stays logical afterwards (docs/online.md): a restart back would be a second
    /// pause for the apps, and a server that writes logical WAL with no slot only writes a
    /// little more of it. The restart's own time is the apps' pause, in the report.
    pub(super) fn restart_old(&mut self) -> Result<()> {
        let plan = self.plan;
        if !plan.copy.restart_old {
            self.out.verbose("Skipped: nothing to restart");
            return Ok(());
        }
        let level =
            |u: &Self| -> Result<String> { Ok(u.host.sql(&plan.old, &plan.old_db, "SHOW wal_level")?.join("")) };
        if level(self)? == "logical" {
            self.out.verbose(&format!("{} already writes logical WAL", plan.old));
            return Ok(());
        }
        self.host.sql(&plan.old, &plan.old_db, "ALTER SYSTEM SET wal_level = logical")?;
        let started = Instant::now();
        self.check(&self.host.change(Change::RestartService(&plan.old)))?;
        let pause = started.elapsed().as_millis() as u64;
        self.old_restart_ms = Some(pause);
        if let Some(journal) = &mut self.journal {
            journal.update(|r| r.old_restart_ms = Some(pause))?;
        }
        let now = level(self)?;
        if now != "logical" {
            bail!(
                "{} was restarted but its wal_level is {now}: is it set on its command line (-c wal_level=…)?",
                plan.old
            );
        }
        self.out.verbose(&format!(
            "{} restarted in {:.1} s; it writes logical WAL from now on (it stays so: ALTER SYSTEM RESET wal_level and a restart put it back)",
            plan.old,
            pause as f64 / 1000.0
        ));
        Ok(())
    }

    pub(super) fn copy_before_window(&mut self) -> Result<()> {
        let plan = self.plan;
        if across_majors(plan) {
            // Verification compares the new schema with the old one replayed on the new server.
            // The replay names the old server's roles: they come first, as before a restore.
            let client = crate::host::client::Client { image: plan.reference(), dir: self.dumps_dir()? };
            crate::copy::globals::copy_roles(self.host, &client, &plan.old, &plan.new)?;
            self.replay = Some(verify::SchemaReplay::make(self.host, &client, (&plan.old, &plan.old_db), &plan.new)?);
        }
        if plan.copy.method == Method::Whole {
            self.out.verbose("Skipped: the whole copy is made inside the window");
            return Ok(());
        }
        // The replication objects are recorded before any exists: whatever happens from here,
        // a rollback or a resume finds and removes them.
        let earlier = self.stream.clone();
        if let Some(stream) = self.with_copy_job(|copier, job| copier.stream(job, earlier))? {
            self.push_undo(Action::DropStream(stream.clone()))?;
            if let Some(journal) = &mut self.journal {
                journal.update(|r| r.stream = Some(stream.clone()))?;
            }
            self.stream = Some(stream);
        }
        self.with_copy_job(|copier, job| copier.prepare(job))
    }

    pub(super) fn follow(&mut self) -> Result<()> {
        match self.plan.copy.method {
            Method::Online => self.with_copy_job(|copier, job| copier.follow(job))?,
            // Its sessions, opened now.
            Method::CatchUp => self.with_copy_job(|copier, job| copier.follow(job))?,
            Method::Whole => self.out.verbose("Skipped: nothing follows the old service"),
        }
        // The session that holds the old database still inside the window, opened now: the
        // window then costs a statement in it, not a `docker exec`.
        let plan = self.plan;
        let hold = match Hold::open(self.host, &plan.old, &plan.old_db) {
            Ok(hold) => Some(hold),
            Err(err) => {
                log::debug!("{err:#}");
                None
            }
        };
        // The verifier's sessions too: opened now, their transactions begun inside the window.
        let verifier = self.host.database_name(&plan.new).and_then(|new_db| {
            Ok((
                verifier::Side::ready(self.host, &plan.old, &plan.old_db)?,
                verifier::Side::ready(self.host, &plan.new, &new_db)?,
            ))
        });
        let verifier = verifier.map_err(|err| log::debug!("{err:#}")).ok();
        self.holds = Holds { old: hold, verifier };
        // What the switch reads, read now: inside the window each read is a dokku call.
        for app in &plan.apps {
            match switch::Known::read(self.host, &app.name, &plan.old, &plan.new) {
                Ok(known) => drop(self.known.insert(app.name.clone(), known)),
                Err(err) => log::debug!("{err:#}"),
            }
        }
        Ok(())
    }
}
