//! What a person needs to know before a production window, read before anything changes: how
//! big the old database is and what is in it, the disk the upgrade needs on each filesystem
//! against what is free there, which copy will run and why, and how long the first copy and the
//! window should take. The estimates come from a model (docs/estimates.md) whose one
//! host-dependent rate, how fast this server fingerprints rows, is measured here on a sample
//! of the biggest table.

use crate::host::Host;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The first copy (dump and restore in parallel, then VACUUM and the new side's fingerprint):
/// what it costs whatever the size, and per GB of database, measured by `make bench` on 2
/// cores (docs/estimates.md).
const FIRST_COPY_BASE_S: f64 = 6.5;
const FIRST_COPY_S_PER_GB: f64 = 43.0;
/// The whole copy inside the window, per GB: its dump and restore (verification's reads come
/// on top, at the measured rate).
const FULL_COPY_S_PER_GB: f64 = 12.0;
/// What the window's reads of the whole database cost, in measured rates: the catch-up's
/// fingerprint of the old database, then verification's reads of both at the same time. Three
/// reads took 2.1 times the sampled rate at 1 GB of text (`make bench`, docs/estimates.md).
const CATCH_UP_READS: f64 = 2.0;
/// Verification's reads of both databases, after a whole copy.
const VERIFY_READS: f64 = 2.0;
/// What every window costs whatever the size: maintenance, stop, the hold, the roles and the
/// stream's round trips, verification's queries and schema dumps, the switch, one start
/// (`make bench` at 10 MB, docs/estimates.md).
const WINDOW_BASE_S: f64 = 8.5;
/// What the online copy's window costs whatever the size (`make bench`, docs/estimates.md).
const ONLINE_WINDOW_BASE_S: f64 = 3.0;
/// How far measured windows came out from this model's window estimate, as factors of it: the
/// lowest and the highest seen so far (docs/estimates.md, "How sure the window estimate is").
pub const WINDOW_ESTIMATE_RANGE: (f64, f64) = (0.8, 1.4);
/// The fingerprint rate assumed when it cannot be measured (an empty database).
const FINGERPRINT_S_PER_GB: f64 = 3.0;
/// How much of the biggest table the measurement reads, at most.
const SAMPLE_BYTES: f64 = 32_000_000.0;

/// How the data is copied (copy/): the plan chooses (plan/method.rs), the survey estimates
/// each, the journal keeps it for a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Everything inside the window.
    #[default]
    Whole,
    /// A first copy while the apps run, the changed key ranges inside the window.
    CatchUp,
    /// A first copy, then the new server follows the old one by logical replication.
    Online,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Whole => "whole copy inside the window",
            Method::CatchUp => "catch-up",
            Method::Online => "online",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub bytes: u64,
    pub tables: u64,
    /// The biggest tables: name and bytes with their indexes and TOAST.
    pub biggest: Vec<(String, u64)>,
    pub large_objects: u64,
    pub replica_triggers: u64,
    /// Seconds per GB the window's fingerprint takes on this server, from a timed sample.
    pub fingerprint_s_per_gb: Option<f64>,
    pub disk: Vec<Disk>,
    /// What a restore will not keep the same (facts/verify.rs, NOTES), said before.
    pub changes: Vec<String>,
    /// What the old server's logical replication allows (facts/replication.rs).
    pub replication: Option<crate::facts::replication::Replication>,
}

/// One filesystem the upgrade writes to.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub free: u64,
    pub needed: u64,
    pub what: Vec<&'static str>,
}

impl Survey {
    /// `dumps` is the folder the dump will be written to (it may not exist yet).
    pub fn take(host: &Host, service: &str, database: &str, dumps: &Path) -> Result<Survey> {
        Survey::read(host, service, database, dumps)
            .with_context(|| format!("Unable to survey the database of {service}"))
    }

    fn read(host: &Host, service: &str, database: &str, dumps: &Path) -> Result<Survey> {
        let lines = host.sql_statements(
            service,
            database,
            &[
                "SELECT 'size', pg_database_size(current_database())",
                "SELECT 'tables', count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
                "SELECT 'large_objects', count(*) FROM pg_largeobject_metadata",
                "SELECT 'replica_triggers', (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled IN ('A', 'R')) \
                 + (SELECT count(*) FROM pg_rewrite WHERE ev_enabled IN ('A', 'R'))",
                "SELECT 'big', format('%I.%I', n.nspname, c.relname), pg_total_relation_size(c.oid) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 3 DESC LIMIT 5",
            ],
        )?;
        let mut survey = Survey::default();
        for line in lines {
            let fields: Vec<&str> = line.split('|').collect();
            let number = |i: usize| fields.get(i).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            match fields[0] {
                "size" => survey.bytes = number(1),
                "tables" => survey.tables = number(1),
                "large_objects" => survey.large_objects = number(1),
                "replica_triggers" => survey.replica_triggers = number(1),
                "big" => survey.biggest.push((fields.get(1).unwrap_or(&"?").to_string(), number(2))),
                _ => {}
            }
        }
        for line in host.sql_statements(service, database, &crate::facts::verify::NOTES)? {
            let note: Value = serde_json::from_str(&line).unwrap_or_default();
            survey.changes.extend(note[1].as_str().map(crate::facts::verify::note_text));
        }
        survey.fingerprint_s_per_gb = survey.measure_fingerprint(host, service, database);
        survey.replication = Some(crate::facts::replication::Replication::read(host, service, database)?);
        survey.disk = disk(host, dumps, survey.bytes);
        Ok(survey)
    }

