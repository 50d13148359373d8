//! `postgres:upgrade`: the plan, then the steps over it (or, for a service moving within its
//! major version, dokku-postgres's own in-place upgrade), then the report.

use crate::copy::Method;
use crate::error;
use crate::host::env::Env;
use crate::host::runner::Runner;
use crate::host::{self, Host, lock, signals};
use crate::output::Out;
use crate::plan::cli::{Format, UpgradeArgs};
use crate::plan::{self, Decision, Plan, naming, short_id};
use crate::state::journal::{self, RunOptions, Status};
use crate::steps::{self as upgrade, Options, Upgrade};
use crate::verbs::recovery;
use serde_json::json;

pub fn upgrade(args: &UpgradeArgs, env: &Env, runner: &dyn Runner) -> i32 {
    let json_mode = args.format == Format::Json;
    let out = Out::new(env.quiet, json_mode);
    let host = Host::new(env, runner);
    let failed = |err: anyhow::Error| {
        out.warn(&format!("{err:#}"));
        if json_mode {
            out.json(
                &json!({"changed": false, "status": "failed", "target": args.target, "error": format!("{err:#}")}),
            );
        }
        error::exit_code(&err)
    };
    if args.resume {
        let given = args.resume_conflicts();
        if !given.is_empty() {
            return failed(anyhow::anyhow!(
                "--resume creates the new service with the first run's flags, kept in its journal: leave out {}",
                given.join(", ")
            ));
        }
        let (report, result) = recovery::resume(&args.target, args.custom_env.as_deref(), env, runner, &out);
        if let (Some(report), true) = (report, json_mode) {
            out.json(&report);
        }
        return match result {
            Ok(()) => 0,
            Err(err) => failed(err),
        };
    }
    // A name that cannot be an app's or a service's names nothing: said before anything is
    // read with it (its journal's path included).
    if let Some(err) = super::impossible(&args.target) {
        return failed(err);
    }
    // An upgrade that died half-way is finished or taken back first (its journal says which).
    let journal_path = journal::Journal::found_for(&env.data_dir(), &args.target);
    match journal::Journal::load(&journal_path) {
        Ok(Some(j)) if j.status() == Status::Running && recovery::still_running(&j) => {
            return failed(anyhow::anyhow!(
                "An upgrade of {0} is running (started {1}, pid {2}): wait for it to end; `dokku postgres-upgrade:status {0}` shows where it is",
                args.target,
                j.record.started,
                j.record.pid
            ));
        }
        Ok(Some(j)) if j.unfinished() => {
            return failed(anyhow::anyhow!(
                "An unfinished upgrade of {0} is recorded (started {1}, pid {2}, {3}): run `{4}` first",
                args.target,
                j.record.started,
                j.record.pid,
                j.status().as_str(),
                j.next_command()
            ));
        }
        // A grace period still open: its subscription and slots would outlive the journal.
        Ok(Some(j)) if !args.dry_run && j.record.reverse.is_some() => {
            return failed(anyhow::anyhow!(
                "The last upgrade of {0} is in its grace period ({1} follows {2}): end it first with \
                 `dokku postgres-upgrade:finish {0}` (or go back with `dokku postgres-upgrade:rollback {0}`)",
                args.target,
                j.record.plan.old_service,
                j.record.plan.new_service
            ));
        }
        Err(err) => return failed(err),
        _ => {}
    }
    out.info2(&format!("Preflight for {}", args.target));
    let decision = match plan::preflight(&host, args, &out) {
        Ok(d) => d,
        Err(err) => return failed(err),
    };
    match decision {
        Decision::HandOver { service, args: handed, custom_env } => {
            out.info1(&format!(
                "{service} is a service moving within its image and major version: handing over to dokku-postgres's postgres:upgrade"
            ));
            let shown = handed.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() });
            out.verbose(&format!("dokku {}", shown.collect::<Vec<_>>().join(" ")));
            if args.dry_run {
                out.verbose("Dry run: not run");
                if json_mode {
                    out.json(&json!({"changed": false, "status": "dry-run", "service": service, "hand_over": true}));
                }
                return 0;
            }
            // dokku-postgres's upgrade restarts the service: never while another upgrade copies it.
            let _locks = match lock::for_upgrade(env, [], [service.as_str()]) {
                Ok(locks) => locks,
                Err(err) => return failed(err),
            };
            let code = match host.hand_over(&service, &handed, &custom_env, json_mode) {
                Ok(code) => code,
                Err(err) => return failed(err),
            };
            if json_mode {
                out.json(&json!({"changed": code == 0, "status": if code == 0 { "handed-over" } else { "failed" }, "service": service, "exit_code": code}));
            }
            code
        }
        Decision::Unchanged { service, reference, image_id } => {
            out.info1(&format!("{service} already runs {reference} ({}): nothing to do", short_id(&image_id)));
            if json_mode {
                out.json(&json!({"changed": false, "status": "unchanged", "service": service, "image": reference, "image_id": image_id}));
            }
            0
        }
        Decision::Upgrade(plan) => {
            let opts = Options {
                keep_old: args.keep_old,
                skip_backup: args.skip_backup,
                config_options: args.config_options.clone(),
                custom_env: args.custom_env.clone(),
                full_copy: args.full_copy,
                accept_recomputed: args.accept_recomputed,
                keep_md5_auth: args.keep_md5_auth,
                reversible: args.reversible,
            };
            if args.dry_run {
                print_plan(&out, &plan, &opts);
                if json_mode {
                    out.json(&plan_json(&plan, &opts));
                }
                return 0;
            }
            // One upgrade at a time for every app and service involved; refused at once, never waits.
            let services = [plan.old.as_str(), plan.new.as_str()];
            let _locks = match lock::for_upgrade(env, plan.apps.iter().map(|a| a.name.as_str()), services) {
                Ok(locks) => locks,
                Err(err) => return failed(err),
            };
            // The last upgrade's journal and dumps, if an older version left them beside the
            // plugin's own files, go to the target's own folder (state/layout.rs).
            match crate::state::layout::migrate(&env.data_dir(), &args.target) {
                Ok(moved) if !moved.is_empty() => out.verbose(&format!(
                    "Moved the journal and dumps of {} to {}",
                    args.target,
                    crate::state::layout::folder(&env.data_dir(), &args.target).display()
                )),
                Ok(_) => {}
                Err(err) => return failed(err),
            }
            signals::install();
            out.info2(&format!(
                "Upgrading {} from {} to {} ({})",
                plan.old,
                plan.old_reference,
                plan.new,
                plan.reference()
            ));
            print_facts(&out, &plan, &opts);
            // The new service's flags too, for a resume that still has to create it.
            let options = RunOptions { new_service: args.new_service_flags(), ..opts.record() };
            let journal =
                journal::Journal::start(&journal_path, plan.record(), &upgrade::step_list(&plan, &opts), options);
            let journal = match journal {
                Ok(j) => j,
                Err(err) => return failed(err),
            };
            let copier = upgrade::choose(&plan);
            let (report, result) = Upgrade::new(&host, &out, &plan, &opts, &*copier).with_journal(journal).run();
            if json_mode {
                out.json(&report);
            }
            match result {
                Ok(()) => 0,
                Err(err) => {
                    out.failure(&format!("{err:#}"));
                    error::exit_code(&err)
                }
            }
        }
    }
}

