#!/usr/bin/env bash
# demo.sh - binhook in two minutes on a fresh Debian 12 machine: installs what
# is missing and builds (contrib/setup.sh), starts a throwaway MariaDB with the
# binlog on (loopback only, its own temporary directory), runs binhook with
# the shipped gateway.toml against it, makes a few writes and a DROP TABLE,
# shows what binhook saw, and cleans everything up.
#
# Delivery to HTTP endpoints is not part of binhook yet; until it is, the
# demo shows the change stream itself: the canonical events that rules and
# templates will receive.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
"$TOP/contrib/setup.sh" --release-only >&2

export BINHOOK_BUILD=$TOP/build
exec 8>/dev/null
. "$TOP/t/lib/test-lib.sh" >/dev/null
. "$TOP/t/lib/mariadb.sh"

say() { printf '\n\033[1m%s\033[0m\n' "$*" >&2; }
say "starting a throwaway MariaDB on 127.0.0.1 (binlog_format=ROW) ..."
mariadb_start >/dev/null
echo "  listening on 127.0.0.1:$MYSQL_PORT, data in $TRASH" >&2
mariadb_sql "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, status ENUM('new','paid','shipped'), total DECIMAL(10,2), placed DATETIME(3))"

say "checking the server with: binhook doctor"
"$BINHOOK" doctor -c "$TOP/gateway.toml" --source "$BINHOOK_URL" || true

from=$(mariadb_binlog_pos)
say "writing: an order, its payment, a bulk insert, a delete, a DROP TABLE ..."
mariadb_sql "INSERT INTO shop.orders VALUES (42, 'new', 99.90, NOW(3));
UPDATE shop.orders SET status = 'paid', total = 120.00 WHERE id = 42;
INSERT INTO shop.orders VALUES (43, 'new', 5.00, NOW(3)), (44, 'new', 7.50, NOW(3));
DELETE FROM shop.orders WHERE id = 43;
DROP TABLE shop.orders;"

say "what binhook saw (binhook tail -c gateway.toml --from $from), one event a line:"
"$BINHOOK" tail -c "$TOP/gateway.toml" --source "$BINHOOK_URL" --from "$from" --limit 6 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    what = e.get("table") or e.get("kind")
    print()
    print("%-9s %s.%s  id=%s" % (e["type"], e.get("schema"), what, e["id"]))
    print(json.dumps(e, indent=2, ensure_ascii=False))
'

say "done; the server and its files are removed now."
