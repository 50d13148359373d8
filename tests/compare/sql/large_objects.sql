-- Every large object: content, owner, ACL (items sorted, NULL as the default it stands for), comment.
SELECT m.oid,
       concat_ws(' ', 'md5=' || md5(lo_get(m.oid)), 'owner=' || pg_get_userbyid(m.lomowner),
                 'acl=' || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(m.lomacl, acldefault('L', m.lomowner))) a),
                 'comment=' || coalesce(to_json(obj_description(m.oid, 'pg_largeobject'))::text, 'none'))
  FROM pg_largeobject_metadata m;
