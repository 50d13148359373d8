-- Objects a user made in pg_catalog or information_schema (oid 16384 on), which no dump holds,
-- and the extension each belongs to. Identities without "pg_catalog." (16 and later print some
-- built-in types without it), keyed by schema.
SELECT format('%s %s %s', n.nspname, x.type, replace(x.identity, 'pg_catalog.', '')),
       coalesce((SELECT 'extension=' || e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                  WHERE d.classid = o.classid AND d.objid = o.oid AND d.deptype = 'e'), 'extension=none')
  FROM (SELECT 'pg_class'::regclass AS classid, oid, relnamespace AS ns FROM pg_class
        UNION ALL SELECT 'pg_proc'::regclass, oid, pronamespace FROM pg_proc
        UNION ALL SELECT 'pg_type'::regclass, oid, typnamespace FROM pg_type
        UNION ALL SELECT 'pg_operator'::regclass, oid, oprnamespace FROM pg_operator
        UNION ALL SELECT 'pg_opclass'::regclass, oid, opcnamespace FROM pg_opclass
        UNION ALL SELECT 'pg_opfamily'::regclass, oid, opfnamespace FROM pg_opfamily
        UNION ALL SELECT 'pg_collation'::regclass, oid, collnamespace FROM pg_collation
        UNION ALL SELECT 'pg_conversion'::regclass, oid, connamespace FROM pg_conversion
        UNION ALL SELECT 'pg_ts_config'::regclass, oid, cfgnamespace FROM pg_ts_config
        UNION ALL SELECT 'pg_ts_dict'::regclass, oid, dictnamespace FROM pg_ts_dict) o
  JOIN pg_namespace n ON n.oid = o.ns, LATERAL pg_identify_object(o.classid, o.oid, 0) x
 WHERE n.nspname IN ('pg_catalog', 'information_schema') AND o.oid >= 16384;
