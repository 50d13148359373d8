-- The database itself (its name differs by design: each service names its own).
SELECT x.k, x.v
  FROM pg_database d,
       LATERAL (VALUES ('encoding', pg_encoding_to_char(d.encoding)), ('collate', d.datcollate::text),
                       ('ctype', d.datctype::text), ('locale provider', d.datlocprovider::text),
                       ('connection limit', d.datconnlimit::text), ('owner', pg_get_userbyid(d.datdba)),
                       ('allow connections', d.datallowconn::text), ('template', d.datistemplate::text),
                       ('acl', coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(d.datacl) a), 'default')),
                       ('comment', coalesce(to_json(shobj_description(d.oid, 'pg_database'))::text, 'none'))) AS x(k, v)
 WHERE d.datname = current_database();
