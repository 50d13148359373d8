//! What the run says at its end: the summary table on the terminal and the JSON report.

use super::*;

impl Upgrade<'_> {
    /// The end of a run: each step with its time, the window, what was verified, what was kept
    /// and where, and what is left to do.
    pub(super) fn summary(&self, plan: &Plan) {
        self.out.info2(&format!("Upgraded to {} ({})", plan.new, plan.reference()));
        let width = self.steps.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
        for (n, step) in self.steps.iter().enumerate() {
            let time = if step.status == "done-before" {
                "(done before)".to_string()
            } else {
                format!("{:>6.1}s", step.duration_ms as f64 / 1000.0)
            };
            self.out.verbose(&format!("{:>2}. {:<width$}  {time}", n + 1, step.name));
        }
        let apps: Vec<&str> = plan.apps.iter().map(|a| a.name.as_str()).collect();
        self.out.verbose(&format!("Apps:                {}", apps.join(", ")));
        if let Some(ms) = self.window_ms {
            self.out.verbose(&format!("Maintenance window:  {:.1}s", ms as f64 / 1000.0));
        }
        if let Some(ms) = self.old_restart_ms {
            self.out.verbose(&format!(
                "Restart of {}:  {:.1}s (wal_level = logical, --online)",
                plan.old,
                ms as f64 / 1000.0
            ));
        }
        if let Some(f) = &self.verified {
            self.out.verbose(&format!(
                "Verified:            {} tables, {} rows by content{}, {} sequences, {} catalog facts, the schema",
                f.relations,
                f.rows,
                if self.copier.changed_since_proven().is_some() {
                    " (those changed since the first copy, verified whole before the window)"
                } else {
                    ""
                },
                f.sequences,
                f.facts
            ));
        }
        for file in &self.kept {
            self.out.verbose(&format!(
                "Kept:                {} ({})",
                file.display(),
                crate::output::human(crate::state::dumps::size(file))
            ));
        }
        for warning in &self.warnings {
            self.out.verbose(&format!("Said:                {warning}"));
        }
        for accepted in &plan.accepted {
            self.out.verbose(&format!("Accepted:            {accepted}"));
        }
        if self.opts.keep_old {
            self.out.verbose(&format!(
                "Next:                dokku postgres:destroy {} -f, once you no longer need it",
                plan.old
            ));
        }
        for m in &self.manual {
            self.out.warn(&format!("Run by hand: {m}"));
        }
    }

    pub(super) fn report(&self, result: &Result<()>) -> Value {
        let plan = self.plan;
        json!({
            "changed": result.is_ok() || self.committed,
            "status": self.outcome(result),
            "app": plan.app,
            "apps": plan.apps.iter().map(|a| json!({
                "name": a.name,
                "vars": a.vars.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "old_service": plan.old,
            "new_service": plan.new,
            "image": plan.reference(),
            "image_id": plan.image_id,
            "image_created": plan.image_created,
            "old_image": plan.old_reference,
            "postgres_major": { "from": plan.old_major.map(naming::major_text), "to": plan.new_major.map(naming::major_text) },
            "copy_method": self.copier.name(),
            "copy": {
                "method": plan.copy.method,
                "why": plan.copy.why,
                "details": self.copier.report(),
            },
            "old_restart_ms": self.old_restart_ms,
            "steps": self.steps.iter().map(|s| json!({"name": s.name, "status": s.status, "duration_ms": s.duration_ms as u64})).collect::<Vec<_>>(),
            "maintenance_window_ms": self.window_ms.map(|v| v as u64),
            "app_starts": self.starts,
            "verification": self.verified.as_ref().map(|f| json!({
                "tables": f.relations,
                "content_compared": true,
                "rows": f.rows,
                "rows_read": if self.copier.changed_since_proven().is_some() { "changed since the first copy" } else { "all" },
                "sequences": f.sequences,
                "catalog_facts": f.facts,
                "extensions": f.extensions,
                "digest": "md5 keyed for the run (docs/fidelity.md)",
            })),
            "dump": self.kept.first().or(self.dump.as_ref()).map(|d| d.display().to_string()),
            "catch_up_script": self.kept.get(1).map(|d| d.display().to_string()),
            "old_service_kept": self.opts.keep_old || !self.manual.is_empty(),
            "warnings": self.warnings,
            "accepted": plan.accepted,
            "manual_steps": self.manual,
            "interrupted_by": crate::host::signals::received().map(|s| s.as_str()),
            "error": result.as_ref().err().map(|e| format!("{e:#}")),
        })
    }
}
