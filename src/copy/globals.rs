//! What a dump of one database does not hold, carried as the new image's own tools print it:
//! the cluster's roles (`pg_dumpall --roles-only`: attributes, password hashes, memberships,
//! settings) and the database's own properties (`pg_dump --create`: its settings, comment,
//! ACL, connection limit, owner, and per-role settings in it). Without the roles a restore
//! with owners and ACLs fails; without the properties an app loses the `search_path` or time
//! zone its database set (docs/fidelity.md).
//!
//! The service's own superuser `postgres` is the image's, with the new service's password:
//! its attributes and password are never touched, only its settings are carried.

use crate::facts::fingerprint::{ident, literal};
use crate::host::Host;
use crate::host::client::Client;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;

/// The superuser every dokku-postgres service is run as.
pub const SUPERUSER: &str = "postgres";

/// The old server's roles, applied to the new server: created where they are missing, then
/// given the old attributes, memberships and settings. A role the new image made itself with
/// other attributes than the old one's stops the upgrade (never merged silently).
pub fn copy_roles(host: &Host, client: &Client, old: &str, new: &str) -> Result<()> {
    apply_roles(host, &dump_roles(host, client, old)?, old, new)
}

/// The old server's roles as `pg_dumpall --roles-only` prints them, less the restrict lines
/// whose key differs on every run: two dumps of the same roles are the same text.
pub fn dump_roles(host: &Host, client: &Client, old: &str) -> Result<String> {
    Ok(crate::host::client::without_restrict_lines(&client.run(host, old, &["pg_dumpall", "--roles-only"])?))
}

/// A roles dump of `old` applied to `new` (see [`copy_roles`]), in one transaction: the new
/// server's roles made equal to the dump's, removals included.
pub fn apply_roles(host: &Host, dump: &str, old: &str, new: &str) -> Result<()> {
    let existing = NewRoles::read(host, new)?;
    let script = roles_script(dump, &existing);
    let secrets = password_literals(&script);
    let cmd = host.psql(new, "postgres", true).args(["-q", "-1", "-f", "-"]).input(script).hiding(secrets);
    host.check(&cmd).with_context(|| format!("Unable to create the roles of {old} in {new}"))?;
    Ok(())
}

/// What the new server has of roles before a roles dump is applied to it: the dump alone only
/// adds, so whatever the old server no longer has is taken away first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRoles {
    /// Every role but the built-in `pg_*` ones, the superuser included.
    pub names: BTreeSet<String>,
    /// Every membership of a role that is not built in: (role, member, grantor when it exists).
    pub memberships: Vec<(String, String, Option<String>)>,
}

impl NewRoles {
    fn read(host: &Host, new: &str) -> Result<NewRoles> {
        let lines = host.sql_statements(
            new,
            "postgres",
            &[
                "SELECT json_build_array('role', rolname) FROM pg_roles WHERE rolname !~ '^pg_'",
                "SELECT json_build_array('member', r.rolname, m.rolname, g.rolname) FROM pg_auth_members a \
                 JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member \
                 LEFT JOIN pg_roles g ON g.oid = a.grantor WHERE m.rolname !~ '^pg_'",
            ],
        )?;
        let mut roles = NewRoles::default();
        for line in lines {
            let row: Vec<Option<String>> = serde_json::from_str(&line)
                .with_context(|| format!("unexpected answer about the roles of {new}: {line}"))?;
            match &row[..] {
                [Some(kind), Some(name)] if kind == "role" => {
                    roles.names.insert(name.clone());
                }
                [Some(kind), Some(role), Some(member), grantor] if kind == "member" => {
                    roles.memberships.push((role.clone(), member.clone(), grantor.clone()))
                }
                _ => bail!("unexpected answer about the roles of {new}: {line}"),
            }
        }
        Ok(roles)
    }
}

