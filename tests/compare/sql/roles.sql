-- Roles other than the service's own postgres and the built-in pg_* ones.
SELECT r.rolname,
       concat_ws(' ', 'super=' || r.rolsuper, 'inherit=' || r.rolinherit, 'createrole=' || r.rolcreaterole,
                 'createdb=' || r.rolcreatedb, 'login=' || r.rolcanlogin, 'replication=' || r.rolreplication,
                 'bypassrls=' || r.rolbypassrls, 'connlimit=' || r.rolconnlimit,
                 'validuntil=' || coalesce(r.rolvaliduntil::text, 'none'),
                 'comment=' || coalesce(to_json(shobj_description(r.oid, 'pg_authid'))::text, 'none'))
  FROM pg_authid r
 WHERE r.rolname <> 'postgres' AND r.rolname !~ '^pg_';
