-- binhook's DDL alerts for PostgreSQL: an event trigger that tells binhook
-- of every DDL statement (CREATE, ALTER, DROP, COMMENT, GRANT ... on tables,
-- views, functions, schemas, types ...) through a logical decoding message
-- (prefix 'binhook', transactional: a statement rolled back is never told).
-- binhook's PostgreSQL source makes each message a statement event: "sql"
-- the statement text, "user" who ran it (session_user@client address,
-- "[local]" for a socket), "tag" the command tag, "object" the identities of
-- the objects it made, changed or dropped, "schema" the first one's schema,
-- "kind" ddl (dcl for GRANT, REVOKE and ALTER DEFAULT PRIVILEGES). Rules
-- match them with statement = '...' as for MySQL's statements.
--
-- Run it once as a superuser in the database binhook reads (event triggers
-- belong to one database):
--
--   psql -d shop -f contrib/postgresql/ddl-alerts.sql
--   binhook doctor --ddl-sql | psql -d shop      (the same text)
--
-- `binhook doctor` says whether it is installed. Needs PostgreSQL 14 or
-- later (pgoutput streams messages from 14 on) and wal_level = logical. To
-- remove it: DROP FUNCTION binhook_ddl_alert() CASCADE;
--
-- A DROP is told by sql_drop, which knows what was dropped; every other
-- statement by ddl_command_end, which knows what was made or changed (so
-- ALTER TABLE ... DROP COLUMN is told once, as an ALTER TABLE). A failure
-- here never fails the statement: it becomes a warning.
-- Statements on roles and databases (CREATE ROLE, DROP DATABASE, ...) fire
-- no event trigger, and "sql" is the whole query string the client sent,
-- which may hold several statements.

CREATE OR REPLACE FUNCTION binhook_ddl_alert() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $binhook$
DECLARE
  objects jsonb;
BEGIN
  IF TG_EVENT = 'sql_drop' THEN
    IF TG_TAG NOT LIKE 'DROP %' THEN
      RETURN;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('type', o.object_type, 'identity', o.object_identity,
                                        'schema', o.schema_name) ORDER BY o.ordinality)
      INTO objects
      FROM pg_event_trigger_dropped_objects() WITH ORDINALITY AS o
     WHERE o.original;
  ELSE
    IF TG_TAG LIKE 'DROP %' THEN
      RETURN;
    END IF;
    SELECT jsonb_agg(u.obj ORDER BY u.n)
      INTO objects
      FROM (SELECT jsonb_build_object('type', c.object_type, 'identity', c.object_identity,
                                      'schema', c.schema_name) AS obj, min(c.ordinality) AS n
              FROM pg_event_trigger_ddl_commands() WITH ORDINALITY AS c
             GROUP BY 1) AS u;
  END IF;
  PERFORM pg_logical_emit_message(true, 'binhook', json_build_object(
    'tag', TG_TAG,
    'objects', coalesce(objects, '[]'::jsonb),
    'user', session_user,
    'current_user', current_user,
    'client', host(inet_client_addr()),
    'sql', current_query())::text);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'binhook_ddl_alert: no DDL alert for this statement: %', SQLERRM;
END
$binhook$;

DROP EVENT TRIGGER IF EXISTS binhook_ddl_end;
DROP EVENT TRIGGER IF EXISTS binhook_ddl_drop;
CREATE EVENT TRIGGER binhook_ddl_end ON ddl_command_end EXECUTE FUNCTION binhook_ddl_alert();
CREATE EVENT TRIGGER binhook_ddl_drop ON sql_drop EXECUTE FUNCTION binhook_ddl_alert();