/// The roles the new server has besides its superuser and the built-in ones, that the old
/// server has with other attributes or not at all: each would be merged silently.
pub fn conflicting_roles(host: &Host, old: &str, new: &str) -> Result<Vec<String>> {
    let query = format!(
        "SELECT rolname || '|' || concat_ws(',', rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, \
         rolreplication, rolbypassrls, rolconnlimit) FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> {}",
        literal(SUPERUSER)
    );
    let theirs = host.sql(new, "postgres", &query)?;
    if theirs.is_empty() {
        return Ok(Vec::new());
    }
    let ours: BTreeSet<String> = host.sql(old, "postgres", &query)?.into_iter().collect();
    Ok(theirs
        .iter()
        .filter(|line| !ours.contains(*line))
        .map(|line| line.split('|').next().unwrap_or_default().to_string())
        .collect())
}

/// The old database's own properties, applied to the new database (after its data, so that a
/// `default_transaction_read_only` or a connection limit does not stand in the copy's way).
pub fn copy_database_properties(
    host: &Host,
    client: &Client,
    old: (&str, &str),
    new: (&str, &str),
) -> Result<Vec<String>> {
    let (old_service, old_db) = old;
    let (new_service, new_db) = new;
    // Every schema left out: only the database's own entries remain.
    let dump =
        client.run(host, old_service, &["pg_dump", "--create", "--schema-only", "--exclude-schema=*", "-d", old_db])?;
    let statements = database_statements(&dump, old_db, new_db)?;
    if statements.is_empty() {
        return Ok(statements);
    }
    let script = statements.join("\n") + "\n";
    let cmd = host.psql(new_service, "postgres", true).args(["-q", "-1", "-f", "-"]).input(script);
    host.check(&cmd).with_context(|| format!("Unable to set the properties of database {old_db} on {new_service}"))?;
    Ok(statements)
}

/// `pg_dumpall --roles-only` output as a script that makes the new server's roles (`existing`)
/// equal to the dump's. A dump only adds: it creates, sets attributes, settings, comments and
/// memberships, but never removes what it does not hold. So, first, every membership the new
/// server has is revoked (the dump grants the old server's again, with their options and
/// grantors), the roles the dump does not hold are dropped, and each remaining role is brought
/// back to a role's defaults for what the dump only prints when it is set (settings, connection
/// limit, password, comment). Then the dump, less the CREATE of the roles that exist and
/// everything about the superuser but its settings and comment: its attributes and password are
/// the new service's own. The built-in `pg_*` roles are never touched.
pub fn roles_script(dump: &str, existing: &NewRoles) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    let mut wanted = BTreeSet::new();
    let superuser = format!("ALTER ROLE {SUPERUSER} WITH ");
    for line in dump.lines() {
        if crate::host::client::restrict_line(line) || line.starts_with(&superuser) {
            continue;
        }
        if let Some(name) = line.strip_prefix("CREATE ROLE ").and_then(|r| r.strip_suffix(';')) {
            let name = unquote(name);
            wanted.insert(name.clone());
            if name == SUPERUSER || existing.names.contains(&name) {
                continue;
            }
        }
        kept.push(line);
    }
    // Each grant by its grantor: from PostgreSQL 16 on a role holds one grant per grantor, and
    // CASCADE takes the grants made through it too (the dump makes those again as well).
    for (role, member, grantor) in &existing.memberships {
        let by = grantor.as_ref().map(|g| format!(" GRANTED BY {}", ident(g))).unwrap_or_default();
        lines.push(format!("REVOKE {} FROM {}{by} CASCADE;", ident(role), ident(member)));
    }
    for name in &existing.names {
        let role = ident(name);
        if name != SUPERUSER && !wanted.contains(name) {
            lines.push(format!("DROP ROLE {role};"));
            continue;
        }
        lines.push(format!("ALTER ROLE {role} RESET ALL;"));
        lines.push(format!("COMMENT ON ROLE {role} IS NULL;"));
        if name != SUPERUSER {
            lines.push(format!("ALTER ROLE {role} CONNECTION LIMIT -1 PASSWORD NULL;"));
        }
    }
    lines.extend(kept.into_iter().map(String::from));
    lines.join("\n") + "\n"
}

