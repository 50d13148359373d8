-- Publications: what each publishes and how (one key per option, as for subscriptions), and the
-- tables it publishes, FOR ALL TABLES and schemas resolved (pg_publication_tables).
SELECT p.pubname, 'owner=' || pg_get_userbyid(p.pubowner)
  FROM pg_publication p
UNION ALL
SELECT p.pubname || ' option ' || j.key, j.value
  FROM pg_publication p, LATERAL jsonb_each_text(to_jsonb(p)) j
 WHERE j.key NOT IN ('oid', 'pubname', 'pubowner')
UNION ALL
SELECT format('%s publishes %I.%I', t.pubname, t.schemaname, t.tablename), 'yes'
  FROM pg_publication_tables t;
