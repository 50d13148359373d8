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
        let config_options = self.opts.config_options.clone().unwrap_or_else(|| s.config_options.clone());
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

    pub(super) fn copy_before_window(&mut self) -> Result<()> {
        let plan = self.plan;
        if across_majors(plan) {
            // Verification compares the new schema with the old one replayed on the new server.
            // The replay names the old server's roles: they come first, as before a restore.
            let client = crate::host::client::Client { image: plan.reference(), dir: self.dumps_dir()? };
            crate::copy::globals::copy_roles(self.host, &client, &plan.old, &plan.new)?;
            self.replay = Some(verify::SchemaReplay::make(self.host, &client, (&plan.old, &plan.old_db), &plan.new)?);
        }
        if !self.opts.catch_up(plan) {
            self.out.verbose("Skipped: the whole copy is made inside the window");
            return Ok(());
        }
        self.with_copy_job(|copier, job| copier.prepare(job))
    }
}
