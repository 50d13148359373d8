//! `postgres-upgrade:report [APP] [--format json] [--<field>]`, in the shape of dokku's own
//! `*:report` commands: per app (or service) upgraded, its last upgrade (from, to, when, how
//! it ended, the window, what was verified), whether one is unfinished, and the dumps kept with
//! their sizes. `postgres-upgrade:cleanup APP [--keep N]` removes the older dumps.

use crate::host::env::Env;
use crate::host::runner::Runner;
use crate::output::Out;
use crate::state::journal::{Journal, Status};
use anyhow::{Result, bail};
use serde_json::{Value, json};

/// The report's fields, in the order they are shown, with their labels.
const FIELDS: [(&str, &str); 13] = [
    ("postgres-upgrade-last-status", "Postgres upgrade last status"),
    ("postgres-upgrade-last-from", "Postgres upgrade last from"),
    ("postgres-upgrade-last-to", "Postgres upgrade last to"),
    ("postgres-upgrade-last-image", "Postgres upgrade last image"),
    ("postgres-upgrade-last-started", "Postgres upgrade last started"),
    ("postgres-upgrade-last-finished", "Postgres upgrade last finished"),
    ("postgres-upgrade-last-window", "Postgres upgrade last window"),
    ("postgres-upgrade-last-verification", "Postgres upgrade last verification"),
    ("postgres-upgrade-last-accepted", "Postgres upgrade last accepted"),
    ("postgres-upgrade-unfinished", "Postgres upgrade unfinished"),
    ("postgres-upgrade-dumps", "Postgres upgrade dumps"),
    ("postgres-upgrade-dumps-size", "Postgres upgrade dumps size"),
    // A --reversible upgrade's grace period: since when the old service follows, and its lag.
    ("postgres-upgrade-following", "Postgres upgrade following"),
];

/// Every name (app or service) with a journal under the plugin's data folder, in either layout.
fn targets(env: &Env) -> Vec<String> {
    crate::state::layout::targets(&env.data_dir())
}

/// The fields of one target, as dokku's reports name them; empty for a target with no upgrade
/// recorded (it has none unfinished).
pub fn fields(env: &Env, target: &str, journal: Option<&Journal>) -> Vec<(&'static str, String)> {
    let dumps = crate::state::dumps::found_dir(&env.data_dir(), target);
    let kept = crate::state::dumps::attempts(&dumps);
    let size: u64 = kept.iter().map(|(_, bytes)| bytes).sum();
    let mut values: [String; 13] = Default::default();
    values[9] = "no".into();
    if let Some(journal) = journal {
        let record = &journal.record;
        let plan = &record.plan;
        let unfinished = journal.unfinished();
        values = [
            journal.status().as_str().to_string(),
            format!("{} ({})", plan.old_service, plan.old_image),
            plan.new_service.clone(),
            plan.image.clone(),
            record.started.clone(),
            if unfinished { String::new() } else { record.updated.clone() },
            record.window_ms.map(|ms| format!("{:.1}s", ms as f64 / 1000.0)).unwrap_or_default(),
            record.verified.clone().unwrap_or_default(),
            plan.accepted.join("; "),
            // The same answer as status and rollback give (state/journal.rs, unfinished).
            match (unfinished, journal.status() == Status::Running && crate::verbs::recovery::still_running(journal)) {
                (true, true) => "running".to_string(),
                (true, false) => format!("yes ({}): {}", journal.status().as_str(), journal.next_command()),
                _ => "no".to_string(),
            },
            String::new(),
            String::new(),
            String::new(),
        ];
    }
    values[10] = kept.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>().join(" ");
    values[11] = crate::output::human(size);
    FIELDS.iter().map(|(key, _)| *key).zip(values).collect()
}

