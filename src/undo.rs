//! The undo stack's entries: what each changing step pushes so a failure can take it back.
//! They name things, never hold credentials, so they can be printed and kept on disk.

use crate::host::Host;
use crate::switch::{self, Mode, VarSpec};
use anyhow::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Action {
    pub fn label(&self) -> String {
        match self {
            Action::DestroyService { service } => format!("destroy {service}"),
            Action::Unlock { app } => format!("unlock {app}"),
            Action::MaintenanceOff { app } => format!("maintenance off for {app}"),
            Action::Restart { app } => format!("restart {app}"),
            Action::Relink { app, to, .. } => format!("switch {app} back to {to}"),
        }
    }

    pub fn run(&self, host: &Host) -> Result<()> {
        let check = |args: &[&str]| host.runner.check(&host.dokku(args)).map(drop);
        match self {
            Action::DestroyService { service } => check(&["postgres:destroy", service, "-f"]),
            Action::Unlock { app } => check(&["apps:unlock", app]),
            Action::MaintenanceOff { app } => check(&["maintenance:disable", app]),
            Action::Restart { app } => check(&["ps:restart", app]),
            Action::Relink {
                app,
                from,
                to,
                vars,
            } => switch::relink(host, app, from, to, vars, Mode::Back),
        }
    }
}
