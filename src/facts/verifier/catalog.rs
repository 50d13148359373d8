//! The first part the verifier asks each side: the catalog, object by object, each line
//! `[kind, name, value]` with `value` a JSON object whose arrays are sets (compare.rs sorts
//! them). The same SQL runs on every server from 11 to 18: a column only some versions have is
//! read through `to_jsonb(row)`, a catalog only some have behind psql's `\if`. Besides the facts
//! it returns what the second part needs: the relations that hold rows (`relation`) and the
//! types of their columns (`type`).
//!
//! "User-made" is an OID past the last one initdb gives (16384, `FirstNormalObjectId`), in any
//! schema but TOAST's and the temporary ones: objects a user made in `pg_catalog` or
//! `information_schema` count (pg_dump leaves them out). What an extension owns is compared as
//! its membership (`extension member`), not as an object of its own.

use crate::facts::verifier::side::KEY;

/// A schema that is neither TOAST's nor a temporary one, on `n.nspname` (named exactly: a
/// LIKE pattern would also match a user's `pg-temp-x`).
const SCHEMA_FILTER: &str = "n.nspname <> 'pg_toast' AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$'";

/// The extension that owns relation `c`, if any.
const RELATION_EXTENSION: &str = "(SELECT e.extname FROM pg_catalog.pg_depend d \
    JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
    AND d.objid = c.oid AND d.deptype = 'e')";

/// The first part's SQL.
pub fn script() -> String {
    let parts = [
        SERVER.to_string(),
        SCHEMAS.replace("FILTER", SCHEMA_FILTER),
        OBJECTS.to_string(),
        SYSTEM_ACLS.to_string(),
        COLUMNS.replace("FILTER", SCHEMA_FILTER).replace("EXTENSION", RELATION_EXTENSION),
        EXTENSIONS.to_string(),
        SUBSCRIPTIONS.replace("KEY", KEY),
        PUBLICATIONS.to_string(),
        EVENT_TRIGGERS.to_string(),
        ROLES.replace("KEY", KEY),
        MEMBERSHIPS.to_string(),
        SETTINGS.replace("KEY", KEY),
        DATABASE.to_string(),
        SERVER_SETTINGS.replace("KEY", KEY),
        SEQUENCES.replace("FILTER", SCHEMA_FILTER).replace("EXTENSION", RELATION_EXTENSION),
        LARGE_OBJECTS.replace("KEY", KEY),
        COLUMN_ORDER.replace("FILTER", SCHEMA_FILTER),
        RELATIONS.replace("FILTER", SCHEMA_FILTER).replace("EXTENSION", RELATION_EXTENSION),
        TYPES.replace("FILTER", SCHEMA_FILTER),
        CATALOG_STATE.to_string(),
    ];
    parts.join("\n") + "\n"
}

/// The server's version, and the settings it knows (what an `ALTER SYSTEM` setting of the
/// other side that is missing here can be told by).
const SERVER: &str = "SELECT pg_catalog.json_build_array('server', '', pg_catalog.jsonb_build_object(\
    'version', pg_catalog.current_setting('server_version_num')::int, \
    'settings', (SELECT pg_catalog.jsonb_agg(pg_catalog.lower(name)) FROM pg_catalog.pg_settings)));";

const SCHEMAS: &str = "SELECT pg_catalog.json_build_array('schema', n.nspname, pg_catalog.jsonb_build_object(\
    'owner', pg_catalog.pg_get_userbyid(n.nspowner), \
    'acl', coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner)), \
    'comment', pg_catalog.obj_description(n.oid, 'pg_namespace'), \
    'extension', (SELECT e.extname FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
       WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.objid = n.oid AND d.deptype = 'e'))) \
    FROM pg_catalog.pg_namespace n WHERE FILTER;";

