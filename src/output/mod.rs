//! The one output module: dokku's log prefixes (`-----> `, `=====> `, 7 spaces, ` !     `),
//! as in dokku's plugins/common/log.go. With `--format json` the human lines go to stderr so that
//! stdout carries only the JSON report.

pub mod progress;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

pub use crate::error::shown;

/// The terminal's one line that a progress rewrites in place, shared by every writer of the
/// process: a detail line ends it first, and no two writers mix within a line.
pub(crate) struct Terminal {
    /// A progress line is on the terminal without its newline.
    open: bool,
}

/// The process's terminal; every line the plugin prints goes through it.
pub(crate) static TERMINAL: Mutex<Terminal> = Mutex::new(Terminal { open: false });

impl Terminal {
    /// A whole line on stdout or stderr, after ending an open progress line.
    pub(crate) fn line(&mut self, err: &mut dyn Write, out: &mut dyn Write, to_stderr: bool, line: &str) {
        self.close(err);
        let _ = if to_stderr { writeln!(err, "{line}") } else { writeln!(out, "{line}") };
        let _ = out.flush();
    }

    /// A progress line: rewritten in place on a terminal (left open), a line of its own in a log.
    pub(crate) fn progress(&mut self, err: &mut dyn Write, line: &str, rewrite: bool) {
        if rewrite {
            let _ = write!(err, "\r\x1b[K{line}");
            self.open = true;
        } else {
            self.close(err);
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Erases an open progress line, leaving the cursor at the start of that line.
    pub(crate) fn close(&mut self, err: &mut dyn Write) {
        if std::mem::take(&mut self.open) {
            let _ = write!(err, "\r\x1b[K");
        }
    }
}

/// Runs `f` on the process's terminal, with its real stderr and stdout.
pub(crate) fn with_terminal<T>(f: impl FnOnce(&mut Terminal, &mut dyn Write, &mut dyn Write) -> T) -> T {
    let mut terminal = TERMINAL.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut terminal, &mut std::io::stderr(), &mut std::io::stdout())
}

/// A line on stderr from anywhere in the process (a watchdog thread, say), in turn with the others.
pub fn say(line: &str) {
    write_line(true, line);
}

/// The diagnostics' writer (`--trace`): each whole line goes to stderr in turn with the others,
/// so that none lands on an open progress line.
#[derive(Default)]
pub struct LogLines(Vec<u8>);

impl Write for LogLines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        while let Some(end) = self.0.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.0.drain(..=end).collect();
            write_line(true, String::from_utf8_lossy(&line[..end]).as_ref());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A line of another program's output passed on, on stderr or stdout, escaped as every line.
pub fn write_line(to_stderr: bool, line: &str) {
    let line = shown(line);
    with_terminal(|t, err, out| t.line(err, out, to_stderr, &line));
}

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

    /// Every line the plugin prints, escaped (no control character of any string in it reaches
    /// the terminal: [`shown`]).
    fn emit(&self, to_stderr: bool, line: String) {
        let line = shown(&line);
        if let Some(capture) = &self.capture {
            capture.borrow_mut().push(line);
            return;
        }
        with_terminal(|t, err, out| t.line(err, out, to_stderr || self.json, &line));
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
    pub fn json(&self, value: &serde_json::Value) {
        self.json_text(serde_json::to_string_pretty(value).unwrap_or_default());
    }

    /// A JSON document on one line, as dokku's `*:report --format json` print theirs.
    pub fn json_line(&self, value: &serde_json::Value) {
        self.json_text(value.to_string());
    }

    /// JSON is not written through [`shown`] (JSON has no `\u{…}` escape): serde_json escapes
    /// the ASCII control characters in a string itself, and the others, C1 controls such as a
    /// one-byte CSI and the invisible ones, are written as JSON's `\u00XX` here (outside its
    /// strings JSON has none of them).
    fn json_text(&self, text: String) {
        let text: String = text
            .chars()
            .map(|c| {
                if (c.is_control() && !c.is_ascii()) || crate::error::invisible(c) {
                    format!("\\u{:04x}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect();
        if let Some(capture) = &self.capture {
            capture.borrow_mut().push(text);
        } else {
            with_terminal(|t, err, out| t.line(err, out, false, &text));
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
    fn a_string_from_the_command_line_cannot_start_a_line_or_drive_the_terminal() {
        assert_eq!(shown("memo"), "memo");
        assert_eq!(shown("x\n !     forged"), "x\\n !     forged");
        assert_eq!(shown("a\x1b[31mred\r\t"), "a\\u{1b}[31mred\\r\\t");
        assert_eq!(shown("\u{202e}gnp.exe \u{9b}"), "\\u{202e}gnp.exe \\u{9b}");
        assert_eq!(shown("café"), "café");
        let out = Out::captured();
        out.info1("App x\n!     forged");
        out.warn("two\nlines");
        assert_eq!(out.lines(), ["-----> App x\\n!     forged", " !     two", " !     lines"]);
    }

    #[test]
    fn json_carries_every_string_escaped_and_stays_json() {
        let out = Out::captured();
        let value = serde_json::json!({"target": "a\nb\u{1b}[2J\u{9b}c\u{202e}d"});
        out.json_line(&value);
        let text = &out.lines()[0];
        assert_eq!(text, r#"{"target":"a\nb\u001b[2J\u009bc\u202ed"}"#);
        assert_eq!(serde_json::from_str::<serde_json::Value>(text).unwrap(), value);
    }

    #[test]
    fn a_detail_line_ends_an_open_progress_line_first() {
        let mut terminal = Terminal { open: false };
        let (mut err, mut out) = (Vec::new(), Vec::new());
        terminal.progress(&mut err, "       dumping: 1 MB", true);
        terminal.progress(&mut err, "       dumping: 2 MB", true);
        terminal.line(&mut err, &mut out, true, " !     careful");
        terminal.progress(&mut err, "       dumping: 3 MB", true);
        terminal.line(&mut err, &mut out, false, "       detail");
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "\r\x1b[K       dumping: 1 MB\r\x1b[K       dumping: 2 MB\r\x1b[K !     careful\n\r\x1b[K       dumping: 3 MB\r\x1b[K"
        );
        assert_eq!(String::from_utf8(out).unwrap(), "       detail\n");
        // In a log, each progress line is a line of its own.
        let mut log = Vec::new();
        terminal.progress(&mut log, "       dumping: 4 MB", false);
        terminal.line(&mut log, &mut Vec::new(), true, " !     x");
        assert_eq!(String::from_utf8(log).unwrap(), "       dumping: 4 MB\n !     x\n");
    }

    #[test]
    fn sizes_in_mb_then_gb() {
        assert_eq!((human(1_260_000_000), human(340_000_001)), ("1.3 GB".to_string(), "341 MB".to_string()));
    }
}