/// The statements of a `pg_dump --create` that set the database's own properties, naming
/// `new_db` instead of `old_db`: not the CREATE DATABASE itself (dokku-postgres made it).
pub fn database_statements(dump: &str, old_db: &str, new_db: &str) -> Result<Vec<String>> {
    const KEPT: [&str; 6] =
        ["COMMENT ON DATABASE ", "ALTER DATABASE ", "GRANT ", "REVOKE ", "SECURITY LABEL ON DATABASE ", "ALTER ROLE "];
    let spellings = [old_db.to_string(), ident(old_db)];
    let mut kept = Vec::new();
    for statement in statements(dump) {
        if !KEPT.iter().any(|k| statement.starts_with(k)) {
            continue;
        }
        // GRANT and REVOKE on anything else, and ALTER ROLE … SET outside this database, are
        // not the database's.
        let Some(renamed) = spellings.iter().find_map(|s| rename(&statement, s, &ident(new_db))) else {
            if statement.starts_with("COMMENT ON DATABASE ") || statement.starts_with("ALTER DATABASE ") {
                bail!("unexpected statement about another database in the dump of {old_db}: {statement}");
            }
            continue;
        };
        kept.push(renamed);
    }
    Ok(kept)
}

/// `statement` with `DATABASE <old>` changed to `DATABASE <new>`, when it names that database.
fn rename(statement: &str, old: &str, new: &str) -> Option<String> {
    let needle = format!("DATABASE {old}");
    let at = statement.find(&needle)?;
    let after = &statement[at + needle.len()..];
    if !(after.starts_with(' ') || after.starts_with(';')) {
        return None;
    }
    Some(format!("{}DATABASE {new}{after}", &statement[..at]))
}

/// The SQL statements of a plain-format dump, without comments and psql meta-commands:
/// literals may hold `;`, `--` and newlines (a comment on a database can).
fn statements(dump: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quote, mut chars) = (None::<char>, dump.chars().peekable());
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                current.push(c);
            }
            None if c == '-' && chars.peek() == Some(&'-') || c == '\\' && current.trim().is_empty() => {
                for rest in chars.by_ref() {
                    if rest == '\n' {
                        break;
                    }
                }
            }
            None if c == ';' => {
                current.push(c);
                out.push(current.trim().to_string());
                current.clear();
            }
            None => current.push(c),
        }
    }
    out
}

/// A role name as pg_dump prints it (an identifier, quoted when it must be), unquoted.
fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => name.to_string(),
    }
}

