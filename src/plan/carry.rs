//! What the copy cannot carry as it is, found in preflight, before anything changes: objects
//! no dump holds (in a system schema), a subscription that cannot have two subscribers, values
//! a restore computes again (a stale materialized view, a stored generated column whose
//! expression now gives other values), and roles whose md5 password hashes the new image's host
//! rule will not accept. Each is refused with the way out in one line, or accepted with a flag
//! that the plan, the journal and the report record (docs/fidelity.md, "What is carried").

use crate::facts::fingerprint::{ident, literal};
use crate::host::Host;
use crate::host::runner::Cmd;
use anyhow::{Context, Result, bail};
use serde_json::Value;

/// What preflight found in the old database that a dump does not carry as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Objects a user made in `pg_catalog` or `information_schema`: (kind, identity).
    pub in_system_schemas: Vec<(String, String)>,
    pub enabled_subscriptions: Vec<String>,
    /// Roles that can log in and whose stored password is an md5 hash.
    pub md5_logins: Vec<String>,
    /// The old server's host rule for the apps' connections (`pg_hba_file_rules`).
    pub old_host_rule: Option<String>,
    /// The names `ALTER SYSTEM` set on the old server.
    pub alter_system: Vec<String>,
    /// Materialized views whose rows are not what their query gives now, and how many differ.
    pub stale_views: Vec<(String, u64)>,
    /// Stored generated columns (table, column) with rows their expression no longer gives.
    pub stale_generated: Vec<(String, String, u64)>,
    /// A column each stored generated column is computed from, by (table, column): an UPDATE
    /// of it computes the generated one again (one that sets the generated column to DEFAULT
    /// does not). The dependency is the column's own before 15 or so, its default's since.
    pub generated_from: std::collections::BTreeMap<(String, String), String>,
    /// What could not be compared, and why.
    pub unchecked: Vec<(String, String)>,
}

/// Every object with a user's oid in the system schemas that no extension owns and that is
/// not part of another (an array or row type, an owned sequence, an index): `pg_dump` leaves
/// these schemas out. Collations are not asked: `pg_import_system_collations` puts the
/// host's locales there, which the new server's initdb imports again.
const IN_SYSTEM_SCHEMAS: &str = "SELECT json_build_array('system', x.type, x.identity) FROM (
  SELECT 'pg_class'::regclass AS classid, oid, relnamespace AS ns FROM pg_class WHERE relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  UNION ALL SELECT 'pg_proc'::regclass, oid, pronamespace FROM pg_proc
  UNION ALL SELECT 'pg_type'::regclass, oid, typnamespace FROM pg_type
  UNION ALL SELECT 'pg_operator'::regclass, oid, oprnamespace FROM pg_operator
  UNION ALL SELECT 'pg_opclass'::regclass, oid, opcnamespace FROM pg_opclass
  UNION ALL SELECT 'pg_opfamily'::regclass, oid, opfnamespace FROM pg_opfamily
  UNION ALL SELECT 'pg_conversion'::regclass, oid, connamespace FROM pg_conversion
  UNION ALL SELECT 'pg_ts_config'::regclass, oid, cfgnamespace FROM pg_ts_config
  UNION ALL SELECT 'pg_ts_dict'::regclass, oid, dictnamespace FROM pg_ts_dict
  UNION ALL SELECT 'pg_ts_parser'::regclass, oid, prsnamespace FROM pg_ts_parser
  UNION ALL SELECT 'pg_ts_template'::regclass, oid, tmplnamespace FROM pg_ts_template
  UNION ALL SELECT 'pg_statistic_ext'::regclass, oid, stxnamespace FROM pg_statistic_ext) o
  JOIN pg_namespace n ON n.oid = o.ns,
  LATERAL pg_identify_object(o.classid, o.oid, 0) x
  WHERE n.nspname IN ('pg_catalog', 'information_schema') AND o.oid >= 16384
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.classid AND d.objid = o.oid AND d.deptype IN ('e', 'a', 'i'))
  ORDER BY x.identity";

