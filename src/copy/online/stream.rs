//! The replication objects of one online copy (docs/online.md): a publication and two logical
//! slots on the old server (`pgoutput`, which the subscription streams from, and
//! `test_decoding`, whose changes name the rows to prove), and a subscription on the new one.
//! Their names come from the new service's, so that a resume, a rollback or a person reading the
//! journal finds them; [`StreamRecord`] is what the journal keeps of them, and
//! [`StreamRecord::drop_all`] removes every one of them that exists, on both servers, whatever
//! state an interrupted run left them in.

use crate::facts::fingerprint::{ident, literal};
use crate::host::Host;
use crate::host::psql::Psql;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// What the journal keeps of a stream: where its objects are and what they are called, never
/// the conninfo (it holds the old service's password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub old: String,
    pub old_db: String,
    pub new: String,
    pub new_db: String,
    /// The publication's and the subscription's name; the slots are `<name>_apply` and
    /// `<name>_keys`.
    pub name: String,
    /// The plugin set `max_slot_wal_keep_size` on the old server (it had none): reset when the
    /// stream goes.
    #[serde(default)]
    pub wal_keep_set: bool,
}

impl StreamRecord {
    pub fn new(old: (&str, &str), new: (&str, &str)) -> StreamRecord {
        StreamRecord {
            old: old.0.to_string(),
            old_db: old.1.to_string(),
            new: new.0.to_string(),
            new_db: new.1.to_string(),
            name: name_for(new.0),
            wal_keep_set: false,
        }
    }

    pub fn apply_slot(&self) -> String {
        format!("{}_apply", self.name)
    }

    /// The server settings this upgrade set with `ALTER SYSTEM` on the old server for the
    /// stream, which are not the user's to carry: `wal_level` (`--online`'s restart; one the
    /// user set is carried before the first copy and differs in nothing), and the WAL bound.
    pub fn settings_set_here(&self) -> Vec<&'static str> {
        let mut names = vec!["wal_level"];
        if self.wal_keep_set {
            names.push("max_slot_wal_keep_size");
        }
        names
    }

    pub fn keys_slot(&self) -> String {
        format!("{}_keys", self.name)
    }

    /// Removes the subscription and the publication the first copy's dump brought to the new
    /// server, then the slots and the publication on the old one, and puts back the WAL bound
    /// the plugin set. Each is skipped when it is not there, so it can run again after any
    /// crash; a server that is gone has nothing left to remove.
    pub fn drop_all(&self, host: &Host) -> Result<()> {
        // First the subscription: its worker would take the slot again as soon as it is free.
        if running(host, &self.new) {
            let exists = host.sql(
                &self.new,
                &self.new_db,
                &format!("SELECT count(*) FROM pg_subscription WHERE subname = {}", literal(&self.name)),
            )?;
            let mut statements =
                if exists.first().is_some_and(|n| n != "0") { end_subscription(self) } else { Vec::new() };
            statements.push(drop_publication(self));
            host.sql_statements(&self.new, &self.new_db, &statements)
                .with_context(|| format!("Unable to drop the subscription {} on {}", self.name, self.new))?;
        }
        if !running(host, &self.old) {
            return Ok(());
        }
        for slot in [self.apply_slot(), self.keys_slot()] {
            drop_slot(host, &self.old, &self.old_db, &slot)?;
        }
        let mut statements = vec![drop_publication(self)];
        if self.wal_keep_set {
            statements.push("ALTER SYSTEM RESET max_slot_wal_keep_size".into());
            statements.push("SELECT pg_reload_conf()".into());
        }
        host.sql_statements(&self.old, &self.old_db, &statements)
            .with_context(|| format!("Unable to drop the publication {} on {}", self.name, self.old))?;
        Ok(())
    }

    /// What to run by hand when [`StreamRecord::drop_all`] could not (the name needs no quoting).
    pub fn by_hand(&self) -> String {
        format!(
            "dokku postgres:enter {new} psql -U postgres -d {new_db} -c 'ALTER SUBSCRIPTION {n} DISABLE' \
             -c 'ALTER SUBSCRIPTION {n} SET (slot_name = NONE)' -c 'DROP SUBSCRIPTION {n}'; \
             dokku postgres:enter {old} psql -U postgres -d {old_db} -c \"SELECT pg_drop_replication_slot(slot_name) \
             FROM pg_replication_slots WHERE slot_name IN ('{n}_apply', '{n}_keys')\" -c 'DROP PUBLICATION {n}'",
            new = self.new,
            new_db = self.new_db,
            old = self.old,
            old_db = self.old_db,
            n = self.name
        )
    }
}