/// Flags of dokku-postgres's own `postgres:upgrade` that this plugin does not have: its
/// dokku-datastore upgrade's (docs/dokku-datastore.md, "Reaching dokku-postgres's own upgrade").
const DOKKU_POSTGRES_ONLY_FLAGS: [&str; 1] = ["--definition"];

/// `dokku postgres:upgrade … --definition …` is dokku-postgres's call, not this plugin's: it goes
/// to dokku-postgres's `subcommands/upgrade` with its arguments unchanged, and its exit code is
/// the answer. Only a dokku-postgres that has the dokku-datastore binary knows such a flag; 1.48's
/// own upgrade would skip it and upgrade in place, so there it is refused. None when the call is
/// this plugin's.
pub fn pass_through(argv: &[String], env: &Env) -> Option<i32> {
    if argv.first().map(String::as_str) != Some("postgres:upgrade") {
        return None;
    }
    let flag = argv[1..]
        .iter()
        .find_map(|a| DOKKU_POSTGRES_ONLY_FLAGS.iter().find(|f| a == *f || a.starts_with(&format!("{f}="))))?;
    let out = Out::new(env.quiet, false);
    let datastore = env.dokku_lib_root.join("data/postgres/dokku-datastore");
    if !datastore.is_file() {
        out.warn(&format!(
            "{flag} is a flag of dokku-postgres's own upgrade from its dokku-datastore release on; the dokku-postgres here ({}) has none (its upgrade would ignore it and upgrade in place): nothing was done",
            Host::plugin_version_at(&env.plugin_available_path, "postgres").unwrap_or_else(|| "unknown version".into())
        ));
        return Some(1);
    }
    out.info1(&format!("{flag} is dokku-postgres's own: handing postgres:upgrade to dokku-postgres unchanged"));
    let script = env.plugin_enabled_path.join("postgres/subcommands/upgrade");
    match std::process::Command::new(&script).args(argv).status() {
        Ok(status) => Some(status.code().unwrap_or(1)),
        Err(err) => {
            out.warn(&format!("Unable to run {}: {err}", script.display()));
            Some(1)
        }
    }
}

