-- The database itself (its name differs by design: each service names its own). An ACL that is
-- NULL is the default it stands for, so the two spellings of the same privileges compare equal.
-- Before 15 every database's locale came from libc ('c'), which had no column of its own.
SELECT x.k, x.v
  FROM pg_database d,
       LATERAL (VALUES ('encoding', pg_encoding_to_char(d.encoding)), ('collate', d.datcollate::text),
                       ('ctype', d.datctype::text), ('locale provider', coalesce(to_jsonb(d)->>'datlocprovider', 'c')),
                       ('connection limit', d.datconnlimit::text), ('owner', pg_get_userbyid(d.datdba)),
                       ('allow connections', d.datallowconn::text), ('template', d.datistemplate::text),
                       ('acl', (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(d.datacl, acldefault('d', d.datdba))) a)),
                       ('comment', coalesce(to_json(shobj_description(d.oid, 'pg_database'))::text, 'none'))) AS x(k, v)
 WHERE d.datname = current_database();
