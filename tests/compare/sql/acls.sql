-- Every ACL that is set, as a set of single privileges against the object's own start (aclexplode):
-- "+" what it grants beyond it, "-" what it takes from it. The start is the default (acldefault),
-- and for the system's own objects what initdb gave them (pg_init_privs, as pg_dump has it). So
-- the same grants compare equal in any order, and a default that grew (17's MAINTAIN for a
-- table's owner) is no difference. The schema public is compared with its default: initdb's
-- grants on it changed in 15 (owner pg_database_owner, no CREATE for PUBLIC), and a dump of an
-- older server gives it the grants it had. Large objects and the database have their own facets.
WITH acl(kind, classid, objid, subid, owner, acl, deflt) AS (
  SELECT 'relation', 'pg_class'::regclass, c.oid, 0, c.relowner, c.relacl,
         acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)
    FROM pg_class c WHERE c.relacl IS NOT NULL
  UNION ALL SELECT 'column', 'pg_class'::regclass, a.attrelid, a.attnum, c.relowner, a.attacl, acldefault('c', c.relowner)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'function', 'pg_proc'::regclass, p.oid, 0, p.proowner, p.proacl, acldefault('f', p.proowner)
    FROM pg_proc p WHERE p.proacl IS NOT NULL
  UNION ALL SELECT 'schema', 'pg_namespace'::regclass, n.oid, 0, n.nspowner, n.nspacl, acldefault('n', n.nspowner)
    FROM pg_namespace n WHERE n.nspacl IS NOT NULL
  UNION ALL SELECT 'type', 'pg_type'::regclass, t.oid, 0, t.typowner, t.typacl, acldefault('T', t.typowner)
    FROM pg_type t WHERE t.typacl IS NOT NULL
  UNION ALL SELECT 'language', 'pg_language'::regclass, l.oid, 0, l.lanowner, l.lanacl, acldefault('l', l.lanowner)
    FROM pg_language l WHERE l.lanacl IS NOT NULL
  UNION ALL SELECT 'foreign data wrapper', 'pg_foreign_data_wrapper'::regclass, w.oid, 0, w.fdwowner, w.fdwacl, acldefault('F', w.fdwowner)
    FROM pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL
  UNION ALL SELECT 'foreign server', 'pg_foreign_server'::regclass, s.oid, 0, s.srvowner, s.srvacl, acldefault('S', s.srvowner)
    FROM pg_foreign_server s WHERE s.srvacl IS NOT NULL
  -- Default privileges for every schema replace what the kind's default would give the objects
  -- a role creates; those for one schema are added to them, from nothing.
  UNION ALL SELECT 'default privileges', 'pg_default_acl'::regclass, d.oid, 0, d.defaclrole, d.defaclacl,
         CASE WHEN d.defaclnamespace = 0
              THEN acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END::"char", d.defaclrole)
              ELSE acldefault('c', d.defaclrole) END -- no privileges: a column's default
    FROM pg_default_acl d),
start(kind, classid, objid, subid, acl, deflt) AS (
  SELECT a.kind, a.classid, a.objid, a.subid, a.acl,
         CASE WHEN a.objid >= 16384 OR a.classid = 'pg_namespace'::regclass AND a.objid = 'public'::regnamespace
              THEN a.deflt
              ELSE coalesce((SELECT i.initprivs FROM pg_init_privs i WHERE i.classoid = a.classid AND i.objoid = a.objid
                                AND i.objsubid = a.subid), a.deflt) END
    FROM acl a
   -- information_schema as initdb made it: pg_init_privs does not list it, and no dump holds it.
   WHERE a.objid >= 16384 OR (pg_identify_object(a.classid, a.objid, 0)).schema IS DISTINCT FROM 'information_schema'
     AND NOT (a.classid = 'pg_namespace'::regclass AND a.objid = 'information_schema'::regnamespace)),
item(kind, classid, objid, subid, sign, line) AS (
  SELECT a.kind, a.classid, a.objid, a.subid, d.sign,
         format('%s%s:%s%s/%s', d.sign, CASE WHEN d.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(d.grantee) END,
                d.privilege_type, CASE WHEN d.is_grantable THEN '*' ELSE '' END, pg_get_userbyid(d.grantor))
    FROM start a,
         LATERAL ((SELECT '+' AS sign, e.* FROM aclexplode(a.acl) e
                   EXCEPT SELECT '+', e.* FROM aclexplode(a.deflt) e)
                  UNION ALL
                  (SELECT '-', e.* FROM aclexplode(a.deflt) e
                   EXCEPT SELECT '-', e.* FROM aclexplode(a.acl) e)) d)
SELECT format('%s %s', i.kind, replace((pg_identify_object(i.classid, i.objid, i.subid)).identity, 'pg_catalog.', '')),
       string_agg(i.line, ' ' ORDER BY i.line)
  FROM item i
 GROUP BY i.kind, i.classid, i.objid, i.subid;
