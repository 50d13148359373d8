//! How the verifier reads one database: one `psql` session that reads SQL on its standard
//! input (so this run's key never reaches a process argument), inside one transaction, asked
//! in parts; each part's answer is one JSON array a line, and a marker line ends it.

use crate::host::Host;
use crate::host::runner::Session;
use crate::host::secret::Secret;
use anyhow::{Context, Result, bail};
use serde_json::Value;

/// What `\echo` prints after each part: no answer line starts like it (they are JSON arrays).
pub const END: &str = "@@ postgres-upgrade verifier: end of part";

/// The custom setting that holds the key inside the verifier's transaction.
pub const KEY_SETTING: &str = "postgres_upgrade.verifier_key";

/// One database as the verifier reads it.
pub struct Side {
    pub service: String,
    pub database: String,
    session: Option<Box<dyn Session>>,
    /// The verifier opened the session and its transaction (it also ends them); else they are
    /// the caller's.
    own: bool,
    /// The verifier's own transaction has begun in the session.
    begun: bool,
}

impl Side {
    /// The database as it is when the comparison reads it, in one repeatable-read transaction
    /// of its own.
    pub fn now(service: &str, database: &str) -> Side {
        Side { service: service.into(), database: database.into(), session: None, own: true, begun: false }
    }

    /// [`Side::now`] with its session opened already, before the window (a `docker exec`
    /// costs tenths of a second there, a statement in an open session a millisecond); its
    /// transaction begins when the comparison does, so it reads the database as it is then.
    pub fn ready(host: &Host, service: &str, database: &str) -> Result<Side> {
        let mut side = Side::now(service, database);
        side.session = Some(host.session(&side.command(host))?);
        Ok(side)
    }

    /// Whether a session opened earlier still reaches its server (which may have restarted
    /// since): one statement on it.
    pub fn answers(&mut self) -> bool {
        self.send("SELECT pg_catalog.json_build_array('ready');").is_ok() && self.receive(None).is_ok()
    }

    fn command(&self, host: &Host) -> crate::host::runner::Cmd {
        host.psql(&self.service, &self.database, true).args(["-q", "-A", "-t", "-f", "-"])
    }

    /// The database at an exported snapshot (`pg_export_snapshot()`, or the one a replication
    /// slot exported), which the exporting transaction must still keep valid while this is
    /// made: later writes are not seen. The session is the verifier's and ends with it.
    pub fn at_snapshot(host: &Host, service: &str, database: &str, snapshot: &str) -> Result<Side> {
        if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || snapshot.is_empty() {
            bail!("{snapshot:?} is not an exported snapshot id");
        }
        let mut side = Side::now(service, database);
        side.start(host, &format!("SET TRANSACTION SNAPSHOT '{snapshot}';\n"))?;
        side.send("")?;
        side.receive(None).with_context(|| format!("Unable to read {service} at snapshot {snapshot}"))?;
        Ok(side)
    }

    /// A session the caller keeps: a `psql` reading its standard input
    /// (`host.psql(service, database, true)` with `-q -A -t -f -`) inside a transaction it
    /// opened, typically `BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '…';`.
    /// The verifier leaves the transaction open; what it set in it (its key among them) is
    /// local to it and cleared at its end.
    pub fn in_session(service: &str, database: &str, session: Box<dyn Session>) -> Side {
        Side { service: service.into(), database: database.into(), session: Some(session), own: false, begun: true }
    }

