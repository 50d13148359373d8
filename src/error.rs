//! Errors at the edge: what the user sees and the exit code dokku passes on.

use std::fmt;

/// `text` as it may be printed: every control character (a newline, a carriage return, a
/// terminal escape) and every invisible direction override written as an escape, so that a
/// string given on the command line can neither start a line of its own (a forged ` !     `
/// line) nor drive the terminal. Every user-given string in a message goes through it, and
/// every line the plugin prints (output/mod.rs).
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The zero-width and direction-override characters: they change what a line looks like
/// without being seen.
pub fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// No app (and no service) has the name given on the command line, or the name cannot be
/// one: dokku's `AppDoesNotExist`, exit 20 (its `verify_app_name` says the same of a name it
/// refuses).
#[derive(Debug)]
pub struct AppMissing(pub String);

impl fmt::Display for AppMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "App or postgres service {} does not exist", shown(&self.0))
    }
}

impl std::error::Error for AppMissing {}

/// Preflight found problems; each was already printed, so only the summary remains, with the
/// one change preflight may have made: the image it pulled.
#[derive(Debug)]
pub struct PreflightFailed {
    pub problems: usize,
    pub pulled: Option<String>,
}

impl fmt::Display for PreflightFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.problems == 1 { "" } else { "s" };
        write!(f, "Preflight found {} problem{s}; nothing was changed", self.problems)?;
        match &self.pulled {
            Some(pulled) => write!(f, " but the pull of {pulled}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for PreflightFailed {}

/// The run was interrupted by a signal: exit 128 + its number, as a shell reports it.
#[derive(Debug)]
pub struct Interrupted(pub nix::sys::signal::Signal);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interrupted by {}", self.0.as_str())
    }
}

impl std::error::Error for Interrupted {}

/// The exit code for an error: 20 for a missing app (as dokku's verify_app_name), else 1.
/// A signal ends the run with 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<AppMissing>().is_some() {
        20
    } else if let Some(Interrupted(signal)) = err.downcast_ref() {
        128 + *signal as i32
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_app_exits_20_like_dokku() {
        assert_eq!(exit_code(&anyhow::Error::new(AppMissing("x".into()))), 20);
        assert_eq!(AppMissing("x\ny".into()).to_string(), "App or postgres service x\\ny does not exist");
        assert_eq!(exit_code(&anyhow::anyhow!("other")), 1);
        let term = anyhow::Error::new(Interrupted(nix::sys::signal::Signal::SIGTERM));
        assert_eq!(exit_code(&term.context("Step 'x' failed")), 143);
    }
}