/// The statements that stop and drop the subscription without touching its slot (the slot is
/// the old server's: dropped there).
pub fn end_subscription(stream: &StreamRecord) -> Vec<String> {
    let sub = ident(&stream.name);
    vec![
        format!("ALTER SUBSCRIPTION {sub} DISABLE"),
        format!("ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"),
        format!("DROP SUBSCRIPTION {sub}"),
    ]
}

pub fn drop_publication(stream: &StreamRecord) -> String {
    format!("DROP PUBLICATION IF EXISTS {}", ident(&stream.name))
}

/// A publication, subscription and slot name for the copy into `new_service`: lower-case
/// letters, digits and `_` (what a slot name may hold), short enough for the slots' suffixes
/// within PostgreSQL's 63 bytes, and distinct for two names that read alike once cleaned.
pub fn name_for(new_service: &str) -> String {
    let clean: String = new_service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(32)
        .collect();
    format!("dokku_upgrade_{clean}_{:08x}", fnv1a(new_service.as_bytes()) as u32)
}

/// FNV-1a, 64 bits: a stable hash of a name, the same in every build.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

fn running(host: &Host, service: &str) -> bool {
    host.service_exists(service) && host.postgres_info(service, "--status").is_ok_and(|s| s == "running")
}

/// Drops a slot, ending first the session that uses it (the subscription's sender, or a
/// replication session a killed run left behind).
fn drop_slot(host: &Host, service: &str, database: &str, slot: &str) -> Result<()> {
    let name = literal(slot);
    for _ in 0..50 {
        let state = host.sql(
            service,
            database,
            &format!(
                "SELECT coalesce(active_pid::text, '') || '|' || (SELECT pg_terminate_backend(active_pid) IS NOT NULL) \
                 FROM pg_replication_slots WHERE slot_name = {name}"
            ),
        )?;
        let Some(line) = state.first() else { return Ok(()) };
        if line.starts_with('|') {
            let dropped = host.run(&host.psql(service, database, false).args([
                "-q",
                "-At",
                "-c",
                &format!("SELECT pg_drop_replication_slot({name})"),
            ]))?;
            // Taken again between the two queries: end its session again.
            if dropped.success() {
                return Ok(());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("the replication slot {slot} on {service} stays in use")
}

/// The libpq conninfo the new server's subscription reaches the old one with, as an SQL literal:
/// the old container's address on a network both share, port 5432 in the container, the old
/// service's database, superuser and password (docs/networks.md). It holds the password: it
/// only ever goes to a session's standard input.
pub fn conninfo(address: &str, database: &str, password: &str) -> String {
    let value = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    literal(&format!(
        "host={} port=5432 dbname={} user=postgres password={} connect_timeout=10 application_name={}",
        value(address),
        value(database),
        value(password),
        "dokku_upgrade"
    ))
}

/// The address of `old`'s container on a network `new`'s container is on too (the default
/// bridge, or a network both joined), from `docker container inspect`.
pub fn old_address(host: &Host, old: &str, new: &str) -> Result<String> {
    let networks = |service: &str| -> Result<serde_json::Map<String, serde_json::Value>> {
        let out = host.inspect_container(service, "{{json .NetworkSettings.Networks}}")?;
        if !out.success() {
            bail!("Unable to inspect the container of {service}: {}", out.stderr.trim());
        }
        let value: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("Unable to read the networks of {service}'s container"))?;
        Ok(value.as_object().cloned().unwrap_or_default())
    };
    let (theirs, ours) = (networks(old)?, networks(new)?);
    let shared = theirs.iter().filter(|(name, _)| ours.contains_key(*name));
    for (_, settings) in shared {
        if let Some(address) = settings["IPAddress"].as_str().filter(|a| !a.is_empty()) {
            return Ok(address.to_string());
        }
    }
    bail!(
        "the containers of {old} and {new} share no network (theirs: {}; ours: {}): the new server cannot reach the old one",
        theirs.keys().cloned().collect::<Vec<_>>().join(", "),
        ours.keys().cloned().collect::<Vec<_>>().join(", ")
    )
}

/// The old server's replication session, open while its exported snapshot is in use: the slot
/// creating it keeps the snapshot valid until its session does something else or ends.
pub struct SlotSession {
    session: Box<dyn crate::host::runner::Session>,
    /// The snapshot the `pgoutput` slot exported: where the stream begins.
    pub snapshot: String,
    /// Where the stream begins, as an LSN.
    pub lsn: String,
}

impl SlotSession {
    /// Creates the `test_decoding` slot, then the `pgoutput` slot, which exports its snapshot:
    /// the first starts no later than the second, so its changes name every row the stream
    /// changes after the snapshot (and perhaps a few before: they are proven too).
    pub fn create(host: &Host, stream: &StreamRecord) -> Result<SlotSession> {
        let conninfo = format!("dbname={} replication=database", quote_conninfo_value(&stream.old_db));
        let cmd = host
            .docker(&["container", "exec", "-i", &crate::host::container(&stream.old)])
            .args(["psql", "-X", "-q", "-A", "-t", "-U", "postgres"])
            .arg(conninfo);
        let mut session = host.session(&cmd)?;
        session.send(&format!(
            "CREATE_REPLICATION_SLOT {} LOGICAL test_decoding NOEXPORT_SNAPSHOT;\n\
             CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT;\n",
            stream.keys_slot(),
            stream.apply_slot()
        ))?;
        let mut lines = Vec::new();
        while lines.len() < 2 {
            match session.line() {
                Some(line) => lines.push(line),
                None => {
                    let said = session.stderr();
                    let why = said.lines().find(|l| l.contains("ERROR") || l.contains("FATAL")).unwrap_or(said.trim());
                    bail!("Unable to create the replication slots on {}: {why}", stream.old);
                }
            }
        }
        // `slot_name|consistent_point|snapshot_name|output_plugin`
        let fields: Vec<&str> = lines[1].split('|').collect();
        let (Some(lsn), Some(snapshot)) = (fields.get(1), fields.get(2)) else {
            bail!("unexpected answer from {}: {}", stream.old, lines[1]);
        };
        log::debug!(
            "slots {} and {} on {} from {lsn}, snapshot {snapshot}",
            stream.keys_slot(),
            stream.apply_slot(),
            stream.old
        );
        Ok(SlotSession { session, snapshot: snapshot.to_string(), lsn: lsn.to_string() })
    }

    /// Ends the session: the snapshot can no longer be imported, and the slot is free for the
    /// subscription.
    pub fn close(mut self) {
        let _ = self.session.send("\\q\n");
    }
}

fn quote_conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Creates the publication of `tables` (qualified names; none: an empty one, which streams
/// nothing but lets the subscription start).
pub fn create_publication(old: &mut Psql, stream: &StreamRecord, tables: &[String]) -> Result<()> {
    let target = if tables.is_empty() { String::new() } else { format!(" FOR TABLE {}", tables.join(", ")) };
    old.query(&[format!("CREATE PUBLICATION {}{target}", ident(&stream.name))])
        .with_context(|| format!("Unable to create the publication on {}", stream.old))?;
    Ok(())
}

/// Creates the subscription on the new server, starting at the slot the first copy's snapshot
/// came from (no copy of its own: the first copy is the dump at that snapshot).
pub fn create_subscription(new: &mut Psql, stream: &StreamRecord, conninfo: &str, password: &str) -> Result<()> {
    let sql = format!(
        "CREATE SUBSCRIPTION {} CONNECTION {conninfo} PUBLICATION {} \
         WITH (copy_data = false, create_slot = false, slot_name = {}, enabled = true)",
        ident(&stream.name),
        ident(&stream.name),
        literal(&stream.apply_slot())
    );
    // The statement holds the password: the server must not write it to its log, whatever
    // its logging settings (a failing statement is logged with its text by default).
    new.query(&[
        "SET log_statement = 'none'",
        "SET log_min_error_statement = 'panic'",
        "SET log_min_duration_statement = -1",
    ])?;
    new.send_secret(&sql, password)?;
    new.collect().with_context(|| format!("Unable to subscribe {} to {}", stream.new, stream.old))?;
    new.query(&["RESET log_statement", "RESET log_min_error_statement", "RESET log_min_duration_statement"])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_slot_names_and_differ_for_names_that_clean_alike() {
        let a = name_for("memo-app-r-postgres-17.2");
        assert!(a.starts_with("dokku_upgrade_memo_app_r_postgres_17_2_"), "{a}");
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{a}");
        assert!(format!("{a}_apply").len() <= 63, "{a}");
        assert_ne!(name_for("memo.db"), name_for("memo-db"));
        assert_eq!(name_for("x"), name_for("x"));
        let long = name_for(&"a".repeat(200));
        assert!(format!("{long}_apply").len() <= 63);
    }

    #[test]
    fn the_conninfo_quotes_what_it_holds_and_is_one_sql_literal() {
        let c = conninfo("127.4.5.6", "memo's db", "pa'ss\\word");
        assert_eq!(
            c,
            "'host=''127.4.5.6'' port=5432 dbname=''memo\\''s db'' user=postgres password=''pa\\''ss\\\\word'' connect_timeout=10 application_name=dokku_upgrade'"
        );
    }
}
