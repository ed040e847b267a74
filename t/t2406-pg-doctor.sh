#!/usr/bin/env bash
# binhook doctor for a postgresql:// source, against a private PostgreSQL:
# a fresh server as a superuser (the publication and the slot still to
# make, the DDL alerts not installed: notes, no error); a user without
# REPLICATION (each problem with the SQL that fixes it); the publication,
# its tables and those without a replica identity, the slot and the WAL it
# holds back, a slot of another plugin, the event trigger installed and
# disabled; a server with wal_level = replica. `doctor --ddl-sql` prints
# contrib/postgresql/ddl-alerts.sql.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"

require_cmd python3 psql
pg_start || test_skip_all 'cannot start postgres'

doctor () {
  "$BINHOOK" doctor --source "$BINHOOK_PG_URL" "$@"
}

test_expect_success 'doctor --ddl-sql prints contrib/postgresql/ddl-alerts.sql' '
  "$BINHOOK" doctor --ddl-sql >actual &&
  test_cmp "$TOP/contrib/postgresql/ddl-alerts.sql" actual
'

test_expect_success 'a fresh server as a superuser: no error, what binhook will make, the trigger to install' '
  doctor >out &&
  test_grep "^checking PostgreSQL 15" out &&
  test_grep "^ok       wal_level = logical\$" out &&
  test_grep "^ok       max_replication_slots = 10 (0 in use)\$" out &&
  test_grep "^ok       max_wal_senders = 10 (0 in use)\$" out &&
  test_grep "^ok       privilege REPLICATION = superuser\$" out &&
  test_grep "^ok       replication connection\$" out &&
  test_grep "^info     publication .binhook. = missing: binhook makes it FOR ALL TABLES" out &&
  test_grep "^info     slot .binhook. = missing: binhook makes it" out &&
  test_grep "^info     DDL alerts = not installed" out &&
  test_grep "^  fix: as a superuser: binhook doctor --ddl-sql | psql -d shop" out &&
  test_grep "^the server can serve binhook\$" out
'

test_expect_success 'a user without REPLICATION: errors, each with its fix; exit status 1' '
  pg_sql "CREATE ROLE alice LOGIN PASSWORD \$\$alice-pw\$\$" &&
  test_exit_code 1 env BINHOOK_MYSQL_PASSWORD=alice-pw \
    "$BINHOOK" doctor --source "postgresql://alice@127.0.0.1:$PG_PORT/shop" >out &&
  test_grep "^error    privilege REPLICATION = missing" out &&
  test_grep "^  fix: ALTER ROLE alice REPLICATION;\$" out &&
  test_grep "^skipped  replication connection" out &&
  test_grep "^error    publication .binhook. = missing" out &&
  test_grep "^  fix: as a superuser: CREATE PUBLICATION binhook FOR ALL TABLES;" out &&
  test_grep "^error    slot .binhook. = missing" out &&
  test_grep "pg_create_logical_replication_slot(.binhook., .pgoutput.);" out &&
  test_grep "^3 problems: binhook cannot stream from this server" out
'

test_expect_success 'a publication of two tables, one without a replica identity: named, with the ALTER' '
  pg_sql "CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE logs (line text);
          CREATE PUBLICATION binhook FOR TABLE orders, logs WITH (publish = \$\$insert, update, delete\$\$)" &&
  doctor >out &&
  test_grep "^warning  publication .binhook. = 2 tables: public.logs, public.orders: it does not publish truncate" out &&
  test_grep "^  fix: ALTER PUBLICATION binhook SET (publish = .insert, update, delete, truncate.);" out &&
  test_grep "^warning  replica identity = public.logs: this table has no primary key" out &&
  test_grep "^  fix: ALTER TABLE public.logs REPLICA IDENTITY FULL;" out &&
  pg_sql "ALTER PUBLICATION binhook SET (publish = \$\$insert, update, delete, truncate\$\$);
          ALTER TABLE logs REPLICA IDENTITY FULL" &&
  doctor >out &&
  test_grep "^ok       publication .binhook. = 2 tables: public.logs, public.orders\$" out &&
  test_grep "^ok       replica identity" out
'

test_expect_success 'the slot: pgoutput and the WAL it holds back, in bytes' '
  pg_sql "SELECT 1 FROM pg_create_logical_replication_slot(\$\$binhook\$\$, \$\$pgoutput\$\$)" >/dev/null &&
  pg_sql "INSERT INTO orders SELECT g FROM generate_series(1, 20000) g" &&
  doctor >out &&
  test_grep "^ok       slot .binhook. = pgoutput, idle\$" out &&
  test_grep "^ok       WAL held by the slot = [0-9.]* [KM]iB behind the server (confirmed [0-9A-F]*/[0-9A-F]*)\$" out &&
  test_grep "^ok       max_replication_slots = 10 (1 in use)\$" out
'

test_expect_success 'a slot of another plugin under binhook'"'"'s name: an error' '
  pg_sql "SELECT pg_drop_replication_slot(\$\$binhook\$\$);
          SELECT 1 FROM pg_create_logical_replication_slot(\$\$binhook\$\$, \$\$test_decoding\$\$)" >/dev/null &&
  test_exit_code 1 doctor >out &&
  test_grep "^error    slot .binhook. = logical, test_decoding: binhook reads a logical slot of the pgoutput plugin" out &&
  test_grep "^  fix: give binhook a slot of its own" out &&
  pg_sql "SELECT pg_drop_replication_slot(\$\$binhook\$\$)" >/dev/null
'

test_expect_success 'the DDL alerts installed, then one trigger disabled' '
  "$BINHOOK" doctor --ddl-sql | pg_sql 2>/dev/null &&
  doctor >out &&
  test_grep "^ok       DDL alerts = binhook_ddl_end, binhook_ddl_drop\$" out &&
  pg_sql "ALTER EVENT TRIGGER binhook_ddl_drop DISABLE" &&
  doctor >out &&
  test_grep "^warning  DDL alerts = disabled: binhook_ddl_drop" out &&
  test_grep "^  fix: ALTER EVENT TRIGGER binhook_ddl_drop ENABLE;\$" out
'

test_expect_success '--json: the same checks, as JSON' '
  doctor --json >out.json &&
  python3 - out.json <<-\EOF
	import json, sys
	checks = {c["name"]: c for c in json.load(open(sys.argv[1]))}
	assert checks["wal_level"]["status"] == "ok", checks
	assert checks["DDL alerts"]["status"] == "warning", checks
	assert checks["DDL alerts"]["fix"] == "ALTER EVENT TRIGGER binhook_ddl_drop ENABLE;", checks
	EOF
'

test_expect_success 'a server with wal_level = replica: an error, and how to change it' '
  pg_stop &&
  pg_start -c wal_level=replica &&
  test_exit_code 1 doctor >out &&
  test_grep "^error    wal_level = replica: logical decoding needs wal_level = logical" out &&
  test_grep "^  fix: ALTER SYSTEM SET wal_level = logical;  then restart the server" out
'

test_done
