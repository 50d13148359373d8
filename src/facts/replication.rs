//! What the old server's logical replication allows (docs/online.md): whether it writes logical
//! WAL (`wal_level = logical`, which takes a restart to change), whether a slot and a sender
//! are free for the online copy, the bound on the WAL a slot may hold, and which tables the
//! stream cannot carry.
//!
//! A table is published only when publishing it cannot make an app's write fail: once a table
//! is in a publication, an UPDATE or DELETE of it fails on the old server unless the table has
//! a replica identity (its primary key, an index chosen as identity, or FULL). Unlogged tables
//! write no WAL and cannot be published at all. Both kinds stay out of the stream and are
//! copied whole inside the window.

use crate::host::Host;
use anyhow::Result;

/// The condition, on `pg_class c`, of a table the stream cannot carry, and why, as a text
/// expression (NULL for a table it carries).
pub const OUTSIDE_STREAM_WHY: &str = "CASE WHEN c.relpersistence = 'u' THEN 'unlogged' \
    WHEN c.relreplident = 'n' THEN 'replica identity NOTHING' \
    WHEN c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) \
      THEN 'no primary key' \
    WHEN c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) \
      THEN 'no replica identity index' END";

/// Ordinary tables (and partitions: their parents hold no rows) outside the system schemas
/// and not owned by an extension, as `pg_class c` joined to `pg_namespace n`.
pub const USER_TABLES: &str = "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
    AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$' \
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
      AND d.objid = c.oid AND d.deptype = 'e')";

/// What keeps the new database from being followed by the old one after the switch
/// (`--reversible`, docs/reversible.md), one line each: a table the stream cannot carry (once
/// published on the new server, its UPDATE and DELETE would fail there, or it writes no WAL),
/// and large objects (logical replication carries none).
pub fn not_reversible(host: &Host, service: &str, database: &str) -> Result<Vec<String>> {
    let rows = host.sql_statements(
        service,
        database,
        &[
            format!("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' (' || {OUTSIDE_STREAM_WHY} || ')' {USER_TABLES} AND {OUTSIDE_STREAM_WHY} IS NOT NULL ORDER BY 1"),
            "SELECT 'large objects: ' || count(*) FROM pg_catalog.pg_largeobject_metadata HAVING count(*) > 0".into(),
        ],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| match r.strip_prefix("large objects: ") {
            Some(n) => format!(
                "--reversible: {n} large object(s) are in use, which logical replication does not carry: \
                 upgrade without --reversible"
            ),
            None => format!(
                "--reversible: the old service cannot follow the new one for table {r}: give it a primary key or \
                 a replica identity (ALTER TABLE … REPLICA IDENTITY FULL), or upgrade without --reversible"
            ),
        })
        .collect())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replication {
    pub wal_level: String,
    /// Replication slots and WAL senders still free.
    pub slots_free: i64,
    pub senders_free: i64,
    /// `max_slot_wal_keep_size` in MB (PostgreSQL 13 and newer; -1: no bound). None before 13.
    pub wal_keep_mb: Option<i64>,
    /// Tables the stream cannot carry: (name, why, bytes), copied whole inside the window.
    pub outside: Vec<(String, String, u64)>,
}

/// The slots the online copy takes (the subscription's, and the one whose changes name the
/// rows to prove) and the senders (the subscription's, and the session that creates them).
pub const SLOTS_NEEDED: i64 = 2;
pub const SENDERS_NEEDED: i64 = 2;

impl Replication {
    pub fn read(host: &Host, service: &str, database: &str) -> Result<Replication> {
        let lines = host.sql_statements(
            service,
            database,
            &[
                "SELECT 'wal_level', current_setting('wal_level')".to_string(),
                "SELECT 'slots', current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)"
                    .into(),
                "SELECT 'senders', current_setting('max_wal_senders')::int - (SELECT count(*) FROM pg_stat_replication)"
                    .into(),
                "SELECT 'keep', coalesce(current_setting('max_slot_wal_keep_size', true), '')".into(),
                format!(
                    "SELECT 'outside', format('%I.%I', n.nspname, c.relname), {OUTSIDE_STREAM_WHY}, \
                     pg_catalog.pg_total_relation_size(c.oid) {USER_TABLES} AND ({OUTSIDE_STREAM_WHY}) IS NOT NULL \
                     ORDER BY 4 DESC, 2"
                ),
            ],
        )?;
        Ok(Replication::from_lines(&lines))
    }

    fn from_lines(lines: &[String]) -> Replication {
        let mut r = Replication::default();
        for line in lines {
            let fields: Vec<&str> = line.split('|').collect();
            let number = |i: usize| fields.get(i).and_then(|n| n.trim().parse::<i64>().ok());
            match fields[0] {
                "wal_level" => r.wal_level = fields.get(1).unwrap_or(&"").to_string(),
                "slots" => r.slots_free = number(1).unwrap_or(0),
                "senders" => r.senders_free = number(1).unwrap_or(0),
                // `-1`, or a size such as `10GB` (SHOW's units), or MB as a plain number.
                "keep" => r.wal_keep_mb = fields.get(1).filter(|v| !v.is_empty()).map(|v| megabytes(v)),
                "outside" if fields.len() >= 4 => {
                    r.outside.push((fields[1].to_string(), fields[2].to_string(), number(3).unwrap_or(0).max(0) as u64))
                }
                _ => {}
            }
        }
        r
    }

    pub fn logical(&self) -> bool {
        self.wal_level == "logical"
    }

    /// Why the online copy cannot run on this server (slots or senders all taken), if so.
    pub fn blocked(&self) -> Option<String> {
        if self.slots_free < SLOTS_NEEDED {
            Some(format!(
                "{} replication slot(s) are free and the online copy takes {SLOTS_NEEDED} (max_replication_slots)",
                self.slots_free.max(0)
            ))
        } else if self.senders_free < SENDERS_NEEDED {
            Some(format!(
                "{} WAL sender(s) are free and the online copy takes {SENDERS_NEEDED} (max_wal_senders)",
                self.senders_free.max(0)
            ))
        } else {
            None
        }
    }
}

/// A size setting as `current_setting` prints it (`-1`, `1024`, `10GB`, `512MB`, `1TB`) in MB.
fn megabytes(value: &str) -> i64 {
    let value = value.trim();
    let digits: String = value.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    let n: i64 = digits.parse().unwrap_or(-1);
    if n < 0 {
        return -1;
    }
    match value[digits.len()..].trim() {
        "kB" => n / 1024,
        "GB" => n * 1024,
        "TB" => n * 1024 * 1024,
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_answers_say_what_the_online_copy_may_do() {
        let lines: Vec<String> = [
            "wal_level|replica",
            "slots|10",
            "senders|1",
            "keep|10GB",
            "outside|public.log|no primary key|8192",
            "outside|public.\"Cache\"|unlogged|16384",
        ]
        .map(String::from)
        .to_vec();
        let r = Replication::from_lines(&lines);
        assert!(!r.logical());
        assert_eq!((r.slots_free, r.senders_free, r.wal_keep_mb), (10, 1, Some(10240)));
        assert_eq!(r.outside[1], ("public.\"Cache\"".to_string(), "unlogged".to_string(), 16384));
        assert_eq!(r.blocked().unwrap(), "1 WAL sender(s) are free and the online copy takes 2 (max_wal_senders)");
        assert_eq!((megabytes("-1"), megabytes("512MB"), megabytes("2048kB")), (-1, 512, 2));
        assert_eq!(Replication::from_lines(&["keep|".to_string()]).wal_keep_mb, None);
    }
}
