//! Progress of a long step, on stderr in dokku's style: what is done of what, the rate and the
//! time left. A line every few seconds when stderr is not a terminal (a CI log), one line
//! rewritten in place on a terminal. What is measured is read from the filesystem (the bytes
//! of a dump being written, the new database's files growing) or is the time against an
//! estimate, so that watching costs no query on a server that is busy copying.
//!
//! One owner per step: the engine starts it with the step ([`step`]), and it shows a line
//! within a few seconds of the step's start and then regularly, whatever the step is doing.
//! The parts of the step (a dump, a restore, a fingerprint) feed it ([`Progress::start`],
//! [`timer`]): while one runs, the line is that part's; between parts it says how long the
//! step has run. A part that runs outside any step (the pull in preflight) is its own owner.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard};
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

/// One part of a step, measured its own way.
struct Part {
    label: String,
    total: u64,
    unit: Unit,
    measure: Box<dyn Fn() -> u64 + Send>,
    started: Instant,
    /// A line of it was shown: its end is said too.
    shown: bool,
}

/// What an owner shows.
struct State {
    /// The step's title (or the lone part's label).
    label: String,
    started: Instant,
    /// The parts running, innermost last.
    parts: Vec<Part>,
    /// The part that ended last, for the line between parts.
    last: Option<String>,
    stopped: bool,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn line(&mut self) -> String {
        match self.parts.last_mut() {
            Some(part) => {
                part.shown = true;
                line(&part.label, (part.measure)(), part.total, part.unit, part.started.elapsed())
            }
            None => {
                let mut text = format!("{}: {} so far", self.label, clock(self.started.elapsed().as_secs_f64()));
                if let Some(last) = &self.last {
                    text.push_str(&format!(" ({last} done)"));
                }
                text
            }
        }
    }
}

/// The step that runs now, which the parts started inside it feed.
static STEP: Mutex<Option<Shared>> = Mutex::new(None);

/// Shows a line until dropped, from its own thread.
struct Owner {
    state: Shared,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Owner {
    fn start(label: String, parts: Vec<Part>) -> Owner {
        let state = Arc::new(Mutex::new(State { label, started: Instant::now(), parts, last: None, stopped: false }));
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal { EVERY_ON_A_TERMINAL } else { every_line() };
        let watched = state.clone();
        let thread = std::thread::spawn(move || watch(&watched, every, terminal));
        Owner { state, thread: Some(thread) }
    }
}

/// Writes a line at every multiple of `every` since the start, until stopped.
fn watch(state: &Shared, every: Duration, terminal: bool) {
    let started = lock(state).started;
    for n in 1u32.. {
        let due = started + every * n;
        loop {
            if lock(state).stopped {
                return;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::park_timeout(due - now);
        }
        let mut state = lock(state);
        if state.stopped {
            return;
        }
        let text = crate::output::shown(&state.line());
        crate::output::with_terminal(|t, err, _| t.progress(err, &format!("       {text}"), terminal));
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        lock(&self.state).stopped = true;
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        // The parts still open (a lone part's own) say how they ended.
        let parts = std::mem::take(&mut lock(&self.state).parts);
        for part in parts.into_iter().rev() {
            end(part);
        }
        crate::output::with_terminal(|t, err, _| t.close(err));
    }
}

/// Says what a part came to, once a line of it was shown: its size, time and rate (and the end
/// that `make bench` measures the time left against).
fn end(part: Part) {
    if part.shown {
        let done = crate::output::shown(&ended(&part.label, (part.measure)(), part.unit, part.started.elapsed()));
        crate::output::with_terminal(|t, err, _| t.progress(err, &format!("       {done}"), false));
    }
}

/// The progress owner of one step, shown until dropped: the engine starts one for every step.
/// Nothing is shown when `quiet`.
pub struct Step(Option<Owner>);

/// Starts the progress of the step `label` (its title).
pub fn step(label: String, quiet: bool) -> Step {
    if quiet {
        return Step(None);
    }
    let owner = Owner::start(label, Vec::new());
    *STEP.lock().unwrap_or_else(|e| e.into_inner()) = Some(owner.state.clone());
    Step(Some(owner))
}

impl Drop for Step {
    fn drop(&mut self) {
        if self.0.is_some() {
            *STEP.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

/// One part's progress, until dropped: it feeds the step that runs, or shows its own line
/// outside any step.
pub struct Progress(Fed);

enum Fed {
    Quiet,
    Step(Shared),
    /// Outside any step: its own owner, shown until the part ends.
    Alone {
        _owner: Owner,
    },
}

impl Progress {
    /// `label` (e.g. "dumping memo-db"), done as `measure` says, of about `total`. Nothing is
    /// shown when `quiet`; outside a step, nothing when it ends before the first line is due.
    pub fn start(
        label: String,
        total: u64,
        unit: Unit,
        quiet: bool,
        measure: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        if quiet {
            return Progress(Fed::Quiet);
        }
        let part = Part {
            label: label.clone(),
            total,
            unit,
            measure: Box::new(measure),
            started: Instant::now(),
            shown: false,
        };
        let step = STEP.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match step {
            Some(state) => {
                lock(&state).parts.push(part);
                Progress(Fed::Step(state))
            }
            None => Progress(Fed::Alone { _owner: Owner::start(label, vec![part]) }),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Fed::Step(state) = &self.0 {
            let part = {
                let mut state = lock(state);
                let part = state.parts.pop();
                state.last = part.as_ref().map(|p| p.label.clone());
                part
            };
            if let Some(part) = part {
                end(part);
            }
        }
    }
}

/// A part whose progress cannot be seen from outside (a fingerprint): the time it has taken.
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
    fn between_its_parts_a_step_says_how_long_it_has_run_and_what_ended_last() {
        let mut state = State {
            label: "Copying a into b".into(),
            started: Instant::now(),
            parts: Vec::new(),
            last: None,
            stopped: false,
        };
        assert_eq!(state.line(), "Copying a into b: 0 s so far");
        let part = |label: &str| Part {
            label: label.into(),
            total: 100,
            unit: Unit::Seconds,
            measure: Box::new(|| 7),
            started: Instant::now(),
            shown: false,
        };
        state.parts.push(part("restoring into b"));
        assert!(state.line().starts_with("restoring into b: 7 s of about 100 s (7%)"), "{}", state.line());
        assert!(state.parts[0].shown, "a part shown says how it ended");
        state.parts.push(part("analyzing b"));
        assert!(state.line().starts_with("analyzing b: "));
        state.parts.clear();
        state.last = Some("analyzing b".into());
        assert_eq!(state.line(), "Copying a into b: 0 s so far (analyzing b done)");
    }

    #[test]
    fn nothing_is_printed_for_a_step_that_ends_first() {
        let started = Instant::now();
        drop(Progress::start("x".into(), 1, Unit::Bytes, false, || 0));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
