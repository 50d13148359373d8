//! The grace period of a `--reversible` upgrade (docs/reversible.md): from the switch on, the
//! old service follows the new one by logical replication, the online copy's stream the other
//! way round (online/stream.rs): a publication and two slots on the new server (`pgoutput`,
//! which the subscription streams from, and `test_decoding`, whose changes name the rows a
//! rollback proves), and a subscription on the old server with `copy_data = false`.
//!
//! They are made inside the window, the apps stopped and both databases proven equal: the slots
//! begin where both databases stand, so the old one receives every commit the apps make on the
//! new one from then on, and none twice. In the [`StreamRecord`] the publisher (the new
//! service) is `old` and the subscriber (the old service) `new`, as the stream's own roles are.

use crate::copy::Endpoint;
use crate::copy::online::keys::{Changes, TableName};
use crate::copy::online::stream::{self, StreamRecord};
use crate::facts::fingerprint::literal;
use crate::facts::replication::USER_TABLES;
use crate::host::Host;
use crate::host::psql::Psql;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the journal keeps of a grace period. No credentials: the subscription's conninfo lives
/// in the old server's catalog only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverse {
    /// The publisher (`old` here) is the new service, the subscriber (`new`) the old one.
    pub stream: StreamRecord,
    /// When the old service began to follow (RFC 3339) and from which WAL position of the new.
    pub since: String,
    pub start_lsn: String,
    /// The new database's schema at the switch, as a digest: DDL run there since is not
    /// replicated, and makes a rollback refuse.
    pub schema: String,
    /// How far a rollback got, for the one that runs after it died: `window` (the apps
    /// stopped), `ended` (everything applied, the subscription dropped), `switched`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_back: Option<String>,
}

/// The stream's record, named before any of its objects exists (the journal records it first).
pub fn planned(new: (&str, &str), old: (&str, &str)) -> StreamRecord {
    let mut record = StreamRecord::new(new, old);
    // Another name than the forward stream's, which may still exist until retire-old.
    record.name = stream::name_for(&format!("{}.back", new.0));
    record
}

/// Creates the stream at the switch: the publication of every user table on the new server,
/// its two slots (created now: nothing is written there yet), then the subscription on the old
/// server, which starts at the slot's point. `new`'s password goes to the old server's session
/// on its standard input only.
pub fn begin(host: &Host, record: StreamRecord, new: &Endpoint, old: &Endpoint) -> Result<Reverse> {
    let mut publisher = Psql::open(host, new.service, new.database)?;
    let tables = publisher
        .query(&[format!("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) {USER_TABLES} ORDER BY 1")])?;
    stream::create_publication(&mut publisher, &record, &tables)?;
    let slots = stream::SlotSession::create(host, &record)?;
    let start_lsn = slots.lsn.clone();
    slots.close();
    let address = stream::old_address(host, new.service, old.service)?;
    let password = std::fs::read_to_string(host.service_dir(new.service).join("PASSWORD"))
        .with_context(|| format!("Unable to read the password of service {}", new.service))?;
    let conninfo = stream::conninfo(&address, new.database, password.trim());
    let mut subscriber = Psql::open(host, old.service, old.database)?;
    stream::create_subscription(&mut subscriber, &record, &conninfo, password.trim())?;
    Ok(Reverse {
        stream: record,
        since: crate::host::clock::now_rfc3339(),
        start_lsn,
        schema: schema_digest(host, new)?,
        rolling_back: None,
    })
}

/// The new database's schema as its own pg_dump prints it, as a digest.
pub fn schema_digest(host: &Host, db: &Endpoint) -> Result<String> {
    let schema = crate::copy::catch_up::schema_at(host, db, None)?;
    Ok(format!("{:016x}", stream::fnv1a(schema.as_bytes())))
}

