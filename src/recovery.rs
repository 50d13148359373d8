//! After a crash: `postgres-upgrade:status` says where an upgrade was, and
//! `postgres-upgrade:rollback` takes back an unfinished one from its journal.

use crate::cli::{Format, RollbackArgs, StatusArgs};
use crate::env::Env;
use crate::host::Host;
use crate::journal::{Journal, ROLLBACK_FAILED, ROLLING_BACK, RUNNING};
use crate::lock::Locks;
use crate::naming;
use crate::output::Out;
use crate::plan::Plan;
use crate::runner::Runner;
use crate::upgrade::{Options, Upgrade};
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
    let Some(pid) = journal.doc["pid"].as_u64() else { return false };
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
    let unfinished = journal.status() == RUNNING;
    let running = unfinished && still_running(&journal);
    if args.format == Format::Json {
        let mut doc = journal.doc.clone();
        doc["process_running"] = serde_json::json!(running);
        out.json(&doc);
        return Ok(());
    }
    let doc = &journal.doc;
    let plan = &doc["plan"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    out.info2(&format!("Upgrade of {}", args.target));
    out.verbose(&format!(
        "Status:       {}{}",
        journal.status(),
        match (unfinished, running) {
            (true, true) => " (its process still runs)",
            (true, false) => " (unfinished: its process is gone)",
            _ => "",
        }
    ));
    out.verbose(&format!("Started:      {} (pid {})", text(&doc["started"]), doc["pid"]));
    out.verbose(&format!("Updated:      {}", text(&doc["updated"])));
    out.verbose(&format!("From:         {}", text(&plan["old_service"])));
    out.verbose(&format!("To:           {} ({})", text(&plan["new_service"]), text(&plan["image"])));
    if let Some(error) = doc["error"].as_str() {
        out.verbose(&format!("Error:        {error}"));
    }
    for (n, step) in doc["steps"].as_array().into_iter().flatten().enumerate() {
        out.verbose(&format!("{:>2}. {:<8} {}", n + 1, text(&step["state"]), text(&step["name"])));
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
        RUNNING | ROLLING_BACK | ROLLBACK_FAILED => {}
        "rolled-back" => {
            out.info1(&format!("The last upgrade of {} was already rolled back: nothing to do", args.target));
            return Ok(());
        }
        status => {
            out.info1(&format!("The last upgrade of {} ended ({status}): nothing to roll back", args.target));
            return Ok(());
        }
    }
    let plan = journal.doc["plan"].clone();
    if journal.doc["committed"].as_bool().unwrap_or(false) {
        // An app already ran on the new service: its writes live only there, so going back would
        // lose them. Finish this upgrade instead.
        out.info1(&format!(
            "The apps already run on {}: finishing the upgrade instead",
            plan["new_service"].as_str().unwrap_or("the new service")
        ));
        return resume(&args.target, env, runner, out).1;
    }
    // The upgrade's own process may still be alive: its locks say so.
    let _locks = take_locks(env, &plan)?;
    journal.keep_room();
    let name = plan["app"].as_str().or(plan["old_service"].as_str()).unwrap_or(&args.target);
    crate::copy::remove_password_files(&crate::copy::dumps_dir(&env.data_dir(), name));
    let host = Host::new(env, runner);
    out.info2(&format!("Rolling back the upgrade of {}", args.target));
    journal.set("status", serde_json::json!(ROLLING_BACK))?;
    let stack = journal.undo()?;
    if let Some(old) = plan["old_service"].as_str() {
        crate::undo::revive(&host, out, old);
    }
    let left = crate::undo::roll_back(&host, out, stack, |left| journal.set_undo(left));
    let error = journal.doc["error"].as_str().map(String::from);
    if !left.is_empty() {
        journal.finish(ROLLBACK_FAILED, error)?;
        bail!("{} rollback step(s) are not done; fix the cause above and run this again", left.len());
    }
    journal.finish("rolled-back", error)?;
    if let Some(dump) = journal.doc["dump"].as_str() {
        let freed = crate::dumps::remove_attempt(std::path::Path::new(dump));
        out.verbose(&format!("Removed the dumps of the upgrade rolled back ({} MB)", freed / 1_000_000));
    }
    out.info1(&format!("{} is back on {}", args.target, plan["old_service"].as_str().unwrap_or("the old service")));
    Ok(())
}

/// Takes every lock the journaled upgrade needs; fails at once if its own process still runs.
fn take_locks(env: &Env, plan: &serde_json::Value) -> Result<Locks> {
    let apps = plan["apps"].as_array().into_iter().flatten().filter_map(|a| a["name"].as_str());
    let services = ["old_service", "new_service"].into_iter().filter_map(|k| plan[k].as_str());
    crate::lock::for_upgrade(&env.data_dir(), apps, services)
}

/// `postgres:upgrade TARGET --resume`: continues an interrupted upgrade from its last completed
/// step. Returns the run's report when one ran.
pub fn resume(target: &str, env: &Env, runner: &dyn Runner, out: &Out) -> (Option<serde_json::Value>, Result<()>) {
    let journal = match journal(env, target) {
        Ok(Some(j)) => j,
        Ok(None) => {
            return (None, Err(anyhow::anyhow!("No upgrade of {target} is recorded: nothing to resume")));
        }
        Err(err) => return (None, Err(err)),
    };
    match journal.status() {
        RUNNING => {}
        ROLLING_BACK | ROLLBACK_FAILED => {
            return (
                None,
                Err(anyhow::anyhow!(
                    "The upgrade of {target} was being rolled back: finish that with `dokku postgres-upgrade:rollback {target}`"
                )),
            );
        }
        status => {
            out.info1(&format!("The last upgrade of {target} ended ({status}): nothing to resume"));
            return (None, Ok(()));
        }
    }
    let _locks = match take_locks(env, &journal.doc["plan"]) {
        Ok(locks) => locks,
        Err(err) => return (None, Err(err)),
    };
    journal.keep_room();
    let host = Host::new(env, runner);
    let plan = match Plan::from_journal(&journal.doc["plan"], &host) {
        Ok(plan) => plan,
        Err(err) => return (None, Err(err)),
    };
    let options = &journal.doc["options"];
    let opts = Options {
        keep_old: options["keep_old"].as_bool().unwrap_or(false),
        skip_backup: options["skip_backup"].as_bool().unwrap_or(false),
        config_options: None,
        custom_env: None,
        full_copy: options["full_copy"].as_bool().unwrap_or(false),
    };
    let done =
        journal.doc["steps"].as_array().map(|s| s.iter().take_while(|s| s["state"] == "done").count()).unwrap_or(0);
    crate::signals::install();
    out.info2(&format!("Resuming the upgrade of {target} to {} after step {done}", plan.new));
    let copier = crate::copy::choose(&plan, &opts);
    match Upgrade::new(&host, out, &plan, &opts, &*copier).resume(journal) {
        Ok(upgrade) => {
            let (report, result) = upgrade.run();
            (Some(report), result)
        }
        Err(err) => (None, Err(err)),
    }
}
