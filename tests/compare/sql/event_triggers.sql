-- Event triggers: the event, the function, the owner, the tags, and whether each is enabled
-- (O: in origin and local sessions, R: replica, A: always, D: disabled).
SELECT t.evtname,
       concat_ws(' ', 'event=' || t.evtevent, 'function=' || t.evtfoid::regproc, 'owner=' || pg_get_userbyid(t.evtowner),
                 'enabled=' || t.evtenabled::text,
                 'tags=' || coalesce(array_to_string(ARRAY(SELECT unnest(t.evttags) ORDER BY 1), ','), 'all'))
  FROM pg_event_trigger t;
