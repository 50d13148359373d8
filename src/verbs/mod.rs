//! The commands, each a plain function: the upgrade (upgrade), status, rollback and resume of
//! an upgrade (recovery), report and cleanup (report).

pub mod recovery;
pub mod report;
pub mod reversible;
pub mod upgrade;

use crate::error::AppMissing;
use crate::host::Host;
use crate::host::env::Env;
use crate::host::runner::Runner;
use crate::plan::naming;
use crate::state::journal::Journal;
use anyhow::Result;

/// What every command says of a target that cannot be an app's or a service's name, before
/// anything is read with it: nothing named (dokku's `verify_app_name`, exit 20), or no name at all.
pub fn impossible(target: &str) -> Option<anyhow::Error> {
    if target.is_empty() || target.starts_with('-') {
        return Some(anyhow::anyhow!("Please specify an app or a postgres service to run the command on"));
    }
    (!naming::possible_target(target)).then(|| AppMissing(target.to_string()).into())
}

/// The journal of `target` for the commands that read it (status, rollback, report, cleanup),
/// None when no upgrade of it is recorded. A target that is no app, no service and has no
/// folder of this plugin names nothing: exit 20, the same in every command.
pub fn journal_of(env: &Env, runner: &dyn Runner, target: &str) -> Result<Option<Journal>> {
    if let Some(err) = impossible(target) {
        return Err(err);
    }
    let journal = Journal::load(&Journal::found_for(&env.data_dir(), target))?;
    if journal.is_none() {
        let host = Host::new(env, runner);
        let known = crate::state::layout::current(&env.data_dir(), target).is_dir()
            || host.service_exists(target)
            || naming::valid_app_name(target) && host.app_exists(target)?;
        if !known {
            return Err(AppMissing(target.to_string()).into());
        }
    }
    Ok(journal)
}