    /// Fingerprints a sample of the biggest table as the catch-up copy and verification do (the
    /// text of each row, hashed with a key) and scales the time taken to a GB and to the cores a
    /// read of the window uses. None when there is nothing to sample.
    fn measure_fingerprint(&self, host: &Host, service: &str, database: &str) -> Option<f64> {
        let (table, bytes) = self.biggest.first()?;
        if *bytes < 1_000_000 {
            return None;
        }
        let percent = (SAMPLE_BYTES / *bytes as f64 * 100.0).min(100.0);
        // The digest the fingerprints and the verifier take (keyed md5; any key costs the same,
        // so this timing one is a constant).
        let sql = format!(
            "SELECT sum(('x' || pg_catalog.md5('{}' || t::text))::bit(64)::int8), \
             pg_catalog.sum(pg_catalog.pg_column_size(t.*)) FROM {table} t TABLESAMPLE SYSTEM ({percent:.4})",
            "0".repeat(32)
        );
        // Timed by the server's clock around the query: a `docker exec` and psql's start cost
        // about 0.3 s, which scaled from 32 MB to a GB would count as about 9 s of fingerprint.
        let clock = "SELECT extract(epoch FROM pg_catalog.clock_timestamp())";
        let rows = host.sql_statements(service, database, &[clock, &sql, clock]).ok()?;
        let [started, sample, ended] = &rows[..] else { return None };
        let seconds = ended.parse::<f64>().ok()? - started.parse::<f64>().ok()?;
        let read: f64 = sample.split('|').nth(1)?.parse().ok()?;
        // A sample scan runs in one process; the window's fingerprint runs in parallel, a
        // leader and PostgreSQL's default two workers per query, each on a core of its own.
        let processes = std::thread::available_parallelism().map_or(1, |n| n.get()).min(3) as f64;
        (read > 0.0 && seconds >= 0.0).then(|| seconds / (read / 1e9) / processes)
    }

    /// What does not fit, one line per filesystem.
    pub fn disk_problems(&self) -> Vec<String> {
        self.disk
            .iter()
            .filter(|d| d.free < d.needed)
            .map(|d| {
                format!(
                    "Not enough disk: {} need about {} MB on the filesystem of {} (the database is {} MB), {} MB are free; free some space there",
                    d.what.join(" and "),
                    d.needed / 1_000_000,
                    d.path.display(),
                    self.bytes / 1_000_000,
                    d.free / 1_000_000
                )
            })
            .collect()
    }

    /// Why the whole copy is made inside the window, when it is; None: the catch-up copy runs.
    pub fn whole_copy_reason(&self, full_copy_asked: bool, old_major: Option<u32>) -> Option<String> {
        if full_copy_asked {
            Some("--full-copy was given".into())
        } else if !crate::facts::fingerprint::catch_up_compares(old_major) {
            Some("the old server is older than PostgreSQL 12, whose rows print differently".into())
        } else if self.large_objects > 0 {
            Some(format!("{} large object(s) are in use: they are copied whole", self.large_objects))
        } else if self.replica_triggers > 0 {
            Some(format!(
                "{} trigger(s) or rule(s) fire in replica sessions: they would fire on the streamed rows",
                self.replica_triggers
            ))
        } else {
            None
        }
    }

    /// Seconds: (the first copy, before the window; the window, without a final S3 backup,
    /// whose time depends on the bucket).
    pub fn estimate(&self, method: Method) -> (f64, f64) {
        let gb = self.bytes as f64 / 1e9;
        let rate = self.fingerprint_s_per_gb.unwrap_or(FINGERPRINT_S_PER_GB);
        match method {
            Method::Whole => (0.0, WINDOW_BASE_S + gb * (FULL_COPY_S_PER_GB + VERIFY_READS * rate)),
            // Inside the window the old database is fingerprinted once more and both are read by
            // verification; what the apps change between the first copy and the window is not
            // known before.
            Method::CatchUp => {
                (FIRST_COPY_BASE_S + gb * FIRST_COPY_S_PER_GB, WINDOW_BASE_S + gb * CATCH_UP_READS * rate)
            }
            // Inside the window: the round trips, and the tables the stream cannot carry, copied
            // whole and read whole by verification; the rows changed since the first copy are
            // compared, not counted here.
            Method::Online => {
                let outside: u64 = self.replication.iter().flat_map(|r| r.outside.iter().map(|(_, _, b)| b)).sum();
                let outside_gb = outside as f64 / 1e9;
                (
                    FIRST_COPY_BASE_S + gb * FIRST_COPY_S_PER_GB,
                    ONLINE_WINDOW_BASE_S + outside_gb * (FULL_COPY_S_PER_GB + VERIFY_READS * rate),
                )
            }
        }
    }

