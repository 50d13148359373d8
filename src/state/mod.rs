//! What outlives a run, on disk: the journal of steps and undo entries, what each undo entry
//! does, and the dumps kept as rollback artifacts.

pub mod dumps;
pub mod journal;
pub mod layout;
pub mod undo;
