//! The second witness of verification: the schema as one pg_dump (the new image's) prints both
//! databases, DDL, owners, ACLs, default privileges and comments, line by line. The
//! independent verifier (facts/verifier/) compares the catalog object by object and the rows;
//! this catches what it does not read, such as a changed view definition, default or
//! constraint. Also what the plan says a restore changes (docs/fidelity.md).

use crate::host::Host;
use crate::host::client::Client;
use anyhow::{Context, Result, bail};

/// What a restore cannot keep the same, said in the plan before anything changes
/// (facts/survey.rs). Each row `[note, what, '']`.
pub const NOTES: [&str; 2] = [
    "SELECT json_build_array('note', format('materialized view %I.%I', n.nspname, c.relname), '') \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND c.relispopulated",
    "SELECT json_build_array('note', format('table %I.%I', n.nspname, c.relname), '') \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AND EXISTS (SELECT 1 \
       FROM pg_attribute a JOIN pg_attribute b ON b.attrelid = a.attrelid AND b.attnum > a.attnum \
       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND NOT b.attisdropped \
       AND a.attinhcount = 0 AND b.attinhcount > 0)",
];

/// What a note says will change.
pub fn note_text(note: &str) -> String {
    match note.strip_prefix("table ") {
        Some(table) => format!("table {table}: its inherited columns come first now (SELECT * shows another order)"),
        None => format!(
            "{note} is refreshed from the copied rows: one that is stale now differs, and verification stops the upgrade (refresh it first)"
        ),
    }
}

/// Both databases' schemas as one pg_dump (the new image's) prints them, owners, ACLs and
/// comments included: the text must be the same. The `\\restrict KEY` lines (random on every
/// run since 17.6, 16.10, 15.14, 14.19 and 13.22) and the servers' versions are left out.
///
/// A server prints the definitions it keeps as parse trees (views, defaults, constraints,
/// policies, index expressions) its own way, and that changes between majors (17 leaves out
/// table names 15 prints: docs/fidelity.md). Across majors the old schema is therefore
/// replayed into a scratch database on the new server ([`SchemaReplay`], made before the window),
/// and the new database must print exactly as that replay does.
pub fn compare_schemas(
    host: &Host,
    client: &Client,
    old: (&str, &str),
    new: (&str, &str),
    replay: Option<&SchemaReplay>,
) -> Result<()> {
    // Both dumped at once: each is a container of its own.
    let dumped = client
        .run_all(host, &[(old.0, &schema_dump(old.1)), (new.0, &schema_dump(new.1))])
        .with_context(|| format!("Unable to dump the schemas of {} and {}", old.0, new.0))?;
    let (ours, theirs) = (schema_lines(&dumped[0]), schema_lines(&dumped[1]));
    let expected = match replay {
        None => ours,
        // The replay made before the window stands while the old schema has not moved since.
        Some(r) if r.old == ours => r.replayed.clone(),
        Some(_) => SchemaReplay::make(host, client, old, new.0)?.replayed,
    };
    match schema_difference(&expected, &theirs) {
        None => Ok(()),
        Some(diff) => bail!("the schema of the copy differs from the original's:\n{diff}"),
    }
}

/// The old database's schema as the old server prints it, and as the new server prints it once
/// replayed there (into a scratch database, dropped again).
#[derive(Debug, Clone, Default)]
pub struct SchemaReplay {
    old: Vec<String>,
    replayed: Vec<String>,
}

/// The scratch database of the replay: never named in a message (it is gone by then, and a
/// user can do nothing with it).
const SCRATCH: &str = "postgres_upgrade_verify";

impl SchemaReplay {
    pub fn make(host: &Host, client: &Client, old: (&str, &str), new_service: &str) -> Result<SchemaReplay> {
        let schema = dump_schema(host, client, old)?;
        let printed = replay(host, client, &schema, new_service);
        let dropped = drop_scratch(host, new_service);
        let scrubbed = |err: anyhow::Error| {
            anyhow::anyhow!(
                format!("{err:#}").replace(&format!("\"{SCRATCH}\""), "(scratch)").replace(SCRATCH, "(scratch)")
            )
        };
        let printed = printed.map_err(|err| {
            scrubbed(err.context(format!(
                "{new_service} cannot create the schema of {} as it is (it is replayed there to compare the schemas across \
                 majors): change what the error names in {}, then run the upgrade again",
                old.0, old.0
            )))
        })?;
        dropped.map_err(scrubbed)?;
        Ok(SchemaReplay { old: schema_lines(&schema), replayed: schema_lines(&printed) })
    }
}

