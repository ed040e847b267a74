#!/usr/bin/env python3
"""replay.py - checks the delivery promise against a table: replays, per
key, the row changes a receiver accepted (receiver.py's log, the bodies
being binhook's canonical events) and compares the result with the rows the
table holds.

usage: replay.py LOGFILE ROWS KEY [--quiet] [--table SCHEMA.TABLE] [--order lsn]
  LOGFILE  the receiver's log (one JSON object a request)
  ROWS     the table's rows as `mariadb -N -B` prints them, the columns in
           the table's order, the first line giving the column names
  KEY      the name of the key column
  --table  replay only the changes of this table (default: every change)
  --order lsn  PostgreSQL's changes: ordered by their transaction's commit
           LSN (position.lsn) and index; a "before" holding fewer columns
           than the row (the key, under the default replica identity) is
           compared on its columns; a snapshot event sets its row
  --band-deletes  a delete of a row never delivered is no problem (a
           resumed snapshot passes the deletes of rows it had announced as
           sent, which the receiver may not have got before the crash)

Checks, each printed as a line starting with "problem:" when it fails:
  - no webhook-id was accepted with two different bodies;
  - per key, the changes ordered by transaction (the GTID's sequence number
    in its domain, then the change's index in the transaction) follow each
    other: an update's or a delete's "before" is the row the change before
    left, an insert comes on a missing row; so a change lost in between
    shows;
  - the rows the replay leaves equal the table's rows.
Exits 0 when every check holds, 1 otherwise; prints a summary line
("replayed N changes of K keys from W webhook-ids") either way.
"""
import json
import sys


def gtid_order(ev):
    """(domain, sequence, index) of a change: the order its transaction
    committed in (MariaDB GTIDs are domain-server-sequence, the sequence
    growing in its domain whatever server wrote it)."""
    g = ev.get("position", {}).get("gtid") or ""
    parts = g.split("-")
    if len(parts) != 3:
        raise SystemExit("problem: change %s has no MariaDB GTID (%r)" % (ev.get("id"), g))
    return (int(parts[0]), int(parts[2]), ev.get("tx", {}).get("index", 0))


def lsn_order(ev):
    """(commit LSN, index) of a PostgreSQL change: the order its transaction
    committed in."""
    pos = ev.get("position", {})
    f = pos.get("lsn") or pos.get("file") or ""
    hi, sep, lo = f.partition("/")
    if not sep:
        raise SystemExit("problem: change %s has no commit LSN (%r)" % (ev.get("id"), f))
    return (int(hi, 16) << 32 | int(lo, 16), ev.get("tx", {}).get("index", 0))


def norm(row):
    """A row as text values, as the client prints them (NULL for None)."""
    if row is None:
        return None
    return {k: "NULL" if v is None else str(v) for k, v in row.items()}


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    logfile, rowsfile, key = sys.argv[1:4]
    opts = sys.argv[4:]
    table_only = opts[opts.index("--table") + 1] if "--table" in opts else None
    pg = "--order" in opts and opts[opts.index("--order") + 1] == "lsn"
    band_deletes = "--band-deletes" in opts
    kinds = ("insert", "update", "delete", "snapshot") if pg else ("insert", "update", "delete")
    problems = []
    bodies = {}
    changes = []
    with open(logfile) as f:
        for line in f:
            req = json.loads(line)
            if req.get("status", 0) // 100 != 2:
                continue
            wid = req.get("headers", {}).get("webhook-id")
            if not wid:
                problems.append("a request without webhook-id: %.200s" % line)
                continue
            if wid in bodies:
                if bodies[wid] != req["body"]:
                    problems.append("webhook-id %s accepted with two bodies" % wid)
                continue
            bodies[wid] = req["body"]
            ev = json.loads(req["body"])
            if table_only and "%s.%s" % (ev.get("schema"), ev.get("table")) != table_only:
                continue
            if ev.get("type") in kinds:
                changes.append(ev)

    by_key = {}
    for ev in changes:
        k = str((ev.get("key") or {}).get(key))
        by_key.setdefault(k, []).append(ev)
    state = {}
    for k, evs in by_key.items():
        evs.sort(key=lsn_order if pg else gtid_order)
        row = None
        for ev in evs:
            t = ev["type"]
            before, after = norm(ev.get("before")), norm(ev.get("after"))
            if pg and before is not None and row is not None and set(before) < set(row):
                row_seen = {c: row[c] for c in before}
            else:
                row_seen = row
            if t == "snapshot":  # the row as a snapshot read it, which a later read replaces
                row = after
            elif t == "insert":
                if row is not None:
                    problems.append("key %s: insert %s on a row that exists (a delete was lost?)" % (k, ev["id"]))
                row = after
            else:
                if row_seen != before and not (band_deletes and t == "delete" and row is None):
                    problems.append("key %s: %s %s starts from %s, but the change before left %s (a change "
                                    "was lost?)" % (k, t, ev["id"], before, row))
                row = after if t == "update" else None
        state[k] = row

    with open(rowsfile) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    cols = lines[0].split("\t")
    table = {}
    for l in lines[1:]:
        vals = l.split("\t")
        row = dict(zip(cols, vals))
        table[row[key]] = row
    for k in sorted(set(table) | {k for k, r in state.items() if r is not None}, key=str):
        want, got = table.get(k), state.get(k)
        if want != got:
            problems.append("key %s: the table holds %s, the replay gives %s" % (k, want, got))

    for p in problems[:20]:
        print("problem: " + p)
    if len(problems) > 20:
        print("problem: ... and %d more" % (len(problems) - 20))
    if pg:
        print("replayed %d changes of %d keys from %d webhook-ids; the table has %d rows" %
              (len(changes), len(by_key), len(bodies), len(table)))
    else:
        servers = sorted({int(ev["position"]["gtid"].split("-")[1]) for ev in changes})
        print("replayed %d changes of %d keys from %d webhook-ids, written by servers %s; the table has %d rows" %
              (len(changes), len(by_key), len(bodies), ",".join(map(str, servers)) or "none", len(table)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
