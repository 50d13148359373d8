//! The old schema dumped inside the window while the window waits for the stream's apply.

use crate::copy::Endpoint;
use crate::host::Host;
use anyhow::{Result, bail};

/// `pg_dump --schema-only` of the old database running while the window does something else.
pub struct SchemaDump {
    session: Box<dyn crate::host::runner::Session>,
    service: String,
}

impl SchemaDump {
    pub fn start(host: &Host, db: &Endpoint) -> Result<SchemaDump> {
        let cmd = host.docker(&["container", "exec", &crate::host::container(db.service)]).args([
            "pg_dump",
            "--schema-only",
            "-U",
            "postgres",
            "-d",
            db.database,
        ]);
        Ok(SchemaDump { session: host.session(&cmd)?, service: db.service.to_string() })
    }

    /// The dump as copy/catch_up.rs's `schema_at` has it.
    pub fn finish(mut self) -> Result<String> {
        let mut text = Vec::new();
        while let Some(line) = self.session.line() {
            text.push(line);
        }
        let said = self.session.stderr();
        if text.is_empty() || said.contains("error:") {
            bail!("Unable to dump the schema of {}: {}", self.service, said.trim());
        }
        Ok(crate::host::client::without_restrict_lines(&(text.join("\n") + "\n")))
    }
}