/// Every user-made object of the catalogs below, by `pg_identify_object` (its type and a name
/// that holds on any server: `pg_catalog.` left out, which only some versions print, and a
/// transform `for T language L` as 17 names it, `for T on language L` before), with its owner, ACL and comment, and the enabled state of
/// triggers and rules. Left out: what a server makes by itself (the NOT NULL constraints 18
/// keeps in pg_constraint, the copies of a partitioned table's triggers and constraints on its
/// partitions, internal triggers, array types, a table's row type, and whatever is an internal
/// part of another object: 14 and later give a range type a multirange type with its own
/// functions and casts; a shell operator, which another operator's commutator or negator makes
/// and a dump never holds), extension members, and the parts of a relation an extension owns.
const OBJECTS: &str = r#"WITH member AS (SELECT classid, objid FROM pg_catalog.pg_depend WHERE deptype = 'e'),
part AS (SELECT classid, objid FROM pg_catalog.pg_depend WHERE deptype = 'i'),
o(classid, objid, owner, acl, parent, extra) AS (
  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner,
    CASE WHEN c.relkind IN ('r', 'p', 'v', 'm', 'f') THEN coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))
         WHEN c.relkind = 'S' THEN coalesce(c.relacl, pg_catalog.acldefault('s', c.relowner)) END,
    (SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid),
    pg_catalog.jsonb_build_object('persistence', c.relpersistence, 'row security', c.relrowsecurity,
      'forced row security', c.relforcerowsecurity, 'populated', c.relispopulated)
  FROM pg_catalog.pg_class c WHERE c.relkind <> 't'
  UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, p.proowner,
    coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)), NULL, NULL FROM pg_catalog.pg_proc p
  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, t.typowner,
    coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner)), NULL, pg_catalog.jsonb_build_object('not null', t.typnotnull)
  FROM pg_catalog.pg_type t WHERE t.typtype <> 'm'
    AND (t.typrelid = 0 OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
  UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid, NULL, NULL, nullif(c.conrelid, 0), NULL
  FROM pg_catalog.pg_constraint c
  WHERE c.contype <> 'n' AND coalesce((pg_catalog.to_jsonb(c)->>'conparentid')::oid, 0) = 0
  UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, NULL, NULL, t.tgrelid,
    pg_catalog.jsonb_build_object('enabled', t.tgenabled)
  FROM pg_catalog.pg_trigger t
  WHERE NOT t.tgisinternal AND coalesce((pg_catalog.to_jsonb(t)->>'tgparentid')::oid, 0) = 0
  UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid, NULL, NULL, r.ev_class,
    pg_catalog.jsonb_build_object('enabled', r.ev_enabled)
  FROM pg_catalog.pg_rewrite r WHERE r.rulename <> '_RETURN'
  UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid, NULL, NULL, p.polrelid, NULL FROM pg_catalog.pg_policy p
  UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, x.oid, x.oprowner, NULL, NULL, NULL FROM pg_catalog.pg_operator x
  WHERE x.oprcode <> 0
  UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, x.oid, x.opcowner, NULL, NULL, NULL FROM pg_catalog.pg_opclass x
  UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, x.oid, x.opfowner, NULL, NULL, NULL FROM pg_catalog.pg_opfamily x
  UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, x.oid, x.collowner, NULL, NULL, NULL FROM pg_catalog.pg_collation x
  UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, x.oid, x.conowner, NULL, NULL, NULL FROM pg_catalog.pg_conversion x
  UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, x.oid, x.cfgowner, NULL, NULL, NULL FROM pg_catalog.pg_ts_config x
  UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, x.oid, x.dictowner, NULL, NULL, NULL FROM pg_catalog.pg_ts_dict x
  UNION ALL SELECT 'pg_catalog.pg_ts_parser'::pg_catalog.regclass, x.oid, NULL, NULL, NULL, NULL FROM pg_catalog.pg_ts_parser x
  UNION ALL SELECT 'pg_catalog.pg_ts_template'::pg_catalog.regclass, x.oid, NULL, NULL, NULL, NULL FROM pg_catalog.pg_ts_template x
  UNION ALL SELECT 'pg_catalog.pg_cast'::pg_catalog.regclass, x.oid, NULL, NULL, NULL, NULL FROM pg_catalog.pg_cast x
  UNION ALL SELECT 'pg_catalog.pg_transform'::pg_catalog.regclass, x.oid, NULL, NULL, NULL, NULL FROM pg_catalog.pg_transform x
  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, x.oid, x.stxowner, NULL, x.stxrelid, NULL
  FROM pg_catalog.pg_statistic_ext x
  UNION ALL SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass, x.oid, x.fdwowner,
    coalesce(x.fdwacl, pg_catalog.acldefault('F', x.fdwowner)), NULL, NULL FROM pg_catalog.pg_foreign_data_wrapper x
  UNION ALL SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass, x.oid, x.srvowner,
    coalesce(x.srvacl, pg_catalog.acldefault('S', x.srvowner)), NULL, NULL FROM pg_catalog.pg_foreign_server x
  UNION ALL SELECT 'pg_catalog.pg_user_mapping'::pg_catalog.regclass, x.oid, NULL, NULL, NULL, NULL FROM pg_catalog.pg_user_mapping x
  UNION ALL SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, x.oid, x.lanowner,
    coalesce(x.lanacl, pg_catalog.acldefault('l', x.lanowner)), NULL, NULL FROM pg_catalog.pg_language x
  UNION ALL SELECT 'pg_catalog.pg_am'::pg_catalog.regclass, x.oid, NULL, NULL, NULL, NULL FROM pg_catalog.pg_am x
  UNION ALL SELECT 'pg_catalog.pg_default_acl'::pg_catalog.regclass, x.oid, NULL, x.defaclacl, NULL, NULL FROM pg_catalog.pg_default_acl x)
