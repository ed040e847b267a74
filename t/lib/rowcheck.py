#!/usr/bin/env python3
"""rowcheck.py - compares the row values of `binhook tail` with what the
server itself returns for the same rows, per the value mapping of docs/DESIGN.md.

  rowcheck.py snapshot SCHEMA.TABLE OUT.json [WHERE]
      Reads the table's rows (those matching WHERE, when given) through the
      mariadb client over $MYSQL_SOCK, as root, in a session with
      time_zone='+00:00' and sql_mode='', and writes the values each row must
      have in a change event, with the column names and order of the table
      as it is now.

  rowcheck.py check EVENTS.ndjson SCHEMA.TABLE STEP...
      EVENTS holds the output of binhook tail. The row events of SCHEMA.TABLE
      (inserts, updates, deletes, in stream order) must be exactly the STEPs
      in order, each STEP being one group of consecutive events, one per row
      of its snapshot, matched within the group by primary key:
        insert=SNAP          an insert per row, after == SNAP
        update=SNAP1,SNAP2   an update per row of SNAP1, before == SNAP1,
                             after == SNAP2 (same key), changed == the
                             columns that differ
        delete=SNAP          a delete per row, before == SNAP
      Every difference is printed as one line naming the row, the image, the
      column, the expected and the got values; the status is 1 if there is
      any.

  rowcheck.py floats EVENTS.ndjson SNAP...
      Every number in a FLOAT or DOUBLE column (the columns of the tables of
      the SNAPs) must be the shortest text that reads back to the same value
      (as a float32 for FLOAT).

What the server returns and what the event must hold:
  integers, BIT, YEAR   CAST(col AS CHAR) (col + 0 for BIT and YEAR): a JSON
                        number with exactly that text
  DECIMAL               CAST(col AS CHAR): the same string
  FLOAT, DOUBLE         CAST(col AS DOUBLE): a number equal as a float32
                        (FLOAT, which the server prints with 6 digits only)
                        or as a double
  text, ENUM            CONVERT(col USING utf8mb4): the same string
  SET                   the same, split at commas: an array
  BINARY, BLOB          the bytes: a string, their base64
  DATE, TIME            CAST(col AS CHAR): the same string
  DATETIME, TIMESTAMP   CAST(col AS CHAR) read in UTC, with "T" for the space
                        and, for TIMESTAMP, "Z" after it; zero and partial
                        dates stay the server's text
  GEOMETRY              ST_AsText(col): the same string
  NULL                  null
Every value travels through HEX() so that tabs, newlines, NUL bytes and any
charset survive the client's batch output.
"""

import base64
import json
import os
import struct
import subprocess
import sys

INT_TYPES = {"tinyint", "smallint", "mediumint", "int", "bigint"}
TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
BYTES_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
GEOM_TYPES = {"geometry", "point", "linestring", "polygon", "multipoint",
              "multilinestring", "multipolygon", "geometrycollection"}


class Num(str):
    """A JSON number, kept as the text binhook wrote."""


def die(msg):
    print("rowcheck: " + msg, file=sys.stderr)
    sys.exit(2)


def sql(query):
    sock = os.environ.get("MYSQL_SOCK")
    if not sock:
        die("MYSQL_SOCK is not set (start the server with mariadb_start)")
    cmd = ["mariadb", "--no-defaults", "--user=root", "--socket=" + sock,
           "--default-character-set=utf8mb4", "-N", "-B", "-e",
           "SET time_zone = '+00:00'; SET sql_mode = ''; " + query]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode != 0:
        die("mariadb failed on: %s\n%s" % (query[:300], res.stderr.decode("utf-8", "replace")))
    return [line.split("\t") for line in res.stdout.decode("ascii").splitlines()]


def quote_ident(name):
    return "`" + name.replace("`", "``") + "`"


def quote_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def column_kind(data_type, charset):
    """What the server's text is and how the event must show it."""
    if data_type in INT_TYPES:
        return "int"
    if data_type in ("bit", "year"):
        return "int0"  # read as col+0
    if data_type == "decimal":
        return "decimal"
    if data_type == "float":
        return "float"
    if data_type == "double":
        return "double"
    if data_type in BYTES_TYPES or (data_type in TEXT_TYPES and charset in (None, "binary")):
        return "bytes"
    if data_type in TEXT_TYPES or data_type == "enum":
        return "text"
    if data_type == "set":
        return "set"
    if data_type in ("date", "time"):
        return "plain"
    if data_type == "datetime":
        return "datetime"
    if data_type == "timestamp":
        return "timestamp"
    if data_type in GEOM_TYPES:
        return "wkt"
    die("no mapping for the type '%s'" % data_type)


