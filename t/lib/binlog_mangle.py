#!/usr/bin/env python3
"""binlog_mangle.py - damages binary log files on purpose, for the tests of
what binhook does with bad input (t/t4000-bad-input.sh).

A binlog file is the magic number (fe 62 69 6e) and then events, each with a
19-byte header: timestamp (4), type (1), server id (4), length (4), position
of the next event (4), flags (2), all little-endian. When the format
description event says so (its checksum algorithm byte, fifth from its end,
is 1), every event ends with a CRC32 of the rest of it, little-endian.

  binlog_mangle.py list FILE
      one line per event: OFFSET TYPE-NAME TYPE LENGTH
  binlog_mangle.py find FILE TYPE [N]
      the offset of the N-th (from 1; default 1) event of TYPE (a name from
      the list, or a number); fails if there is none
  binlog_mangle.py truncate FILE OUT LENGTH
      the first LENGTH bytes of FILE
  binlog_mangle.py flip FILE OUT OFFSET [--fix-crc]
      the byte at OFFSET inverted; with --fix-crc the checksum of the event
      holding it is computed again, so that only the content is wrong
  binlog_mangle.py settype FILE OUT EVENT-OFFSET TYPE [--ignorable]
      the event at EVENT-OFFSET gets type TYPE and its checksum computed
      again; the ignorable flag (0x80 of the flags) is set with --ignorable,
      cleared otherwise
  binlog_mangle.py cut FILE OUT EVENT-OFFSET
      the event at EVENT-OFFSET taken out (later events keep their log_pos
      fields: they are wrong afterwards, as readers of files must cope)
  binlog_mangle.py incident FILE OUT EVENT-OFFSET KIND MESSAGE
      an INCIDENT event of KIND (1: LOST_EVENTS) with MESSAGE put in before
      the event at EVENT-OFFSET (later events keep their log_pos fields)
  binlog_mangle.py shrink FILE OUT EVENT-OFFSET BYTES
      the last BYTES of the event's body (before its checksum) taken out, its
      length field and checksum made to agree: a consistent event whose
      content stops early
  binlog_mangle.py setlen FILE OUT EVENT-OFFSET LENGTH
      the length field of the event set to LENGTH, nothing else changed
  binlog_mangle.py fuzz FILE OUTDIR COUNT SEED
      COUNT copies of FILE in OUTDIR (fuzz-NNNN.000001), each with one to
      four bytes of one event (never the format description) changed and
      that event's checksum computed again; prints their names
  binlog_mangle.py retype FILE OUTDIR COUNT SEED
      COUNT copies of FILE in OUTDIR (retype-NNNN.000001), each with one event
      (never the format description) given another known type, its checksum
      computed again: a body read as what it is not; prints their names
"""

import inspect
import os
import random
import struct
import sys
import zlib

MAGIC = b"\xfebin"
HEADER = 19
FLAG_IGNORABLE = 0x80

TYPES = {
    1: "START_V3", 2: "QUERY", 3: "STOP", 4: "ROTATE", 5: "INTVAR", 13: "RAND",
    14: "USER_VAR", 15: "FORMAT_DESCRIPTION", 16: "XID", 19: "TABLE_MAP",
    23: "WRITE_ROWS_V1", 24: "UPDATE_ROWS_V1", 25: "DELETE_ROWS_V1", 26: "INCIDENT",
    27: "HEARTBEAT", 28: "IGNORABLE", 29: "ROWS_QUERY", 30: "WRITE_ROWS",
    31: "UPDATE_ROWS", 32: "DELETE_ROWS", 33: "GTID", 34: "ANONYMOUS_GTID",
    35: "PREVIOUS_GTIDS", 38: "XA_PREPARE", 160: "ANNOTATE_ROWS",
    161: "BINLOG_CHECKPOINT", 162: "MARIADB_GTID", 163: "MARIADB_GTID_LIST",
}
NUMBERS = {name: number for number, name in TYPES.items()}


def die(msg):
    sys.stderr.write("binlog_mangle.py: %s\n" % msg)
    sys.exit(2)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != MAGIC:
        die("%s is not a binlog file" % path)
    return bytearray(data)


def write(path, data):
    with open(path, "wb") as f:
        f.write(bytes(data))


def events(data):
    """(offset, type, length) of every whole event."""
    out = []
    off = 4
    while off + HEADER <= len(data):
        length = struct.unpack_from("<I", data, off + 9)[0]
        if length < HEADER or off + length > len(data):
            break
        out.append((off, data[off + 4], length))
        off += length
    return out


def has_checksum(data):
    for off, typ, length in events(data):
        if typ == 15:
            # MySQL 5.6.1+ and MariaDB 5.3+: the algorithm, then the checksum.
            return data[off + length - 5] == 1
    return False


def event_at(data, offset):
    for ev in events(data):
        if ev[0] == offset:
            return ev
    die("no event starts at offset %d" % offset)


def event_holding(data, offset):
    for ev in events(data):
        if ev[0] <= offset < ev[0] + ev[2]:
            return ev
    die("no event holds offset %d" % offset)


def fix_crc(data, off, length):
    if has_checksum(data):
        crc = zlib.crc32(bytes(data[off:off + length - 4])) & 0xFFFFFFFF
        struct.pack_into("<I", data, off + length - 4, crc)


