-- A digest of each role's password hash: compared, never printed.
SELECT r.rolname, coalesce(md5(r.rolpassword), 'none')
  FROM pg_authid r
 WHERE r.rolname <> 'postgres' AND r.rolname !~ '^pg_';
