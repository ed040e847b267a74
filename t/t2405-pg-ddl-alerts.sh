#!/usr/bin/env bash
# DDL alerts from PostgreSQL: contrib/postgresql/ddl-alerts.sql installed in
# a private PostgreSQL, binhook run with a rule on DROP TABLE delivering to
# an SMTP receiver. A table dropped by a named user over TCP: the mail names
# that user and the table. binhook tail shows each statement once, with its
# command tag, its objects, its kind and its user (ALTER TABLE ... DROP
# COLUMN once, as an ALTER TABLE; GRANT as dcl); a rolled-back DROP is never
# told.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/pg.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 psql
pg_start || test_skip_all 'cannot start postgres'

# psql as alice over TCP (so that the server knows her client address).
alice () {
  PGPASSWORD=alice-pw psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U alice -d shop "$@"
}
has_lines () { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

test_expect_success 'the trigger installed, a user alice, an SMTP receiver, binhook run' '
  pg_sql <"$TOP/contrib/postgresql/ddl-alerts.sql" 2>/dev/null &&
  test "$(pg_sql "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE \$\$binhook_ddl_%\$\$")" = 2 &&
  pg_sql "CREATE ROLE alice LOGIN PASSWORD \$\$alice-pw\$\$; GRANT CREATE ON SCHEMA public TO alice" &&
  alice -c "CREATE TABLE orders (id int PRIMARY KEY, note text); CREATE TABLE items (id int PRIMARY KEY)" &&
  { python3 "$TOP/t/lib/smtp_receiver.py" "$TRASH/smtp.port" "$TRASH/smtp.jsonl" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/smtp.port" &&
  mkdir "$TRASH/tmpl" &&
  cat >"$TRASH/tmpl/drop.txt" <<-\EOT &&
	Ran by: {{ user }}
	Tag: {{ event.tag }}
	Object: {{ event.object }}
	Schema: {{ schema }}
	Kind: {{ kind }}
	SQL: {{ sql }}
	EOT
  cat >"$TRASH/pg.toml" <<-EOF &&
	templates = "tmpl"
	[state]
	dir = "state"
	[source]
	url = "$BINHOOK_PG_URL"
	[endpoint.dba-mail]
	url = "smtp://127.0.0.1:$(cat "$TRASH/smtp.port")"
	mail_from = "binhook@localhost"
	mail_to = ["dba@localhost"]
	[[rule]]
	name = "drop-table"
	statement = "(?i)^\\\\s*DROP\\\\s+TABLE"
	kind = "ddl"
	endpoint = "dba-mail"
	template = "drop.txt"
	subject = "[binhook] {{ event.tag }} {{ event.object }} by {{ user }}"
	EOF
  "$BINHOOK" check -c "$TRASH/pg.toml" &&
  start_binhook pg.toml run.log
'

test_expect_success 'alice drops a table: the mail names her and the table' '
  alice -c "BEGIN; DROP TABLE items; ROLLBACK" &&
  alice -c "DROP TABLE orders" &&
  test_wait_until 30 has_lines "$TRASH/smtp.jsonl" 1 &&
  python3 - "$TRASH/smtp.jsonl" >actual <<-\EOT &&
	import json, sys
	for l in open(sys.argv[1]):
	    m = json.loads(l)["data"].replace("\r\n", "\n")
	    head, body = m.split("\n\n", 1)
	    print([h for h in head.split("\n") if h.startswith("Subject:")][0])
	    print(body.rstrip("\n"))
	EOT
	cat >expect <<-\EOT &&
	Subject: [binhook] DROP TABLE public.orders by alice@127.0.0.1
	Ran by: alice@127.0.0.1
	Tag: DROP TABLE
	Object: public.orders
	Schema: public
	Kind: ddl
	SQL: DROP TABLE orders
	EOT
  test_cmp expect actual
'

test_expect_success 'binhook tail: one statement each, with its tag, objects, kind and user' '
  pg_sql "SELECT 1 FROM pg_create_logical_replication_slot(\$\$t3\$\$, \$\$pgoutput\$\$)" >/dev/null &&
  cat >"$TRASH/t3.toml" <<-EOF &&
	[source]
	url = "$BINHOOK_PG_URL"
	slot = "t3"
	EOF
  alice -c "ALTER TABLE items ADD COLUMN qty int" &&
  alice -c "ALTER TABLE items DROP COLUMN qty" &&
  alice -c "GRANT SELECT ON items TO PUBLIC" &&
  pg_sql "CREATE SCHEMA sales; CREATE TABLE sales.a (id serial PRIMARY KEY); DROP TABLE sales.a, items" &&
  timeout 60 "$BINHOOK" tail -c "$TRASH/t3.toml" --from start --limit 6 >tail.out &&
  python3 - tail.out >actual <<-\EOT &&
	import json, sys
	for l in open(sys.argv[1]):
	    e = json.loads(l)
	    assert e["type"] == "statement", e
	    print("|".join([e["tag"], e.get("object", "-"), e["schema"] or "-", e["kind"], e["user"], e["sql"]]))
	EOT
	cat >expect <<-\EOT &&
	ALTER TABLE|public.items|public|ddl|alice@127.0.0.1|ALTER TABLE items ADD COLUMN qty int
	ALTER TABLE|public.items|public|ddl|alice@127.0.0.1|ALTER TABLE items DROP COLUMN qty
	GRANT|-|-|dcl|alice@127.0.0.1|GRANT SELECT ON items TO PUBLIC
	CREATE SCHEMA|sales|-|ddl|postgres@[local]|CREATE SCHEMA sales; CREATE TABLE sales.a (id serial PRIMARY KEY); DROP TABLE sales.a, items
	CREATE TABLE|sales.a_id_seq, sales.a, sales.a_pkey|sales|ddl|postgres@[local]|CREATE SCHEMA sales; CREATE TABLE sales.a (id serial PRIMARY KEY); DROP TABLE sales.a, items
	DROP TABLE|public.items, sales.a|public|ddl|postgres@[local]|CREATE SCHEMA sales; CREATE TABLE sales.a (id serial PRIMARY KEY); DROP TABLE sales.a, items
	EOT
  test_cmp expect actual
'

test_done
