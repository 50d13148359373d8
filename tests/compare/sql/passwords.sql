-- A digest of each role's password hash, and of each subscription's connection string (it may
-- hold a password): compared, never printed.
SELECT r.rolname, coalesce(md5(r.rolpassword), 'none')
  FROM pg_authid r
 WHERE r.rolname <> 'postgres' AND r.rolname !~ '^pg_'
UNION ALL
SELECT 'subscription ' || s.subname || ' connection', md5(s.subconninfo)
  FROM pg_subscription s
 WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database());
