//! The commands besides the upgrade itself, each a plain function: status, rollback and resume
//! of an upgrade (recovery), report and cleanup (report).

pub mod recovery;
pub mod report;
