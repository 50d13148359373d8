-- Each extension's members, as pg_identify_object names them (no dump holds them: CREATE
-- EXTENSION makes them). Array types are left out (members of their extension from 18 on, not
-- before), and so is "pg_catalog." (16 and later print some built-in types without it).
SELECT format('%s: %s %s', e.extname, x.type, replace(x.identity, 'pg_catalog.', '')), 'member'
  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid,
       LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) x
 WHERE d.deptype = 'e' AND NOT (x.type = 'type' AND x.identity LIKE '%[]');
