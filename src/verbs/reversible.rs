//! The grace period of a `--reversible` upgrade (docs/reversible.md): `postgres-upgrade:rollback`
//! moves the apps back to the old service, which followed the new one since the switch, and
//! `postgres-upgrade:finish` ends the period.

use crate::copy::online::keys::Changes;
use crate::copy::reverse::{self, Keys, Lag, Reverse};
use crate::copy::{Endpoint, Job};
use crate::facts::verifier;
use crate::host::Host;
use crate::host::changes::Change;
use crate::host::env::Env;
use crate::host::psql::Psql;
use crate::host::runner::Runner;
use crate::output::Out;
use crate::plan::cli::{FinishArgs, Format, RollbackArgs};
use crate::state::journal::{Journal, PlanRecord, Status};
use crate::state::undo::Action;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::time::Instant;

/// The steps of a rollback in the period, as it runs and reports them (name, ms).
struct Steps<'a> {
    out: &'a Out,
    done: Vec<Value>,
    total: usize,
    /// Test-only (POSTGRES_UPGRADE_KILL_AT=rollback-N): dies just before step N, as a crash would.
    kill_at: Option<String>,
}

impl Steps<'_> {
    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.kill_at.as_deref() == Some(&format!("rollback-{}", self.done.len() + 1)) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
        self.out.step(&format!("[{}/{}] {name}", self.done.len() + 1, self.total));
        let started = Instant::now();
        let result = f();
        let status = if result.is_ok() { "done" } else { "failed" };
        self.done.push(json!({"name": name, "status": status, "duration_ms": started.elapsed().as_millis() as u64}));
        result.with_context(|| format!("Step '{name}' failed"))
    }
}

const ROLLBACK_STEPS: usize = 9;

