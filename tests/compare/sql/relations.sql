-- Every relation outside the system schemas, with what it is.
SELECT format('%I.%I', n.nspname, c.relname),
       concat_ws(' ', 'kind=' || c.relkind::text, 'persistence=' || c.relpersistence::text,
                 CASE WHEN c.relkind = 'm' THEN 'populated=' || c.relispopulated::text END)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$';
