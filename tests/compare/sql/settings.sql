-- ALTER ROLE / ALTER DATABASE ... SET: per role, per database (this one named as such), settings sorted.
SELECT concat_ws(' ', CASE WHEN s.setrole = 0 THEN 'every role' ELSE 'role ' || pg_get_userbyid(s.setrole) END,
                 CASE WHEN s.setdatabase = 0 THEN 'every database'
                      WHEN d.datname = current_database() THEN 'this database'
                      ELSE 'database ' || d.datname END),
       (SELECT string_agg(to_json(c)::text, ' ' ORDER BY c) FROM unnest(s.setconfig) c)
  FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase;
