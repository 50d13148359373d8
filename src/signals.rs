//! SIGINT, SIGTERM and SIGHUP during an upgrade: remembered, not fatal, so that the run stops at
//! the next step boundary and rolls back like a failure, then exits 128 + the signal's number.
//! (A terminal's Ctrl-C also reaches the running child, e.g. pg_dump, which fails the step.)

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(signal: i32) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

pub fn install() {
    let action = SigAction::new(SigHandler::Handler(remember), SaFlags::SA_RESTART, SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// The signal received so far, if any.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// The run was interrupted by a signal: exit 128 + its number, as a shell reports it.
#[derive(Debug)]
pub struct Interrupted(pub Signal);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interrupted by {}", self.0.as_str())
    }
}

impl std::error::Error for Interrupted {}