SELECT pg_catalog.json_build_array('object', i.type || ' ' || pg_catalog.replace(pg_catalog.replace(
    coalesce(i.identity, o.objid::text), 'pg_catalog.', ''), ' on language ', ' language '),
  pg_catalog.jsonb_build_object('owner', pg_catalog.pg_get_userbyid(o.owner), 'acl', o.acl, 'comment', d.description)
  || coalesce(o.extra, '{}'))
FROM o CROSS JOIN LATERAL pg_catalog.pg_identify_object(o.classid, o.objid, 0) i
LEFT JOIN pg_catalog.pg_description d ON d.classoid = o.classid AND d.objoid = o.objid AND d.objsubid = 0
WHERE o.objid >= 16384 AND coalesce(i.schema, '') <> 'pg_toast' AND coalesce(i.schema, '') !~ '^pg_(toast_)?temp_[0-9]+$'
AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = o.classid AND m.objid = o.objid)
AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = o.parent)
AND NOT EXISTS (SELECT 1 FROM part p WHERE p.classid = o.classid AND p.objid = o.objid);"#;

/// The system's own objects (initdb's) whose privileges a user changed: their ACL where it does
/// not grant what initdb's did (`pg_init_privs`, or with no entry there the default), as sets.
/// pg_dump carries these grants; a table's column is named `table.column`. Not
/// `information_schema`'s: initdb grants on its views without recording it, and pg_dump leaves
/// the schema out.
const SYSTEM_ACLS: &str = "WITH s(classid, objid, subid, acl, initial) AS (\
      SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0, c.relacl, \
        pg_catalog.acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner) \
      FROM pg_catalog.pg_class c WHERE c.oid < 16384 AND c.relacl IS NOT NULL \
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, a.attrelid, a.attnum::int, a.attacl, '{}' \
      FROM pg_catalog.pg_attribute a WHERE a.attrelid < 16384 AND a.attnum > 0 AND a.attacl IS NOT NULL \
    UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0, p.proacl, pg_catalog.acldefault('f', p.proowner) \
      FROM pg_catalog.pg_proc p WHERE p.oid < 16384 AND p.proacl IS NOT NULL \
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0, t.typacl, pg_catalog.acldefault('T', t.typowner) \
      FROM pg_catalog.pg_type t WHERE t.oid < 16384 AND t.typacl IS NOT NULL \
    UNION ALL SELECT 'pg_catalog.pg_language'::pg_catalog.regclass, l.oid, 0, l.lanacl, pg_catalog.acldefault('l', l.lanowner) \
      FROM pg_catalog.pg_language l WHERE l.oid < 16384 AND l.lanacl IS NOT NULL) \
    SELECT pg_catalog.json_build_array('system object', \
      i.type || ' ' || pg_catalog.replace(coalesce(i.identity, s.objid::text), 'pg_catalog.', ''), \
      pg_catalog.jsonb_build_object('acl', s.acl)) \
    FROM s LEFT JOIN pg_catalog.pg_init_privs p ON p.classoid = s.classid AND p.objoid = s.objid AND p.objsubid = s.subid \
    CROSS JOIN LATERAL pg_catalog.pg_identify_object(s.classid, s.objid, s.subid) i \
    WHERE i.schema IS DISTINCT FROM 'information_schema' \
    AND (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(s.acl::text[]) x) \
      IS DISTINCT FROM (SELECT pg_catalog.array_agg(x ORDER BY x) FROM pg_catalog.unnest(coalesce(p.initprivs, s.initial)::text[]) x);";