/// The facts, one JSON array a line, tagged by what they are. The query text of a view and the
/// expression of a column are printed under the session's `search_path` (pg_catalog first):
/// the checks run under the same one.
const FACTS: [&str; 7] = [
    IN_SYSTEM_SCHEMAS,
    "SELECT json_build_array('subscription', subname) FROM pg_subscription \
     WHERE subenabled AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY subname",
    "SELECT json_build_array('md5', rolname) FROM pg_authid \
     WHERE rolcanlogin AND rolpassword LIKE 'md5%' AND rolname <> 'postgres' ORDER BY rolname",
    "SELECT json_build_array('host_rule', auth_method) FROM pg_hba_file_rules \
     WHERE type LIKE 'host%' AND database = '{all}' AND user_name = '{all}' AND error IS NULL \
     ORDER BY address = 'all' DESC, line_number LIMIT 1",
    "SELECT json_build_array('alter_system', name) FROM pg_file_settings \
     WHERE sourcefile ~ '(^|/)postgresql\\.auto\\.conf$' ORDER BY seqno",
    "SELECT json_build_array('view', format('%I.%I', n.nspname, c.relname), rtrim(pg_get_viewdef(c.oid), ';')) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND c.relispopulated \
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY n.nspname, c.relname",
    // attgenerated through to_jsonb: PostgreSQL 11 has no such column. 's' is stored; 18's
    // virtual columns ('v') are computed when read.
    "SELECT json_build_array('generated', format('%I.%I', n.nspname, c.relname), a.attname, \
     pg_get_expr(d.adbin, d.adrelid), format_type(a.atttypid, a.atttypmod), \
     (SELECT b.attname FROM pg_depend x JOIN pg_attribute b ON b.attrelid = x.refobjid AND b.attnum = x.refobjsubid \
      WHERE (x.classid = 'pg_attrdef'::regclass AND x.objid = d.oid \
             OR x.classid = 'pg_class'::regclass AND x.objid = c.oid AND x.objsubid = a.attnum) \
      AND x.refclassid = 'pg_class'::regclass AND x.refobjid = c.oid AND x.refobjsubid > 0 \
      AND x.refobjsubid <> a.attnum ORDER BY b.attnum LIMIT 1)) \
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND to_jsonb(a)->>'attgenerated' = 's' \
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY n.nspname, c.relname, a.attnum",
];

impl Found {
    /// Reads the old database: one session for the facts, and one that reads every populated
    /// materialized view and every table with stored generated columns, when there are any.
    pub fn read(host: &Host, service: &str, database: &str, quiet: bool) -> Result<Found> {
        let mut found = Found::default();
        let mut views = Vec::new();
        let mut generated: Vec<(String, String, String, String)> = Vec::new();
        for line in host.sql_statements(service, database, &FACTS)? {
            let row: Vec<Value> = serde_json::from_str(&line).with_context(|| format!("unexpected answer: {line}"))?;
            let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or_default().to_string();
            match text(0).as_str() {
                "system" => found.in_system_schemas.push((text(1), text(2))),
                "subscription" => found.enabled_subscriptions.push(text(1)),
                "md5" => found.md5_logins.push(text(1)),
                "host_rule" => found.old_host_rule = Some(text(1)),
                "alter_system" => found.alter_system.push(text(1)),
                "view" => views.push((text(1), text(2))),
                "generated" => {
                    if let Some(from) = row.get(5).and_then(Value::as_str) {
                        found.generated_from.insert((text(1), text(2)), from.to_string());
                    }
                    generated.push((text(1), text(2), text(3), text(4)))
                }
                _ => bail!("unexpected answer about {service}: {line}"),
            }
        }
        if views.is_empty() && generated.is_empty() {
            return Ok(found);
        }
        let what = format!(
            "reading {} materialized view(s) and {} table(s) with stored generated columns of {service}",
            views.len(),
            generated.iter().map(|g| &g.0).collect::<std::collections::BTreeSet<_>>().len()
        );
        let timer = crate::output::progress::timer(what, quiet);
        let (script, checked) = recompute_script(&views, &generated);
        // Every check is read only, and one that fails does not stop the others: psql says
        // which line failed.
        let cmd: Cmd = host.psql(service, database, true).args(["-v", "ON_ERROR_STOP=0", "-q", "-A", "-t", "-f", "-"]);
        let out = host.run(&cmd.input(script))?;
        drop(timer);
        found.take_checks(&out.stdout, &out.stderr, &checked);
        Ok(found)
    }

