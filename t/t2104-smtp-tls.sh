#!/usr/bin/env bash
# Alert e-mail over encrypted and authenticated SMTP, against receivers on
# 127.0.0.1 with a certificate of a CA made here (tls_ca names it):
#  - STARTTLS, then AUTH with the password from password_env: the mail of a
#    DROP TABLE arrives over TLS, from the user that logged in;
#  - smtps:// (TLS from the first byte) with AUTH: the same;
#  - a wrong password: the server answers 535, binhook retries by the
#    schedule, then the delivery is in the dead letters with the reason
#    and what to check, and the server got nothing;
#  - a username on a server that offers no STARTTLS: binhook does not send
#    the password in the clear, nothing arrives, the log says what to do;
#  - STARTTLS with a certificate binhook cannot verify (no tls_ca): nothing
#    arrives, the log says why and what to set;
#  - `binhook check` refuses a tls_ca it cannot read.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
. "$TOP/t/lib/run.sh"

require_cmd python3 openssl
mariadb_start || test_skip_all 'cannot start mariadbd'

# smtp NAME ARGS...: an SMTP receiver, its port in $TRASH/NAME.port, its
# mails in $TRASH/NAME.jsonl.
smtp () {
  local name=$1
  shift
  { python3 "$TOP/t/lib/smtp_receiver.py" "$TRASH/$name.port" "$TRASH/$name.jsonl" 0 "$@" 7>&- 8>&- & } &&
  test_atexit "kill $! 2>/dev/null" &&
  test_wait_until 20 test -s "$TRASH/$name.port"
}

# mails NAME: how many mails NAME got.
mails () {
  if [ -f "$TRASH/$1.jsonl" ]; then grep -c . "$TRASH/$1.jsonl"; else echo 0; fi
}

# has_mails NAME N: NAME got N mails.
has_mails () {
  test "$(mails "$1")" = "$2"
}

# dead ENDPOINT: the dead letters hold one delivery to ENDPOINT (its line
# in $TRASH/dead.out).
dead () {
  "$BINHOOK" dlq list -c "$TRASH/g.toml" --endpoint "$1" >"$TRASH/dead.out" 2>"$TRASH/dead.err" &&
  test_grep "^1 dead letter" "$TRASH/dead.err"
}

test_expect_success 'a CA, a certificate for 127.0.0.1, five SMTP receivers' '
  test_make_ca &&
  smtp starttls --starttls server.pem server.key --auth binhook:s3cret-smtp &&
  smtp smtps --smtps server.pem server.key --auth binhook:s3cret-smtp &&
  smtp wrongpw --starttls server.pem server.key --auth binhook:another-password &&
  smtp plain --auth binhook:s3cret-smtp &&
  smtp untrusted --starttls server.pem server.key
'

test_expect_success 'binhook check refuses a tls_ca it cannot read' '
  cat >"$TRASH/bad.toml" <<-EOF &&
	[source]
	url = "$BINHOOK_URL"
	[state]
	dir = "state-bad"
	[endpoint.m]
	url = "smtp://127.0.0.1:25"
	mail_from = "binhook@localhost"
	mail_to = ["dba@localhost"]
	tls_ca = "no-such-ca.pem"
	[[rule]]
	name = "drops"
	statement = "(?i)^drop"
	endpoint = "m"
	EOF
  test_exit_code 2 "$BINHOOK" check -c "$TRASH/bad.toml" 2>"$TRASH/check.err" &&
  test_grep "tls_ca.*cannot read .*no-such-ca.pem.*No such file" "$TRASH/check.err"
'