/// Every column of a user-made relation or composite type: by name (a restore may put an
/// inheritance child's columns in another order), with what pg_dump prints apart from its
/// definition: privileges and comment.
const COLUMNS: &str = "SELECT pg_catalog.json_build_array('column', pg_catalog.format('%s.%s.%s', n.nspname, c.relname, a.attname), \
    pg_catalog.jsonb_build_object('type', pg_catalog.format_type(a.atttypid, a.atttypmod), 'not null', a.attnotnull, \
      'generated', pg_catalog.to_jsonb(a)->>'attgenerated', 'identity', a.attidentity, 'acl', a.attacl, \
      'comment', pg_catalog.col_description(c.oid, a.attnum), 'extension', EXTENSION)) \
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND c.oid >= 16384 AND FILTER;";

/// Extensions with their version, schema and owner, the version this server installs by
/// default, and every object each one owns. Named as every version names them: without the
/// `pg_catalog.` some versions print before a built-in type (a cast to `json`), and without
/// array types, which 17 and later record as members of their element type's extension.
const EXTENSIONS: &str = "SELECT pg_catalog.json_build_array('extension', e.extname, pg_catalog.jsonb_build_object(\
    'version', e.extversion, 'schema', n.nspname, 'owner', pg_catalog.pg_get_userbyid(e.extowner), \
    'default', (SELECT a.default_version FROM pg_catalog.pg_available_extensions a WHERE a.name = e.extname))) \
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace;
SELECT pg_catalog.json_build_array('extension member', \
    e.extname || ': ' || i.type || ' ' || pg_catalog.replace(coalesce(i.identity, ''), 'pg_catalog.', ''), \
    pg_catalog.jsonb_build_object('extension', e.extname)) \
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
    CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) i \
    WHERE d.deptype = 'e' AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
    AND NOT (d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass \
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.typarray = d.objid));";

/// This database's subscriptions: every column this server has (compare.rs compares those
/// both have), the connection string as a keyed digest (it may hold a password).
const SUBSCRIPTIONS: &str = "SELECT pg_catalog.json_build_array('subscription', s.subname, \
    pg_catalog.to_jsonb(s) - 'oid' - 'subdbid' - 'subname' - 'subowner' - 'subconninfo' - 'subskiplsn' \
    || pg_catalog.jsonb_build_object('owner', pg_catalog.pg_get_userbyid(s.subowner), \
       'connection', pg_catalog.md5(KEY || s.subconninfo))) \
    FROM pg_catalog.pg_subscription s \
    WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database());";

/// Publications with their options and tables, and (15 and later) their schemas.
const PUBLICATIONS: &str = "SELECT pg_catalog.json_build_array('publication', p.pubname, \
    pg_catalog.to_jsonb(p) - 'oid' - 'pubname' - 'pubowner' \
    || pg_catalog.jsonb_build_object('owner', pg_catalog.pg_get_userbyid(p.pubowner), \
       'tables', (SELECT pg_catalog.jsonb_agg(pg_catalog.format('%s.%s', n.nspname, c.relname)) \
         FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_class c ON c.oid = r.prrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE r.prpubid = p.oid))) \
    FROM pg_catalog.pg_publication p;
SELECT pg_catalog.current_setting('server_version_num')::int >= 150000 AS postgres_upgrade_v15 \\gset
\\if :postgres_upgrade_v15
SELECT pg_catalog.json_build_array('publication schemas', p.pubname, pg_catalog.jsonb_build_object('schemas', \
    pg_catalog.jsonb_agg(n.nspname))) FROM pg_catalog.pg_publication_namespace s \
    JOIN pg_catalog.pg_publication p ON p.oid = s.pnpubid JOIN pg_catalog.pg_namespace n ON n.oid = s.pnnspid \
    GROUP BY p.pubname;
\\endif";

