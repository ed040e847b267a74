#!/usr/bin/env bash
# TLS to the server: a user that must use TLS can stream with tls=required,
# verify_ca checks the certificate against the CA given, and a wrong CA or
# no TLS at all fails with a message that says what to check. Also the
# password read from a file.
. "$(dirname "$0")/lib/test-lib.sh"
. "$TOP/t/lib/mariadb.sh"
require_cmd openssl timeout

test_expect_success 'a CA and a server certificate for 127.0.0.1' '
  test_make_ca &&
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" \
    -keyout other.key -out other.pem 2>/dev/null
'

test_expect_success 'a server with TLS and a user that must use it' '
  mariadb_start --ssl-ca="$TRASH/ca.pem" --ssl-cert="$TRASH/server.pem" --ssl-key="$TRASH/server.key" &&
  mariadb_sql "ALTER USER binhook@\"127.0.0.1\" REQUIRE SSL" &&
  mariadb_sql "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY)" &&
  mariadb_binlog_pos >from &&
  mariadb_sql "INSERT INTO s.t VALUES (1)"
'

test_expect_success 'tls=required streams' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL?tls=required" --from "$(cat from)" --limit 1 >out 2>err &&
  grep -q "\"after\":{\"id\":1}" out
'

test_expect_success 'verify_ca with the right CA streams' '
  timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL?tls=verify_ca&ca=$TRASH/ca.pem" --from "$(cat from)" \
    --limit 1 >out 2>err &&
  grep -q "\"after\":{\"id\":1}" out
'

test_expect_success 'verify_ca with another CA is refused, naming TLS' '
  test_must_fail timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL?tls=verify_ca&ca=$TRASH/other.pem" \
    --from "$(cat from)" --limit 1 >out 2>err &&
  test_grep "cannot connect to .127.0.0.1:$MYSQL_PORT." err &&
  test_grep -i "tls\|ssl\|certificate" err
'

test_expect_success 'without TLS the user is refused, and the message says so' '
  test_must_fail timeout 60 "$BINHOOK" tail --source "$BINHOOK_URL?tls=disabled" --from "$(cat from)" \
    --limit 1 >out 2>err &&
  test_grep "cannot connect" err
'

test_expect_success 'the TLS settings from the config file' '
  cat >tls.toml <<-EOF &&
	[source]
	url = "$BINHOOK_URL"
	tls = "verify_ca"
	tls_ca = "ca.pem"
	EOF
  timeout 60 "$BINHOOK" tail -c tls.toml --from "$(cat from)" --limit 1 >out 2>err &&
  grep -q "\"after\":{\"id\":1}" out
'

test_expect_success 'the password from a file, the environment ignored' '
  printf "%s\n" "$BINHOOK_MYSQL_PASSWORD" >pw &&
  cat >pw.toml <<-EOF &&
	[source]
	url = "$BINHOOK_URL?tls=required"
	password_env = ""
	password_file = "pw"
	EOF
  BINHOOK_MYSQL_PASSWORD=wrong timeout 60 "$BINHOOK" tail -c pw.toml --from "$(cat from)" --limit 1 >out 2>err &&
  grep -q "\"after\":{\"id\":1}" out
'

test_done