    pub fn json(&self, method: Method, why: &str) -> Value {
        let (first, window) = self.estimate(method);
        json!({
            "database": {
                "bytes": self.bytes,
                "tables": self.tables,
                "biggest": self.biggest.iter().map(|(t, b)| json!({"table": t, "bytes": b})).collect::<Vec<_>>(),
                "large_objects": self.large_objects,
            },
            "method": method.as_str(),
            "method_reason": why,
            "replication": self.replication.as_ref().map(|r| json!({
                "wal_level": r.wal_level,
                "slots_free": r.slots_free,
                "senders_free": r.senders_free,
                "max_slot_wal_keep_size_mb": r.wal_keep_mb,
                "outside_the_stream": r.outside.iter().map(|(t, why, b)| json!({"table": t, "why": why, "bytes": b})).collect::<Vec<_>>(),
            })),
            "estimate": {
                "first_copy_s": round(first),
                "window_s": round(window),
                "fingerprint_s_per_gb": self.fingerprint_s_per_gb.map(round),
                "model": "docs/estimates.md",
            },
            "changes": self.changes,
            "disk": self.disk.iter().map(|d| json!({
                "filesystem_of": d.path.display().to_string(), "free_bytes": d.free, "needed_bytes": d.needed, "for": d.what,
            })).collect::<Vec<_>>(),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The dump (about the database's size: an uncompressed directory-format dump holds the rows,
/// not the indexes) in `dumps` (the app's own folder may be a filesystem of its own), and the
/// new service's data (the database again, indexes included) under dokku-postgres's services
/// folder, grouped by filesystem.
/// The catch-up script holds only what changed, and is not counted.
fn disk(host: &Host, dumps: &Path, bytes: u64) -> Vec<Disk> {
    let existing = |p: PathBuf| p.ancestors().find(|a| a.exists()).map(Path::to_path_buf).unwrap_or(p);
    let needs =
        [("the dump", existing(dumps.to_path_buf())), ("the new service's data", existing(host.env.services_root()))];
    let mut filesystems: Vec<(u64, Disk)> = Vec::new();
    for (what, path) in needs {
        use std::os::unix::fs::MetadataExt;
        let (Ok(meta), Ok(stat)) = (std::fs::metadata(&path), nix::sys::statvfs::statvfs(&path)) else { continue };
        match filesystems.iter_mut().find(|(dev, _)| *dev == meta.dev()) {
            Some((_, d)) => {
                d.needed += bytes;
                d.what.push(what);
            }
            None => {
                let free = stat.blocks_available() * stat.fragment_size();
                filesystems.push((meta.dev(), Disk { path, free, needed: bytes, what: vec![what] }))
            }
        }
    }
    filesystems.into_iter().map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(bytes: u64) -> Survey {
        Survey { bytes, fingerprint_s_per_gb: Some(4.0), ..Default::default() }
    }

    #[test]
    fn the_estimate_follows_the_model() {
        assert_eq!(survey(2_000_000_000).estimate(Method::CatchUp), (92.5, 24.5));
        assert_eq!(survey(2_000_000_000).estimate(Method::Whole), (0.0, 48.5));
        assert_eq!(
            Survey { fingerprint_s_per_gb: None, ..survey(1_000_000_000) }.estimate(Method::CatchUp),
            (49.5, 14.5)
        );
        // The online window grows with the tables the stream cannot carry only.
        let mut s = survey(2_000_000_000);
        s.replication = Some(crate::facts::replication::Replication {
            outside: vec![("public.log".into(), "no primary key".into(), 500_000_000)],
            ..Default::default()
        });
        assert_eq!(s.estimate(Method::Online), (92.5, ONLINE_WINDOW_BASE_S + 0.5 * (12.0 + 2.0 * 4.0)));
    }

    #[test]
    fn the_reason_for_the_whole_copy_is_named() {
        let s = Survey { large_objects: 2, ..survey(1) };
        assert_eq!(
            s.whole_copy_reason(false, Some(1500)).unwrap(),
            "2 large object(s) are in use: they are copied whole"
        );
        assert!(s.whole_copy_reason(true, Some(1500)).unwrap().contains("--full-copy"));
        assert!(survey(1).whole_copy_reason(false, Some(1100)).unwrap().contains("older than PostgreSQL 12"));
        assert_eq!(survey(1).whole_copy_reason(false, Some(1500)), None);
    }

    #[test]
    fn too_little_disk_names_the_filesystem_and_what_goes_there() {
        let mut s = survey(3_000_000_000);
        s.disk = vec![Disk {
            path: "/var/lib/dokku".into(),
            free: 5_000_000_000,
            needed: 6_000_000_000,
            what: vec!["the dump", "the new service's data"],
        }];
        assert_eq!(
            s.disk_problems(),
            [
                "Not enough disk: the dump and the new service's data need about 6000 MB on the filesystem of /var/lib/dokku (the database is 3000 MB), 5000 MB are free; free some space there"
            ]
        );
    }
}
