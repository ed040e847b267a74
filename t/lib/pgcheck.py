#!/usr/bin/env python3
"""pgcheck.py - compares what binhook tail printed for a PostgreSQL table with
what the server itself returns for the same rows.

  pgcheck.py rows EVENTS.ndjson EXPECTED.json TYPE [IMAGE]

EXPECTED.json is a JSON array of row objects, as the server made it
(json_agg over a SELECT that says each column the way the value mapping of
docs/DESIGN.md does: bytea base64-encoded, numeric as text). Every row must
be the IMAGE ("after" by default, or "before") of exactly one event of TYPE
in EVENTS, matched by the column "id", with the same columns and equal
values. The server writes timestamptz in UTC as +00:00 where binhook writes
Z: that is the one difference allowed. Exits 1 and names every difference.
"""
import json
import re
import sys

TZ = re.compile(r"^(.*\d)\+00:00( BC)?$")


def norm(v):
    if isinstance(v, str):
        m = TZ.match(v)
        return m.group(1) + "Z" + (m.group(2) or "") if m else v
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) == type(b) and a == b


def rows(events_path, expected_path, typ, image="after"):
    got = {}
    with open(events_path, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("type") != typ:
                continue
            img = ev.get(image)
            if img is None:
                continue
            if img.get("id") in got:
                print(f"row id={img.get('id')} comes twice as {typ}")
                return 1
            got[img.get("id")] = img
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    bad = 0
    for row in expected:
        key = row["id"]
        have = got.pop(key, None)
        if have is None:
            print(f"row id={key}: no {typ} event")
            bad += 1
            continue
        row = norm(row)
        if have.keys() != row.keys():
            print(f"row id={key}: columns {sorted(have)} instead of {sorted(row)}")
            bad += 1
        for col in row:
            if col in have and not same(have[col], row[col]):
                print(f"row id={key} column {col}: binhook {json.dumps(have[col], ensure_ascii=False)}, "
                      f"server {json.dumps(row[col], ensure_ascii=False)}")
                bad += 1
    for key in got:
        print(f"row id={key}: a {typ} event the server has no row for")
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[1] != "rows":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(rows(*sys.argv[2:]))
