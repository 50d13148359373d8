-- Installed extensions, their versions and schemas.
SELECT e.extname, concat_ws(' ', 'version=' || e.extversion, 'schema=' || e.extnamespace::regnamespace)
  FROM pg_extension e;