    fn take_checks(&mut self, stdout: &str, stderr: &str, checked: &[String]) {
        let mut answered = std::collections::BTreeSet::new();
        for line in stdout.lines() {
            let Ok(row) = serde_json::from_str::<Vec<Value>>(line) else { continue };
            let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or_default().to_string();
            let name = text(1);
            answered.insert(name.clone());
            match text(0).as_str() {
                "view" => {
                    let differ = row.get(2).and_then(Value::as_u64).unwrap_or(0);
                    if differ > 0 {
                        self.stale_views.push((name, differ));
                    }
                }
                "generated" => {
                    for column in row.iter().skip(2).filter_map(Value::as_array) {
                        let differ = column.get(1).and_then(Value::as_u64).unwrap_or(0);
                        if differ > 0 {
                            let col = column.first().and_then(Value::as_str).unwrap_or_default().to_string();
                            self.stale_generated.push((name.clone(), col, differ));
                        }
                    }
                }
                _ => {}
            }
        }
        // `psql:<stdin>:LINE: ERROR:  …`: the check on that line could not be made.
        for line in stderr.lines() {
            let Some(rest) = line.strip_prefix("psql:<stdin>:") else { continue };
            let Some((number, message)) = rest.split_once(": ") else { continue };
            let Some(name) = number.parse::<usize>().ok().and_then(|n| checked.get(n - 1)).filter(|n| !n.is_empty())
            else {
                continue;
            };
            if !answered.contains(name) && !self.unchecked.iter().any(|(n, _)| n == name) {
                self.unchecked.push((name.clone(), message.trim().to_string()));
            }
        }
        for name in checked.iter().filter(|n| !n.is_empty()) {
            if !answered.contains(name) && !self.unchecked.iter().any(|(n, _)| n == name) {
                self.unchecked.push((name.clone(), "no answer".into()));
            }
        }
    }

    /// The problems preflight lists, each with its way out; `new_rule` is the host rule the
    /// new service will have, `accept_recomputed` the flag that accepts what a refresh or a
    /// restore computes again.
    pub fn problems(&self, old: &str, new_rule: &str, accept_recomputed: bool) -> Vec<String> {
        let mut problems = Vec::new();
        for (kind, identity) in &self.in_system_schemas {
            problems.push(format!(
                "{kind} {identity} of {old} is in a system schema, which no dump holds: move it out on {old}: ALTER {} {identity} SET SCHEMA public",
                sql_kind(kind)
            ));
        }
        for name in &self.enabled_subscriptions {
            let s = ident(name);
            problems.push(format!(
                "subscription {name} of {old} is enabled, and a copy cannot take over its slot while it runs: run ALTER SUBSCRIPTION {s} DISABLE on {old}, upgrade, then ALTER SUBSCRIPTION {s} ENABLE on the new service"
            ));
        }
        if let Some(problem) = self.md5_problem(old, new_rule) {
            problems.push(problem);
        }
        if accept_recomputed {
            return problems;
        }
        for (view, rows) in &self.stale_views {
            problems.push(format!(
                "materialized view {view} of {old} holds other rows than its query gives now ({rows} differ), and a copy refreshes it: run REFRESH MATERIALIZED VIEW {view} on {old}, or accept the refreshed rows with --accept-recomputed"
            ));
        }
        for (table, column, rows) in &self.stale_generated {
            let recompute = match self.generated_from.get(&(table.clone(), column.clone())) {
                Some(from) => format!("UPDATE {table} SET {0} = {0}", ident(from)),
                None => {
                    format!("ALTER TABLE {table} ALTER COLUMN {} SET EXPRESSION AS (…) (17 and later)", ident(column))
                }
            };
            problems.push(format!(
                "{rows} row(s) of {table} hold other values in the stored generated column {column} than its expression gives now (what it calls changed since), and a copy computes them again: run {recompute} on {old}, or accept the recomputed values with --accept-recomputed"
            ));
        }
        for (name, why) in &self.unchecked {
            problems.push(format!(
                "{name} of {old} could not be compared with what a copy computes again ({why}): fix that on {old}, or accept what the copy computes with --accept-recomputed"
            ));
        }
        problems
    }

