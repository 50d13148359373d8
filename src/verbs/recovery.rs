//! After a crash: `postgres-upgrade:status` says where an upgrade was, and
//! `postgres-upgrade:rollback` takes back an unfinished one from its journal.

use crate::host::Host;
use crate::host::env::Env;
use crate::host::lock::Locks;
use crate::host::runner::Runner;
use crate::output::Out;
use crate::plan::Plan;
use crate::plan::cli::{Format, RollbackArgs, StatusArgs, UpgradeArgs};
use crate::plan::naming;
use crate::state::journal::{Journal, PlanRecord, Status};
use crate::steps::{Options, Upgrade};
use anyhow::{Result, bail};

/// The journal of `target`, after checking the name can be nothing but a name.
fn journal(env: &Env, target: &str) -> Result<Option<Journal>> {
    if !(naming::valid_app_name(target) || naming::valid_service_name(target)) {
        bail!("Invalid app or service name: {target}");
    }
    Journal::load(&Journal::path_for(&env.data_dir(), target))
}

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

pub fn status(args: &StatusArgs, env: &Env, out: &Out) -> Result<()> {
    let Some(journal) = journal(env, &args.target)? else {
        out.info1(&format!("No upgrade of {} is recorded", args.target));
        return Ok(());
    };
    let unfinished = journal.status() == Status::Running;
    let running = unfinished && still_running(&journal);
    if args.format == Format::Json {
        let mut doc = serde_json::to_value(&journal.record)?;
        doc["process_running"] = serde_json::json!(running);
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
    for (n, step) in record.steps.iter().enumerate() {
        out.verbose(&format!("{:>2}. {:<8} {}", n + 1, step.state, step.name));
    }
    let undo = journal.undo()?;
    if unfinished && !running && !undo.is_empty() {
        out.verbose(&format!("To take it back: dokku postgres-upgrade:rollback {}", args.target));
    }
    Ok(())
}

pub fn rollback(args: &RollbackArgs, env: &Env, runner: &dyn Runner, out: &Out) -> Result<()> {
    let Some(mut journal) = journal(env, &args.target)? else {
        out.info1(&format!("No upgrade of {} is recorded: nothing to roll back", args.target));
        return Ok(());
    };
    match journal.status() {
        Status::Running | Status::RollingBack | Status::RollbackFailed => {}
        Status::RolledBack => {
            out.info1(&format!("The last upgrade of {} was already rolled back: nothing to do", args.target));
            return Ok(());
        }
        status => {
            out.info1(&format!(
                "The last upgrade of {} ended ({}): nothing to roll back",
                args.target,
                status.as_str()
            ));
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
    journal.keep_room();
    let name = plan.app.as_deref().unwrap_or(&plan.old_service);
    crate::host::client::remove_password_files(&crate::state::dumps::dumps_dir(&env.data_dir(), name));
    let host = Host::new(env, runner);
    out.info2(&format!("Rolling back the upgrade of {}", args.target));
    journal.update(|r| r.status = Status::RollingBack)?;
    let stack = journal.undo()?;
    crate::state::undo::revive(&host, out, &plan.old_service);
    let left = crate::state::undo::roll_back(&host, out, stack, |left| journal.set_undo(left));
    let error = journal.record.error.clone();
    if !left.is_empty() {
        journal.finish(Status::RollbackFailed, error)?;
        bail!("{} rollback step(s) are not done; fix the cause above and run this again", left.len());
    }
    journal.finish(Status::RolledBack, error)?;
    if let Some(dump) = journal.record.dump.as_deref() {
        let freed = crate::state::dumps::remove_attempt(std::path::Path::new(dump));
        out.verbose(&format!("Removed the dumps of the upgrade rolled back ({} MB)", freed / 1_000_000));
    }
    out.info1(&format!("{} is back on {}", args.target, plan.old_service));
    Ok(())
}

/// Takes every lock the journaled upgrade needs; fails at once if its own process still runs.
fn take_locks(env: &Env, plan: &PlanRecord) -> Result<Locks> {
    let apps = plan.apps.iter().map(|a| a.name.as_str());
    let services = [plan.old_service.as_str(), plan.new_service.as_str()];
    crate::host::lock::for_upgrade(&env.data_dir(), apps, services)
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
    let journal = match journal(env, target) {
        Ok(Some(j)) => j,
        Ok(None) => {
            return (None, Err(anyhow::anyhow!("No upgrade of {target} is recorded: nothing to resume")));
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
