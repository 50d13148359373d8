-- Server settings made with ALTER SYSTEM (postgresql.auto.conf), by name.
SELECT name, coalesce(setting, '')
  FROM pg_file_settings
 WHERE sourcefile ~ '(^|/)postgresql\.auto\.conf$';