def select_expr(col, kind):
    q = quote_ident(col)
    if kind == "int0":
        e = "CAST(%s + 0 AS CHAR)" % q
    elif kind == "float":
        e = "CAST(CAST(%s AS DOUBLE) AS CHAR)" % q
    elif kind in ("int", "decimal", "double", "plain", "datetime", "timestamp"):
        e = "CAST(%s AS CHAR)" % q
    elif kind == "bytes":
        e = q
    elif kind in ("text", "set"):
        e = "CONVERT(%s USING utf8mb4)" % q
    elif kind == "wkt":
        e = "ST_AsText(%s)" % q
    return "IF(%s IS NULL, 'N', CONCAT('V', HEX(%s)))" % (q, e)


def date_is_valid(text):
    return text[0:4] != "0000" and text[5:7] != "00" and text[8:10] != "00"


def expected_value(kind, raw):
    """The value the event must carry, tagged with how to compare it."""
    if raw == "N":
        return None
    b = bytes.fromhex(raw[1:])
    if kind == "bytes":
        return {"k": "bytes", "v": b.hex()}
    s = b.decode("utf-8")
    if kind == "int0":
        return {"k": "int", "v": s}
    if kind in ("int", "decimal", "float", "double", "text", "wkt"):
        return {"k": kind, "v": s}
    if kind == "set":
        return {"k": "set", "v": s.split(",") if s else []}
    if kind == "plain":
        return {"k": "text", "v": s}
    if kind in ("datetime", "timestamp"):
        # Zero or partial dates are the server's text; valid ones get the 'T'
        # (and, for TIMESTAMP, 'Z': the session reads them in UTC).
        if date_is_valid(s):
            s = s[:10] + "T" + s[11:] + ("Z" if kind == "timestamp" else "")
        return {"k": "text", "v": s}
    die("bad kind " + kind)


def cmd_snapshot(args):
    if len(args) not in (2, 3):
        die("usage: snapshot SCHEMA.TABLE OUT.json [WHERE]")
    schema, _, table = args[0].partition(".")
    cols = sql("SELECT COLUMN_NAME, DATA_TYPE, IFNULL(CHARACTER_SET_NAME, ''), COLUMN_KEY "
               "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
               "ORDER BY ORDINAL_POSITION" % (quote_str(schema), quote_str(table)))
    if not cols:
        die("no table %s" % args[0])
    columns = [{"name": c[0], "type": c[1], "kind": column_kind(c[1], c[2] or None)} for c in cols]
    pk = [c[0] for c in cols if c[3] == "PRI"]
    if not pk:
        die("%s has no primary key" % args[0])
    query = "SELECT %s FROM %s.%s" % (", ".join(select_expr(c["name"], c["kind"]) for c in columns),
                                      quote_ident(schema), quote_ident(table))
    if len(args) == 3:
        query += " WHERE " + args[2]
    query += " ORDER BY " + ", ".join(quote_ident(k) for k in pk)
    rows = []
    for r in sql(query):
        rows.append({c["name"]: expected_value(c["kind"], v) for c, v in zip(columns, r)})
    with open(args[1], "w") as f:
        json.dump({"table": args[0], "columns": columns, "pk": pk, "rows": rows}, f)


