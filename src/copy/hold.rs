//! A database held still inside the window: one session takes a SHARE lock on every table of
//! the catalog and keeps its transaction open. Everything that writes rows or changes a table
//! (INSERT, UPDATE, DELETE, TRUNCATE, COPY FROM, ALTER TABLE, VACUUM FULL) waits for it;
//! reads, `pg_dump` and the copy do not, and neither does the server's own upkeep, which
//! touches no row an app can see: autovacuum skips a table it cannot lock, and an `ANALYZE`
//! elsewhere only moves the transaction snapshot. While the hold stands, a fingerprint taken
//! under it still describes the database, whatever else commits: verification then does not
//! read every row again (docs/fidelity.md, "Holding a database still").
//!
//! The apps are stopped by then; what the hold stops is a writer they do not cover (a cron job,
//! a `dokku run`). One found waiting before the switch stops the upgrade: it rolls back, the
//! hold is let go, and the writer's write goes to the old service the apps use again. One that
//! comes once the apps run on the new service is ended before the hold is let go: a write
//! acknowledged on the old service then would be lost.
//!
//! The holding session is opened before the window ([`Hold::open`]) and answers every question
//! about the hold itself (which tables, whether it still holds them, who waits, letting go):
//! inside the window each costs a statement in it, not a `docker exec`.

use crate::facts::fingerprint::Catalog;
use crate::host::Host;
use crate::host::runner::Session;
use anyhow::{Context, Result, bail};

/// How long the hold waits for a writer that is in the middle of a transaction.
const LOCK_WAIT: &str = "10s";

/// What ends an answer of several lines.
const END: &str = "-- end of answer --";

pub struct Hold {
    session: Box<dyn Session>,
    service: String,
    /// The tables it locked.
    tables: usize,
    /// `txid_current_snapshot()` once every lock was granted.
    pub since: String,
    /// The tables are locked (the session is open from [`Hold::open`] on).
    held: bool,
}

impl Hold {
    /// The holding session, open and idle: nothing is held yet.
    pub fn open(host: &Host, service: &str, database: &str) -> Result<Hold> {
        let cmd = host.psql(service, database, true).args(["-q", "-A", "-t", "-f", "-"]);
        let mut session = host.session(&cmd)?;
        // A database may default to read-only transactions, where no SHARE lock is taken.
        session.send(&format!(
            "SET default_transaction_read_only = off;\nSET idle_in_transaction_session_timeout = 0;\n\
             SET statement_timeout = 0;\nSET lock_timeout = '{LOCK_WAIT}';\nSET search_path = pg_catalog, pg_temp;\n"
        ))?;
        Ok(Hold { session, service: service.into(), tables: 0, since: String::new(), held: false })
    }

    /// Locks every table the database has now (facts/fingerprint.rs, CATALOG), in a
    /// transaction the session keeps open.
    pub fn lock(&mut self) -> Result<()> {
        let service = self.service.clone();
        self.session.send(&format!("BEGIN;\nSELECT ({});\n", crate::facts::fingerprint::CATALOG))?;
        let catalog = match self.session.line() {
            Some(line) => {
                Catalog::from_json_text(&line).with_context(|| format!("unexpected answer from {service}"))?
            }
            None => bail!("Unable to hold the tables of {service} still: {}", self.said()),
        };
        let tables: Vec<String> = catalog.tables.iter().map(|t| t.qualified()).collect();
        let lock = if tables.is_empty() {
            String::new()
        } else {
            format!("LOCK TABLE {} IN SHARE MODE;\n", tables.join(", "))
        };
        self.session.send(&format!("{lock}SELECT 'held ' || pg_backend_pid() || ' ' || txid_current_snapshot();\n"))?;
        let Some(line) = self.session.line() else {
            bail!("Unable to hold the tables of {service} still (another session writes to them?): {}", self.said());
        };
        let (pid, since) = parse(&line).with_context(|| format!("unexpected answer from {service}: {line}"))?;
        log::debug!("holding {} tables of {service} from {since} (backend {pid})", tables.len());
        (self.tables, self.since, self.held) = (tables.len(), since, true);
        Ok(())
    }