/// `schema` replayed into a new scratch database on `service`, printed back.
fn replay(host: &Host, client: &Client, schema: &str, service: &str) -> Result<String> {
    drop_scratch(host, service)?;
    host.sql(service, "postgres", &format!("CREATE DATABASE {}", crate::facts::fingerprint::ident(SCRATCH)))?;
    host.check(&host.psql(service, SCRATCH, true).args(["-q", "-f", "-"]).input(schema))?;
    dump_schema(host, client, (service, SCRATCH))
}

/// Drops the scratch database if it is there. A subscription in it (a run that replayed
/// subscriptions, or one killed half-way) would keep it: it is disabled and let go of its
/// replication slot (which belongs to the original's subscription) first, then dropped.
fn drop_scratch(host: &Host, service: &str) -> Result<()> {
    let exists = format!("SELECT 1 FROM pg_database WHERE datname = {}", crate::facts::fingerprint::literal(SCRATCH));
    if host.sql(service, "postgres", &exists)?.is_empty() {
        return Ok(());
    }
    let subscriptions = "SELECT format('ALTER SUBSCRIPTION %I DISABLE', subname), \
        format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', subname), format('DROP SUBSCRIPTION %I', subname) \
        FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \\gexec\n";
    host.check(&host.psql(service, SCRATCH, true).args(["-q", "-f", "-"]).input(subscriptions))?;
    host.sql(service, "postgres", &format!("DROP DATABASE {}", crate::facts::fingerprint::ident(SCRATCH)))?;
    Ok(())
}

/// `pg_dump --schema-only` by the new image's pg_dump. Subscriptions are left out: the
/// verifier compares them by catalog (options and enabled state, which a dump does not keep),
/// and one replayed into the scratch database would tie it to a replication slot.
fn dump_schema(host: &Host, client: &Client, (service, database): (&str, &str)) -> Result<String> {
    client.run(host, service, &schema_dump(database)).with_context(|| format!("Unable to dump the schema of {service}"))
}

/// The pg_dump that prints `database`'s schema.
fn schema_dump(database: &str) -> [&str; 5] {
    ["pg_dump", "--schema-only", "--no-subscriptions", "-d", database]
}

/// A schema dump's lines, without those that differ on every run or by server version.
fn schema_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !crate::host::client::restrict_line(l))
        .filter(|l| !l.starts_with("-- Dumped from database version "))
        .map(String::from)
        .collect()
}

/// The lines that differ between two dumps, as `-`/`+` lines around the first difference (a
/// few of each), or None when they are the same.
fn schema_difference(ours: &[String], theirs: &[String]) -> Option<String> {
    const SHOWN: usize = 8;
    if ours == theirs {
        return None;
    }
    let head = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
    let tail = ours[head..].iter().rev().zip(theirs[head..].iter().rev()).take_while(|(a, b)| a == b).count();
    let mut lines = Vec::new();
    let (gone, added) = (&ours[head..ours.len() - tail], &theirs[head..theirs.len() - tail]);
    lines.extend(gone.iter().filter(|l| !l.is_empty()).take(SHOWN).map(|l| format!("       - {}", redact(l))));
    lines.extend(added.iter().filter(|l| !l.is_empty()).take(SHOWN).map(|l| format!("       + {}", redact(l))));
    Some(lines.join("\n"))
}

/// A dump line with any `password '…'` option (a user mapping's) masked.
fn redact(line: &str) -> String {
    static PASSWORD: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)(password\s+)'(?:[^']|'')*'").unwrap());
    PASSWORD.replace_all(line, "${1}'<redacted>'").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_differences_show_the_lines_around_the_first_one_and_mask_passwords() {
        let lines = |t: &str| t.lines().map(String::from).collect::<Vec<_>>();
        let old = lines(
            "SET x;\nALTER TABLE a OWNER TO app;\nCREATE USER MAPPING FOR ro SERVER s OPTIONS (password 'p''w');\nEND",
        );
        let new = lines("SET x;\nALTER TABLE a OWNER TO postgres;\nEND");
        assert_eq!(schema_difference(&old, &old), None);
        assert_eq!(
            schema_difference(&old, &new).unwrap(),
            "       - ALTER TABLE a OWNER TO app;\n       - CREATE USER MAPPING FOR ro SERVER s OPTIONS (password '<redacted>');\n       + ALTER TABLE a OWNER TO postgres;"
        );
    }
}