/// The password hashes in a roles script, to be kept out of any message.
fn password_literals(script: &str) -> Vec<String> {
    script
        .split(" PASSWORD '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(hash, _)| hash.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &str = "\\restrict KEY\nSET client_encoding = 'UTF8';\nCREATE ROLE app_owner;\n\
        ALTER ROLE app_owner WITH NOSUPERUSER NOLOGIN;\nCREATE ROLE postgres;\n\
        ALTER ROLE postgres WITH SUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$old';\nCREATE ROLE \"we ird\";\n\
        ALTER ROLE \"we ird\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';\nALTER ROLE postgres SET work_mem TO '16MB';\n\
        GRANT app_owner TO \"we ird\" WITH ADMIN OPTION;\n\\unrestrict KEY\n";

    #[test]
    fn the_roles_script_creates_what_is_missing_and_never_touches_the_superuser() {
        let existing =
            NewRoles { names: BTreeSet::from(["postgres".to_string(), "we ird".to_string()]), ..Default::default() };
        let script = roles_script(ROLES, &existing);
        assert_eq!(
            script.lines().collect::<Vec<_>>(),
            [
                "ALTER ROLE \"postgres\" RESET ALL;",
                "COMMENT ON ROLE \"postgres\" IS NULL;",
                "ALTER ROLE \"we ird\" RESET ALL;",
                "COMMENT ON ROLE \"we ird\" IS NULL;",
                "ALTER ROLE \"we ird\" CONNECTION LIMIT -1 PASSWORD NULL;",
                "SET client_encoding = 'UTF8';",
                "CREATE ROLE app_owner;",
                "ALTER ROLE app_owner WITH NOSUPERUSER NOLOGIN;",
                "ALTER ROLE \"we ird\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';",
                "ALTER ROLE postgres SET work_mem TO '16MB';",
                "GRANT app_owner TO \"we ird\" WITH ADMIN OPTION;",
            ]
        );
        assert_eq!(password_literals(&script), ["SCRAM-SHA-256$4096:x"]);
    }

    #[test]
    fn what_the_old_server_no_longer_has_is_taken_away_first() {
        let existing = NewRoles {
            names: BTreeSet::from(["postgres".into(), "app_owner".into(), "gone".into(), "we ird".into()]),
            memberships: vec![
                ("app_owner".into(), "we ird".into(), Some("postgres".into())),
                ("app_owner".into(), "gone".into(), Some("we ird".into())),
                ("pg_read_all_data".into(), "gone".into(), None),
            ],
        };
        let script = roles_script(ROLES, &existing);
        let lines: Vec<&str> = script.lines().collect();
        // Every grant revoked before any role is dropped (a grantor cannot be dropped from 16 on).
        assert_eq!(
            lines[..4],
            [
                "REVOKE \"app_owner\" FROM \"we ird\" GRANTED BY \"postgres\" CASCADE;",
                "REVOKE \"app_owner\" FROM \"gone\" GRANTED BY \"we ird\" CASCADE;",
                "REVOKE \"pg_read_all_data\" FROM \"gone\" CASCADE;",
                "ALTER ROLE \"app_owner\" RESET ALL;",
            ]
        );
        assert!(lines.contains(&"DROP ROLE \"gone\";"), "{script}");
        assert!(!script.contains("CREATE ROLE app_owner;") && !script.contains("CREATE ROLE postgres"), "{script}");
        assert!(!script.contains("DROP ROLE \"postgres\"") && !script.contains("\"postgres\" CONNECTION LIMIT"));
        // The dump's grant comes after the revokes: the membership is made again as the old server has it.
        let revoked = lines.iter().position(|l| l.starts_with("REVOKE \"app_owner\" FROM \"we ird\"")).unwrap();
        let granted = lines.iter().position(|l| l.starts_with("GRANT app_owner TO")).unwrap();
        assert!(revoked < granted);
    }

    #[test]
    fn database_statements_are_the_databases_own_renamed_to_the_new_one() {
        let dump = "\\restrict K\nSET statement_timeout = 0;\n-- a comment; with a semicolon\n\
            CREATE DATABASE memo WITH TEMPLATE = template0 ENCODING = 'UTF8';\nALTER DATABASE memo OWNER TO postgres;\n\
            \\connect memo\nCOMMENT ON DATABASE memo IS 'line one;\n-- not a comment';\n\
            ALTER DATABASE memo CONNECTION LIMIT = 7;\nALTER DATABASE memo SET search_path TO 'a', 'b c';\n\
            ALTER ROLE ro IN DATABASE memo SET work_mem TO '8MB';\nGRANT CONNECT ON DATABASE memo TO ro;\n\
            REVOKE CONNECT,TEMPORARY ON DATABASE memo FROM PUBLIC;\nGRANT ALL ON SCHEMA public TO ro;\n";
        assert_eq!(
            database_statements(dump, "memo", "memo_new").unwrap(),
            [
                "ALTER DATABASE \"memo_new\" OWNER TO postgres;",
                "COMMENT ON DATABASE \"memo_new\" IS 'line one;\n-- not a comment';",
                "ALTER DATABASE \"memo_new\" CONNECTION LIMIT = 7;",
                "ALTER DATABASE \"memo_new\" SET search_path TO 'a', 'b c';",
                "ALTER ROLE ro IN DATABASE \"memo_new\" SET work_mem TO '8MB';",
                "GRANT CONNECT ON DATABASE \"memo_new\" TO ro;",
                "REVOKE CONNECT,TEMPORARY ON DATABASE \"memo_new\" FROM PUBLIC;",
            ]
        );
        // A quoted name, and a name that only starts like the database's.
        let quoted = "ALTER DATABASE \"Memo\" SET timezone TO 'UTC';\nGRANT CONNECT ON DATABASE memo2 TO ro;\n";
        assert_eq!(database_statements(quoted, "Memo", "n").unwrap(), ["ALTER DATABASE \"n\" SET timezone TO 'UTC';"]);
        assert!(database_statements("ALTER DATABASE other SET x TO 1;\n", "memo", "n").is_err());
    }
}