    /// Opens the session and locks the tables.
    pub fn take(host: &Host, service: &str, database: &str) -> Result<Hold> {
        let mut hold = Hold::open(host, service, database)?;
        hold.lock()?;
        Ok(hold)
    }

    /// The server's error, once the session has ended.
    fn said(&mut self) -> String {
        let said = self.session.stderr();
        said.lines().find(|l| l.contains("ERROR:") || l.contains("FATAL:")).unwrap_or(said.trim()).to_string()
    }

    /// Whether the session still holds every lock it took (a backend that was ended lost them,
    /// and its psql ends at the next statement).
    pub fn holding(&mut self) -> Result<bool> {
        if !self.held || !self.session.running() {
            return Ok(false);
        }
        self.session.send(
            "SELECT 'locks ' || count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' \
             AND mode = 'ShareLock' AND granted;\n",
        )?;
        let held = self.session.line().and_then(|l| l.strip_prefix("locks ")?.parse::<usize>().ok());
        Ok(held.is_some_and(|n| n >= self.tables))
    }

    /// `txid_current_snapshot()` of the database now (None once the session has ended).
    pub fn snapshot(&mut self) -> Option<String> {
        if !self.held || self.session.send("SELECT 'snapshot ' || txid_current_snapshot();\n").is_err() {
            return None;
        }
        self.session.line().and_then(|l| l.strip_prefix("snapshot ").map(String::from))
    }

    /// The sessions waiting for a table the hold has: writers the stopped apps do not cover.
    /// One line each: the table, and who waits (pid, program, what it runs).
    pub fn waiters(&mut self) -> Result<Vec<String>> {
        if !self.held {
            return Ok(Vec::new());
        }
        self.session.send(&format!(
            "SELECT format('table %s has a writer waiting (pid %s, %s: %s)', w.relation::regclass, w.pid, \
             coalesce(nullif(a.application_name, ''), a.backend_type), left(regexp_replace(a.query, '\\s+', ' ', 'g'), 60)) \
             FROM pg_locks w JOIN pg_locks h ON h.relation = w.relation AND h.database = w.database \
             LEFT JOIN pg_stat_activity a ON a.pid = w.pid \
             WHERE h.pid = pg_backend_pid() AND h.granted AND NOT w.granted AND w.pid <> pg_backend_pid() ORDER BY w.pid;\n\
             SELECT '{END}';\n"
        ))?;
        let mut waiting = Vec::new();
        loop {
            match self.session.line() {
                Some(line) if line == END => return Ok(waiting),
                Some(line) => waiting.push(line),
                // The session died: its locks went with it, and nobody waits for them.
                None => return Ok(waiting),
            }
        }
    }

    /// Lets the tables go, first ending every transaction that waits for one of them: once the
    /// apps run on the new service, a write that went through here would be lost.
    pub fn release_to_the_new_service(mut self) -> Result<()> {
        if self.held {
            self.session.send(&format!(
                "SELECT 'ended ' || count(pg_terminate_backend(w.pid)) FROM pg_locks w JOIN pg_locks h \
                 ON h.relation = w.relation AND h.database = w.database WHERE h.pid = pg_backend_pid() AND h.granted \
                 AND NOT w.granted AND w.pid <> pg_backend_pid();\nSELECT '{END}';\n"
            ))?;
            while let Some(line) = self.session.line() {
                match line.strip_prefix("ended ").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n > 0 => log::info!("ended {n} session(s) waiting to write to {}", self.service),
                    _ if line == END => break,
                    _ => {}
                }
            }
        }
        let _ = self.session.send("ROLLBACK;\n\\q\n");
        Ok(())
    }
}

/// `held PID SNAPSHOT`
fn parse(line: &str) -> Option<(u32, String)> {
    let mut words = line.strip_prefix("held ")?.split_whitespace();
    Some((words.next()?.parse().ok()?, words.next()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_reports_its_backend_and_snapshot() {
        assert_eq!(parse("held 4711 100:104:101,103"), Some((4711, "100:104:101,103".to_string())));
        assert_eq!(parse("ERROR: canceling statement due to lock timeout"), None);
        assert_eq!(parse("held x 1:1:"), None);
    }
}
