//! The one output module: dokku's log prefixes (`-----> `, `=====> `, 7 spaces, ` !     `),
//! as in dokku's plugins/common/log.go. With `--format json` the human lines go to stderr so that
//! stdout carries only the JSON report.

pub mod progress;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::time::Instant;

pub struct Out {
    quiet: bool,
    json: bool,
    started: Instant,
    step: Cell<usize>,
    total: Cell<usize>,
    /// The run's failure was said already (before its rollback): it is not said twice.
    failure_said: Cell<bool>,
    /// Captured lines instead of printing (unit tests).
    capture: Option<RefCell<Vec<String>>>,
}

impl Out {
    pub fn new(quiet: bool, json: bool) -> Out {
        Out {
            quiet,
            json,
            started: Instant::now(),
            step: Cell::new(0),
            total: Cell::new(0),
            failure_said: Cell::new(false),
            capture: None,
        }
    }

    /// `--quiet`: nothing but errors (and the JSON report).
    pub fn quiet(&self) -> bool {
        self.quiet || self.capture.is_some()
    }

    #[cfg(test)]
    pub fn captured() -> Out {
        Out { capture: Some(RefCell::new(Vec::new())), ..Out::new(false, false) }
    }

    #[cfg(test)]
    pub fn lines(&self) -> Vec<String> {
        self.capture.as_ref().map(|c| c.borrow().clone()).unwrap_or_default()
    }

    #[allow(clippy::print_stdout, clippy::print_stderr)]
    fn emit(&self, to_stderr: bool, line: String) {
        if let Some(capture) = &self.capture {
            capture.borrow_mut().push(line);
            return;
        }
        if to_stderr || self.json {
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    /// A plain line on stdout (the version, help).
    pub fn line(&self, text: &str) {
        self.emit(false, text.to_string());
    }

    /// `-----> text`
    pub fn info1(&self, text: &str) {
        if !self.quiet {
            self.emit(false, format!("-----> {text}"));
        }
    }

    /// `=====> text`
    pub fn info2(&self, text: &str) {
        if !self.quiet {
            self.emit(false, format!("=====> {text}"));
        }
    }

    /// Seven spaces, then the text: details under a step.
    pub fn verbose(&self, text: &str) {
        if !self.quiet {
            for line in text.lines() {
                self.emit(false, format!("       {line}"));
            }
        }
    }

    /// ` !     text` on stderr, even when quiet.
    pub fn warn(&self, text: &str) {
        for line in text.lines() {
            self.emit(true, format!(" !     {line}"));
        }
    }

    /// The run's failure, said once: where it happens, before what follows from it.
    pub fn failure(&self, text: &str) {
        if !self.failure_said.replace(true) {
            self.warn(text);
        }
    }

    /// The run's last word, said even after its failure was: how a signal ended it.
    pub fn conclusion(&self, text: &str) {
        self.failure_said.set(true);
        self.warn(text);
    }

    /// Sets how many numbered steps the run has.
    pub fn plan_steps(&self, total: usize) {
        self.total.set(total);
        self.step.set(0);
    }

    /// Counts a step that an earlier run did, without printing it.
    pub fn plan_steps_skip(&self) {
        self.step.set(self.step.get() + 1);
    }

    /// `-----> [n/N] text (+12.3s)`: the next numbered step, with the time since the command started.
    pub fn step(&self, text: &str) {
        let n = self.step.get() + 1;
        self.step.set(n);
        let elapsed = self.started.elapsed().as_secs_f64();
        self.info1(&format!("[{n}/{}] {text} (+{elapsed:.1}s)", self.total.get()));
    }

    /// The JSON report: the only thing written to stdout in json mode.
    #[allow(clippy::print_stdout)]
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        if let Some(capture) = &self.capture {
            capture.borrow_mut().push(text);
        } else {
            let _ = writeln!(std::io::stdout(), "{text}");
        }
    }
}

/// `1.2 GB`, `340 MB`.
pub fn human(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", bytes.div_ceil(1_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_dokku() {
        let out = Out::captured();
        out.plan_steps(2);
        out.info2("Upgrade");
        out.step("Preflight");
        out.verbose("detail\nmore");
        out.warn("careful");
        let lines = out.lines();
        assert_eq!(lines[0], "=====> Upgrade");
        assert!(lines[1].starts_with("-----> [1/2] Preflight (+"), "{}", lines[1]);
        assert_eq!(lines[2..], ["       detail", "       more", " !     careful"]);
    }

    #[test]
    fn sizes_in_mb_then_gb() {
        assert_eq!((human(1_260_000_000), human(340_000_001)), ("1.3 GB".to_string(), "341 MB".to_string()));
    }
}