/// `postgres-upgrade:rollback` of a finished `--reversible` upgrade: the apps back on the old
/// service with every write they made on the new one since the switch.
pub fn rollback(args: &RollbackArgs, env: &Env, runner: &dyn Runner, out: &Out, journal: Journal) -> Result<()> {
    let plan = journal.record.plan.clone();
    let reverse = journal.record.reverse.clone().context("no grace period is recorded")?;
    let _locks = super::recovery::take_locks(env, &plan)?;
    let mut journal = journal;
    let host = Host::new(env, runner);
    let record = reverse.stream.clone();
    let new = Endpoint { service: &plan.new_service, database: &record.old_db };
    let old = Endpoint { service: &plan.old_service, database: &plan.old_database };
    let target = &args.target;
    // A rollback that died: where it got. Once its stream ended, it goes on from there, and
    // verification compares every row (the changes the dead run read are consumed).
    let phase = reverse.rolling_back.clone();
    let ended_before = matches!(phase.as_deref(), Some("ended" | "switched"));
    // Switched back already: the apps may have written to the old service since; only their
    // start and the end of the window are left.
    let switched_before = phase.as_deref() == Some("switched");
    if ended_before {
        out.info2(&format!("Going on with the rollback of {target} that stopped after its stream ended"));
    } else {
        // What cannot be rolled back is refused before anything changes.
        refuse_if_broken(&host, &reverse, &new, target)?;
    }
    out.info2(&format!(
        "Rolling {target} back to {} (it followed {} since {})",
        old.service, new.service, reverse.since
    ));
    let mark = |journal: &mut Journal, phase: &str| {
        journal.update(|r| {
            if let Some(reverse) = r.reverse.as_mut() {
                reverse.rolling_back = Some(phase.to_string());
            }
        })
    };
    // What the apps changed so far, read while they still run: the window reads only the rest.
    let keys = Keys::read(&host, &new)?;
    let mut publisher = Psql::open(&host, new.service, new.database)?;
    let mut changes = Changes::default();
    reverse::read_changes(&mut publisher, &record, &keys, &mut changes)?;
    let mut steps = Steps { out, done: Vec::new(), total: ROLLBACK_STEPS, kill_at: env.kill_at.clone() };
    let window = Instant::now();
    let mut ended = ended_before;
    if phase.is_none() {
        mark(&mut journal, "window")?;
    }
    let result = (|| -> Result<u64> {
        steps.run("Enabling maintenance", || {
            for app in plan.apps.iter().filter(|a| plan.use_maintenance && !a.maintenance_on) {
                host.check(&host.change(Change::MaintenanceOn(&app.name)))?;
            }
            Ok(())
        })?;
        steps.run("Stopping the apps", || {
            for app in &plan.apps {
                host.check(&host.change(Change::StopApp(&app.name)))?;
            }
            Ok(())
        })?;
        let mut subscriber = Psql::open(&host, old.service, old.database)?;
        steps.run(&format!("Waiting until {} has applied every commit of {}", old.service, new.service), || {
            if !ended {
                reverse::read_changes(&mut publisher, &record, &keys, &mut changes)?;
                if reverse::schema_digest(&host, &new)? != reverse.schema {
                    bail!("{}", ddl_refusal(&new, target));
                }
                let start = crate::copy::online::keys::parse_lsn(&reverse.start_lsn)?;
                crate::copy::online::await_apply(
                    &mut subscriber,
                    &record,
                    changes.last_commit.filter(|&lsn| lsn > start),
                )?;
                // Everything is applied and the apps are stopped: recorded before the stream
                // ends, so that a rollback that dies from here on does not wait for it again.
                ended = true;
                mark(&mut journal, "ended")?;
            } else {
                out.verbose("Applied before the rollback that stopped");
            }
            // The stream has done its work: each database's schema is its own again (each part
            // only if it is still there, after a rollback that stopped).
            let exists = subscriber.value(&format!(
                "SELECT count(*) FROM pg_catalog.pg_subscription WHERE subname = {}",
                crate::facts::fingerprint::literal(&record.name)
            ))?;
            if exists != "0" {
                subscriber.query(&crate::copy::online::stream::end_subscription(&record))?;
            }
            publisher.query(&[crate::copy::online::stream::drop_publication(&record)])?;
            Ok(())
        })?;
        steps.run(&format!("Setting the sequences of {} as {} has them", old.service, new.service), || {
            if switched_before {
                return Ok(());
            }
            let catalog = crate::facts::fingerprint::Catalog::read(&host, new.service, new.database)?;
            let dumps = crate::state::dumps::dumps_dir(&env.data_dir(), target);
            std::fs::create_dir_all(&dumps).with_context(|| format!("Unable to create {}", dumps.display()))?;
            let tee = dumps.join(format!("{}-rollback-{}.sql", old.service, crate::host::clock::now_compact()));
            let job = Job {
                host: &host,
                out,
                from: Endpoint { ..new },
                to: Endpoint { ..old },
                dump: &tee,
                image: "",
                resuming: false,
                replay: None,
            };
            crate::copy::catch_up::stream_parts(&job, &catalog, &Default::default(), &tee)
        })?;
        let rows = steps.run(&format!("Verifying what changed since the switch in {}", old.service), || {
            if switched_before {
                return Ok(0);
            }
            let selections = crate::copy::online::prove::selections(&changes, &keys.primary, &Default::default());
            out.verbose(&format!(
                "{} change(s) since the switch: {} relation part(s) for the verifier to compare",
                changes.count,
                selections.len()
            ));
            let (mut from, mut to) =
                (verifier::Side::now(new.service, new.database), verifier::Side::now(old.service, old.database));
            let check = match ended_before {
                true => verifier::Check::everything(),
                false => verifier::Check::rows(selections),
            };
            // `--online` set the old server's wal_level itself (docs/online.md): not the user's.
            let check = check.with_settings_set_here(if plan.restart_old { &["wal_level"] } else { &[] });
            let outcome = verifier::compare(&host, &mut from, &mut to, &check)?;
            if let Some(refusal) = outcome.refusal(new.service) {
                bail!("{refusal}");
            }
            Ok(outcome.figures.rows)
        })?;
        steps.run(&format!("Switching the apps back to {}", old.service), || {
            if switched_before {
                return Ok(());
            }
            for app in &plan.apps {
                Action::Relink {
                    app: app.name.clone(),
                    from: new.service.to_string(),
                    to: old.service.to_string(),
                    vars: app.vars.clone(),
                }
                .run(&host)?;
            }
            if !plan.exposed_ports.is_empty() {
                Action::Expose {
                    service: old.service.to_string(),
                    from: new.service.to_string(),
                    ports: plan.exposed_ports.clone(),
                }
                .run(&host)?;
            }
            mark(&mut journal, "switched")
        })?;
        steps.run("Starting the apps", || {
            for app in plan.apps.iter().filter(|a| a.running) {
                host.check(&host.change(Change::StartApp(&app.name)))?;
            }
            Ok(())
        })?;
        steps.run("Ending the maintenance window", || {
            for app in plan.apps.iter().filter(|a| plan.use_maintenance && !a.maintenance_on) {
                host.check(&host.change(Change::MaintenanceOff(&app.name)))?;
            }
            Ok(())
        })?;
        Ok(rows)
    })();
    let window_ms = window.elapsed().as_millis() as u64;
    let rows = match result {
        Ok(rows) => rows,
        Err(err) => {
            // Before the switch back the apps still belong on the new service: started there
            // again. The period goes on unless its stream was already ended.
            out.failure(&format!("{err:#}"));
            if phase_now(&journal) == Some("switched") {
                return Err(err.context(format!(
                    "the apps are switched back to {}: run `dokku postgres-upgrade:rollback {target}` again to finish",
                    old.service
                )));
            }
            for app in plan.apps.iter().filter(|a| a.running) {
                let _ = host.check(&host.change(Change::StartApp(&app.name)));
            }
            for app in plan.apps.iter().filter(|a| plan.use_maintenance && !a.maintenance_on) {
                let _ = host.check(&host.change(Change::MaintenanceOff(&app.name)));
            }
            if ended {
                record.drop_all(&host)?;
                journal.update(|r| r.reverse = None)?;
                return Err(err.context(format!(
                    "the apps run on {} again; the grace period has ended (its replication is removed), {} is kept",
                    new.service, old.service
                )));
            }
            journal.update(|r| {
                if let Some(reverse) = r.reverse.as_mut() {
                    reverse.rolling_back = None;
                }
            })?;
            return Err(err.context(format!("the apps run on {} again, {} still follows it", new.service, old.service)));
        }
    };
    out.verbose(&format!("Maintenance window: {:.1}s", window_ms as f64 / 1000.0));
    // After the window: the replication's last objects, and the backups back as they were.
    steps.run("Removing the replication and putting the backups back", || {
        record.drop_all(&host)?;
        backups_back(&host, &journal, &plan)
    })?;
    journal.update(|r| {
        r.reverse = None;
        r.window_ms = Some(window_ms);
    })?;
    journal.finish(Status::RolledBack, None)?;
    out.info1(&format!(
        "{target} is back on {}, with every write made on {} since the switch",
        old.service, new.service
    ));
    out.verbose(&format!("{} is kept; remove it with: dokku postgres:destroy {} -f", new.service, new.service));
    if args.format == Format::Json {
        out.json(&json!({
            "changed": true,
            "status": "rolled-back",
            "app": plan.app,
            "apps": plan.apps.iter().map(|a| json!({"name": a.name, "vars": a.vars.iter().map(|v| v.name.clone()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            "old_service": new.service,
            "new_service": old.service,
            "steps": steps.done,
            "maintenance_window_ms": window_ms,
            "app_starts": plan.apps.iter().filter(|a| a.running).count(),
            "verification": {"rows": rows, "rows_read": "changed since the switch", "content_compared": true},
            "changes_since_switch": changes.count,
            "following_since": reverse.since,
            "old_service_kept": true,
            "error": null,
        }));
    }
    Ok(())
}

fn phase_now(journal: &Journal) -> Option<&str> {
    journal.record.reverse.as_ref().and_then(|r| r.rolling_back.as_deref())
}

/// Refuses a rollback the period no longer allows: the stream lost, or DDL run on the new
/// service since the switch.
fn refuse_if_broken(host: &Host, reverse: &Reverse, new: &Endpoint, target: &str) -> Result<()> {
    let lag = Lag::read(host, reverse)?;
    if lag.lost {
        bail!(
            "{} can no longer be rolled back to from {}: a replication slot of the grace period is gone or lost the WAL \
             it needed (more than max_slot_wal_keep_size was written since the switch). Nothing was changed, the upgrade \
             stays done; end the period with: dokku postgres-upgrade:finish {target}",
            reverse.stream.new,
            new.service
        );
    }
    if reverse::schema_digest(host, new)? != reverse.schema {
        bail!("{}", ddl_refusal(new, target));
    }
    Ok(())
}

fn ddl_refusal(new: &Endpoint, target: &str) -> String {
    format!(
        "the schema of {} changed since the switch (DDL, such as a migration, is not replicated), so the old service \
         cannot take its writes as they are: nothing was changed. Going back is by hand: run the same migration on the \
         old service, or dump {} and restore it there; or end the period with: dokku postgres-upgrade:finish {target}",
        new.service, new.service
    )
}

/// The new service's backup schedule (carried over at the upgrade) removed, the old one's put
/// back as the journal recorded it.
fn backups_back(host: &Host, journal: &Journal, plan: &PlanRecord) -> Result<()> {
    let returns: Vec<Action> =
        journal.record.returns.iter().filter_map(|v| serde_json::from_value::<Action>(v.clone()).ok()).collect();
    if returns.iter().any(|a| matches!(a, Action::Reschedule { .. })) {
        host.check(&host.change(Change::BackupUnschedule(&plan.new_service)))?;
    }
    for action in returns {
        action.run(host)?;
    }
    Ok(())
}

/// `postgres-upgrade:finish`: the replication dropped on both servers, the old service destroyed
/// (or kept with `--keep-old`), the period ended.
pub fn finish(args: &FinishArgs, env: &Env, runner: &dyn Runner, out: &Out) -> Result<()> {
    let Some(mut journal) = super::journal_of(env, runner, &args.target)? else {
        out.info1(&format!("No upgrade of {} is recorded: nothing to finish", args.target));
        return Ok(());
    };
    let Some(reverse) = journal.record.reverse.clone().filter(|_| !journal.unfinished()) else {
        out.info1(&format!("No grace period of {} is open: nothing to finish", args.target));
        return Ok(());
    };
    let plan = journal.record.plan.clone();
    let _locks = super::recovery::take_locks(env, &plan)?;
    let host = Host::new(env, runner);
    out.info2(&format!("Ending the grace period of {}", args.target));
    reverse.stream.drop_all(&host).with_context(|| format!("by hand: {}", reverse.stream.by_hand()))?;
    out.verbose(&format!("The replication of {} into {} is removed", plan.new_service, plan.old_service));
    journal.update(|r| r.reverse = None)?;
    if args.keep_old {
        out.verbose(&format!(
            "{} is kept, unlinked; remove it with: dokku postgres:destroy {} -f",
            plan.old_service, plan.old_service
        ));
    } else if host.service_exists(&plan.old_service) {
        host.check(&host.change(Change::DestroyService(&plan.old_service)))?;
        out.verbose(&format!("{} destroyed", plan.old_service));
    }
    out.info1(&format!("The upgrade of {} is final: the apps run on {}", args.target, plan.new_service));
    Ok(())
}

/// What `status` and `report` show of an open period: since when, and how far the old service
/// is behind.
pub fn following(host: &Host, reverse: &Reverse) -> String {
    let lag = match Lag::read(host, reverse) {
        Ok(lag) if lag.lost => "its slot is lost: rollback is refused, finish ends the period".to_string(),
        Ok(lag) => format!(
            "{} behind{}{}; its slots hold {} of WAL on {} (bound {} MB)",
            crate::output::human(lag.bytes.max(0) as u64),
            lag.seconds.map(|s| format!(" ({s:.1} s)")).unwrap_or_default(),
            if lag.streaming { "" } else { ", not streaming now" },
            crate::output::human(lag.held_bytes.max(0) as u64),
            reverse.stream.old,
            lag.bound_mb
        ),
        Err(err) => format!("unknown ({err:#})"),
    };
    format!("{} follows {} since {}: {lag}", reverse.stream.new, reverse.stream.old, reverse.since)
}

/// The same, for `status --format json`.
pub fn lag_json(host: &Host, reverse: &Reverse) -> Value {
    match Lag::read(host, reverse) {
        Ok(lag) => json!({"since": reverse.since, "lag_bytes": lag.bytes, "lag_s": lag.seconds, "lost": lag.lost,
                          "streaming": lag.streaming, "held_bytes": lag.held_bytes, "bound_mb": lag.bound_mb,
                          "stream": reverse.stream.name}),
        Err(err) => json!({"since": reverse.since, "error": format!("{err:#}")}),
    }
}