    /// Begins the verifier's own transaction (in its own session, opened now unless it was
    /// already), `then` run first in it.
    fn start(&mut self, host: &Host, then: &str) -> Result<()> {
        if self.session.is_none() {
            self.session = Some(host.session(&self.command(host))?);
        }
        let session = self.session.as_mut().context("the verifier's session is not open")?;
        session.send(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n{then}"))?;
        self.begun = true;
        Ok(())
    }

    /// Sends the first part: the session's settings, then this run's key, then `sql`.
    pub fn open(&mut self, host: &Host, key: &Secret, sql: &str) -> Result<()> {
        if !self.begun {
            self.start(host, "")?;
        }
        self.send(&format!("{}{}{sql}", preamble(), key_statement(key)))
    }

    /// Sends one part (statements and psql meta-commands), then the end marker.
    pub fn send(&mut self, sql: &str) -> Result<()> {
        let session = self.session.as_mut().context("the verifier's session is not open")?;
        session.send(&format!("{sql}\n\\echo {END}\n"))
    }

    /// The answer to the part sent last: one `[kind, name, value]` array a line.
    pub fn receive(&mut self, key: Option<&Secret>) -> Result<Vec<Value>> {
        let service = self.service.clone();
        let session = self.session.as_mut().context("the verifier's session is not open")?;
        let mut rows = Vec::new();
        loop {
            let Some(line) = session.line() else {
                let said = session.stderr();
                let said = key.map(|k| k.mask(&said)).unwrap_or(said);
                let why = said.lines().find(|l| l.contains("ERROR:")).unwrap_or(said.trim());
                bail!(
                    "Unable to read {service} for the verification: {why}; fix what it says, then run the upgrade again"
                );
            };
            if line == END {
                return Ok(rows);
            }
            let row: Value = serde_json::from_str(&line)
                .ok()
                .filter(Value::is_array)
                .with_context(|| format!("unexpected line from {service}: {line}"))?;
            rows.push(row);
        }
    }

    /// Ends the part of the session that is the verifier's: its own transaction and session,
    /// or in the caller's, the key.
    pub fn finish(&mut self) {
        let Some(session) = self.session.as_mut() else { return };
        if self.own {
            let _ = session.send("COMMIT;\n\\q\n");
            self.session = None;
        } else {
            let _ = session.send(&format!("SELECT pg_catalog.set_config('{KEY_SETTING}', '', true) \\g /dev/null\n"));
        }
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if self.own {
            self.finish();
        }
    }
}

/// The settings the verifier reads under, local to its transaction: output that prints alike
/// on every server (what pg_dump pins, and `lc_monetary` for money); no statement of this
/// session in the server's logs, `pg_stat_activity` or `pg_stat_statements` (the key is in
/// the next one); no timeout ending a long read, and a lock wait that ends in an error rather
/// than waiting for a writer that waits for the window's hold. A setting this server does not
/// have is left out.
fn preamble() -> String {
    const SETTINGS: [(&str, &str); 19] = [
        ("log_statement", "none"),
        ("log_min_duration_statement", "-1"),
        ("log_min_duration_sample", "-1"),
        ("log_transaction_sample_rate", "0"),
        ("log_duration", "off"),
        ("track_activities", "off"),
        ("client_encoding", "UTF8"),
        ("standard_conforming_strings", "on"),
        ("search_path", ""),
        ("DateStyle", "ISO"),
        ("IntervalStyle", "postgres"),
        ("extra_float_digits", "3"),
        ("TimeZone", "UTC"),
        ("bytea_output", "hex"),
        ("xmloption", "content"),
        ("lc_monetary", "C"),
        ("statement_timeout", "0"),
        ("lock_timeout", "30s"),
        ("idle_in_transaction_session_timeout", "0"),
    ];
    let values: Vec<String> = SETTINGS.iter().map(|(name, value)| format!("('{name}', '{value}')")).collect();
    format!(
        "SELECT pg_catalog.set_config(s.name, s.value, true) FROM (VALUES {}) AS s(name, value) \
         WHERE lower(s.name) IN (SELECT lower(name) FROM pg_catalog.pg_settings) \\g /dev/null\n",
        values.join(", ")
    )
}

/// The statement that gives the transaction this run's key (pg_stat_statements keeps it
/// with its constants replaced).
fn key_statement(key: &Secret) -> String {
    format!("SELECT pg_catalog.set_config('{KEY_SETTING}', '{}', true) \\g /dev/null\n", key.expose())
}

/// The key as SQL reads it back: an init plan, evaluated once per statement.
pub const KEY: &str = "(SELECT pg_catalog.current_setting('postgres_upgrade.verifier_key'))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_expression_reads_the_setting_the_key_goes_to() {
        assert!(KEY.contains(KEY_SETTING));
        let key = Secret::draw().unwrap();
        let sent = key_statement(&key);
        assert!(sent.contains(KEY_SETTING) && sent.contains(key.expose()) && sent.contains(", true)"));
        // The logging settings come before it.
        let first = preamble();
        assert!(first.contains("('log_statement', 'none')") && first.contains("('track_activities', 'off')"));
        assert!(!first.contains(key.expose()));
    }
}
