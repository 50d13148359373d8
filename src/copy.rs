//! Copying the data from the old service to the new one, behind one interface so that a faster
//! (parallel) or an online (logical replication) copy can take this one's place.

use crate::host::{Host, container};
use anyhow::{Context, Result};
use std::path::Path;

/// One end of a copy: a service and its database.
pub struct Endpoint<'a> {
    pub service: &'a str,
    pub database: &'a str,
}

pub trait Copier {
    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// Copies `from` into the empty database of `to`, keeping the dump at `dump` as the
    /// rollback artifact. Any error in the dump or the restore is an error here.
    fn copy(&self, host: &Host, from: &Endpoint, to: &Endpoint, dump: &Path) -> Result<()>;
}

/// `pg_dump -Fc` with the old image's tools into a file, then `pg_restore --exit-on-error` with
/// the new image's tools. dokku-postgres's own import has no `--exit-on-error` and clone adds
/// `|| true` (dokku-postgres-behaviour.md §2), so both are done here with real exit codes.
pub struct DumpRestore;

impl Copier for DumpRestore {
    fn name(&self) -> &'static str {
        "pg_dump -Fc | pg_restore --exit-on-error"
    }

    fn copy(&self, host: &Host, from: &Endpoint, to: &Endpoint, dump: &Path) -> Result<()> {
        let dump_cmd = host
            .docker(&[
                "container",
                "exec",
                &container(from.service),
                "pg_dump",
                "-Fc",
                "--no-acl",
                "--no-owner",
                "-U",
                "postgres",
            ])
            .arg(from.database)
            .stdout_to(dump.to_path_buf());
        host.runner.check(&dump_cmd).with_context(|| format!("Unable to dump service {}", from.service))?;
        let restore = host
            .docker(&[
                "container",
                "exec",
                "-i",
                &container(to.service),
                "pg_restore",
                "--exit-on-error",
                "--no-acl",
                "--no-owner",
                "-U",
                "postgres",
                "-d",
            ])
            .arg(to.database)
            .stdin_file(dump.to_path_buf());
        host.runner.check(&restore).with_context(|| format!("Unable to restore into service {}", to.service))?;
        Ok(())
    }
}
