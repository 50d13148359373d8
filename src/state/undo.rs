//! The undo stack's entries: what each changing step pushes so a failure can take it back.
//! They name things, never hold credentials, so they can be printed and kept on disk.

use crate::host::Host;
use crate::host::changes::Change;
use crate::host::switch::{self, Mode, VarSpec};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// As the journal keeps it: `{"action": "relink", "app": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// The half-made new service.
    DestroyService {
        service: String,
    },
    Unlock {
        app: String,
    },
    MaintenanceOff {
        app: String,
    },
    /// Restart rather than start: an app the switch already started must come back on the old
    /// config, not keep running on the new one.
    Restart {
        app: String,
    },
    /// Point the app back from the new service to the old one.
    Relink {
        app: String,
        from: String,
        to: String,
        vars: Vec<VarSpec>,
    },
    /// Expose `service` again on `ports`, once `from` has let go of them (docs/expose.md).
    Expose {
        service: String,
        from: String,
        ports: Vec<String>,
    },
    /// The online copy's subscription on the new server, its slots and publication on the old
    /// one, and the WAL bound it set (copy/online/stream.rs).
    DropStream(crate::copy::online::stream::StreamRecord),
    /// Back up `service` on its schedule again: a kept old service's, removed after the switch
    /// (steps/after.rs), for whoever goes back to it.
    Reschedule {
        service: String,
        when: String,
        bucket: String,
        use_iam: bool,
    },
}

impl Action {
    pub fn label(&self) -> String {
        match self {
            Action::DestroyService { service } => format!("destroy {service}"),
            Action::Unlock { app } => format!("unlock {app}"),
            Action::MaintenanceOff { app } => format!("maintenance off for {app}"),
            Action::Restart { app } => format!("restart {app}"),
            Action::Relink { app, to, .. } => format!("switch {app} back to {to}"),
            Action::Expose { service, ports, .. } => format!("expose {service} again on {}", ports.join(" ")),
            Action::DropStream(s) => format!("remove the replication of {} into {} ({})", s.old, s.new, s.name),
            Action::Reschedule { service, when, bucket, use_iam } => format!(
                "back up {service} on its schedule again: dokku postgres:backup-schedule {service} '{when}' {bucket}{}",
                if *use_iam { " --use-iam" } else { "" }
            ),
        }
    }

    pub fn run(&self, host: &Host) -> Result<()> {
        let check = |change: Change| host.check(&host.change(change)).map(drop);
        match self {
            // A service that is not there (its create failed before it made anything, or a
            // rollback that ran before removed it) is as the undo wants it.
            Action::DestroyService { service } if !host.service_exists(service) => Ok(()),
            Action::DestroyService { service } => check(Change::DestroyService(service)),
            // apps:unlock fails when there is no lock (the lock step may have failed before it).
            Action::Unlock { app } => match host.app_locked(app)? {
                true => check(Change::UnlockApp(app)),
                false => Ok(()),
            },
            // Maintenance that is off already (its enable failed) is as the undo wants it.
            Action::MaintenanceOff { app } => match host.maintenance_enabled(app)? {
                true => check(Change::MaintenanceOff(app)),
                false => Ok(()),
            },
            Action::Restart { app } => check(Change::RestartApp(app)),
            Action::Relink { app, from, to, vars } => switch::relink(host, app, from, to, vars, Mode::Back, None),
            Action::Expose { service, from, ports } => switch::move_exposure(host, from, service, ports),
            Action::DropStream(stream) => stream.drop_all(host),
            Action::Reschedule { service, when, bucket, use_iam } => {
                check(Change::BackupSchedule { service, when, bucket, use_iam: *use_iam })
            }
        }
    }
}

