//! After a crash: `postgres-upgrade:status` says where an upgrade was, and
//! `postgres-upgrade:rollback` takes back an unfinished one from its journal.

use crate::host::Host;
use crate::host::env::Env;
use crate::host::lock::Locks;
use crate::host::runner::Runner;
use crate::output::Out;
use crate::plan::Plan;
use crate::plan::cli::{Format, RollbackArgs, StatusArgs, UpgradeArgs};
use crate::state::journal::{Journal, PlanRecord, Status};
use crate::state::undo::Action;
use crate::steps::{Options, Upgrade};
use anyhow::{Result, bail};

/// Whether the upgrade that wrote `journal` still runs: its pid is alive and is this plugin's
/// binary (a pid the kernel gave to another program since does not count).
pub fn still_running(journal: &Journal) -> bool {
    let pid = journal.record.pid;
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            let argv0 = raw.split(|b| *b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(argv0).ends_with("postgres-upgrade")
        })
        .unwrap_or(false)
}

pub fn status(args: &StatusArgs, env: &Env, runner: &dyn Runner, out: &Out) -> Result<()> {
    let Some(journal) = super::journal_of(env, runner, &args.target)? else {
        out.info1(&format!("No upgrade of {} is recorded", args.target));
        if args.format == Format::Json {
            out.json(&serde_json::json!({"status": null, "unfinished": false, "process_running": false}));
        }
        return Ok(());
    };
    let unfinished = journal.unfinished();
    let running = journal.status() == Status::Running && still_running(&journal);
    if args.format == Format::Json {
        let mut doc = serde_json::to_value(&journal.record)?;
        doc["process_running"] = serde_json::json!(running);
        doc["unfinished"] = serde_json::json!(unfinished);
        if let Some(reverse) = &journal.record.reverse {
            doc["following"] = super::reversible::lag_json(&Host::new(env, runner), reverse);
        }
        out.json(&doc);
        return Ok(());
    }
    let record = &journal.record;
    let plan = &record.plan;
    out.info2(&format!("Upgrade of {}", args.target));
    out.verbose(&format!(
        "Status:       {}{}",
        journal.status().as_str(),
        match (unfinished, running) {
            (true, true) => " (its process still runs)",
            (true, false) => " (unfinished: its process is gone)",
            _ => "",
        }
    ));
    out.verbose(&format!("Started:      {} (pid {})", record.started, record.pid));
    out.verbose(&format!("Updated:      {}", record.updated));
    out.verbose(&format!("From:         {}", plan.old_service));
    out.verbose(&format!("To:           {} ({})", plan.new_service, plan.image));
    if let Some(error) = &record.error {
        out.verbose(&format!("Error:        {error}"));
    }
    if let Some(reverse) = record.reverse.as_ref().filter(|_| !unfinished) {
        out.verbose(&format!("Following:    {}", super::reversible::following(&Host::new(env, runner), reverse)));
        out.verbose(&format!(
            "Next:         dokku postgres-upgrade:rollback {t} (back, no write lost) or dokku postgres-upgrade:finish {t}",
            t = args.target
        ));
    }
    for (n, step) in record.steps.iter().enumerate() {
        out.verbose(&format!("{:>2}. {:<8} {}", n + 1, step.state, step.name));
    }
    let undo = journal.undo()?;
    for action in undo.iter().rev() {
        out.verbose(&format!("To undo:      {}", action.label()));
    }
    if unfinished && !running {
        out.verbose(&format!("Next:         {}", journal.next_command()));
        if journal.status() == Status::Running {
            out.verbose(&format!("          or: dokku postgres:upgrade {} --resume", args.target));
        }
    }
    Ok(())
}

