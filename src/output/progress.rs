//! Progress of a long step, on stderr in dokku's style: what is done of what, the rate and the
//! time left. A line every few seconds when stderr is not a terminal (a CI log), one line
//! rewritten in place on a terminal. What is measured is read from the filesystem (the bytes
//! of a dump being written, the new database's files growing) or is the time against an
//! estimate, so that watching costs no query on a server that is busy copying.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a line is written when stderr is not a terminal, unless
/// `POSTGRES_UPGRADE_PROGRESS_SECONDS` says otherwise.
const EVERY: Duration = Duration::from_secs(5);

fn every_line() -> Duration {
    std::env::var("POSTGRES_UPGRADE_PROGRESS_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(EVERY)
}
/// How often the line is rewritten on a terminal.
const EVERY_ON_A_TERMINAL: Duration = Duration::from_secs(1);

/// What a progress line counts.
#[derive(Clone, Copy)]
pub enum Unit {
    Bytes,
    Seconds,
}

/// Reports until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// `label` (e.g. "dumping memo-db"), done as `measure` says, of about `total`. Nothing is
    /// shown when `quiet`, or when the step ends before the first line is due.
    pub fn start(
        label: String,
        total: u64,
        unit: Unit,
        quiet: bool,
        measure: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet {
            return Progress { stop, thread: None };
        }
        let watching = stop.clone();
        let thread = std::thread::spawn(move || {
            let terminal = std::io::stderr().is_terminal();
            let every = if terminal { EVERY_ON_A_TERMINAL } else { every_line() };
            let started = Instant::now();
            let mut printed = false;
            loop {
                std::thread::park_timeout(every);
                if watching.load(Ordering::SeqCst) {
                    break;
                }
                let line = line(&label, measure(), total, unit, started.elapsed());
                let mut err = std::io::stderr();
                let _ = if terminal { write!(err, "\r\x1b[K       {line}") } else { writeln!(err, "       {line}") };
                let _ = err.flush();
                printed = true;
            }
            // What it came to, once something was shown: the step's size, time and rate (and
            // the end that `make bench` measures the time left against).
            if printed {
                let done = ended(&label, measure(), unit, started.elapsed());
                let mut err = std::io::stderr();
                let _ = if terminal { writeln!(err, "\r\x1b[K       {done}") } else { writeln!(err, "       {done}") };
            }
        });
        Progress { stop, thread: Some(thread) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// A step whose progress cannot be seen from outside (a fingerprint): the time it has taken.
pub fn timer(label: String, quiet: bool) -> Progress {
    let started = Instant::now();
    Progress::start(label, 0, Unit::Seconds, quiet, move || started.elapsed().as_secs())
}

/// `dumping memo-db: 340 MB of about 1.0 GB (34%), 45 MB/s, about 15 s left`
pub fn line(label: &str, done: u64, total: u64, unit: Unit, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let show = |n: u64| match unit {
        Unit::Bytes => crate::output::human(n),
        Unit::Seconds => format!("{n} s"),
    };
    let mut text = format!("{label}: {}", show(done));
    if total > 0 {
        text.push_str(&format!(" of about {} ({}%)", show(total), (done * 100 / total).min(99)));
    }
    if let Unit::Bytes = unit {
        text.push_str(&format!(", {}/s", crate::output::human((done as f64 / secs) as u64)));
    }
    if total > done && done > 0 {
        let left = match unit {
            Unit::Bytes => (total - done) as f64 / (done as f64 / secs),
            Unit::Seconds => (total - done) as f64,
        };
        text.push_str(&format!(", about {} left", clock(left)));
    }
    text
}

/// `dumping memo-db: done, 1.0 GB in 41 s, 25 MB/s`
pub fn ended(label: &str, done: u64, unit: Unit, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    match unit {
        Unit::Bytes => format!(
            "{label}: done, {} in {}, {}/s",
            crate::output::human(done),
            clock(secs),
            crate::output::human((done as f64 / secs) as u64)
        ),
        Unit::Seconds => format!("{label}: done in {}", clock(secs)),
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// Bytes of the files under `path` (du, without following links).
pub fn bytes_under(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|d| d.flatten().map(|e| bytes_under(&e.path())).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_is_done_of_what_the_rate_and_the_time_left() {
        let at = Duration::from_secs(10);
        assert_eq!(
            line("dumping memo-db", 400_000_000, 1_000_000_000, Unit::Bytes, at),
            "dumping memo-db: 400 MB of about 1.0 GB (40%), 40 MB/s, about 15 s left"
        );
        assert_eq!(
            line("fingerprinting memo-db", 12, 200, Unit::Seconds, at),
            "fingerprinting memo-db: 12 s of about 200 s (6%), about 3m08s left"
        );
        // Past the estimate: no time left is made up, and it never says 100% before the end.
        assert_eq!(line("restoring", 30, 20, Unit::Seconds, at), "restoring: 30 s of about 20 s (99%)");
        assert_eq!(
            ended("dumping memo-db", 1_000_000_000, Unit::Bytes, at),
            "dumping memo-db: done, 1.0 GB in 10 s, 100 MB/s"
        );
        assert_eq!(ended("verifying", 0, Unit::Seconds, Duration::from_secs(75)), "verifying: done in 1m15s");
    }

    #[test]
    fn nothing_is_printed_for_a_step_that_ends_first() {
        let started = Instant::now();
        drop(Progress::start("x".into(), 1, Unit::Bytes, false, || 0));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
