//! The one place external commands run. Every `dokku …` and `docker …` call is a [`Cmd`] value
//! handed to a [`Runner`], so the step sequence can be unit-tested with a fake runner that records
//! the calls and replays scripted answers (the command-as-data runner seam).

use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// One external command, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// Positions in `args` that hold credentials: never logged, never shown.
    pub secret_args: Vec<usize>,
    /// Written to the command's standard input (a script that may hold secrets: never shown).
    pub input: Option<String>,
    /// Other text that must never reach output, such as password hashes in `input`.
    pub hidden: Vec<String>,
    /// Variables set for the command alone: how a secret reaches it without a command line
    /// (`ps` shows every process's arguments to every user, not its environment).
    pub env: Vec<(String, String)>,
}

impl Cmd {
    pub fn new(program: &str, args: &[&str]) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            secret_args: Vec::new(),
            input: None,
            hidden: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Feeds `text` to the command's standard input.
    pub fn input(mut self, text: impl Into<String>) -> Cmd {
        self.input = Some(text.into());
        self
    }

    /// Strings redacted from whatever the command prints, as its secret arguments are.
    pub fn hiding(mut self, secrets: impl IntoIterator<Item = String>) -> Cmd {
        self.hidden.extend(secrets);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets `name` for the command to a value that must never reach output, logs or arguments.
    pub fn secret_env(mut self, name: &str, value: impl Into<String>) -> Cmd {
        let value = value.into();
        self.hidden.push(value.clone());
        self.env.push((name.to_string(), value));
        self
    }

    /// Adds an argument that must never reach output or logs.
    pub fn secret(mut self, arg: impl Into<String>) -> Cmd {
        self.secret_args.push(self.args.len());
        self.args.push(arg.into());
        self
    }

    /// `text` (a command's output) with this command's secret arguments, and the password of
    /// any `scheme://user:password@` URL, replaced by `<redacted>`: dokku's `config:set` echoes
    /// the values it sets, and `--trace` echoes whole command lines.
    pub fn redact(&self, text: &str) -> String {
        static URL_PASSWORD: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"(://[^:/@\s]+:)[^@\s]+@").unwrap());
        let mut text = URL_PASSWORD.replace_all(text, "${1}<redacted>@").into_owned();
        for &i in &self.secret_args {
            let arg = &self.args[i];
            let value = arg.split_once('=').map(|(_, v)| v).unwrap_or(arg);
            for secret in [arg.as_str(), value] {
                if secret.len() >= 4 {
                    text = text.replace(secret, "<redacted>");
                }
            }
        }
        for secret in self.hidden.iter().filter(|s| s.len() >= 4) {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        text
    }