/// Runs `stack` newest first; a failing action is a warning, never the end. The new service is
/// not destroyed once anything before it failed: it may hold the only copy of something.
/// `save` is told the stack still to do after each action. Returns what is left (failed or
/// kept), oldest first, so that running it again picks up there.
pub fn roll_back(
    host: &Host,
    out: &crate::output::Out,
    mut stack: Vec<Action>,
    mut save: impl FnMut(&[Action]) -> Result<()>,
) -> Vec<Action> {
    let mut left: Vec<Action> = Vec::new();
    while let Some(action) = stack.pop() {
        // An app that did not start again keeps its maintenance page: its users see that, not
        // errors.
        let down = |app: &str| left.iter().any(|a| matches!(a, Action::Restart { app: a } if a == app));
        let kept = match &action {
            Action::DestroyService { .. } => !left.is_empty(),
            Action::MaintenanceOff { app } => down(app),
            _ => false,
        };
        if kept {
            out.warn(&format!("Not done ({}): an earlier rollback step failed", action.label()));
            left.push(action);
        } else {
            match action.run(host) {
                Ok(()) => out.verbose(&format!("Undone: {}", action.label())),
                Err(err) => {
                    out.warn(&format!("Rollback ({}): {err:#}", action.label()));
                    left.push(action);
                }
            }
        }
        let mut remaining = stack.clone();
        remaining.extend(left.iter().rev().cloned());
        if let Err(err) = save(&remaining) {
            out.warn(&format!("{err:#}"));
        }
    }
    left.reverse();
    left
}

/// Starts `service` when it is not running (its server died inside the window): the apps go
/// back to it next. Says what to run when it does not start.
pub fn revive(host: &Host, out: &crate::output::Out, service: &str) {
    if !host.service_exists(service) || host.postgres_info(service, "--status").is_ok_and(|s| s == "running") {
        return;
    }
    out.warn(&format!("{service} is not running: starting it, the apps go back to it"));
    if let Err(err) = host.check(&host.change(Change::StartService(service))) {
        out.warn(&format!(
            "{err:#}\n       Start it by hand (dokku postgres:start {service}), then run this rollback again"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::Output;
    use crate::host::runner::fake::FakeRunner;

    #[test]
    fn undoing_what_is_not_there_is_done_without_a_command() {
        let root = std::env::temp_dir().join(format!("pgu-undo-absent-{}", std::process::id()));
        std::fs::create_dir_all(root.join("services/postgres")).unwrap();
        let env = crate::host::env::Env::for_tests(&root);
        let runner = FakeRunner::new()
            .on("dokku maintenance:report memo --maintenance-enabled", Output::ok("false\n"))
            .on("dokku apps:locked memo", Output::fail(1, ""));
        let host = Host::new(&env, &runner);
        // A create that failed before it made anything, an empty name from an old journal, a
        // maintenance that never went on, a lock never taken.
        for action in [
            Action::DestroyService { service: "memo-v17".into() },
            Action::DestroyService { service: String::new() },
            Action::MaintenanceOff { app: "memo".into() },
            Action::Unlock { app: "memo".into() },
        ] {
            action.run(&host).unwrap_or_else(|e| panic!("{}: {e:#}", action.label()));
        }
        let changes: Vec<String> =
            runner.calls().into_iter().filter(|c| !c.contains(":report") && !c.contains(":locked")).collect();
        assert!(changes.is_empty(), "{changes:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn actions_survive_json_in_the_journals_words() {
        let relink = serde_json::json!({"action": "relink", "app": "a", "from": "n", "to": "o",
            "vars": [{"name": "DATABASE_URL", "query": null}]});
        assert!(matches!(serde_json::from_value::<Action>(relink).unwrap(), Action::Relink { .. }));
        assert!(serde_json::from_value::<Action>(serde_json::json!({"action": "unlock"})).is_err());
        let all = [
            Action::DestroyService { service: "s".into() },
            Action::Unlock { app: "a".into() },
            Action::MaintenanceOff { app: "a".into() },
            Action::Restart { app: "a".into() },
            Action::Relink {
                app: "a".into(),
                from: "n".into(),
                to: "o".into(),
                vars: vec![VarSpec { name: "DATABASE_URL".into(), query: Some("pool=5".into()) }],
            },
            Action::Expose { service: "o".into(), from: "n".into(), ports: vec!["127.0.0.1:4242".into()] },
            Action::DropStream(crate::copy::online::stream::StreamRecord::new(("o", "o_db"), ("n", "n_db"))),
            Action::Reschedule { service: "o".into(), when: "@daily".into(), bucket: "b".into(), use_iam: true },
        ];
        for action in all {
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(serde_json::from_value::<Action>(json).unwrap(), action);
        }
    }
}