test_expect_success 'binhook run mails a DROP TABLE to each of them' '
  {
    printf "[source]\nurl = \"%s\"\nserver_id = 7204\n[state]\ndir = \"state\"\n" "$BINHOOK_URL" &&
    for m in starttls:smtp wrongpw:smtp plain:smtp untrusted:smtp smtps:smtps; do
      name=${m%%:*} scheme=${m#*:} &&
      printf "[endpoint.%s]\nurl = \"%s://127.0.0.1:%s\"\n" "$name" "$scheme" "$(cat "$TRASH/$name.port")" &&
      printf "mail_from = \"binhook@localhost\"\nmail_to = [\"dba@localhost\"]\ntimeout = \"5s\"\n" &&
      printf "retry = [\"1s\"]\nbreaker_failures = 0\n" &&
      case $name in
      untrusted) printf "username = \"binhook\"\npassword_env = \"SMTP_PW\"\n" ;;
      *) printf "username = \"binhook\"\npassword_env = \"SMTP_PW\"\ntls_ca = \"ca.pem\"\n" ;;
      esac || return 1
    done &&
    printf "[[rule]]\nname = \"drops\"\nstatement = \"(?i)^drop table\"\nkind = \"ddl\"\n" &&
    printf "endpoint = [\"starttls\", \"smtps\", \"wrongpw\", \"plain\", \"untrusted\"]\n" &&
    printf "subject = \"[binhook] {{ sql }}\"\n"
  } >"$TRASH/g.toml" &&
  SMTP_PW=s3cret-smtp "$BINHOOK" check -c "$TRASH/g.toml" &&
  mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.gone (id INT PRIMARY KEY)" &&
  SMTP_PW=s3cret-smtp start_binhook g.toml run.log &&
  test_wait_until 30 grep -q "reading from" "$TRASH/run.log" &&
  mariadb_sql "DROP TABLE shop.gone"
'

test_expect_success 'STARTTLS and AUTH: the mail arrives over TLS from the user that logged in' '
  test_wait_until 30 has_mails starttls 1 &&
  python3 - "$TRASH/starttls.jsonl" <<-\EOF
	import json, sys
	m = json.loads(open(sys.argv[1]).readline())
	assert m["tls"] is True and m["user"] == "binhook", m
	assert m["mail_from"] == "binhook@localhost" and m["rcpt_to"] == ["dba@localhost"], m
	assert "\r\nSubject: [binhook] DROP TABLE `shop`.`gone`" in m["data"], m["data"]
	EOF
'

test_expect_success 'smtps:// with AUTH: the same' '
  test_wait_until 30 has_mails smtps 1 &&
  python3 - "$TRASH/smtps.jsonl" <<-\EOF
	import json, sys
	m = json.loads(open(sys.argv[1]).readline())
	assert m["tls"] is True and m["user"] == "binhook", m
	EOF
'

test_expect_success 'a wrong password: retried, then a dead letter that says the login was refused; nothing arrived' '
  test_wait_until 60 dead wrongpw &&
  cp "$TRASH/dead.out" "$TRASH/wrongpw.dead" &&
  grep "endpoint .wrongpw." "$TRASH/run.log" >"$TRASH/wrongpw.log" &&
  test_grep "failed (attempt 1)" "$TRASH/wrongpw.log" &&
  test_grep "failed after 2 attempts" "$TRASH/wrongpw.log" &&
  test_grep "failed after 2 attempts: Login denied (check username and password_env or password_file)" "$TRASH/wrongpw.log" &&
  test_grep "endpoint=wrongpw rule=drops attempts=2 reason=given up after 2 attempts: Login denied (check username" "$TRASH/wrongpw.dead" &&
  test "$(mails wrongpw)" = 0
'

test_expect_success 'no STARTTLS offered: the password is not sent in the clear, nothing arrives' '
  test_wait_until 60 dead plain &&
  grep "endpoint .plain." "$TRASH/run.log" >"$TRASH/plain.log" &&
  test_grep "STARTTLS not supported.* (the server offers no STARTTLS, and a password is never sent in the clear: use smtps://" "$TRASH/plain.log" &&
  test "$(mails plain)" = 0
'

test_expect_success 'a certificate binhook cannot verify: nothing arrives, the log says why' '
  test_wait_until 60 dead untrusted &&
  grep "endpoint .untrusted." "$TRASH/run.log" >"$TRASH/untrusted.log" &&
  test_grep "SSL certificate problem: .* (set tls_ca to the PEM file of the CA that signed the server.s certificate)" "$TRASH/untrusted.log" &&
  test "$(mails untrusted)" = 0
'

test_expect_success 'the logs hold no password' '
  stop_binhook run.log &&
  test_grep ! "s3cret-smtp" "$TRASH/run.log" &&
  "$BINHOOK" dlq show -c "$TRASH/g.toml" --all >"$TRASH/show.out" 2>&1 &&
  test_grep "Subject: \[binhook\] DROP TABLE" "$TRASH/show.out" &&
  test_grep ! "s3cret-smtp" "$TRASH/show.out"
'

test_done
