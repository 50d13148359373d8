//! `postgres-upgrade:report [APP] [--format json] [--<field>]`, in the shape of dokku's own
//! `*:report` commands: per app (or service) upgraded, its last upgrade (from, to, when, how
//! it ended, the window, what was verified), whether one is unfinished, and the dumps kept with
//! their sizes. `postgres-upgrade:cleanup APP [--keep N]` removes the older dumps.

use crate::host::env::Env;
use crate::output::Out;
use crate::state::journal::{Journal, Status};
use anyhow::{Result, bail};
use serde_json::{Value, json};

/// The report's fields, in the order they are shown, with their labels.
const FIELDS: [(&str, &str); 12] = [
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
];

/// Every name (app or service) with a journal under the plugin's data folder.
fn targets(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.data_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("journal.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The fields of one target, as dokku's reports name them.
pub fn fields(env: &Env, target: &str) -> Result<Vec<(&'static str, String)>> {
    let journal = Journal::load(&Journal::path_for(&env.data_dir(), target))?;
    let Some(journal) = journal else { bail!("No upgrade of {target} is recorded") };
    let record = &journal.record;
    let plan = &record.plan;
    let unfinished = matches!(journal.status(), Status::Running | Status::RollingBack);
    let dumps = crate::state::dumps::dumps_dir(&env.data_dir(), target);
    let kept = crate::state::dumps::attempts(&dumps);
    let size: u64 = kept.iter().map(|(_, bytes)| bytes).sum();
    let values = [
        journal.status().as_str().to_string(),
        format!("{} ({})", plan.old_service, plan.old_image),
        plan.new_service.clone(),
        plan.image.clone(),
        record.started.clone(),
        if unfinished { String::new() } else { record.updated.clone() },
        record.window_ms.map(|ms| format!("{:.1}s", ms as f64 / 1000.0)).unwrap_or_default(),
        record.verified.clone().unwrap_or_default(),
        plan.accepted.join("; "),
        match (unfinished, unfinished && crate::verbs::recovery::still_running(&journal)) {
            (true, true) => "running".to_string(),
            (true, false) => format!("yes: dokku postgres-upgrade:rollback {target} (or --resume)"),
            _ => "no".to_string(),
        },
        kept.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>().join(" "),
        crate::output::human(size),
    ];
    Ok(FIELDS.iter().map(|(key, _)| *key).zip(values).collect())
}

pub fn report(env: &Env, out: &Out, target: Option<&str>, json_format: bool, field: Option<&str>) -> Result<()> {
    if let Some(field) = field {
        let field = field.trim_start_matches("--");
        let Some(target) = target else { bail!("Please specify an app for --{field}") };
        let Some((_, value)) = fields(env, target)?.into_iter().find(|(k, _)| *k == field) else {
            bail!("Invalid flag passed, valid flags: {}", FIELDS.map(|(k, _)| format!("--{k}")).join(", "))
        };
        out.line(&value);
        return Ok(());
    }
    let names = match target {
        Some(t) => vec![t.to_string()],
        None => targets(env),
    };
    if names.is_empty() {
        out.info2("No upgrade is recorded");
        return Ok(());
    }
    for name in &names {
        let fields = fields(env, name)?;
        if json_format {
            let map: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            out.line(&Value::Object(map).to_string());
            continue;
        }
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
pub fn cleanup(env: &Env, out: &Out, target: &str, keep: usize) -> Result<()> {
    if let Some(journal) = Journal::load(&Journal::path_for(&env.data_dir(), target))?
        && journal.status() == Status::Running
    {
        bail!("An upgrade of {target} is unfinished: finish it (--resume) or roll it back first");
    }
    let dir = crate::state::dumps::dumps_dir(&env.data_dir(), target);
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
        let fields: std::collections::BTreeMap<_, _> = fields(&env, "memo").unwrap().into_iter().collect();
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