    /// Roles that log in with an md5 hash today and would not on the new service.
    fn md5_problem(&self, old: &str, new_rule: &str) -> Option<String> {
        let accepted_today = self.old_host_rule.as_deref().is_none_or(|r| matches!(r, "md5" | "password"));
        if self.md5_logins.is_empty() || new_rule != "scram-sha-256" || !accepted_today {
            return None;
        }
        let first = ident(&self.md5_logins[0]);
        Some(format!(
            "role(s) {} of {old} log in with an md5 password hash, which the new service's host rule scram-sha-256 does not accept (the image takes it from password_encryption: docs/postgres-image.md): on {old}, set each password again as SCRAM (SET password_encryption = 'scram-sha-256'; ALTER ROLE {first} PASSWORD '…'), or keep md5 logins with --keep-md5-auth (the new service gets POSTGRES_HOST_AUTH_METHOD=md5)",
            self.md5_logins.join(", ")
        ))
    }

    /// What the copy recomputes and `--accept-recomputed` accepted, in words, for the plan,
    /// the journal and the report.
    pub fn recomputed(&self) -> Vec<String> {
        let mut said: Vec<String> = self
            .stale_views
            .iter()
            .map(|(v, rows)| {
                format!(
                    "materialized view {v}: refreshed by the copy ({rows} row(s) of the old one differ from its query)"
                )
            })
            .collect();
        said.extend(self.stale_generated.iter().map(|(t, c, rows)| {
            format!("stored generated column {t}.{c}: computed again by the copy ({rows} row(s) differ)")
        }));
        said.extend(
            self.unchecked.iter().map(|(n, why)| format!("{n}: computed again by the copy, not compared ({why})")),
        );
        said
    }
}

/// What preflight decided about what the copy carries: the facts, the `ALTER SYSTEM` settings
/// by name as the new image knows them, and what the flags accepted, in words.
#[derive(Debug, Clone, Default)]
pub struct Carry {
    pub found: Found,
    /// None when the new image could not say which settings it knows.
    pub settings: Option<SettingNames>,
    pub accepted: Vec<String>,
}

/// The old server's `ALTER SYSTEM` settings by name (never their values, which may hold a
/// secret): those the new major knows are carried, those among them that take effect only at
/// start restart the new service before the window, the others are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingNames {
    pub carried: Vec<String>,
    pub at_start: Vec<String>,
    pub left_out: Vec<String>,
}

/// What preflight is told about the new service.
pub struct NewService<'a> {
    /// The pulled image, when the pull worked.
    pub image: Option<&'a str>,
    pub major: Option<u32>,
    /// Its custom env and config options, as it will be created with them.
    pub custom_env: &'a str,
    pub config_options: &'a str,
}

impl Carry {
    /// Reads the old database and sorts what it found: the problems to refuse, and what the
    /// flags accept. `accept_recomputed` and `keep_md5_auth` are the flags given.
    pub fn take(
        host: &Host,
        out: &crate::output::Out,
        old: (&str, &str),
        new: &NewService,
        accept_recomputed: bool,
        keep_md5_auth: bool,
    ) -> Result<(Carry, Vec<String>)> {
        let found = Found::read(host, old.0, old.1, out.quiet())?;
        let rule = new_host_rule(new.custom_env, new.config_options, new.major);
        let problems = found.problems(old.0, &rule, accept_recomputed);
        let settings = match (found.alter_system.is_empty(), new.image) {
            (false, Some(image)) => match crate::copy::settings::known_to_image(host, image) {
                Ok(known) => Some(SettingNames::sort(&found.alter_system, &known, new.major)),
                Err(err) => {
                    out.warn(&format!("{err:#}: which ALTER SYSTEM settings it takes is known once it runs"));
                    None
                }
            },
            _ => None,
        };
        let mut accepted = Vec::new();
        if accept_recomputed {
            let recomputed = found.recomputed();
            if recomputed.is_empty() {
                accepted
                    .push("--accept-recomputed: nothing the copy computes again differs from the old database".into());
            }
            accepted.extend(recomputed.into_iter().map(|r| format!("{r} (--accept-recomputed)")));
        }
        if keep_md5_auth {
            accepted.push(format!(
                "the new service's host rule is md5 (POSTGRES_HOST_AUTH_METHOD=md5, --keep-md5-auth){}",
                if found.md5_logins.is_empty() {
                    String::new()
                } else {
                    format!(": role(s) {} keep logging in with their md5 password hashes", found.md5_logins.join(", "))
                }
            ));
        }
        Ok((Carry { found, settings, accepted }, problems))
    }
}