fn print_plan(out: &Out, plan: &Plan, opts: &Options) {
    let changed = match &plan.pulled {
        Some(pulled) => format!("nothing was changed but the pull of {pulled}"),
        None => "nothing was changed".to_string(),
    };
    out.info2(&format!("Plan (dry run: {changed}) for {}", plan.app.as_deref().unwrap_or(&plan.old)));
    print_facts(out, plan, opts);
    for (n, title) in upgrade::step_titles(plan, opts).iter().enumerate() {
        out.verbose(&format!("{:>2}. {title}", n + 1));
    }
}

/// The plan's facts: what moves where, how big it is, how it is copied and why, how long it
/// should take, the disk it needs, what happens to backups and the old service, what changes.
/// Printed by a dry run and at the top of every run.
fn print_facts(out: &Out, plan: &Plan, opts: &Options) {
    out.verbose(&format!("Old service:  {} ({}, PostgreSQL {})", plan.old, plan.old_reference, major(plan.old_major)));
    out.verbose(&format!(
        "New service:  {} ({}, {}, created {}, PostgreSQL {})",
        plan.new,
        plan.reference(),
        short_id(&plan.image_id),
        plan.image_created,
        major(plan.new_major)
    ));
    for app in &plan.apps {
        let vars: Vec<&str> = app.vars.iter().map(|v| v.name.as_str()).collect();
        out.verbose(&format!(
            "App:          {} ({}; {})",
            app.name,
            vars.join(", "),
            if app.running { "running" } else { "stopped" }
        ));
    }
    if let Some(survey) = &plan.survey {
        let biggest: Vec<String> =
            survey.biggest.iter().take(3).map(|(t, b)| format!("{t} {}", crate::output::human(*b))).collect();
        out.verbose(&format!(
            "Database:     {}, {} in {} table(s){}",
            plan.old_db,
            crate::output::human(survey.bytes),
            survey.tables,
            if biggest.is_empty() { String::new() } else { format!("; biggest: {}", biggest.join(", ")) }
        ));
        let copy = &plan.copy;
        match copy.method {
            Method::Whole => out.verbose(&format!("Copy:         all of it inside the window: {}", copy.why)),
            Method::CatchUp => out.verbose(&format!(
                "Copy:         the bulk while the apps run, inside the window the changed key ranges (every row read): {}",
                copy.why
            )),
            Method::Online => out.verbose(&format!(
                "Copy:         online: the bulk while the apps run, then {} follows {} by logical replication; inside \
                 the window only the rows changed since are compared: {}",
                plan.new, plan.old, copy.why
            )),
        }
        if let Some(replication) = survey.replication.as_ref().filter(|_| copy.method == Method::Online) {
            for (table, why, bytes) in &replication.outside {
                out.verbose(&format!(
                    "Stream:       {table} ({why}, {}) stays out of the stream (its writes must not fail): copied whole inside the window",
                    crate::output::human(*bytes)
                ));
            }
            out.verbose(&format!(
                "Stream:       sequences set, materialized views refreshed inside the window; a schema change (a migration), \
                 large objects or a change to an extension's table since the first copy makes the window copy everything; \
                 the slots hold at most {} of WAL on {}",
                match replication.wal_keep_mb {
                    Some(mb) if mb >= 0 => format!("{mb} MB (its max_slot_wal_keep_size)"),
                    Some(_) => "the size of the database, at least 1 GB (max_slot_wal_keep_size, reset afterwards)".to_string(),
                    None => "the size of the database, at least 1 GB (watched while following)".to_string(),
                },
                plan.old
            ));
            if copy.restart_old {
                out.verbose(&format!(
                    "Restart:      {} is restarted once with wal_level = logical before the first copy (a pause of a few \
                     seconds for the apps; it stays logical afterwards: going back would be another restart)",
                    plan.old
                ));
            }
        }
        let (first, window) = survey.estimate(copy.method);
        let (low, high) = crate::facts::survey::WINDOW_ESTIMATE_RANGE;
        out.verbose(&format!(
            "Estimate:     {}the window about {window:.0} s ({:.0} to {:.0} s: measured windows came out {low} to {high} times this estimate, docs/estimates.md)",
            if copy.method == Method::Whole {
                String::new()
            } else {
                format!("first copy about {first:.0} s while the apps run, ")
            },
            window * low,
            window * high
        ));
        for d in &survey.disk {
            out.verbose(&format!(
                "Disk:         about {} for {} on the filesystem of {}: {} free",
                crate::output::human(d.needed),
                d.what.join(" and "),
                d.path.display(),
                crate::output::human(d.free)
            ));
        }
    }
    out.verbose(&format!("Backups:      {}", backups_text(plan, opts)));
    if !plan.exposed.is_empty() {
        out.verbose(&format!(
            "Exposed:      {} on {}: unexposed at the switch, {} exposed there instead (docs/expose.md)",
            plan.old,
            plan.exposed.join(" "),
            plan.new
        ));
    }
    out.verbose(&format!("Old service:  {}", old_service_text(plan, opts)));
    let mut changes = new_url_text(plan);
    changes.push(format!("the postgres superuser keeps {}'s own password", plan.new));
    changes.extend(plan.survey.iter().flat_map(|s| s.changes.clone()));
    for change in changes {
        out.verbose(&format!("Changes:      {change}"));
    }
    if let Some(carry) = &plan.carry {
        for line in alter_system_text(plan, carry) {
            out.verbose(&format!("ALTER SYSTEM: {line}"));
        }
    }
    for accepted in &plan.accepted {
        out.verbose(&format!("Accepted:     {accepted}"));
    }
}