const EVENT_TRIGGERS: &str = "SELECT pg_catalog.json_build_array('event trigger', e.evtname, pg_catalog.jsonb_build_object(\
    'event', e.evtevent, 'owner', pg_catalog.pg_get_userbyid(e.evtowner), 'enabled', e.evtenabled, \
    'tags', pg_catalog.to_jsonb(e.evttags), 'function', e.evtfoid::pg_catalog.regprocedure::text)) \
    FROM pg_catalog.pg_event_trigger e WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
      WHERE d.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND d.objid = e.oid AND d.deptype = 'e');";

/// Roles but the built-in `pg_*` ones: attributes, a keyed digest of the password hash (not
/// for `postgres`, whose password is the service's own), comment.
const ROLES: &str = "SELECT pg_catalog.json_build_array('role', r.rolname, pg_catalog.jsonb_build_object(\
    'superuser', r.rolsuper, 'inherit', r.rolinherit, 'create role', r.rolcreaterole, 'create db', r.rolcreatedb, \
    'login', r.rolcanlogin, 'replication', r.rolreplication, 'bypass rls', r.rolbypassrls, \
    'connection limit', r.rolconnlimit, 'valid until', r.rolvaliduntil::text, \
    'password', CASE WHEN r.rolname <> 'postgres' THEN pg_catalog.md5(KEY || coalesce(r.rolpassword, '')) END, \
    'comment', pg_catalog.shobj_description(r.oid, 'pg_authid'))) \
    FROM pg_catalog.pg_authid r WHERE r.rolname !~ '^pg_';";

/// Memberships, each with every option: before 16 a member inherits as its role says and may
/// always SET ROLE (what 16 gives a grant made without options).
const MEMBERSHIPS: &str = "SELECT pg_catalog.json_build_array('membership', \
    pg_catalog.pg_get_userbyid(m.member) || ' in ' || pg_catalog.pg_get_userbyid(m.roleid), \
    pg_catalog.jsonb_build_object('grants', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(\
      'admin', m.admin_option, 'inherit', coalesce((pg_catalog.to_jsonb(m)->>'inherit_option')::bool, r.rolinherit), \
      'set', coalesce((pg_catalog.to_jsonb(m)->>'set_option')::bool, true), \
      'grantor', pg_catalog.pg_get_userbyid(m.grantor))))) \
    FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid = m.member \
    WHERE r.rolname !~ '^pg_' GROUP BY m.member, m.roleid;";

/// `ALTER ROLE … SET` and `ALTER DATABASE … SET` for every database and for this one, each
/// as `name=` and a keyed digest of its value: a value can hold a secret, and is never shown.
const SETTINGS: &str = "SELECT pg_catalog.json_build_array('setting', \
    CASE WHEN s.setrole = 0 THEN 'every role' ELSE pg_catalog.pg_get_userbyid(s.setrole) END \
    || CASE WHEN s.setdatabase = 0 THEN ' everywhere' ELSE ' in this database' END, \
    pg_catalog.jsonb_build_object('settings', (SELECT pg_catalog.jsonb_agg(pg_catalog.split_part(c, '=', 1) || '=' \
      || pg_catalog.md5(KEY || pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1))) FROM pg_catalog.unnest(s.setconfig) c))) \
    FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase IN \
      (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()));";

const DATABASE: &str = "SELECT pg_catalog.json_build_array('database', '', pg_catalog.jsonb_build_object(\
    'encoding', pg_catalog.pg_encoding_to_char(d.encoding), 'collate', d.datcollate, 'ctype', d.datctype, \
    'locale provider', pg_catalog.to_jsonb(d)->>'datlocprovider', \
    'owner', pg_catalog.pg_get_userbyid(d.datdba), 'connection limit', d.datconnlimit, \
    'acl', coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba)), \
    'comment', pg_catalog.shobj_description(d.oid, 'pg_database'), 'allow connections', d.datallowconn)) \
    FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();";

/// What `ALTER SYSTEM` wrote (`postgresql.auto.conf`), the last value of each setting, as a
/// keyed digest: a value can hold a secret (`primary_conninfo`), and is never shown.
const SERVER_SETTINGS: &str = "SELECT pg_catalog.json_build_array('server setting', f.name, \
    pg_catalog.jsonb_build_object('value', pg_catalog.md5(KEY || f.setting))) FROM (SELECT DISTINCT ON (name) name, setting \
    FROM pg_catalog.pg_file_settings WHERE sourcefile ~ '/postgresql\\.auto\\.conf$' ORDER BY name, seqno DESC) f;";

