//! SIGINT, SIGTERM and SIGHUP during an upgrade: remembered, not fatal. Before the point of no
//! return the command that runs is stopped at once (host/runner.rs: a dump, a restore, a fingerprint)
//! and the upgrade rolls back like a failure; after it, the switch is finished, the old service
//! is kept, and what is left is named. Either way the exit code is 128 + the signal's number
//! (README, "Exit codes").

pub use crate::error::Interrupted;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Whether a signal stops the running command: only while going back is still possible.
static STOPS_COMMANDS: AtomicBool = AtomicBool::new(false);

/// From now on (`true`) a signal stops the running command at once; `false` once the switch
/// has begun, when a command cut in half (a `postgres:link`) would leave an app between services.
pub fn stop_commands(on: bool) {
    STOPS_COMMANDS.store(on, Ordering::SeqCst);
}

/// A signal came while commands may be stopped: the running one should end now.
pub fn stopping() -> Option<Signal> {
    received().filter(|_| STOPS_COMMANDS.load(Ordering::SeqCst))
}

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
