-- Every relation outside the system schemas, and those a user made in pg_catalog or
-- information_schema (an oid past the system's own, 16384 on), with what it is.
SELECT format('%I.%I', n.nspname, c.relname),
       concat_ws(' ', 'kind=' || c.relkind::text, 'persistence=' || c.relpersistence::text,
                 CASE WHEN c.relkind = 'm' THEN 'populated=' || c.relispopulated::text END)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE (n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') OR c.oid >= 16384)
   AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$' AND n.nspname <> 'pg_toast';