/// Each sequence's state, read from the sequence itself (one statement each, by `\gexec`).
const SEQUENCES: &str = "SELECT pg_catalog.format('SELECT pg_catalog.json_build_array(''sequence'', %L, \
    pg_catalog.jsonb_build_object(''last value'', last_value::text, ''called'', is_called, ''extension'', %L::text)) \
    FROM %I.%I', n.nspname || '.' || c.relname, EXTENSION, n.nspname, c.relname) \
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind = 'S' AND c.oid >= 16384 AND FILTER \\gexec";

/// Large objects as one count and one keyed digest of each one's OID, owner, ACL (as a set),
/// comment and content.
const LARGE_OBJECTS: &str = "SELECT pg_catalog.json_build_array('large objects', '', pg_catalog.jsonb_build_object(\
    'count', pg_catalog.count(*), 'digest', coalesce(pg_catalog.sum(('x' || pg_catalog.md5(KEY || pg_catalog.concat_ws(':', \
      l.oid, pg_catalog.pg_get_userbyid(l.lomowner), \
      (SELECT pg_catalog.string_agg(a, ',' ORDER BY a) FROM pg_catalog.unnest(coalesce(l.lomacl, \
        pg_catalog.acldefault('L', l.lomowner))::text[]) a), \
      pg_catalog.obj_description(l.oid, 'pg_largeobject'), \
      pg_catalog.md5(pg_catalog.convert_to(KEY, 'UTF8') || pg_catalog.lo_get(l.oid)))))::bit(64)::int8), 0)::text)) \
    FROM pg_catalog.pg_largeobject_metadata l;";

/// Inheritance children with an inherited column after one of their own: restored, their
/// inherited columns come first (said, not a difference: rows are compared by column name).
const COLUMN_ORDER: &str = "SELECT pg_catalog.json_build_array('column order', pg_catalog.format('%s.%s', n.nspname, c.relname), '{}'::jsonb) \
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE FILTER AND EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AND EXISTS (SELECT 1 \
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_attribute b ON b.attrelid = a.attrelid AND b.attnum > a.attnum \
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND NOT b.attisdropped \
      AND a.attinhcount = 0 AND b.attinhcount > 0);";

/// The relations that hold rows (tables, partitions and materialized views; not a partitioned
/// table, whose rows are its partitions', nor a foreign table, whose rows are elsewhere), each
/// with its columns (name, type) and primary key, and for one an extension owns, the extension
/// and the condition that selects its users' rows.
const RELATIONS: &str = "SELECT pg_catalog.json_build_array('relation', pg_catalog.format('%s.%s', n.nspname, c.relname), \
    pg_catalog.jsonb_build_object('schema', n.nspname, 'name', c.relname, 'kind', c.relkind, 'populated', c.relispopulated, \
      'extension', EXTENSION, \
      'filter', (SELECT coalesce(nullif(e.extcondition[pg_catalog.array_position(e.extconfig, c.oid)], ''), '') \
        FROM pg_catalog.pg_extension e WHERE c.oid = ANY (e.extconfig)), \
      'key', (SELECT pg_catalog.jsonb_agg(a.attname ORDER BY k.n) FROM pg_catalog.pg_index i \
        CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
        WHERE i.indrelid = c.oid AND i.indisprimary), \
      'columns', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(a.attname, a.atttypid::text)) \
        FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))) \
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind IN ('r', 'm') AND c.oid >= 16384 AND FILTER;";

