-- Role memberships with every option, built-in ones between pg_* roles left out. Before 16 a
-- membership had no INHERIT or SET option: it inherited as its member did and allowed SET ROLE,
-- which is what the same grant gives from 16 on.
SELECT format('%s in %s granted by %s', pg_get_userbyid(m.member), pg_get_userbyid(m.roleid), pg_get_userbyid(m.grantor)),
       concat_ws(' ', 'admin=' || m.admin_option,
                 'inherit=' || coalesce(to_jsonb(m)->>'inherit_option', (SELECT r.rolinherit::text FROM pg_authid r WHERE r.oid = m.member)),
                 'set=' || coalesce(to_jsonb(m)->>'set_option', 'true'))
  FROM pg_auth_members m
 WHERE pg_get_userbyid(m.member) !~ '^pg_';
