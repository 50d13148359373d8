//! The commands, each a plain function: the upgrade (upgrade), status, rollback and resume of
//! an upgrade (recovery), report and cleanup (report).

pub mod recovery;
pub mod report;
pub mod upgrade;