impl SettingNames {
    fn sort(names: &[String], known: &std::collections::BTreeMap<String, String>, major: Option<u32>) -> SettingNames {
        let settings: Vec<crate::copy::settings::Setting> =
            names.iter().map(|n| crate::copy::settings::Setting { name: n.clone(), value: String::new() }).collect();
        let sorted = crate::copy::settings::sort(&settings, known, major);
        SettingNames {
            carried: sorted.carried.into_iter().map(|s| s.name).collect(),
            at_start: sorted.at_start,
            left_out: sorted.left_out,
        }
    }
}

/// The SQL keyword of an object kind as `pg_identify_object` names it.
fn sql_kind(kind: &str) -> String {
    match kind {
        "statistics object" => "STATISTICS".into(),
        other => other.to_uppercase(),
    }
}

/// The script that compares each materialized view with its query and each stored generated
/// column with its expression, and what each line of it checks (by line number, from 1: a
/// query's text may span lines, and a literal in it may hold a newline). Rows are compared as
/// the md5 of their text: a type without an equality operator (json, point) is compared too;
/// `ROW(v.*)`, not `v`, which a column named like the alias would stand for. Each side is read
/// once, and the rows one side has more often than the other counted (one hash aggregate: a
/// third of the time two `EXCEPT ALL` take, docs/fidelity.md).
fn recompute_script(
    views: &[(String, String)],
    generated: &[(String, String, String, String)],
) -> (String, Vec<String>) {
    let mut statements = vec![
        ("SET search_path = pg_catalog, pg_temp;".to_string(), String::new()),
        ("SET default_transaction_read_only = on;".to_string(), String::new()),
        ("SET statement_timeout = 0;".to_string(), String::new()),
    ];
    for (view, query) in views {
        statements.push((
            format!(
                "SELECT json_build_array('view', {name}, coalesce(sum(abs(d.s)), 0)) FROM (SELECT x.h, sum(x.c) AS s FROM \
                 (SELECT md5(ROW(v.*)::text) AS h, 1 AS c FROM {view} v UNION ALL SELECT md5(ROW(q.*)::text), -1 FROM ({query}) q) x \
                 GROUP BY x.h HAVING sum(x.c) <> 0) d;",
                name = literal(view)
            ),
            view.clone(),
        ));
    }
    let mut tables: Vec<&str> = generated.iter().map(|g| g.0.as_str()).collect();
    tables.dedup();
    for table in tables {
        let columns: Vec<String> = generated
            .iter()
            .filter(|g| g.0 == table)
            .map(|(_, column, expression, kind)| {
                format!(
                    "json_build_array({}, count(*) FILTER (WHERE t.{}::text IS DISTINCT FROM (({expression})::{kind})::text))",
                    literal(column),
                    ident(column)
                )
            })
            .collect();
        statements.push((
            format!(
                "SELECT json_build_array('generated', {}, {}) FROM ONLY {table} t;",
                literal(table),
                columns.join(", ")
            ),
            table.to_string(),
        ));
    }
    let mut script = String::new();
    let mut lines = Vec::new();
    for (statement, what) in statements {
        lines.extend(std::iter::repeat_n(what, statement.lines().count()));
        script.push_str(&statement);
        script.push('\n');
    }
    (script, lines)
}

