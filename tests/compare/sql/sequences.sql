-- Every sequence's position.
SELECT format('SELECT %L, concat(''last_value='', last_value, '' is_called='', is_called) FROM %I.%I',
              format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S' AND n.nspname !~ '^pg_(toast_)?temp_[0-9]+$'
 ORDER BY 1
\gexec