/// How far the old service is behind, read on the new server (the publisher).
#[derive(Debug, Clone, PartialEq)]
pub struct Lag {
    /// The new server's WAL the old one has not confirmed.
    pub bytes: i64,
    /// `pg_stat_replication.replay_lag`, while the subscription's sender runs.
    pub seconds: Option<f64>,
    /// The WAL the two slots hold back on the new server, and its bound
    /// (`max_slot_wal_keep_size`, in MB).
    pub held_bytes: i64,
    pub bound_mb: i64,
    /// A slot is gone, or its WAL was removed (`wal_status = lost`, past the bound): the old
    /// service can no longer follow, or the rows changed since the switch can no longer be named.
    pub lost: bool,
    /// The subscription's sender runs.
    pub streaming: bool,
}

impl Lag {
    pub fn read(host: &Host, reverse: &Reverse) -> Result<Lag> {
        let record = &reverse.stream;
        let slots = format!("{}, {}", literal(&record.apply_slot()), literal(&record.keys_slot()));
        let answer = host.sql(
            &record.old,
            &record.old_db,
            &format!(
                "SELECT coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
                   FROM pg_replication_slots WHERE slot_name = {apply}), -1) || '|' || \
                 coalesce((SELECT extract(epoch FROM r.replay_lag)::text FROM pg_replication_slots s \
                   JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = {apply}), '') || '|' || \
                 coalesce((SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))::bigint \
                   FROM pg_replication_slots WHERE slot_name IN ({slots})), 0) || '|' || \
                 (SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size') || '|' || \
                 ((SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ({slots}) \
                   AND coalesce(to_jsonb(pg_replication_slots)->>'wal_status', '') <> 'lost') < 2) || '|' || \
                 EXISTS (SELECT 1 FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid \
                   WHERE s.slot_name = {apply})",
                apply = literal(&record.apply_slot())
            ),
        )?;
        let line = answer.first().map(String::as_str).unwrap_or_default();
        // A boolean joined to text prints as `true`/`false` (its cast to text), not as `t`.
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() < 6 {
            bail!("unexpected answer from {}: {line}", record.old);
        }
        Ok(Lag {
            bytes: fields[0].parse().unwrap_or(-1),
            seconds: fields[1].parse().ok(),
            held_bytes: fields[2].parse().unwrap_or(0),
            // pg_settings gives it in its unit, MB.
            bound_mb: fields[3].parse().unwrap_or(-1),
            lost: fields[4] == "true",
            streaming: fields[5] == "true",
        })
    }
}

/// The new database's tables as the `test_decoding` slot names their rows: each table's key
/// columns, and which of them are keyed by their primary key (verification selects by it).
pub struct Keys {
    pub keys: BTreeMap<TableName, Vec<String>>,
    pub primary: std::collections::BTreeSet<TableName>,
}

impl Keys {
    pub fn read(host: &Host, db: &Endpoint) -> Result<Keys> {
        let catalog = crate::facts::fingerprint::Catalog::read(host, db.service, db.database)?;
        let tables = crate::copy::online::Tables::read(host, db, &catalog)?;
        Ok(Keys { keys: tables.keys, primary: tables.primary })
    }
}

/// Reads what the new server's `test_decoding` slot holds since the last read (consuming it):
/// the rows changed since the switch, and the last commit the old server must apply.
pub fn read_changes(publisher: &mut Psql, record: &StreamRecord, keys: &Keys, changes: &mut Changes) -> Result<usize> {
    let mut read = 0;
    loop {
        let rows = publisher.query(&[format!(
            "SELECT lsn || '|' || to_json(data)::text FROM pg_logical_slot_get_changes({}, NULL, 50000, \
             'skip-empty-xacts', '1', 'include-xids', '0')",
            literal(&record.keys_slot())
        )])?;
        changes.read(&rows, &keys.keys, &|t| keys.keys.contains_key(t))?;
        read += rows.len();
        if rows.len() < 50000 {
            return Ok(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_back_has_a_name_of_its_own_that_fits_a_slot() {
        let back = planned(("memo-18", "memo_18"), ("memo-db", "memo_db"));
        assert_ne!(back.name, stream::name_for("memo-18"), "the forward stream may still exist");
        assert_eq!((back.old.as_str(), back.new.as_str()), ("memo-18", "memo-db"), "published on the new service");
        let long = planned((&"n".repeat(200), "db"), ("old", "db"));
        assert!(format!("{}_apply", long.name).len() <= 63, "{}", long.name);
    }
}