/// The old server's ALTER SYSTEM settings, by name: carried before the window, or not.
fn alter_system_text(plan: &Plan, carry: &crate::plan::carry::Carry) -> Vec<String> {
    let names = &carry.found.alter_system;
    if names.is_empty() {
        return Vec::new();
    }
    let major = major(plan.new_major);
    let Some(sorted) = &carry.settings else {
        return vec![format!(
            "{} set on {}: carried to {} before the window where PostgreSQL {major} knows them, the others named",
            names.join(", "),
            plan.old,
            plan.new
        )];
    };
    let mut lines = Vec::new();
    if !sorted.carried.is_empty() {
        let restart = if sorted.at_start.is_empty() {
            String::new()
        } else {
            format!(" ({} restarts it then)", sorted.at_start.join(", "))
        };
        lines.push(format!("{} carried to {} before the window{restart}", sorted.carried.join(", "), plan.new));
    }
    if !sorted.left_out.is_empty() {
        lines.push(format!("{} not carried: PostgreSQL {major} does not know them", sorted.left_out.join(", ")));
    }
    lines
}

/// What becomes of the old service, in words; said of the service named like the app too.
fn old_service_text(plan: &Plan, opts: &Options) -> String {
    let whose = if plan.namesake {
        format!("{}, the postgres service named like the app, is replaced by {}: it is ", plan.old, plan.new)
    } else {
        String::new()
    };
    if opts.reversible {
        return format!(
            "{whose}kept, unlinked, and follows {new} from the switch on (a publication and two slots on {new}, made \
             then, a subscription on {old}; {new}'s WAL for it bounded by max_slot_wal_keep_size): \
             dokku postgres-upgrade:rollback goes back without losing a write, dokku postgres-upgrade:finish ends it \
             (docs/reversible.md)",
            new = plan.new,
            old = plan.old
        );
    }
    if opts.keep_old {
        let schedule = if plan.backup.schedule.is_some() {
            ", its backup schedule removed (no second nightly backup)"
        } else {
            ""
        };
        format!("{whose}kept, unlinked{schedule}; remove it with dokku postgres:destroy {} -f", plan.old)
    } else {
        format!("{whose}destroyed once the apps run on {}", plan.new)
    }
}