    /// [`Cmd::display`] with every long argument (a query, a script) cut short: what a
    /// message names the command by.
    pub fn display_short(&self) -> String {
        const LONG: usize = 72;
        let mut short = self.clone();
        for arg in short.args.iter_mut().filter(|a| a.chars().count() > LONG) {
            let head: String = arg.chars().take(LONG - 8).collect();
            *arg = format!("{}…", head.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        short.display()
    }

    /// The command line as it may be shown: program name without its directory, secrets masked.
    pub fn display(&self) -> String {
        let program = self.program.rsplit('/').next().unwrap_or(&self.program);
        let mut words = vec![program.to_string()];
        for (i, arg) in self.args.iter().enumerate() {
            if self.secret_args.contains(&i) {
                words.push("<redacted>".to_string());
            } else if arg.is_empty() || arg.contains(char::is_whitespace) {
                words.push(format!("'{arg}'"));
            } else {
                words.push(arg.clone());
            }
        }
        words.join(" ")
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(stdout: &str) -> Output {
        Output { code: 0, stdout: stdout.to_string(), stderr: String::new() }
    }

    pub fn fail(code: i32, stderr: &str) -> Output {
        Output { code, stdout: String::new(), stderr: stderr.to_string() }
    }

    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// `producer | tee copy | consumer`, with `script` on the producer's stdin: a stream that
/// moves data from one server to another and keeps what went through in a file.
pub struct Pipe<'a> {
    pub producer: &'a Cmd,
    pub script: &'a str,
    pub consumer: &'a Cmd,
    pub tee: &'a Path,
}

/// A command that keeps running while the caller goes on: a database session that holds
/// locks, fed one line at a time. Dropping it ends the command.
pub trait Session {
    /// Writes `text` to the command's stdin.
    fn send(&mut self, text: &str) -> Result<()>;
    /// The next line the command prints, None once it has ended.
    fn line(&mut self) -> Option<String>;
    /// Whether the command still runs.
    fn running(&mut self) -> bool;
    /// What it printed on stderr, once it has ended (for the error that says why).
    fn stderr(&mut self) -> String;
}

pub trait Runner {
    /// Runs the command and returns whatever it exited with; Err only when it could not run.
    fn run(&self, cmd: &Cmd) -> Result<Output>;

    /// Starts a [`Session`].
    fn session(&self, cmd: &Cmd) -> Result<Box<dyn Session>>;

    /// Runs independent commands at once (each a process of its own, none reading another's
    /// output), returning what each exited with, in their order. One after the other unless
    /// the runner can do better: a window's reads of two servers cost the slower one.
    fn run_all(&self, cmds: &[&Cmd]) -> Result<Vec<Output>> {
        cmds.iter().map(|cmd| self.run(cmd)).collect()
    }

    /// Runs a [`Pipe`]; returns what the producer and the consumer exited with.
    fn pipe(&self, pipe: &Pipe) -> Result<(Output, Output)>;

    /// Runs a [`Pipe`] and turns a failure of either end into an error naming that command:
    /// the producer's first, since a consumer that lost its input fails as a consequence.
    fn check_pipe(&self, pipe: &Pipe) -> Result<Output> {
        let (produced, consumed) = self.pipe(pipe)?;
        if !produced.success() {
            return Err(anyhow::anyhow!("{}", failure_message(pipe.producer, &produced)));
        }
        if !consumed.success() {
            return Err(anyhow::anyhow!("{}", failure_message(pipe.consumer, &consumed)));
        }
        Ok(consumed)
    }

    /// Runs a command whose output the user reads as it comes (dokku-postgres's own upgrade):
    /// each line shown as the command writes it, with what [`Cmd::redact`] hides taken out;
    /// its stdout on stderr when `to_stderr`. Returns its exit code.
    fn stream(&self, cmd: &Cmd, to_stderr: bool) -> Result<i32> {
        let out = self.run(cmd)?;
        for line in cmd.redact(&out.stdout).lines() {
            crate::output::write_line(to_stderr, line);
        }
        for line in cmd.redact(&out.stderr).lines() {
            crate::output::write_line(true, line);
        }
        Ok(out.code)
    }

    /// Runs the command and turns a non-zero exit into an error naming the command and its stderr.
    fn check(&self, cmd: &Cmd) -> Result<Output> {
        let out = self.run(cmd)?;
        if out.success() { Ok(out) } else { Err(anyhow::anyhow!("{}", failure_message(cmd, &out))) }
    }

    /// stdout of a successful command, trimmed.
    fn read(&self, cmd: &Cmd) -> Result<String> {
        Ok(self.check(cmd)?.stdout.trim().to_string())
    }
}

/// "`cmd` exited with code N: <what it said>", the shape dokku and xshell use. What it said is
/// the server's own error when there is one (PostgreSQL's `ERROR:`/`FATAL:` line with the
/// lines that explain it: DETAIL, HINT, the statement), else the last lines of stderr.
pub fn failure_message(cmd: &Cmd, out: &Output) -> String {
    let stderr = cmd.redact(&out.stderr);
    let stdout = cmd.redact(&out.stdout);
    let lines: Vec<&str> = stderr
        .lines()
        .chain(if stderr.trim().is_empty() { stdout.lines() } else { "".lines() })
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let tail = said(&lines).join("\n       ");
    if tail.is_empty() {
        format!("`{}` exited with code {}", cmd.display_short(), out.code)
    } else {
        format!("`{}` exited with code {}: {}", cmd.display_short(), out.code, tail)
    }
}

/// The lines worth showing of a failed command's output: from the first server error on (at
/// most a few), and the last line when it comes later (the tool's own summary).
fn said<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    const KEEP: usize = 6;
    let error = lines.iter().position(|l| ["ERROR:", "FATAL:", "PANIC:"].iter().any(|e| l.contains(e)));
    let Some(first) = error else {
        return lines[lines.len().saturating_sub(KEEP)..].to_vec();
    };
    let mut kept: Vec<&str> = lines[first..].iter().take(KEEP).copied().collect();
    if let Some(last) = lines.last()
        && first + KEEP < lines.len()
    {
        kept.push(last);
    }
    kept
}

/// Runs commands for real.
pub struct SystemRunner;

/// A `Command` for `cmd`, detached from our terminal's signals and our dokku context: a
/// terminal's Ctrl-C must not cut a `postgres:link` in half (the upgrade decides at the next step
/// boundary: host/signals.rs). Our own `--app` must not rewrite nested calls, and our own flags must
/// not stand in for theirs: dokku sets DOKKU_GLOBAL_FLAGS only when it is empty, and
/// `postgres:unlink` reads `--no-restart` nowhere else (docs/dokku-host.md, docs/dokku-postgres-service.md#commands).
fn command(cmd: &Cmd) -> Command {
    use std::os::unix::process::CommandExt;
    log::debug!("exec: {}", cmd.display());
    let mut command = Command::new(&cmd.program);
    command.args(&cmd.args);
    command.envs(cmd.env.iter().map(|(k, v)| (k, v)));
    command.process_group(0).env_remove("DOKKU_APP_NAME").env_remove("DOKKU_GLOBAL_FLAGS");
    command.stdin(Stdio::null());
    command
}

fn output_of(status: std::process::ExitStatus, stdout: Vec<u8>, stderr: Vec<u8>) -> Output {
    Output {
        code: status.code().unwrap_or(128 + signal_of(&status)),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Ends the children's process groups when a signal says to stop (host/signals.rs): SIGTERM first
/// (docker's client passes it on to the container), SIGKILL if they are still there after a
/// few seconds. Stops watching when dropped.
struct Watchdog {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn new(pids: Vec<u32>) -> Watchdog {
        use std::sync::atomic::Ordering;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watching = done.clone();
        let thread = std::thread::spawn(move || {
            let group = |pid: u32| nix::unistd::Pid::from_raw(-(pid as i32));
            while !watching.load(Ordering::SeqCst) {
                if let Some(signal) = crate::host::signals::stopping() {
                    // Said at once, from here: the step that runs says nothing until its command ends.
                    crate::output::say(&format!(
                        " !     {}: stopping the running command, then rolling back…",
                        signal.as_str()
                    ));
                    for &pid in &pids {
                        let _ = nix::sys::signal::kill(group(pid), nix::sys::signal::Signal::SIGTERM);
                    }
                    for _ in 0..100 {
                        if watching.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::park_timeout(std::time::Duration::from_millis(50));
                    }
                    for &pid in &pids {
                        let _ = nix::sys::signal::kill(group(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                    return;
                }
                // Woken at once when the command ends (Drop), else every 50 ms to look.
                std::thread::park_timeout(std::time::Duration::from_millis(50));
            }
        });
        Watchdog { done, thread: Some(thread) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Reads a child's pipe to the end on its own thread, so that no pipe fills up and blocks.
fn drain(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// A child process with its stdin and stdout kept, ended (killed) when dropped. What is sent
/// is written by a thread of its own: a command busy printing a long answer nobody reads yet
/// stops reading its input, and a writer waiting for it would wait for ever.
struct Child {
    child: std::process::Child,
    stdin: Option<std::sync::mpsc::Sender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<()>>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Session for Child {
    fn send(&mut self, text: &str) -> Result<()> {
        let stdin = self.stdin.as_ref().context("the session's input is closed")?;
        stdin.send(text.as_bytes().to_vec()).map_err(|_| anyhow::anyhow!("the session's input is closed"))
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match std::io::BufRead::read_line(&mut self.stdout, &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_string()),
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stderr(&mut self) -> String {
        let bytes = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Its input closed, the command ends on its own once it has read what was sent (a
        // psql its last statements); one that does not is killed.
        drop(self.stdin.take());
        for _ in 0..30 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Runner for SystemRunner {
    fn run_all(&self, cmds: &[&Cmd]) -> Result<Vec<Output>> {
        std::thread::scope(|scope| {
            let runs: Vec<_> = cmds.iter().map(|cmd| scope.spawn(move || self.run(cmd))).collect();
            runs.into_iter()
                .map(|run| run.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a command's thread panicked"))))
                .collect()
        })
    }

    fn stream(&self, cmd: &Cmd, to_stderr: bool) -> Result<i32> {
        use std::io::BufRead;
        log::debug!("exec: {}", cmd.display());
        // As the user's own call of it would run: in this process group (a Ctrl-C stops both),
        // with dokku's environment and the terminal's stdin.
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("Unable to run `{}`", cmd.display()))?;
        let cmd = std::sync::Arc::new(cmd.clone());
        let pass_on = |from: Box<dyn std::io::Read + Send>, on_stderr: bool| {
            let cmd = cmd.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
                    crate::output::write_line(on_stderr, &cmd.redact(&line));
                }
            })
        };
        let out = pass_on(Box::new(child.stdout.take().context("stdout")?), to_stderr);
        let err = pass_on(Box::new(child.stderr.take().context("stderr")?), true);
        let status = child.wait().with_context(|| format!("Unable to run `{}`", cmd.display()))?;
        let _ = (out.join(), err.join());
        Ok(status.code().unwrap_or(128 + signal_of(&status)))
    }

    fn session(&self, cmd: &Cmd) -> Result<Box<dyn Session>> {
        let mut child = command(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("Unable to run `{}`", cmd.display()))?;
        let mut input = child.stdin.take().context("session stdin")?;
        let (stdin, chunks) = std::sync::mpsc::channel::<Vec<u8>>();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            for chunk in chunks {
                if input.write_all(&chunk).and_then(|()| input.flush()).is_err() {
                    break;
                }
            }
        });
        let stdout = std::io::BufReader::new(child.stdout.take().context("session stdout")?);
        let stderr = Some(drain(child.stderr.take().context("session stderr")?));
        Ok(Box::new(Child { child, stdin: Some(stdin), writer: Some(writer), stdout, stderr }))
    }

    fn run(&self, cmd: &Cmd) -> Result<Output> {
        use std::io::Write;
        let mut child = command(cmd)
            .stdin(if cmd.input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("Unable to run `{}`", cmd.display()))?;
        let _watchdog = Watchdog::new(vec![child.id()]);
        let writer = match (child.stdin.take(), cmd.input.clone()) {
            // A child that stops reading has failed: its exit status says why.
            (Some(mut stdin), Some(text)) => Some(std::thread::spawn(move || {
                let _ = stdin.write_all(text.as_bytes());
            })),
            _ => None,
        };
        let out = child.wait_with_output().with_context(|| format!("Unable to run `{}`", cmd.display()))?;
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        Ok(output_of(out.status, out.stdout, out.stderr))
    }

    fn pipe(&self, pipe: &Pipe) -> Result<(Output, Output)> {
        use std::io::Write;
        let spawn = |cmd: &Cmd| {
            command(cmd)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("Unable to run `{}`", cmd.display()))
        };
        let mut tee =
            std::fs::File::create(pipe.tee).with_context(|| format!("Unable to write {}", pipe.tee.display()))?;
        let mut producer = spawn(pipe.producer)?;
        let mut consumer = match spawn(pipe.consumer) {
            Ok(child) => child,
            Err(err) => {
                let _ = producer.kill();
                let _ = producer.wait();
                return Err(err);
            }
        };
        let _watchdog = Watchdog::new(vec![producer.id(), consumer.id()]);
        let mut script_in = producer.stdin.take().context("producer stdin")?;
        let script = pipe.script.to_string();
        let writer = std::thread::spawn(move || script_in.write_all(script.as_bytes()));
        let producer_err = drain(producer.stderr.take().context("producer stderr")?);
        let consumer_out = drain(consumer.stdout.take().context("consumer stdout")?);
        let consumer_err = drain(consumer.stderr.take().context("consumer stderr")?);
        let mut from = producer.stdout.take().context("producer stdout")?;
        let mut to = consumer.stdin.take().context("consumer stdin")?;
        let mut buf = vec![0u8; 1 << 16];
        let mut stream_error = None;
        loop {
            let n = match std::io::Read::read(&mut from, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    stream_error = Some((err, "read the stream of"));
                    break;
                }
            };
            if let Err(err) = tee.write_all(&buf[..n]) {
                stream_error = Some((err, "write"));
                break;
            }
            // A consumer that stops reading has failed: its exit status says why.
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Closing both ends lets whichever side is still running finish or fail.
        drop(from);
        drop(to);
        let _ = writer.join();
        let (produced, consumed) = (producer.wait(), consumer.wait());
        let (produced, consumed) = (produced?, consumed?);
        let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
        if let Some((err, what)) = stream_error {
            return Err(err).with_context(|| format!("Unable to {what} {}", pipe.tee.display()));
        }
        tee.sync_all().with_context(|| format!("Unable to write {}", pipe.tee.display()))?;
        Ok((
            output_of(produced, Vec::new(), join(producer_err)),
            output_of(consumed, join(consumer_out), join(consumer_err)),
        ))
    }
}

fn signal_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

#[cfg(test)]
pub mod fake {
    //! A runner for unit tests: records every command and answers from a script.
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    type Rule = (String, Box<dyn Fn(&Cmd) -> Output>);
    type Responder = std::rc::Rc<dyn Fn(&str) -> String>;

    #[derive(Default)]
    pub struct FakeRunner {
        pub calls: Rc<RefCell<Vec<String>>>,
        rules: Rc<Vec<Rule>>,
        sessions: Vec<(String, Responder)>,
    }

    impl FakeRunner {
        pub fn new() -> FakeRunner {
            FakeRunner::default()
        }

        /// Commands whose display starts with `prefix` answer `out` (the last matching rule wins).
        pub fn on(self, prefix: &str, out: Output) -> FakeRunner {
            self.on_with(prefix, move |_| out.clone())
        }

        pub fn on_with(mut self, prefix: &str, f: impl Fn(&Cmd) -> Output + 'static) -> FakeRunner {
            Rc::get_mut(&mut self.rules)
                .expect("rules are added before the runner is used")
                .push((prefix.to_string(), Box::new(f)));
            self
        }

        /// Sessions whose command starts with `prefix` answer each text sent to them with
        /// what `respond` makes of it (the last matching rule wins).
        pub fn on_session(mut self, prefix: &str, respond: impl Fn(&str) -> String + 'static) -> FakeRunner {
            self.sessions.push((prefix.to_string(), std::rc::Rc::new(respond)));
            self
        }

        pub fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    /// What the rules answer `cmd`, the call recorded.
    fn answer(rules: &[Rule], calls: &RefCell<Vec<String>>, cmd: &Cmd) -> Output {
        let line = cmd.display();
        calls.borrow_mut().push(line.clone());
        rules
            .iter()
            .rev()
            .find(|(prefix, _)| line.starts_with(prefix.as_str()))
            .map(|(_, f)| f(cmd))
            .unwrap_or_else(|| Output::ok(""))
    }

    /// A psql session as host/psql.rs drives one: each batch of statements sent is answered as
    /// one `docker container exec … psql … -c STATEMENT…` (the rules see the statements as a
    /// single call would have them), then psql's end-of-statement mark for each.
    struct PsqlReplay {
        base: Cmd,
        rules: Rc<Vec<Rule>>,
        calls: Rc<RefCell<Vec<String>>>,
        lines: std::collections::VecDeque<String>,
    }

    impl Session for PsqlReplay {
        fn send(&mut self, text: &str) -> Result<()> {
            let (mut statements, mut marks, mut current) = (Vec::new(), Vec::new(), String::new());
            for line in text.lines() {
                match line.strip_prefix("\\echo ") {
                    Some(rest) => {
                        marks.push(rest.split_whitespace().next().unwrap_or_default().to_string());
                        statements.push(std::mem::take(&mut current).trim_end().trim_end_matches(';').to_string());
                    }
                    None if line == "\\q" => {}
                    None => {
                        current.push_str(line);
                        current.push('\n');
                    }
                }
            }
            if statements.is_empty() {
                return Ok(());
            }
            let mut cmd = self.base.clone();
            cmd.args.retain(|a| a != "-i");
            for sql in statements {
                cmd = cmd.arg("-c").arg(sql);
            }
            let out = answer(&self.rules, &self.calls, &cmd);
            self.lines.extend(out.stdout.lines().map(String::from));
            let failed = if out.success() { "false ".to_string() } else { format!("true {}", out.stderr.trim()) };
            self.lines.extend(marks.into_iter().map(|mark| format!("{mark} {failed}")));
            Ok(())
        }
        fn line(&mut self) -> Option<String> {
            self.lines.pop_front()
        }
        fn running(&mut self) -> bool {
            true
        }
        fn stderr(&mut self) -> String {
            String::new()
        }
    }

    /// A session that prints what the runner's rules answer for its command, then what its
    /// responder makes of each text sent.
    struct Replay(std::collections::VecDeque<String>, Option<Responder>);

    impl Session for Replay {
        fn send(&mut self, text: &str) -> Result<()> {
            if let Some(respond) = &self.1 {
                let answer = respond(text);
                self.0.extend(answer.lines().map(String::from));
            }
            Ok(())
        }
        fn line(&mut self) -> Option<String> {
            self.0.pop_front()
        }
        fn running(&mut self) -> bool {
            true
        }
        fn stderr(&mut self) -> String {
            String::new()
        }
    }

    impl Runner for FakeRunner {
        fn session(&self, cmd: &Cmd) -> Result<Box<dyn Session>> {
            let line = cmd.display();
            // host/psql.rs's sessions answer by the rules, statement batch by batch.
            if cmd.args.iter().any(|a| a == "ON_ERROR_STOP=0") {
                return Ok(Box::new(PsqlReplay {
                    base: cmd.clone(),
                    rules: self.rules.clone(),
                    calls: self.calls.clone(),
                    lines: Default::default(),
                }));
            }
            if let Some((_, respond)) = self.sessions.iter().rev().find(|(prefix, _)| line.starts_with(prefix.as_str()))
            {
                self.calls.borrow_mut().push(line);
                return Ok(Box::new(Replay(Default::default(), Some(respond.clone()))));
            }
            let out = self.run(cmd)?;
            Ok(Box::new(Replay(out.stdout.lines().map(String::from).collect(), None)))
        }

        fn run(&self, cmd: &Cmd) -> Result<Output> {
            Ok(answer(&self.rules, &self.calls, cmd))
        }

        /// Both ends are recorded and answered like single commands; the script is recorded
        /// after the producer, as `<<< SCRIPT`.
        fn pipe(&self, pipe: &Pipe) -> Result<(Output, Output)> {
            let produced = self.run(pipe.producer)?;
            self.calls.borrow_mut().push(format!("<<< {}", pipe.script));
            let consumed = self.run(pipe.consumer)?;
            std::fs::write(pipe.tee, &produced.stdout)?;
            Ok((produced, consumed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_secrets_and_quotes_spaces() {
        let cmd = Cmd::new("/usr/bin/dokku", &["postgres:backup-auth", "db"]).secret("AKIA").arg("a b");
        assert_eq!(cmd.display(), "dokku postgres:backup-auth db <redacted> 'a b'");
    }

    #[test]
    fn failure_message_names_command_and_stderr_tail() {
        let cmd = Cmd::new("docker", &["pull", "x:1"]);
        let out = Output::fail(1, "line one\nmanifest unknown\n");
        assert_eq!(
            failure_message(&cmd, &out),
            "`docker pull x:1` exited with code 1: line one\n       manifest unknown"
        );
    }

    #[test]
    fn failure_message_keeps_the_server_error_over_later_noise() {
        let cmd = Cmd::new("psql", &["-f", "-"]);
        let mut lines = vec!["NOTICE: one".to_string(), "ERROR:  relation \"x\" does not exist".to_string()];
        lines.extend(["LINE 1: SELECT * FROM x", "        ^"].map(String::from));
        lines.extend((0..20).map(|i| format!("pg_restore: warning {i}")));
        let message = failure_message(&cmd, &Output::fail(3, &lines.join("\n")));
        assert!(message.contains("ERROR:  relation \"x\" does not exist\n       LINE 1: SELECT * FROM x"), "{message}");
        assert!(message.ends_with("pg_restore: warning 19") && !message.contains("NOTICE"), "{message}");
        let hidden = Cmd::new("psql", &[]).hiding(["SCRAM-SHA-256$4096:abc".to_string()]);
        let said = failure_message(&hidden, &Output::fail(1, "ERROR: bad PASSWORD 'SCRAM-SHA-256$4096:abc'"));
        assert!(!said.contains("SCRAM-SHA-256$4096:abc"), "{said}");
    }

    #[test]
    fn input_reaches_the_commands_stdin() {
        let out = SystemRunner.run(&Cmd::new("wc", &["-c"]).input("12345")).unwrap();
        assert_eq!(out.stdout.trim(), "5");
    }

    #[test]
    fn failures_never_show_secrets() {
        let cmd = Cmd::new("dokku", &["config:set", "--no-restart", "memo"])
            .secret("DATABASE_URL=postgres://postgres:hunter22@h:5432/db");
        let out = Output::fail(
            1,
            "Setting DATABASE_URL: postgres://postgres:hunter22@h:5432/db\n+ dokku config:set memo DATABASE_URL=postgres://postgres:hunter22@h:5432/db",
        );
        let msg = failure_message(&cmd, &out);
        assert!(!msg.contains("hunter22"), "{msg}");
        assert!(msg.contains("postgres://postgres:<redacted>@h:5432/db"), "{msg}");
        let auth = Cmd::new("dokku", &["postgres:backup-auth", "db"]).secret("AKIAKEY").secret("topsecretvalue");
        let msg = failure_message(&auth, &Output::fail(1, "+ echo topsecretvalue > backup/AWS_SECRET_ACCESS_KEY"));
        assert!(!msg.contains("topsecretvalue"), "{msg}");
    }

    #[test]
    fn a_pipe_streams_the_producer_into_the_consumer_and_the_file() {
        let tee = std::env::temp_dir().join(format!("pgu-pipe-{}", std::process::id()));
        let producer = Cmd::new("sh", &["-c", "tr a-z A-Z; echo warn >&2"]);
        let consumer = Cmd::new("sh", &["-c", "wc -l; cat >/dev/null"]);
        let pipe = Pipe { producer: &producer, script: "one\ntwo\n", consumer: &consumer, tee: &tee };
        let (p, c) = SystemRunner.pipe(&pipe).unwrap();
        assert_eq!((p.code, p.stderr.as_str(), c.code, c.stdout.trim()), (0, "warn\n", 0, "2"));
        assert_eq!(std::fs::read_to_string(&tee).unwrap(), "ONE\nTWO\n");
        let failing = Cmd::new("sh", &["-c", "cat >/dev/null; echo 'ERROR: boom' >&2; exit 3"]);
        let pipe = Pipe { producer: &producer, script: "x\n", consumer: &failing, tee: &tee };
        let err = SystemRunner.check_pipe(&pipe).unwrap_err().to_string();
        assert!(err.starts_with("`sh -c") && err.ends_with("exited with code 3: ERROR: boom"), "{err}");
        let _ = std::fs::remove_file(tee);
    }

    #[test]
    fn system_runner_reports_exit_code_and_streams() {
        let out = SystemRunner.run(&Cmd::new("sh", &["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (3, "out\n", "err\n"));
    }
}