pub fn rollback(args: &RollbackArgs, env: &Env, runner: &dyn Runner, out: &Out) -> Result<()> {
    let Some(journal) = super::journal_of(env, runner, &args.target)? else {
        out.info1(&format!("No upgrade of {} is recorded: nothing to roll back", args.target));
        return Ok(());
    };
    match journal.status() {
        _ if journal.unfinished() => {}
        Status::RolledBack => {
            out.info1(&format!("The last upgrade of {} was already rolled back: nothing to do", args.target));
            return Ok(());
        }
        Status::Upgraded | Status::UpgradedWithManualSteps if journal.record.reverse.is_some() => {
            return super::reversible::rollback(args, env, runner, out, journal);
        }
        status => {
            out.info1(&format!(
                "The last upgrade of {} ended ({}): nothing to roll back",
                args.target,
                status.as_str()
            ));
            // After the window the apps' writes are on the new service only: going back is by
            // hand and loses them (README, "Going back").
            let plan = &journal.record.plan;
            let host = Host::new(env, runner);
            if host.service_exists(&plan.old_service) {
                out.verbose(&format!(
                    "{old} is kept; going back to it loses what the apps wrote to {new} since: \
                     dokku postgres:unlink {new} APP, then dokku postgres:link {old} APP --alias DATABASE",
                    old = plan.old_service,
                    new = plan.new_service
                ));
                // What keeping it took away, recorded for going back (steps/after.rs).
                for back in
                    journal.record.returns.iter().filter_map(|v| serde_json::from_value::<Action>(v.clone()).ok())
                {
                    out.verbose(&format!("and put back what was removed from it: {}", back.label()));
                }
            } else {
                out.verbose(&format!(
                    "{} was destroyed after the switch (--keep-old keeps it); its dump is in {}",
                    plan.old_service,
                    crate::state::dumps::found_dir(&env.data_dir(), &args.target).display()
                ));
            }
            return Ok(());
        }
    }
    let plan = journal.record.plan.clone();
    if journal.record.committed {
        // An app already ran on the new service: its writes live only there, so going back would
        // lose them. Finish this upgrade instead.
        out.info1(&format!("The apps already run on {}: finishing the upgrade instead", plan.new_service));
        return resume(&args.target, None, env, runner, out).1;
    }
    // The upgrade's own process may still be alive: its locks say so.
    let _locks = take_locks(env, &plan)?;
    let mut journal = move_state(env, &args.target, out, journal)?;
    journal.keep_room();
    let name = plan.app.as_deref().unwrap_or(&plan.old_service);
    crate::host::client::remove_password_files(&crate::state::dumps::dumps_dir(&env.data_dir(), name));
    let host = Host::new(env, runner);
    out.info2(&format!("Rolling back the upgrade of {}", args.target));
    journal.update(|r| r.status = Status::RollingBack)?;
    let stack = journal.undo()?;
    let _progress = crate::output::progress::step(format!("Rolling back the upgrade of {}", args.target), out.quiet());
    crate::state::undo::revive(&host, out, &plan.old_service);
    let left = crate::state::undo::roll_back(&host, out, stack, |left| journal.set_undo(left));
    let error = journal.record.error.clone();
    if !left.is_empty() {
        journal.finish(Status::RollbackFailed, error)?;
        bail!(
            "{} rollback step(s) are not done: fix what is said above, then run `{}` again",
            left.len(),
            journal.next_command()
        );
    }
    journal.finish(Status::RolledBack, error)?;
    if let Some(dump) = journal.record.dump.as_deref() {
        let freed = crate::state::dumps::remove_attempt(std::path::Path::new(dump));
        out.verbose(&format!("Removed the dumps of the upgrade rolled back ({} MB)", freed / 1_000_000));
    }
    out.info1(&format!("{} is back on {}", args.target, plan.old_service));
    Ok(())
}

/// Moves `target`'s journal and dumps out of the legacy layout (state/layout.rs) once the run
/// that wrote them is known to be over (its locks are held here), and the journal with them: the
/// dump it names moves too. Returns the journal as it is now.
pub fn move_state(env: &Env, target: &str, out: &Out, journal: Journal) -> Result<Journal> {
    let data_dir = env.data_dir();
    let legacy = crate::state::layout::legacy_folder(&data_dir, target);
    let moved = crate::state::layout::migrate(&data_dir, target)?;
    if moved.is_empty() {
        return Ok(journal);
    }
    let folder = crate::state::layout::folder(&data_dir, target);
    out.verbose(&format!("Moved the journal and dumps of {target} to {}", folder.display()));
    let Some(mut journal) = Journal::load(&Journal::path_for(&data_dir, target))? else { return Ok(journal) };
    if let Some(rest) = journal.record.dump.as_deref().and_then(|d| std::path::Path::new(d).strip_prefix(&legacy).ok())
    {
        let dump = folder.join(rest).to_string_lossy().into_owned();
        journal.update(|r| r.dump = Some(dump))?;
    }
    Ok(journal)
}