/// What changes in the apps' config: each variable's URL names the new service's host and
/// database (and its password), whatever the app had before.
fn new_url_text(plan: &Plan) -> Vec<String> {
    let new_db = naming::database_name(&plan.new);
    plan.apps
        .iter()
        .map(|app| {
            let vars: Vec<&str> = app.vars.iter().map(|v| v.name.as_str()).collect();
            format!(
                "{}'s {} will point at host dokku-postgres-{}, database {new_db} (now dokku-postgres-{}, {}), with the new service's password",
                app.name,
                vars.join(", "),
                plan.new,
                plan.old,
                plan.old_db
            )
        })
        .collect()
}

fn final_backup<'p>(plan: &'p Plan, opts: &Options) -> Option<&'p host::Schedule> {
    upgrade::final_backup_bucket(plan).filter(|_| !opts.skip_backup)
}

fn backups_text(plan: &Plan, opts: &Options) -> String {
    if !plan.backup.configured() {
        return format!("{} has none configured", plan.old);
    }
    let mut parts = Vec::new();
    if let Some(schedule) = final_backup(plan, opts) {
        parts.push(format!(
            "a final backup of {} to bucket {} once the apps run on {} (it holds the final state then; the window does not wait for it)",
            plan.old, schedule.bucket, plan.new
        ));
    }
    let mut carried = Vec::new();
    if plan.backup.auth.is_some() {
        carried.push("credentials".to_string());
    }
    if plan.backup.encryption_key.is_some() || plan.backup.public_key_id.is_some() {
        carried.push("encryption".to_string());
    }
    if let Some(s) = &plan.backup.schedule {
        carried.push(format!("the schedule '{}' to bucket {}", s.when, s.bucket));
        parts.push(format!("{} carried to {}, then one test backup of it", carried.join(", "), plan.new));
    } else {
        parts.push(format!("{} carried to {}", carried.join(", "), plan.new));
    }
    parts.join("; ")
}

fn plan_json(plan: &Plan, opts: &Options) -> serde_json::Value {
    let mut value = plan.public_json();
    value["changed"] = json!(false);
    value["status"] = json!("dry-run");
    value["steps"] = json!(upgrade::step_titles(plan, opts));
    if let Some(survey) = &plan.survey {
        for (k, v) in survey.json(plan.copy.method, &plan.copy.why).as_object().into_iter().flatten() {
            value[k] = v.clone();
        }
    }
    value["backups"] = json!(backups_text(plan, opts));
    value["accepted"] = json!(plan.accepted);
    if let Some(carry) = plan.carry.as_ref().filter(|c| !c.found.alter_system.is_empty()) {
        value["alter_system"] = match &carry.settings {
            Some(s) => json!({"carried": s.carried, "restart_for": s.at_start, "not_carried": s.left_out}),
            None => json!({"set": carry.found.alter_system}),
        };
    }
    value["old_service_kept"] = json!(opts.keep_old || opts.reversible);
    value["reversible"] = json!(opts.reversible);
    value["old_service"] = json!(old_service_text(plan, opts));
    value["changes"] = json!(new_url_text(plan));
    value["pulled"] = json!(plan.pulled);
    if let Some(window) = value["estimate"]["window_s"].as_f64() {
        let (low, high) = crate::facts::survey::WINDOW_ESTIMATE_RANGE;
        value["estimate"]["window_range_s"] =
            json!([(window * low * 10.0).round() / 10.0, (window * high * 10.0).round() / 10.0]);
    }
    value
}

fn major(m: Option<u32>) -> String {
    m.map(naming::major_text).unwrap_or_else(|| "?".into())
}