def dumps(v):
    """JSON text of v, numbers as binhook wrote them."""
    if isinstance(v, Num):
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (json.dumps(k, ensure_ascii=False), dumps(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(dumps(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def show(v):
    s = dumps(v)
    return s if len(s) <= 200 else s[:100] + "...(%d chars)..." % len(s) + s[-40:]


def expected_json(e):
    """The JSON text binhook must write for the expected value e (not for
    FLOAT and DOUBLE, whose text may differ)."""
    if e is None:
        return "null"
    if e["k"] in ("int", "float", "double"):
        return e["v"]
    if e["k"] == "bytes":
        return json.dumps(base64.b64encode(bytes.fromhex(e["v"])).decode("ascii"))
    return json.dumps(e["v"], ensure_ascii=False)


def show_expected(e):
    if e is None:
        return "null"
    if e["k"] == "bytes":
        h = e["v"]
        return "bytes %s" % (h if len(h) <= 200 else h[:100] + "...(%d bytes)" % (len(h) // 2))
    if e["k"] in ("int", "float", "double"):
        return e["v"]
    return show(e["v"])


FLT_MAX = 3.4028234663852886e38


def f32(x):
    """x rounded to the nearest float32, as C's (float) cast does."""
    if abs(x) > FLT_MAX:
        # struct refuses these, but below FLT_MAX + half an ulp they round
        # to FLT_MAX.
        return float("inf") * (1 if x > 0 else -1) if abs(x) >= FLT_MAX + 2.0 ** 103 else (
            FLT_MAX if x > 0 else -FLT_MAX)
    return struct.unpack("<f", struct.pack("<f", x))[0]


def value_ok(e, got):
    """None when got is the value e describes, else what is wrong."""
    if e is None:
        return None if got is None else "not null"
    k, v = e["k"], e["v"]
    if k == "int":
        if not isinstance(got, Num):
            return "not a JSON number"
        return None if got == v else "different integer text"
    if k in ("float", "double"):
        if not isinstance(got, Num):
            return "not a JSON number"
        try:
            g = float(got)
        except ValueError:
            return "not a number"
        if k == "float":
            return None if f32(g) == f32(float(v)) else "different float32"
        return None if g == float(v) else "different double"
    if k == "bytes":
        if not isinstance(got, str) or isinstance(got, Num):
            return "not a JSON string"
        try:
            gb = base64.b64decode(got, validate=True)
        except ValueError:
            return "not base64"
        return None if gb.hex() == v else "different bytes"
    if k == "set":
        if not isinstance(got, list):
            return "not a JSON array"
        return None if got == v else "different labels"
    # decimal, text, wkt: the same string
    if not isinstance(got, str) or isinstance(got, Num):
        return "not a JSON string"
    return None if got == v else "different string"


def load_events(path):
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line, parse_int=Num, parse_float=Num))
            except ValueError as ex:
                print("%s:%d: not JSON: %s" % (path, n, ex))
                sys.exit(1)
    return events


def load_snap(path):
    with open(path) as f:
        return json.load(f)


def key_of(snap, row):
    return tuple(json.dumps(row[k]) for k in snap["pk"])


def row_label(snap, row):
    return " ".join("%s=%s" % (k, show_expected(row[k])) for k in snap["pk"])


class Checker:
    def __init__(self):
        self.failures = 0

    def fail(self, msg):
        self.failures += 1
        print(msg)

    def image(self, where, snap, exp_row, got):
        if not isinstance(got, dict):
            self.fail("%s: no row image (got %s)" % (where, show(got)))
            return
        names = [c["name"] for c in snap["columns"]]
        if list(got.keys()) != names:
            self.fail("%s: columns are %s, expected %s" % (where, list(got.keys()), names))
        for c in snap["columns"]:
            n = c["name"]
            if n not in got:
                continue
            why = value_ok(exp_row[n], got[n])
            if why:
                self.fail("%s.%s (%s): %s: expected %s, got %s" % (where, n, c["type"], why,
                                                                   show_expected(exp_row[n]), show(got[n])))

    def key(self, where, snap, exp_row, ev):
        got = ev.get("key")
        if not isinstance(got, dict) or list(got.keys()) != snap["pk"]:
            self.fail("%s: key is %s, expected the columns %s" % (where, show(got), snap["pk"]))
            return
        for k in snap["pk"]:
            why = value_ok(exp_row[k], got[k])
            if why:
                self.fail("%s: key.%s: %s: expected %s, got %s" % (where, k, why, show_expected(exp_row[k]),
                                                                   show(got[k])))


def cmd_check(args):
    if len(args) < 3:
        die("usage: check EVENTS.ndjson SCHEMA.TABLE STEP...")
    schema, _, table = args[1].partition(".")
    events = [e for e in load_events(args[0])
              if e.get("type") in ("insert", "update", "delete")
              and e.get("schema") == schema and e.get("table") == table]
    ck = Checker()
    at = 0
    for step in args[2:]:
        kind, _, files = step.partition("=")
        files = files.split(",")
        if kind not in ("insert", "update", "delete") or len(files) != (2 if kind == "update" else 1):
            die("bad step '%s'" % step)
        snaps = [load_snap(p) for p in files]
        rows = snaps[0]["rows"]
        group = events[at:at + len(rows)]
        at += len(rows)
        if len(group) < len(rows):
            ck.fail("%s: %s (%s): expected %d %s events, the stream has %d" % (args[1], step, files[0], len(rows),
                                                                                kind, len(group)))
        by_key = {}
        for ev in group:
            kv = ev.get("key") if isinstance(ev.get("key"), dict) else {}
            by_key.setdefault(tuple(dumps(kv.get(p)) for p in snaps[0]["pk"]), []).append(ev)
        after_rows = {}
        if kind == "update":
            after_rows = {key_of(snaps[1], r): r for r in snaps[1]["rows"]}
        for row in rows:
            label = "%s %s %s" % (args[1], row_label(snaps[0], row), kind)
            k = tuple(expected_json(row[p]) for p in snaps[0]["pk"])
            evs = by_key.get(k, [])
            if len(evs) != 1:
                ck.fail("%s: %d events with this key in the group (types %s)" % (
                    label, len(evs), [e.get("type") for e in group]))
                continue
            ev = evs[0]
            if ev.get("type") != kind:
                ck.fail("%s: the event is of type %s" % (label, ev.get("type")))
                continue
            ck.key(label, snaps[0], row, ev)
            if kind == "insert":
                ck.image(label + " after", snaps[0], row, ev.get("after"))
                if "before" in ev:
                    ck.fail("%s: an insert has a before image" % label)
            elif kind == "delete":
                ck.image(label + " before", snaps[0], row, ev.get("before"))
                if "after" in ev:
                    ck.fail("%s: a delete has an after image" % label)
            else:
                new = after_rows.get(key_of(snaps[0], row))
                if new is None:
                    die("%s: no row with this key in %s" % (label, files[1]))
                ck.image(label + " before", snaps[0], row, ev.get("before"))
                ck.image(label + " after", snaps[1], new, ev.get("after"))
                want = [c["name"] for c in snaps[1]["columns"]
                        if row.get(c["name"], "absent") != new[c["name"]]]
                if ev.get("changed") != want:
                    ck.fail("%s changed: expected %s, got %s" % (label, dumps(want), show(ev.get("changed"))))
        for ev in group:
            if ev.get("type") != kind:
                ck.fail("%s: %s: an unexpected %s event in the group: %s" % (args[1], step, ev.get("type"),
                                                                           show(ev.get("key"))))
    if at < len(events):
        ck.fail("%s: %d more row events than expected, the first: %s %s" % (
            args[1], len(events) - at, events[at].get("type"), show(events[at].get("key"))))
    if ck.failures:
        print("%s: %d difference(s)" % (args[1], ck.failures))
        sys.exit(1)
    print("%s: %d row events match the server's values" % (args[1], len(events)))


def sig_digits(text):
    m = text.lstrip("-").lower().split("e")[0].replace(".", "")
    return len(m.strip("0")) or 1


def shortest_digits(x, is_float):
    for p in range(1, 18):
        back = float("%.*g" % (p, x))
        if (f32(back) == f32(x)) if is_float else back == x:
            return p
    return 17


def cmd_floats(args):
    if len(args) < 2:
        die("usage: floats EVENTS.ndjson SNAP...")
    kinds = {}
    for p in args[1:]:
        s = load_snap(p)
        for c in s["columns"]:
            if c["kind"] in ("float", "double"):
                kinds[(s["table"], c["name"])] = c["kind"] == "float"
    bad = 0
    for ev in load_events(args[0]):
        t = "%s.%s" % (ev.get("schema"), ev.get("table"))
        for img in ("before", "after"):
            for name, v in (ev.get(img) or {}).items():
                if (t, name) not in kinds or not isinstance(v, Num):
                    continue
                is_float = kinds[(t, name)]
                want = shortest_digits(f32(float(v)) if is_float else float(v), is_float)
                if sig_digits(v) > want:
                    bad += 1
                    x = float(v)
                    print("%s %s %s.%s: %s has %d significant digits, the shortest text that reads back is %s" % (
                        t, dumps(ev.get("key")), img, name, v, sig_digits(v), "%.*g" % (want, f32(x) if is_float else x)))
    if bad:
        sys.exit(1)


def main():
    if len(sys.argv) < 2:
        die("usage: rowcheck.py snapshot|check|floats ...")
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "snapshot":
        cmd_snapshot(args)
    elif cmd == "check":
        cmd_check(args)
    elif cmd == "floats":
        cmd_floats(args)
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