/// Takes every lock the journaled upgrade needs; fails at once if its own process still runs.
pub(super) fn take_locks(env: &Env, plan: &PlanRecord) -> Result<Locks> {
    let apps = plan.apps.iter().map(|a| a.name.as_str());
    let services = [plan.old_service.as_str(), plan.new_service.as_str()];
    crate::host::lock::for_upgrade(env, apps, services)
}

/// `postgres:upgrade TARGET --resume`: continues an interrupted upgrade from its last completed
/// step, with the first run's flags for the new service from the journal. `custom_env` is the
/// `--custom-env` given to this run: the journal never holds it. Returns the run's report when
/// one ran.
pub fn resume(
    target: &str,
    custom_env: Option<&str>,
    env: &Env,
    runner: &dyn Runner,
    out: &Out,
) -> (Option<serde_json::Value>, Result<()>) {
    let journal = match super::journal_of(env, runner, target) {
        Ok(Some(j)) => j,
        // As rollback and status say of it: nothing to do is no failure.
        Ok(None) => {
            out.info1(&format!("No upgrade of {target} is recorded: nothing to resume"));
            return (None, Ok(()));
        }
        Err(err) => return (None, Err(err)),
    };
    match journal.status() {
        Status::Running => {}
        Status::RollingBack | Status::RollbackFailed => {
            return (
                None,
                Err(anyhow::anyhow!(
                    "The upgrade of {target} was being rolled back: finish that with `dokku postgres-upgrade:rollback {target}`"
                )),
            );
        }
        status => {
            out.info1(&format!("The last upgrade of {target} ended ({}): nothing to resume", status.as_str()));
            return (None, Ok(()));
        }
    }
    let _locks = match take_locks(env, &journal.record.plan) {
        Ok(locks) => locks,
        Err(err) => return (None, Err(err)),
    };
    let journal = match move_state(env, target, out, journal) {
        Ok(journal) => journal,
        Err(err) => return (None, Err(err)),
    };
    journal.keep_room();
    let host = Host::new(env, runner);
    let mut plan = match Plan::from_journal(&journal.record.plan, &host, journal.record.options.full_copy) {
        Ok(plan) => plan,
        Err(err) => return (None, Err(err)),
    };
    let options = &journal.record.options;
    let flags = UpgradeArgs::from_new_service_flags(&options.new_service);
    plan.settings = flags.new_service_settings(plan.settings);
    let custom_env = match custom_env_for_resume(&journal, target, custom_env) {
        Ok(custom_env) => custom_env,
        Err(err) => return (None, Err(err)),
    };
    let opts = Options {
        keep_old: options.keep_old,
        skip_backup: options.skip_backup,
        config_options: flags.config_options.clone(),
        custom_env,
        full_copy: options.full_copy,
        accept_recomputed: options.accept_recomputed,
        keep_md5_auth: options.keep_md5_auth,
        reversible: options.reversible,
    };
    let done = journal.steps_done();
    crate::host::signals::install();
    out.info2(&format!("Resuming the upgrade of {target} to {} after step {done}", plan.new));
    let copier = crate::steps::choose(&plan);
    match Upgrade::new(&host, out, &plan, &opts, &*copier).resume(journal) {
        Ok(upgrade) => {
            let (report, result) = upgrade.run();
            (Some(report), result)
        }
        Err(err) => (None, Err(err)),
    }
}

/// The custom env a resumed run creates the new service with. It matters only while the new
/// service is still to be created (the first step not done). The first run's `--custom-env` may
/// hold secrets and is not in the journal, so it must be given again; without it the old
/// service's ENV would be used, which is not what the first run was told.
fn custom_env_for_resume(journal: &Journal, target: &str, given: Option<&str>) -> Result<Option<String>> {
    let first_run_had_it = journal.record.options.new_service.custom_env_given;
    let created = journal.record.steps.first().is_some_and(|s| s.state == "done");
    match (first_run_had_it, given) {
        (false, Some(_)) => bail!("The first run of this upgrade was given no --custom-env: resume it without one"),
        (true, None) if !created => bail!(
            "The first run was given --custom-env, which the journal does not keep (it may hold secrets), and the new service is not created yet: give it again, dokku postgres:upgrade {target} --resume --custom-env '…'"
        ),
        (_, given) => Ok(given.map(String::from)),
    }
}
