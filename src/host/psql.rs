//! One `psql` kept open in a service's container for many statements: a `docker exec` costs
//! a few tenths of a second, a statement in an open session a fraction of a millisecond. The
//! window asks each server many small questions; each goes through the one session opened
//! for it before the window. Statements may be sent and their answer read later, so that two
//! servers work at once.
//!
//! After each statement psql prints a line of its own (`\echo` of a mark unique to the session,
//! psql's `ERROR` flag and its last error message, psql 11 and newer), which ends the
//! statement's rows and says whether it failed.

use crate::host::runner::Session;
use crate::host::{Host, container};
use anyhow::{Result, bail};

pub struct Psql {
    session: Box<dyn Session>,
    pub service: String,
    mark: String,
    /// Statements sent whose answer is not read yet.
    pending: usize,
    /// Text that must never reach a message (a password in a conninfo).
    hidden: Vec<String>,
}

impl Psql {
    /// A session on `database` of `service`, as the local superuser over the container's socket.
    pub fn open(host: &Host, service: &str, database: &str) -> Result<Psql> {
        let cmd = host
            .docker(&["container", "exec", "-i", &container(service)])
            .args(["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=0", "-U", "postgres", "-d"])
            .arg(database);
        let session = host.session(&cmd)?;
        let mark = format!("--psql-done-{}-{}", std::process::id(), crate::host::clock::now_compact());
        let mut psql = Psql { session, service: service.to_string(), mark, pending: 0, hidden: Vec::new() };
        // Names resolve to the system's objects first, whatever the database's search_path.
        psql.query(&["SET search_path = pg_catalog, pg_temp"])?;
        Ok(psql)
    }

    /// Sends statements (each without its `;`); their rows come with [`Psql::collect`].
    pub fn send<S: AsRef<str>>(&mut self, statements: &[S]) -> Result<()> {
        let mut text = String::new();
        for sql in statements {
            log::debug!("{}: {}", self.service, self.redact(sql.as_ref()));
            text.push_str(sql.as_ref());
            text.push_str(&format!(";\n\\echo {} :ERROR :LAST_ERROR_MESSAGE\n", self.mark));
        }
        self.pending += statements.len();
        self.session.send(&text)
    }

    /// Text never to show in a message from this session (a key sent in a script).
    pub fn hide(&mut self, secret: &str) {
        self.hidden.push(secret.to_string());
    }

    /// Like [`Psql::send`], for a statement holding `secret` (never logged, never in a message).
    pub fn send_secret(&mut self, statement: &str, secret: &str) -> Result<()> {
        self.hidden.push(secret.to_string());
        self.send(&[statement])
    }

    /// Runs `text`, a script as psql reads it (statements, `COPY … FROM stdin` with its rows
    /// inline, meta-commands), as one; its rows, and psql's last error message when one
    /// failed (the script's own last statement says whether it got through).
    pub fn script(&mut self, text: &str) -> Result<(Vec<String>, Option<String>)> {
        let mark = format!("\\echo {} :ERROR :LAST_ERROR_MESSAGE\n", self.script_mark());
        self.session.send(&format!("\\set LAST_ERROR_MESSAGE ''\n{text}{mark}"))?;
        let mut rows = Vec::new();
        loop {
            let Some(line) = self.session.line() else {
                let stderr = self.session.stderr();
                let said = self.redact(&stderr);
                let why = said.lines().find(|l| l.contains("FATAL") || l.contains("ERROR")).unwrap_or(said.trim());
                bail!("the session on {} ended: {why}", self.service);
            };
            if let Some(status) = line.strip_prefix(&self.script_mark()) {
                let message = status.trim_start().split_once(' ').map(|(_, m)| m.trim()).unwrap_or_default();
                return Ok((rows, (!message.is_empty()).then(|| self.redact(message))));
            }
            rows.push(line);
        }
    }

    fn script_mark(&self) -> String {
        format!("{}-script", self.mark)
    }

    /// The rows of every statement sent, in order; the first that failed is the error.
    pub fn collect(&mut self) -> Result<Vec<String>> {
        let mut rows = Vec::new();
        let mut failed: Option<String> = None;
        while self.pending > 0 {
            let Some(line) = self.session.line() else {
                self.pending = 0;
                let stderr = self.session.stderr();
                let said = self.redact(&stderr);
                let why = said.lines().find(|l| l.contains("FATAL") || l.contains("ERROR")).unwrap_or(said.trim());
                bail!("the session on {} ended: {why}", self.service);
            };
            match line.strip_prefix(&self.mark) {
                Some(status) => {
                    self.pending -= 1;
                    if let Some(message) = status.trim_start().strip_prefix("true")
                        && failed.is_none()
                    {
                        failed = Some(self.redact(message.trim()));
                    }
                }
                None => rows.push(line),
            }
        }
        match failed {
            Some(message) => bail!("{}: ERROR:  {message}", self.service),
            None => Ok(rows),
        }
    }

    /// Sends the statements and reads their rows.
    pub fn query<S: AsRef<str>>(&mut self, statements: &[S]) -> Result<Vec<String>> {
        self.send(statements)?;
        self.collect()
    }

    /// The first column of the first row of one statement.
    pub fn value(&mut self, sql: &str) -> Result<String> {
        Ok(self.query(&[sql])?.into_iter().next().unwrap_or_default())
    }

    /// Whether the session's psql still runs.
    pub fn running(&mut self) -> bool {
        self.session.running()
    }

    fn redact(&self, text: &str) -> String {
        self.hidden.iter().filter(|s| s.len() >= 4).fold(text.to_string(), |t, s| t.replace(s.as_str(), "<redacted>"))
    }
}

impl Drop for Psql {
    fn drop(&mut self) {
        let _ = self.session.send("\\q\n");
    }
}
