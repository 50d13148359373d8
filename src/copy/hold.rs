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

use crate::facts::fingerprint::Catalog;
use crate::host::Host;
use crate::host::runner::Session;
use anyhow::{Context, Result, bail};

/// How long the hold waits for a writer that is in the middle of a transaction.
const LOCK_WAIT: &str = "10s";

pub struct Hold {
    session: Box<dyn Session>,
    service: String,
    database: String,
    /// The holding session's backend pid.
    pid: u32,
    /// The tables it locked.
    tables: usize,
    /// `txid_current_snapshot()` once every lock was granted.
    pub since: String,
}

impl Hold {
    pub fn take(host: &Host, service: &str, database: &str, catalog: &Catalog) -> Result<Hold> {
        let tables: Vec<String> = catalog.tables.iter().map(|t| t.qualified()).collect();
        let cmd = host.psql(service, database, true).args(["-q", "-A", "-t", "-f", "-"]);
        let mut session = host.session(&cmd)?;
        let lock = if tables.is_empty() {
            String::new()
        } else {
            format!("LOCK TABLE {} IN SHARE MODE;\n", tables.join(", "))
        };
        session.send(&format!(
            // A database may default to read-only transactions, where no SHARE lock is taken.
            "SET default_transaction_read_only = off;\nSET idle_in_transaction_session_timeout = 0;\n\
             SET statement_timeout = 0;\nSET lock_timeout = '{LOCK_WAIT}';\n\
             BEGIN;\n{lock}SELECT 'held ' || pg_backend_pid() || ' ' || txid_current_snapshot();\n"
        ))?;
        let Some(line) = session.line() else {
            let said = session.stderr();
            let why = said.lines().find(|l| l.contains("ERROR:")).unwrap_or(said.trim());
            bail!("Unable to hold the tables of {service} still (another session writes to them?): {why}");
        };
        let (pid, since) = parse(&line).with_context(|| format!("unexpected answer from {service}: {line}"))?;
        log::debug!("holding {} tables of {service} from {since} (backend {pid})", tables.len());
        Ok(Hold { session, service: service.into(), database: database.into(), pid, tables: tables.len(), since })
    }

    /// Whether the session still holds every lock it took (a backend that was ended lost them).
    pub fn holding(&mut self, host: &Host) -> Result<bool> {
        if !self.session.running() {
            return Ok(false);
        }
        // One query for both: each costs a `docker exec` inside the window.
        let answer = host.sql(
            &self.service,
            &self.database,
            &format!(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}) || '|' || \
                 (SELECT count(*) FROM pg_locks WHERE pid = {pid} AND locktype = 'relation' AND mode = 'ShareLock' AND granted)",
                pid = self.pid
            ),
        )?;
        let counts: Vec<usize> =
            answer.first().map(|l| l.split('|').filter_map(|n| n.parse().ok()).collect()).unwrap_or_default();
        Ok(matches!(counts[..], [alive, held] if alive == 1 && held >= self.tables))
    }

    /// The sessions waiting for a table the hold has: writers the stopped apps do not cover.
    /// One line each: the table, and who waits (pid, program, what it runs).
    pub fn waiters(&self, host: &Host) -> Result<Vec<String>> {
        host.sql(
            &self.service,
            &self.database,
            &format!(
                "SELECT format('table %s has a writer waiting (pid %s, %s: %s)', w.relation::regclass, w.pid, \
                 coalesce(nullif(a.application_name, ''), a.backend_type), left(regexp_replace(a.query, '\\s+', ' ', 'g'), 60)) \
                 FROM pg_locks w JOIN pg_locks h ON h.relation = w.relation AND h.database = w.database \
                 LEFT JOIN pg_stat_activity a ON a.pid = w.pid \
                 WHERE h.pid = {pid} AND h.granted AND NOT w.granted AND w.pid <> {pid} ORDER BY w.pid",
                pid = self.pid
            ),
        )
    }

    /// Lets the tables go, first ending every transaction that waits for one of them: once the
    /// apps run on the new service, a write that went through here would be lost.
    pub fn release_to_the_new_service(mut self, host: &Host) -> Result<()> {
        let ended = host.sql(
            &self.service,
            &self.database,
            &format!(
                "SELECT pg_terminate_backend(w.pid) FROM pg_locks w JOIN pg_locks h ON h.relation = w.relation \
                 AND h.database = w.database WHERE h.pid = {} AND h.granted AND NOT w.granted AND w.pid <> {}",
                self.pid, self.pid
            ),
        )?;
        if !ended.is_empty() {
            log::info!("ended {} session(s) waiting to write to {}", ended.len(), self.service);
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
