-- One line per row of every table and populated materialized view (stored generated columns and
-- all: to_jsonb reads the whole row), those a user made in a system schema included: its name
-- and the md5 of the row as jsonb text (keys sorted, so the same row whatever the column order
-- of the table).
SELECT format('COPY (SELECT %L, md5(to_jsonb(compare_row)::text) FROM ONLY %I.%I AS compare_row) TO STDOUT',
              format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE (n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') OR c.oid >= 16384)
   AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$' AND n.nspname <> 'pg_toast'
   AND (c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated))
 ORDER BY 1
\gexec