def parse_type(s):
    if s.upper() in NUMBERS:
        return NUMBERS[s.upper()]
    try:
        n = int(s, 0)
    except ValueError:
        die("unknown event type %r" % s)
    if not 0 <= n <= 255:
        die("event type %d is not a byte" % n)
    return n


def name(typ):
    return TYPES.get(typ, "UNKNOWN")


def cmd_list(path):
    data = read(path)
    for off, typ, length in events(data):
        print(off, name(typ), typ, length)


def cmd_find(path, typ, nth="1"):
    data = read(path)
    want = parse_type(typ)
    hits = [off for off, t, _ in events(data) if t == want]
    n = int(nth)
    if len(hits) < n:
        die("%s has %d %s event(s), not %d" % (path, len(hits), name(want), n))
    print(hits[n - 1])


def cmd_truncate(path, out, length):
    data = read(path)
    write(out, data[:int(length)])


def cmd_flip(path, out, offset, *opts):
    data = read(path)
    offset = int(offset)
    off, _, length = event_holding(data, offset)
    data[offset] ^= 0xFF
    if "--fix-crc" in opts:
        fix_crc(data, off, length)
    write(out, data)


def cmd_settype(path, out, offset, typ, *opts):
    data = read(path)
    off, _, length = event_at(data, int(offset))
    data[off + 4] = parse_type(typ)
    flags = struct.unpack_from("<H", data, off + 17)[0]
    if "--ignorable" in opts:
        flags |= FLAG_IGNORABLE
    else:
        flags &= ~FLAG_IGNORABLE
    struct.pack_into("<H", data, off + 17, flags)
    fix_crc(data, off, length)
    write(out, data)


def cmd_cut(path, out, offset):
    data = read(path)
    off, _, length = event_at(data, int(offset))
    write(out, data[:off] + data[off + length:])


def cmd_incident(path, out, offset, kind, message):
    data = read(path)
    off, _, _ = event_at(data, int(offset))
    msg = message.encode()
    body = struct.pack("<HB", int(kind), len(msg)) + msg
    length = HEADER + len(body) + (4 if has_checksum(data) else 0)
    ev = bytearray(struct.pack("<IBIIIH", 0, 26, 1, length, off + length, 0) + body)
    if has_checksum(data):
        ev += struct.pack("<I", zlib.crc32(bytes(ev)) & 0xFFFFFFFF)
    write(out, data[:off] + ev + data[off:])


def cmd_shrink(path, out, offset, nbytes):
    data = read(path)
    off, _, length = event_at(data, int(offset))
    n = int(nbytes)
    tail = 4 if has_checksum(data) else 0
    if n <= 0 or length - tail - n < HEADER:
        die("cannot take %d bytes out of a %d-byte event" % (n, length))
    end = off + length - tail
    del data[end - n:end]
    struct.pack_into("<I", data, off + 9, length - n)
    fix_crc(data, off, length - n)
    write(out, data)


def cmd_setlen(path, out, offset, newlen):
    data = read(path)
    off, _, _ = event_at(data, int(offset))
    struct.pack_into("<I", data, off + 9, int(newlen))
    write(out, data)


def cmd_fuzz(path, outdir, count, seed):
    data = read(path)
    evs = [ev for ev in events(data) if ev[1] != 15]
    tail = 4 if has_checksum(data) else 0
    rnd = random.Random(int(seed))
    os.makedirs(outdir, exist_ok=True)
    for i in range(int(count)):
        d = bytearray(data)
        off, _, length = rnd.choice(evs)
        # The body only: a damaged header is the simpler case, tested apart.
        lo, hi = off + HEADER, off + length - tail
        if hi <= lo:
            continue
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(lo, hi)
            how = rnd.random()
            if how < 0.4:
                d[at] = rnd.choice((0x00, 0xFF, 0xFB, 0xFC, 0xFD, 0xFE, 0x7F, 0x80))
            elif how < 0.7:
                d[at] ^= 1 << rnd.randrange(8)
            else:
                d[at] = rnd.randrange(256)
        fix_crc(d, off, length)
        name_ = os.path.join(outdir, "fuzz-%04d.000001" % i)
        write(name_, d)
        print(name_)


def cmd_retype(path, outdir, count, seed):
    data = read(path)
    evs = [ev for ev in events(data) if ev[1] != 15]
    rnd = random.Random(int(seed))
    types = sorted(t for t in TYPES if t != 15) + [40, 164, 165, 166, 167, 168, 169, 170, 171]
    os.makedirs(outdir, exist_ok=True)
    for i in range(int(count)):
        d = bytearray(data)
        off, typ, length = rnd.choice(evs)
        d[off + 4] = rnd.choice([t for t in types if t != typ])
        fix_crc(d, off, length)
        name_ = os.path.join(outdir, "retype-%04d.000001" % i)
        write(name_, d)
        print(name_)


COMMANDS = {
    "list": cmd_list, "find": cmd_find, "truncate": cmd_truncate, "flip": cmd_flip,
    "settype": cmd_settype, "cut": cmd_cut, "incident": cmd_incident, "shrink": cmd_shrink, "setlen": cmd_setlen,
    "fuzz": cmd_fuzz, "retype": cmd_retype,
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        return 2
    fn = COMMANDS[argv[1]]
    try:
        inspect.signature(fn).bind(*argv[2:])
    except TypeError:
        sys.stderr.write(__doc__)
        return 2
    fn(*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