/// Every type the columns of those relations use, and the types those are made of (a domain's
/// base, an array's element, a composite's fields, a range's subtype): what forms.rs reads.
const TYPES: &str = "WITH RECURSIVE used(oid) AS (\
      SELECT a.atttypid FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
      WHERE c.relkind IN ('r', 'm') AND c.oid >= 16384 AND FILTER AND a.attnum > 0 AND NOT a.attisdropped \
    UNION \
      SELECT x.oid FROM used u JOIN pg_catalog.pg_type t ON t.oid = u.oid CROSS JOIN LATERAL (\
        SELECT t.typbasetype WHERE t.typbasetype <> 0 \
        UNION ALL SELECT t.typelem WHERE t.typelem <> 0 AND t.typlen = -1 \
        UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid \
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a \
          WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS x(oid)) \
    SELECT pg_catalog.json_build_array('type', t.oid::text, pg_catalog.jsonb_build_object(\
      'name', t.typname, 'schema', n.nspname, 'kind', t.typtype, 'send', t.typsend::text, \
      'base', nullif(t.typbasetype, 0)::text, \
      'element', CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem::text END, \
      'subtype', (SELECT r.rngsubtype::text FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid), \
      'fields', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(a.attname, a.atttypid::text) ORDER BY a.attnum) \
        FROM pg_catalog.pg_attribute a WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 \
        AND NOT a.attisdropped))) \
    FROM (SELECT DISTINCT oid FROM used) u JOIN pg_catalog.pg_type t ON t.oid = u.oid \
    JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace;";

/// A digest of the catalog's state, to tell later that nothing in it changed (not compared
/// between the sides: each side's is compared with its own, taken earlier). Every visible row
/// of every catalog of `pg_catalog` by its version (`xmin`, `ctid`: a transactional change
/// writes a new one), shared catalogs included (roles, memberships, settings); `pg_class` by
/// its defining columns instead, since a TRUNCATE, a refresh or a vacuum rewrites its row for
/// storage alone. Left out: statistics, large objects' data, and the logical replication's
/// own catalogs (publications, subscriptions, origins, their dependencies), which the online
/// copy makes and drops; the catalog facts above compare what the user made of those.
pub const CATALOG_STATE: &str = r#"SELECT pg_catalog.json_build_array('catalog state', '', pg_catalog.jsonb_build_object('digest',
  pg_catalog.md5(pg_catalog.string_agg(s.d, ',' ORDER BY s.d)))) FROM (
  SELECT c.relname || '=' || (pg_catalog.xpath('/row/d/text()', pg_catalog.query_to_xml(pg_catalog.format(
    'SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(t.xmin::text || t.ctid::text, '','' ORDER BY t.ctid), '''')) AS d FROM pg_catalog.%I t%s',
    c.relname, CASE WHEN c.relname IN ('pg_depend', 'pg_shdepend') THEN ' WHERE t.classid NOT IN (SELECT r.oid FROM pg_catalog.pg_class r
      WHERE r.relnamespace = ''pg_catalog''::pg_catalog.regnamespace AND r.relname IN (''pg_publication'', ''pg_publication_rel'',
      ''pg_publication_namespace'', ''pg_subscription'', ''pg_subscription_rel''))' ELSE '' END), false, true, '')))[1]::text AS d
  FROM pg_catalog.pg_class c WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r'
    AND c.relname NOT IN ('pg_class', 'pg_statistic', 'pg_statistic_ext_data', 'pg_largeobject', 'pg_publication',
      'pg_publication_rel', 'pg_publication_namespace', 'pg_subscription', 'pg_subscription_rel', 'pg_replication_origin')
  UNION ALL
  SELECT 'pg_class=' || pg_catalog.md5(pg_catalog.string_agg(pg_catalog.concat_ws('|', c.oid, c.relname, c.relnamespace,
    c.reltype, c.relowner, c.relam, c.reltablespace, c.relkind, c.relpersistence, c.relnatts, c.relacl::text,
    c.reloptions::text, c.relreplident, c.relrowsecurity, c.relforcerowsecurity, c.relispartition, c.relispopulated,
    c.relhasrules, c.relhastriggers, pg_catalog.pg_get_expr(c.relpartbound, c.oid)), ',' ORDER BY c.oid))
  FROM pg_catalog.pg_class c) s;"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_every_statement_ends() {
        let sql = script();
        for word in ["FILTER", "EXTENSION", "KEY"] {
            assert!(!regex::Regex::new(&format!(r"\b{word}\b")).unwrap().is_match(&sql), "{word} left in the SQL");
        }
        // psql runs a statement at its `;` or a meta-command that ends it (\gexec, \gset).
        let statements = sql.matches(";\n").count() + sql.matches("\\gexec").count() + sql.matches("\\gset").count();
        assert_eq!(statements, 23, "{sql}");
        assert!(sql.contains(super::super::side::KEY_SETTING));
    }
}
