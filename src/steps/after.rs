//! After the window: the apps run on the new service. Failures here are said with the command to
//! run by hand, never undone.

use super::*;

impl Upgrade<'_> {
    /// The old service's last backup, taken once the apps run on the new one: nothing writes to
    /// it any more, so it holds exactly the final state, and the window no longer waits for it.
    /// A failure keeps the old service (retire-old) and names the command to run by hand.
    pub(super) fn final_backup(&mut self) -> Result<()> {
        let plan = self.plan;
        if self.opts.skip_backup {
            self.out.verbose("Skipped (--skip-backup)");
            return Ok(());
        }
        let Some(schedule) = final_backup_bucket(plan) else {
            self.out.verbose(&format!("Skipped: {} has no S3 backup schedule", plan.old));
            return Ok(());
        };
        if !self.host.service_exists(&plan.old) {
            self.out.verbose(&format!("{} is already gone", plan.old));
            return Ok(());
        }
        let cmd = self.host.change(Change::Backup {
            service: &plan.old,
            bucket: &schedule.bucket,
            use_iam: schedule.use_iam,
        });
        let timer =
            crate::output::progress::timer(format!("backing up {} to {}", plan.old, schedule.bucket), self.out.quiet());
        let done = self.host.check(&cmd);
        drop(timer);
        match done {
            Ok(_) => self.out.verbose(&format!("Backed up to bucket {}", schedule.bucket)),
            Err(err) => self.by_hand(err, cmd.display()),
        }
        Ok(())
    }

    pub(super) fn carry_backups_over(&mut self) -> Result<()> {
        let plan = self.plan;
        let backup = &plan.backup;
        if !backup.configured() {
            self.out.verbose(&format!("{} had no backup configuration", plan.old));
            return Ok(());
        }
        let old_dir = self.host.service_dir(&plan.old);
        // Written as files, never passed on a command line (host/mod.rs, copy_backup_files).
        let mut files: Vec<(&str, Vec<&str>)> = Vec::new();
        if backup.auth.is_some() {
            files.push(("backup", crate::host::BACKUP_AUTH_FILES.to_vec()));
        }
        if backup.encryption_key.is_some() {
            files.push(("backup-encryption", vec!["ENCRYPTION_KEY"]));
        }
        for (folder, names) in files {
            if let Err(err) = self.host.copy_backup_files(&plan.old, &plan.new, folder, &names) {
                let by_hand = format!(
                    "mkdir -p {new} && cp -p {} {new}/",
                    names
                        .iter()
                        .map(|n| old_dir.join(folder).join(n).display().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    new = self.host.service_dir(&plan.new).join(folder).display()
                );
                self.by_hand(err, by_hand);
            }
        }
        if let Some(key_id) = &backup.public_key_id {
            let cmd = self.host.change(Change::BackupPublicKey { service: &plan.new, key_id });
            self.after_window(vec![cmd.clone()], cmd.display());
        }
        if let Some(schedule) = &backup.schedule {
            let cmd = self.host.change(Change::BackupSchedule {
                service: &plan.new,
                when: &schedule.when,
                bucket: &schedule.bucket,
                use_iam: schedule.use_iam,
            });
            self.after_window(vec![cmd.clone()], cmd.display());
            self.out.verbose(&format!("Schedule '{}' to bucket {} carried over", schedule.when, schedule.bucket));
        }
        // One backup proves the carried-over configuration works.
        if self.manual.is_empty()
            && let Some(schedule) = final_backup_bucket(plan)
        {
            let cmd = self.host.change(Change::Backup {
                service: &plan.new,
                bucket: &schedule.bucket,
                use_iam: schedule.use_iam,
            });
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
            if let Err(err) = self.host.check(cmd) {
                self.by_hand(err, by_hand);
                return;
            }
        }
    }

    pub(super) fn retire_old(&mut self) -> Result<()> {
        let plan = self.plan;
        // The replication goes first, whatever becomes of the old service: the subscription
        // holds the old service's password, the slots hold back its WAL.
        if let Some(stream) = self.stream.clone()
            && let Err(err) = stream.drop_all(self.host)
        {
            self.by_hand(err, stream.by_hand());
        }
        if !self.host.service_exists(&plan.old) {
            self.out.verbose(&format!("{} is already gone", plan.old));
            return Ok(());
        }
        if self.opts.reversible {
            self.unschedule_kept()?;
            self.out.verbose(&format!(
                "{} is kept, unlinked, following {}: dokku postgres-upgrade:rollback {target} goes back, \
                 dokku postgres-upgrade:finish {target} ends the grace period",
                plan.old,
                plan.new,
                target = plan.app.as_deref().unwrap_or(&plan.old)
            ));
            return Ok(());
        }
        if self.opts.keep_old {
            self.unschedule_kept()?;
            self.out.verbose(&format!(
                "{} is kept, unlinked; remove it with: dokku postgres:destroy {} -f",
                plan.old, plan.old
            ));
            return Ok(());
        }
        if let Some(signal) = crate::host::signals::received() {
            self.unschedule_kept()?;
            let text = format!("{} is kept: the upgrade was interrupted by {}", plan.old, signal.as_str());
            self.out.warn(&text);
            self.warnings.push(text);
            self.manual.push(format!("dokku postgres:destroy {} -f", plan.old));
            return Ok(());
        }
        if !self.manual.is_empty() {
            let text = format!("{} is kept: the commands above read its backup settings", plan.old);
            self.out.warn(&text);
            self.warnings.push(text);
            self.manual.push(format!("dokku postgres:destroy {} -f", plan.old));
            return Ok(());
        }
        let cmd = self.host.change(Change::DestroyService(&plan.old));
        self.after_window(vec![cmd.clone()], cmd.display());
        Ok(())
    }

    /// A kept old service is backed up on its schedule no more: nobody writes to it, and the new
    /// service has the schedule now (two schedules would back up one database nobody uses).
    /// What going back to it must put back is kept in the journal (`returns`). When the new
    /// service's schedule is still a manual step, the old one keeps its own.
    fn unschedule_kept(&mut self) -> Result<()> {
        let plan = self.plan;
        let Some(schedule) = &plan.backup.schedule else { return Ok(()) };
        if !self.manual.is_empty() {
            return Ok(());
        }
        let cmd = self.host.change(Change::BackupUnschedule(&plan.old));
        if let Err(err) = self.host.check(&cmd) {
            self.by_hand(err, cmd.display());
            return Ok(());
        }
        let back = Action::Reschedule {
            service: plan.old.clone(),
            when: schedule.when.clone(),
            bucket: schedule.bucket.clone(),
            use_iam: schedule.use_iam,
        };
        self.out.verbose(&format!(
            "The backup schedule of {} is removed ({} has it); to put it back: {}",
            plan.old,
            plan.new,
            self.host
                .change(Change::BackupSchedule {
                    service: &plan.old,
                    when: &schedule.when,
                    bucket: &schedule.bucket,
                    use_iam: schedule.use_iam
                })
                .display()
        ));
        if let Some(journal) = &mut self.journal {
            let entry = serde_json::to_value(&back)?;
            journal.update(|r| r.returns.push(entry))?;
        }
        Ok(())
    }
}
