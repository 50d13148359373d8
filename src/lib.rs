//! dokku postgres:upgrade: move an app's postgres service to a new image, blue-green.
//! `main` builds the environment and the runner; everything else starts at [`run`].
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod catch_up;
pub mod cli;
pub mod clock;
pub mod copy;
pub mod env;
pub mod error;
pub mod fingerprint;
pub mod host;
pub mod journal;
pub mod lock;
pub mod naming;
pub mod output;
pub mod plan;
pub mod recovery;
pub mod runner;
pub mod signals;
pub mod switch;
pub mod undo;
pub mod upgrade;
pub mod verify;

#[cfg(test)]
mod sequence_tests;

use cli::{Format, Invocation, UpgradeArgs};
use env::Env;
use host::Host;
use output::Out;
use plan::{Decision, Plan};
use runner::Runner;
use serde_json::json;
use upgrade::{Options, Upgrade};

/// Runs one invocation and returns the exit code.
pub fn run(argv: &[String], env: &Env, runner: &dyn Runner) -> i32 {
    match cli::parse(argv) {
        Err(err) => {
            let _ = err.print();
            if err.use_stderr() { 1 } else { 0 }
        }
        Ok(Invocation::Version) => {
            Out::new(false, false).line(&format!("postgres-upgrade {}", env!("CARGO_PKG_VERSION")));
            0
        }
        Ok(Invocation::Unknown(command)) => {
            Out::new(false, false).warn(&format!("Invalid plugin subcommand call: {command}"));
            1
        }
        Ok(Invocation::Upgrade(args)) => upgrade(&args, env, runner),
        Ok(Invocation::Status(args)) => {
            let out = Out::new(env.quiet, args.format == Format::Json);
            finish(&out, recovery::status(&args, env, &out))
        }
        Ok(Invocation::Rollback(args)) => {
            let out = Out::new(env.quiet, false);
            finish(&out, recovery::rollback(&args, env, runner, &out))
        }
    }
}

/// Prints an error the dokku way and turns it into the exit code.
fn finish(out: &Out, result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            out.warn(&format!("{err:#}"));
            error::exit_code(&err)
        }
    }
}

fn upgrade(args: &UpgradeArgs, env: &Env, runner: &dyn Runner) -> i32 {
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
        let (report, result) = recovery::resume(&args.target, env, runner, &out);
        if let (Some(report), true) = (report, json_mode) {
            out.json(&report);
        }
        return match result {
            Ok(()) => 0,
            Err(err) => failed(err),
        };
    }
    // An upgrade that died half-way is finished or taken back first (its journal says which).
    let journal_path = journal::Journal::path_for(&env.data_dir(), &args.target);
    if naming::valid_app_name(&args.target) || naming::valid_service_name(&args.target) {
        match journal::Journal::load(&journal_path) {
            Ok(Some(j))
                if [journal::RUNNING, journal::ROLLING_BACK, journal::ROLLBACK_FAILED].contains(&j.status()) =>
            {
                return failed(anyhow::anyhow!(
                    "An unfinished upgrade of {0} is recorded (started {1}, pid {2}): see `dokku postgres-upgrade:status {0}`, then run `dokku postgres-upgrade:rollback {0}`",
                    args.target,
                    j.doc["started"].as_str().unwrap_or("?"),
                    j.doc["pid"]
                ));
            }
            Err(err) => return failed(err),
            _ => {}
        }
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
            let code = match hand_over(env, &handed, &custom_env, json_mode) {
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
            let _locks = match lock::for_upgrade(&env.data_dir(), plan.apps.iter().map(|a| a.name.as_str()), services) {
                Ok(locks) => locks,
                Err(err) => return failed(err),
            };
            signals::install();
            out.info2(&format!(
                "Upgrading {} from {} to {} ({})",
                plan.old,
                plan.old_reference,
                plan.new,
                plan.reference()
            ));
            let titles = upgrade::step_titles(&plan, &opts);
            let journal = journal::Journal::start(&journal_path, plan.public_json(), &titles).and_then(|mut j| {
                j.set(
                    "options",
                    json!({"keep_old": opts.keep_old, "skip_backup": opts.skip_backup, "full_copy": opts.full_copy}),
                )?;
                Ok(j)
            });
            let journal = match journal {
                Ok(j) => j,
                Err(err) => return failed(err),
            };
            let copier = copy::choose(&plan, &opts);
            let (report, result) = Upgrade::new(&host, &out, &plan, &opts, &*copier).with_journal(journal).run();
            if json_mode {
                out.json(&report);
            }
            match result {
                Ok(()) => 0,
                Err(err) => {
                    out.warn(&format!("{err:#}"));
                    error::exit_code(&err)
                }
            }
        }
    }
}

/// Runs dokku-postgres's own `subcommands/upgrade` with its output shown as it comes (on stderr
/// in json mode, so that stdout stays one report); returns its exit code.
/// The custom env goes in `POSTGRES_CUSTOM_ENV`, which dokku-postgres reads when `-C` is absent.
fn hand_over(env: &Env, args: &[String], custom_env: &str, json_mode: bool) -> anyhow::Result<i32> {
    let script = env.plugin_enabled_path.join("postgres/subcommands/upgrade");
    let mut cmd = std::process::Command::new(&script);
    cmd.args(args).env("POSTGRES_CUSTOM_ENV", custom_env);
    if json_mode {
        cmd.stdout(std::io::stderr());
    }
    let status = cmd.status().map_err(|err| anyhow::anyhow!("Unable to run {}: {err}", script.display()))?;
    Ok(status.code().unwrap_or(1))
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

fn print_plan(out: &Out, plan: &Plan, opts: &Options) {
    out.info2(&format!("Plan (dry run: nothing was changed) for {}", plan.app.as_deref().unwrap_or(&plan.old)));
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
    for (n, title) in upgrade::step_titles(plan, opts).iter().enumerate() {
        out.verbose(&format!("{:>2}. {title}", n + 1));
    }
}

fn plan_json(plan: &Plan, opts: &Options) -> serde_json::Value {
    let mut value = plan.public_json();
    value["changed"] = json!(false);
    value["status"] = json!("dry-run");
    value["steps"] = json!(upgrade::step_titles(plan, opts));
    value
}

fn major(m: Option<u32>) -> String {
    m.map(naming::major_text).unwrap_or_else(|| "?".into())
}