/// The host rule the new service's image will write for the apps' connections: what its
/// custom env sets in `POSTGRES_HOST_AUTH_METHOD`, else its `password_encryption` (a config
/// option may set it), else that major's default: md5 before 14, scram-sha-256 from 14
/// (docs/postgres-image.md).
pub fn new_host_rule(custom_env: &str, config_options: &str, new_major: Option<u32>) -> String {
    if let Some(method) = env_value(custom_env, "POSTGRES_HOST_AUTH_METHOD") {
        return method;
    }
    let words: Vec<&str> = config_options.split_whitespace().collect();
    let option = words.iter().enumerate().find_map(|(i, w)| {
        let setting = if *w == "-c" { *words.get(i + 1)? } else { w.strip_prefix("--")? };
        setting.strip_prefix("password_encryption=").map(|v| v.trim_matches(['\'', '"']).to_string())
    });
    option.unwrap_or_else(|| if new_major.is_some_and(|m| m < 1400) { "md5".into() } else { "scram-sha-256".into() })
}

/// A variable's value in a `;`-separated custom env.
fn env_value(custom_env: &str, name: &str) -> Option<String> {
    custom_env
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The custom env the new service is created with: the one given, or the old service's, and
/// with `--keep-md5-auth` the md5 host rule. A custom env that sets another rule and the flag
/// contradict each other.
pub fn new_custom_env(given: Option<&str>, old: &[String], keep_md5_auth: bool) -> Result<String> {
    let env = given.map(String::from).unwrap_or_else(|| old.join(";"));
    if !keep_md5_auth {
        return Ok(env);
    }
    match env_value(&env, "POSTGRES_HOST_AUTH_METHOD") {
        Some(method) if method == "md5" => Ok(env),
        Some(method) => bail!(
            "--keep-md5-auth sets POSTGRES_HOST_AUTH_METHOD=md5, but the new service's custom env sets it to {method}: leave out one of them"
        ),
        None if env.is_empty() => Ok("POSTGRES_HOST_AUTH_METHOD=md5".into()),
        None => Ok(format!("{env};POSTGRES_HOST_AUTH_METHOD=md5")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_says_what_to_run() {
        let found = Found {
            in_system_schemas: vec![
                ("function".into(), "pg_catalog.f(integer)".into()),
                ("table".into(), "information_schema.t".into()),
                ("statistics object".into(), "information_schema.s".into()),
            ],
            enabled_subscriptions: vec!["sub".into()],
            md5_logins: vec!["reader".into(), "writer".into()],
            old_host_rule: Some("md5".into()),
            stale_views: vec![("public.totals".into(), 3)],
            stale_generated: vec![("public.t".into(), "total".into(), 2)],
            generated_from: [(("public.t".to_string(), "total".to_string()), "price".to_string())].into(),
            unchecked: vec![("public.b".into(), "ERROR:  materialized view \"a\" has not been populated".into())],
            ..Found::default()
        };
        let problems = found.problems("db", "scram-sha-256", false);
        assert_eq!(problems.len(), 8, "{problems:#?}");
        assert!(problems[0].ends_with("ALTER FUNCTION pg_catalog.f(integer) SET SCHEMA public"), "{}", problems[0]);
        assert!(problems[1].ends_with("ALTER TABLE information_schema.t SET SCHEMA public"));
        assert!(problems[2].ends_with("ALTER STATISTICS information_schema.s SET SCHEMA public"));
        assert!(problems[3].contains("ALTER SUBSCRIPTION \"sub\" DISABLE on db"), "{}", problems[3]);
        assert!(
            problems[4].starts_with("role(s) reader, writer of db log in with an md5 password hash"),
            "{}",
            problems[4]
        );
        assert!(problems[4].contains("--keep-md5-auth") && problems[4].contains("ALTER ROLE \"reader\" PASSWORD"));
        assert!(problems[5].contains("REFRESH MATERIALIZED VIEW public.totals on db"), "{}", problems[5]);
        assert!(problems[6].contains("UPDATE public.t SET \"price\" = \"price\" on db"), "{}", problems[6]);
        assert!(problems[7].contains("has not been populated"));
        assert!(problems.iter().all(|p| !p.contains('\n')));
        // The flag accepts what the copy computes again, nothing else.
        assert_eq!(found.problems("db", "scram-sha-256", true).len(), 5);
        assert_eq!(found.recomputed().len(), 3);
        // md5 hashes that log in today, and would not tomorrow.
        assert_eq!(found.problems("db", "md5", true).len(), 4);
        let scram_today = Found { old_host_rule: Some("scram-sha-256".into()), ..found.clone() };
        assert_eq!(scram_today.problems("db", "scram-sha-256", true).len(), 4);
    }

    #[test]
    fn the_new_host_rule_is_the_images() {
        assert_eq!(new_host_rule("", "", Some(1800)), "scram-sha-256");
        assert_eq!(new_host_rule("", "", Some(1300)), "md5");
        assert_eq!(new_host_rule("TZ=UTC;POSTGRES_HOST_AUTH_METHOD=md5", "", Some(1800)), "md5");
        assert_eq!(new_host_rule("", "-c max_connections=50 -c password_encryption=md5", Some(1800)), "md5");
        assert_eq!(new_host_rule("", "--password_encryption='md5'", Some(1800)), "md5");
    }

    #[test]
    fn keeping_md5_logins_goes_through_the_custom_env() {
        assert_eq!(new_custom_env(None, &["TZ=UTC".into()], false).unwrap(), "TZ=UTC");
        assert_eq!(new_custom_env(None, &["TZ=UTC".into()], true).unwrap(), "TZ=UTC;POSTGRES_HOST_AUTH_METHOD=md5");
        assert_eq!(new_custom_env(Some(""), &["TZ=UTC".into()], true).unwrap(), "POSTGRES_HOST_AUTH_METHOD=md5");
        assert_eq!(
            new_custom_env(Some("POSTGRES_HOST_AUTH_METHOD=md5"), &[], true).unwrap(),
            "POSTGRES_HOST_AUTH_METHOD=md5"
        );
        assert!(new_custom_env(Some("POSTGRES_HOST_AUTH_METHOD=trust"), &[], true).is_err());
    }

    #[test]
    fn each_check_is_on_its_own_line_and_its_failure_is_named() {
        let views =
            [("public.totals".to_string(), "SELECT count(*) AS n, 'a\nb' AS s\n FROM public.items".to_string())];
        let generated = [
            ("public.t".to_string(), "a".to_string(), "(x * 2)".to_string(), "integer".to_string()),
            ("public.t".to_string(), "b".to_string(), "f(x)".to_string(), "text".to_string()),
        ];
        let (script, checked) = recompute_script(&views, &generated);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines.len(), checked.len());
        // The view's query as the server printed it, its literal's newline kept.
        assert!(script.contains("FROM (SELECT count(*) AS n, 'a\nb' AS s\n FROM public.items) q"), "{script}");
        assert_eq!(checked[3..], ["public.totals", "public.totals", "public.totals", "public.t"]);
        assert!(lines[6].contains("json_build_array('a', count(*) FILTER (WHERE t.\"a\"::text IS DISTINCT FROM (((x * 2))::integer)::text))"), "{}", lines[6]);
        assert!(lines[6].ends_with("FROM ONLY public.t t;"));
        let mut found = Found::default();
        found.take_checks(
            "[\"view\", \"public.totals\", 0]\n[\"generated\", \"public.t\", [\"a\", 0], [\"b\", 4]]\n",
            "",
            &checked,
        );
        assert_eq!(found.stale_generated, [("public.t".to_string(), "b".to_string(), 4)]);
        assert!(found.stale_views.is_empty() && found.unchecked.is_empty());
        let mut found = Found::default();
        found.take_checks("", "psql:<stdin>:5: ERROR:  materialized view \"x\" has not been populated\n", &checked);
        assert_eq!(
            found.unchecked[0],
            ("public.totals".into(), "ERROR:  materialized view \"x\" has not been populated".into())
        );
        assert_eq!(found.unchecked[1], ("public.t".into(), "no answer".into()));
    }
}
