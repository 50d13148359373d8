-- This database's subscriptions: whether each is enabled, its slot, publications, owner and
-- synchronous_commit, and one key per option the server has (to_jsonb: the options each major
-- added since 11 come with it; compare does not count an option only the newer server has).
-- The connection string may hold a password: it is compared in the passwords facet.
SELECT s.subname,
       concat_ws(' ', 'enabled=' || s.subenabled, 'slot=' || coalesce(s.subslotname::text, 'none'),
                 'publications=' || array_to_string(ARRAY(SELECT unnest(s.subpublications) ORDER BY 1), ','),
                 'synchronous_commit=' || s.subsynccommit, 'owner=' || pg_get_userbyid(s.subowner))
  FROM pg_subscription s
 WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL
SELECT s.subname || ' option ' || j.key, j.value
  FROM pg_subscription s, LATERAL jsonb_each_text(to_jsonb(s)) j
 WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND j.key NOT IN ('oid', 'subdbid', 'subname', 'subowner', 'subenabled', 'subconninfo', 'subslotname',
                     'subsynccommit', 'subpublications', 'subskiplsn');