pub fn report(
    env: &Env,
    runner: &dyn Runner,
    out: &Out,
    target: Option<&str>,
    json_format: bool,
    field: Option<&str>,
) -> Result<()> {
    let names = match target {
        Some(t) => vec![t.to_string()],
        None => targets(env),
    };
    let mut reports = Vec::new();
    for name in &names {
        let journal = crate::verbs::journal_of(env, runner, name)?;
        let mut found = fields(env, name, journal.as_ref());
        if let Some(reverse) = journal.as_ref().and_then(|j| j.record.reverse.as_ref()) {
            let host = crate::host::Host::new(env, runner);
            found[12].1 = crate::verbs::reversible::following(&host, reverse);
        }
        reports.push((name, found));
    }
    if let Some(field) = field {
        let field = field.trim_start_matches("--");
        let Some((_, fields)) = reports.first().filter(|_| target.is_some()) else {
            bail!("Please specify an app for --{}", crate::output::shown(field))
        };
        let Some((_, value)) = fields.iter().find(|(k, _)| *k == field) else {
            bail!("Invalid flag passed, valid flags: {}", FIELDS.map(|(k, _)| format!("--{k}")).join(", "))
        };
        out.line(value);
        return Ok(());
    }
    let object = |fields: &[(&str, String)]| -> Value {
        Value::Object(fields.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
    };
    if json_format {
        // One JSON document: an app's fields, or every app's under its name.
        let doc = match target {
            Some(_) => reports.first().map(|(_, f)| object(f)).unwrap_or_default(),
            None => Value::Object(reports.iter().map(|(name, f)| (name.to_string(), object(f))).collect()),
        };
        out.json_line(&doc);
        return Ok(());
    }
    if reports.is_empty() {
        out.info2("No upgrade is recorded");
    }
    for (name, fields) in reports {
        out.info2(&format!("{name} postgres-upgrade information"));
        let width = FIELDS.iter().map(|(_, label)| label.len()).max().unwrap_or(0) + 1;
        for ((_, label), (_, value)) in FIELDS.iter().zip(fields) {
            out.verbose(&format!("{:<width$} {value}", format!("{label}:")));
        }
    }
    Ok(())
}

/// Removes the dumps of `target`'s older upgrades, keeping the newest `keep`; never while an
/// upgrade of it is unfinished (its dump may be what a rollback needs).
pub fn cleanup(env: &Env, runner: &dyn Runner, out: &Out, target: &str, keep: usize) -> Result<()> {
    if let Some(journal) = crate::verbs::journal_of(env, runner, target)?
        && journal.unfinished()
    {
        bail!("An upgrade of {target} is unfinished: run `{}` first", journal.next_command());
    }
    let dir = crate::state::dumps::found_dir(&env.data_dir(), target);
    let before: u64 = crate::state::dumps::attempts(&dir).iter().map(|(_, b)| b).sum();
    let removed = crate::state::dumps::prune(&dir, keep);
    let after: u64 = crate::state::dumps::attempts(&dir).iter().map(|(_, b)| b).sum();
    out.info1(&format!(
        "Removed {} file(s) of {target}'s dumps ({} freed); {} kept in {}",
        removed.len(),
        crate::output::human(before - after),
        crate::output::human(after),
        dir.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_the_journal_and_the_dumps_folder() {
        let root = std::env::temp_dir().join(format!("pgu-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let env = Env::for_tests(&root);
        let path = Journal::path_for(&env.data_dir(), "memo");
        let plan = crate::state::journal::PlanRecord {
            old_service: "memo-db".into(),
            old_image: "postgres:15".into(),
            new_service: "memo-v17".into(),
            image: "postgres:17".into(),
            ..Default::default()
        };
        let mut journal = Journal::start(&path, plan, &[], Default::default()).unwrap();
        journal
            .update(|r| {
                r.window_ms = Some(2345);
                r.verified = Some("3 tables, 500 rows (content compared)".into());
            })
            .unwrap();
        journal.finish(Status::Upgraded, None).unwrap();
        let dumps = crate::state::dumps::dumps_dir(&env.data_dir(), "memo");
        std::fs::create_dir_all(dumps.join("memo-db-20261201-090000")).unwrap();
        std::fs::write(dumps.join("memo-db-20261201-090000/toc.dat"), vec![0u8; 2_000_000]).unwrap();
        let journal = Journal::load(&path).unwrap();
        let fields: std::collections::BTreeMap<_, _> = fields(&env, "memo", journal.as_ref()).into_iter().collect();
        assert_eq!(fields["postgres-upgrade-last-status"], "upgraded");
        assert_eq!(fields["postgres-upgrade-last-from"], "memo-db (postgres:15)");
        assert_eq!(fields["postgres-upgrade-last-window"], "2.3s");
        assert_eq!(fields["postgres-upgrade-unfinished"], "no");
        assert_eq!(fields["postgres-upgrade-dumps"], "memo-db-20261201-090000");
        assert_eq!(fields["postgres-upgrade-dumps-size"], "2 MB");
        assert_eq!(targets(&env), ["memo"]);
        assert!(fields.keys().all(|k| k.starts_with("postgres-upgrade-")));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
