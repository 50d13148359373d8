-- Role memberships (the columns PostgreSQL 15 and later all have), built-in ones between pg_* roles left out.
SELECT format('%s in %s granted by %s', pg_get_userbyid(m.member), pg_get_userbyid(m.roleid), pg_get_userbyid(m.grantor)),
       'admin=' || m.admin_option
  FROM pg_auth_members m
 WHERE pg_get_userbyid(m.member) !~ '^pg_';
