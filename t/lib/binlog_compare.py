#!/usr/bin/env python3
"""binlog_compare.py - compares the rows of `binhook tail --binlog FILE` with
what a reference decoder, `mariadb-binlog --base64-output=decode-rows -vv
--print-table-metadata FILE` (Debian's mariadb-client), prints for the same
file.

  binlog_compare.py readable BINLOG
      Says whether mariadb-binlog can show the rows of BINLOG: exit 0 and a
      line saying how (as is, or through a copy with the compressed
      transaction payloads expanded and the tagged GTID events left out,
      which it does not understand), or exit 1 and the reason.

  binlog_compare.py rows BINLOG EVENTS [--copy FILE]
      EVENTS holds the output of binhook tail for BINLOG. Every row image
      mariadb-binlog prints (### INSERT/UPDATE/DELETE, with ### WHERE for the
      before image and ### SET for the after image) is matched, in file
      order, with binhook's row events (insert, update, delete), and every
      value it prints for a column (@N, the Nth column of the table) is
      compared with binhook's value for that column. Each difference is one
      line naming the row, the image, the column, what mariadb-binlog
      printed, what the event must then hold and what it holds; the status
      is 1 if there is any. --copy keeps the copy it read, if one was made.

  binlog_compare.py json EVENTS SCHEMA.TABLE COLUMN [DERIVED=KEY...]
      The values of COLUMN (a MySQL JSON column) in the row events of
      SCHEMA.TABLE are JSON documents (objects or arrays, never strings);
      partial updates ({"$partial_json_diff": [...]}) are well formed and,
      applied to the row's last full document, keep every DERIVED column
      (a generated column of the table, such as @3=name for
      `name ... AS (json_col->>'$.name')`) equal to the document's KEY.

How mariadb-binlog prints a value, and what binhook's event must hold
(docs/DESIGN.md, the value mapping):
  TINYINT..BIGINT   "S" or, when negative as signed, "S (U)": S for signed
                    columns, U for the ones the table map says UNSIGNED,
                    as a number with exactly that text
  FLOAT             printf %-20g of the float: the event's number, read as a
                    float32, prints the same (6 significant digits)
  DOUBLE            printf %.20g: the event's number prints the same
  DECIMAL(p,s)      unquoted digits: the same string
  BIT(n)            b'0101': a number with that value
  YEAR              the year, 1900 for the zero year: a number, 0 for 1900
  DATE              'YYYY:MM:DD': "YYYY-MM-DD"
  TIME(n)           '-838:59:59.000': the same string
  DATETIME(n)       'YYYY-MM-DD HH:MM:SS.fff': with "T" for the space; zero
                    or partial dates stay as printed
  TIMESTAMP(n)      seconds since the epoch, with the fraction digits:
                    "YYYY-MM-DDTHH:MM:SS.fffZ" in UTC; 0 is the zero date
  ENUM              the index: the label (from the table map), "" for 0;
                    without labels in the table map, the index itself
  SET               b'bits' (the bytes as stored, little-endian, each with
                    its high bit first): the array of labels of the bits
                    set; without labels, the bitmask itself
  strings, BLOB     quoted bytes, those below 0x20 as \\xNN: the event's
                    string as UTF-8 (or in the column's charset), or, for
                    binary data, the bytes of its base64 (BINARY(n) padded
                    with zero bytes)
  GEOMETRY          quoted SRID and WKB: the WKT of the same shape
  NULL              null
"""

import base64
import copy
import datetime
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

MARIADB_BINLOG = os.environ.get("MARIADB_BINLOG", "mariadb-binlog")
MAX_DIFFS = 60
ROW_TYPES = ("insert", "update", "delete")

# Event types the copy for mariadb-binlog changes.
TRANSACTION_PAYLOAD = 40
GTID_TAGGED = 42


class Num(str):
    """A JSON number, kept as the text binhook wrote."""


def load_events(path):
    events = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line, parse_int=Num, parse_float=Num))
            except ValueError as e:
                raise SystemExit("binlog_compare: %s:%d is not JSON: %s" % (path, lineno, e))
    return events


def plain(v):
    """v with its numbers as Python numbers again."""
    if isinstance(v, Num):
        return json.loads(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def same(a, b):
    """The same JSON value: a number is never equal to a string."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return isinstance(a, Num) == isinstance(b, Num) and type(a) is type(b) and a == b


def show(v):
    """A value as the diff lines show it."""
    if isinstance(v, Num):
        return str(v)
    if isinstance(v, bytes):
        return repr(v)[1:] if len(v) <= 120 else repr(v[:120])[1:] + "...(%d bytes)" % len(v)
    s = json.dumps(plain(v), ensure_ascii=False)
    return s if len(s) <= 160 else s[:160] + "...(%d chars)" % len(s)


# ---------------------------------------------------------------------------
# The binlog itself: just enough to make a copy mariadb-binlog can read.

def read_events(data):
    """(offset, type, bytes) of every event of a binlog file."""
    if data[:4] != b"\xfebin":
        raise ValueError("not a binlog file (no magic number)")
    pos, out = 4, []
    while pos + 19 <= len(data):
        typ = data[pos + 4]
        length = struct.unpack_from("<I", data, pos + 9)[0]
        if length < 19 or pos + length > len(data):
            raise ValueError("event at %d cut short" % pos)
        out.append((pos, typ, data[pos:pos + length]))
        pos += length
    return out


def has_checksum(fde):
    return len(fde) > 23 and zlib.crc32(fde[:-4]) == struct.unpack("<I", fde[-4:])[0]


def packed_int(b, i):
    c = b[i]
    if c < 0xfb:
        return c, i + 1
    n = {0xfc: 2, 0xfd: 3, 0xfe: 8}.get(c)
    if n is None:
        raise ValueError("bad packed integer")
    return int.from_bytes(b[i + 1:i + 1 + n], "little"), i + 1 + n


def payload_events(ev, checksum):
    """The events inside a TRANSACTION_PAYLOAD event, uncompressed."""
    body = ev[19:len(ev) - 4] if checksum else ev[19:]
    i, ctype, size = 0, None, None
    while True:
        field, i = packed_int(body, i)
        if field == 0:
            break
        flen, i = packed_int(body, i)
        val, _ = packed_int(body, i)
        i += flen
        if field == 1:
            size = val
        elif field == 2:
            ctype = val
    payload = body[i:i + size] if size is not None else body[i:]
    if ctype == 0:
        if not shutil.which("zstd"):
            raise ValueError("the payload is zstd-compressed and there is no zstd command")
        res = subprocess.run(["zstd", "-d", "-c", "-q"], input=payload, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        if res.returncode != 0:
            raise ValueError("zstd -d failed: " + res.stderr.decode("utf-8", "replace").strip())
        raw = res.stdout
    elif ctype == 255:
        raw = payload
    else:
        raise ValueError("unknown payload compression %r" % ctype)
    inner, p = [], 0
    while p + 19 <= len(raw):
        length = struct.unpack_from("<I", raw, p + 9)[0]
        if length < 19 or p + length > len(raw):
            raise ValueError("an event inside the payload is cut short")
        inner.append(raw[p:p + length])
        p += length
    return inner


def make_copy(data):
    """A copy of the binlog with TRANSACTION_PAYLOAD events replaced by the
    events they hold and tagged GTID events left out; the map from the
    offsets of the copy to those of the original; what was changed."""
    events = read_events(data)
    checksum = bool(events) and events[0][1] == 15 and has_checksum(events[0][2])
    out = bytearray(b"\xfebin")
    offsets, notes = {}, []
    for pos, typ, ev in events:
        if typ == GTID_TAGGED:
            notes.append("a tagged GTID event at %d left out" % pos)
            continue
        if typ == TRANSACTION_PAYLOAD:
            inner = payload_events(ev, checksum)
            notes.append("the payload at %d expanded to %d events" % (pos, len(inner)))
            for e in inner:
                e = bytearray(e)
                length = len(e) + (4 if checksum else 0)
                struct.pack_into("<I", e, 9, length)
                struct.pack_into("<I", e, 13, len(out) + length)
                if checksum:
                    e += struct.pack("<I", zlib.crc32(bytes(e)))
                offsets[len(out)] = pos
                out += e
            continue
        offsets[len(out)] = pos
        out += ev
    return bytes(out), offsets, notes


def run_mariadb_binlog(path):
    cmd = [MARIADB_BINLOG, "--no-defaults", "--base64-output=decode-rows", "-vv",
           "--print-table-metadata", path]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return res.returncode, res.stdout, res.stderr.decode("utf-8", "replace")


def mb_error(rc, out, stderr):
    """Why mariadb-binlog failed: its errors, else where it stopped."""
    lines = [l.strip() for l in stderr.splitlines() if "ERROR" in l]
    ats = re.findall(rb"^# at (\d+)$", out, re.M)
    where = "stopped with status %d after offset %s" % (rc, ats[-1].decode() if ats else "4")
    unknown = sorted(set(re.findall(rb"INVALID_TYPE\((\d+)\)", out)), key=int)
    if unknown:
        names = {b"245": " (MySQL's JSON)"}
        where += ", at the rows of a table with column types it does not know: " + ", ".join(
            "%s%s" % (t.decode(), names.get(t, "")) for t in unknown)
    return "; ".join(lines + [where]) if lines else where


def reference_output(path, copy_to=None):
    """mariadb-binlog's output for the file or for a copy it can read:
    (stdout, offset map or None, how) or raises ValueError(reason)."""
    rc, out, err = run_mariadb_binlog(path)
    if rc == 0:
        return out, None, "as is"
    first = mb_error(rc, out, err)
    with open(path, "rb") as f:
        data = f.read()
    try:
        types = {t for _, t, _ in read_events(data)}
    except ValueError as e:
        raise ValueError("mariadb-binlog: %s (%s)" % (first, e))
    if not types & {TRANSACTION_PAYLOAD, GTID_TAGGED}:
        raise ValueError("mariadb-binlog: " + first)
    try:
        copy, offsets, notes = make_copy(data)
    except ValueError as e:
        raise ValueError("mariadb-binlog: %s; no copy it could read: %s" % (first, e))
    fd, tmp = tempfile.mkstemp(prefix="binlog-copy.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(copy)
        rc, out, err = run_mariadb_binlog(tmp)
        if copy_to:
            shutil.copyfile(tmp, copy_to)
    finally:
        os.unlink(tmp)
    if rc != 0:
        raise ValueError("mariadb-binlog: %s; and on a copy (%s): %s" % (first, "; ".join(notes), mb_error(rc, out, err)))
    return out, offsets, "through a copy: " + "; ".join(notes)


# ---------------------------------------------------------------------------
# mariadb-binlog's output.

ROW_HEAD = re.compile(rb"^### (INSERT INTO|UPDATE|DELETE FROM) `((?:[^`]|``)*)`\.`((?:[^`]|``)*)`$")
VALUE = re.compile(rb"^###   @(\d+)=(.*) /\* (.*?) meta=(\d+) nullable=(\d) is_null=(\d) \*/$", re.S)
TABLE_MAP = re.compile(rb"Table_map: `((?:[^`]|``)*)`\.`((?:[^`]|``)*)` mapped to number")
EVENT_HEAD = re.compile(rb"^#\d{6} +\d")
ROWS_EVENT = re.compile(rb"\t(?:Write|Update|Delete)_rows")
OPS = {b"INSERT INTO": "insert", b"UPDATE": "update", b"DELETE FROM": "delete"}


class Column:
    def __init__(self, text):
        self.text = text
        m = re.match(r"`((?:[^`]|``)*)` ", text)
        self.name = m.group(1).replace("``", "`") if m else None
        rest = text[m.end():] if m else text
        self.unsigned = " UNSIGNED" in rest
        cm = re.search(r" CHARSET (\w+)", rest)
        self.charset = cm.group(1) if cm else None
        self.labels = None
        lm = re.match(r"(ENUM|SET)\((.*)\)", rest)
        if lm:
            self.labels = quoted_list(lm.group(2))


def quoted_list(s):
    """'a','b''c' -> ['a', "b'c"]"""
    out, i = [], 0
    while i < len(s):
        if s[i] != "'":
            i += 1
            continue
        j, buf = i + 1, []
        while j < len(s):
            if s[j] == "'" and j + 1 < len(s) and s[j + 1] == "'":
                buf.append("'")
                j += 2
            elif s[j] == "'":
                break
            else:
                buf.append(s[j])
                j += 1
        out.append("".join(buf))
        i = j + 1
    return out


def split_columns(text):
    """The entries of '# Columns(...)', split at the commas outside quotes
    and parentheses (and after INVALID_TYPE(n), which has none)."""
    parts, depth, quote, cur = [], 0, False, []
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            cur.append(c)
            if c == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    cur.append("'")
                    i += 1
                else:
                    quote = False
        elif c == "'":
            quote = True
            cur.append(c)
        elif c == "(":
            depth += 1
            cur.append(c)
        elif c == ")":
            depth -= 1
            cur.append(c)
            if depth == 0 and re.search(r"INVALID_TYPE\(\d+\)$", "".join(cur)):
                parts.append("".join(cur).strip())
                cur = []
        elif c == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return [p for p in parts if p]


class Row:
    def __init__(self, op, schema, table, events, columns):
        # mariadb-binlog prints the rows of a statement after its last rows
        # event: events are the offsets of the rows events they come from
        self.op, self.schema, self.table, self.events = op, schema, table, events
        self.columns = columns  # the table map's metadata, or None
        self.images = {}  # "before"/"after" -> [(n, text, type, meta, is_null)]


def parse_reference(out):
    rows, tables = [], {}
    # mariadb-binlog prints the "# at N" lines of a statement's events
    # together, then their headers: each header takes the oldest offset.
    ats, row, image = [], None, None
    pending, printed, pending_t = [], False, ()
    cols_text, cols_table = None, None
    for line in out.split(b"\n"):
        if cols_text is not None:
            if line.startswith(b"#"):
                cols_text.append(line[1:].decode("utf-8", "replace").strip())
                joined = " ".join(cols_text)
                if joined.endswith(")") and balanced(joined):
                    body = joined[len("Columns("):-1]
                    tables[cols_table] = [Column(c) for c in split_columns(body)]
                    cols_text = None
                continue
            cols_text = None
        if line.startswith(b"# at "):
            ats.append(int(line[5:]))
            continue
        if EVENT_HEAD.match(line):
            at = ats.pop(0) if ats else None
            if ROWS_EVENT.search(line):
                if printed:
                    pending, printed = [], False
                pending.append(at)
                pending_t = tuple(pending)
                continue
        m = TABLE_MAP.search(line)
        if m and line.startswith(b"#"):
            cols_table = (m.group(1).replace(b"``", b"`"), m.group(2).replace(b"``", b"`"))
            tables.pop(cols_table, None)
            continue
        if line.startswith(b"# Columns("):
            cols_text = [line[2:].decode("utf-8", "replace").strip()]
            joined = cols_text[0]
            if joined.endswith(")") and balanced(joined):
                tables[cols_table] = [Column(c) for c in split_columns(joined[len("Columns("):-1])]
                cols_text = None
            continue
        if not line.startswith(b"###"):
            continue
        m = ROW_HEAD.match(line)
        if m:
            key = (m.group(2).replace(b"``", b"`"), m.group(3).replace(b"``", b"`"))
            row = Row(OPS[m.group(1)], key[0].decode("utf-8", "replace"), key[1].decode("utf-8", "replace"),
                      pending_t, tables.get(key))
            rows.append(row)
            printed = True
            image = None
            continue
        if line == b"### WHERE":
            image = "before"
            row.images[image] = []
            continue
        if line == b"### SET":
            image = "after"
            row.images[image] = []
            continue
        m = VALUE.match(line)
        if m and row is not None and image is not None:
            row.images[image].append((int(m.group(1)), m.group(2), m.group(3).decode("ascii", "replace"),
                                      int(m.group(4)), m.group(6) == b"1"))
            continue
        raise SystemExit("binlog_compare: a line of mariadb-binlog's output it cannot read: %r" % line[:200])
    return rows


def balanced(s):
    depth, quote = 0, False
    for c in s:
        if quote:
            quote = c != "'"
        elif c == "'":
            quote = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
    return depth == 0 and not quote


# ---------------------------------------------------------------------------
# The comparison of one value.

def mb_quote(b):
    """The bytes as mariadb-binlog quotes them (my_b_write_quoted)."""
    out = bytearray(b"'")
    for c in b:
        if c > 0x1F:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out += b"'"
    return bytes(out)


def mb_unquote(q):
    body, out, i = q[1:-1], bytearray(), 0
    while i < len(body):
        if body[i:i + 2] == b"\\x" and re.match(rb"[0-9a-f]{2}", body[i + 2:i + 4]):
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(body[i])
            i += 1
    return bytes(out)


CODECS = {"utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "ascii": "ascii", "latin1": "cp1252",
          "binary": None, "ucs2": "utf-16-be", "utf16": "utf-16-be", "utf16le": "utf-16-le",
          "utf32": "utf-32-be", "cp1251": "cp1251", "cp1250": "cp1250", "greek": "iso8859-7",
          "hebrew": "iso8859-8", "latin2": "iso8859-2", "latin5": "iso8859-9", "latin7": "iso8859-13",
          "koi8r": "koi8-r", "koi8u": "koi8-u", "sjis": "shift_jis", "cp932": "cp932", "gbk": "gbk",
          "gb2312": "gb2312", "big5": "big5", "ujis": "euc-jp", "euckr": "euc-kr", "gb18030": "gb18030"}


def b64(s):
    try:
        return base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        return None


def compare_string(text, typ, col, got):
    """A string column: returns None if got matches, else what it should be."""
    charset = col.charset if col else None
    if isinstance(got, str) and not isinstance(got, Num) and CODECS.get(charset or "utf8") == "utf-8" \
            and mb_quote(got.encode("utf-8")) == text:
        return None  # the common case, first
    raw = mb_unquote(text)
    if not isinstance(got, str) or isinstance(got, Num):
        return "a string for %s" % show(raw)
    m = re.match(r"STRING\((\d+)\)", typ)
    pad = int(m.group(1)) if m else None
    as_bytes = b64(got)

    def bytes_match(b):
        if b is None:
            return False
        if mb_quote(b) == text:
            return True
        # BINARY(n) is logged without its trailing zero bytes, the server
        # returns them
        return pad is not None and len(b) <= pad and mb_quote(b.rstrip(b"\0")) == mb_quote(raw.rstrip(b"\0"))

    if charset:
        codec = CODECS.get(charset)
        if codec is None:
            return None if raw.decode("utf-8", "replace") == got or bytes_match(as_bytes) else \
                "the text of %s (charset %s)" % (show(raw), charset)
        try:
            enc = got.encode(codec)
        except UnicodeEncodeError:
            enc = None
        if enc is not None and mb_quote(enc) == text:
            return None
        try:
            want = raw.decode(codec)
        except UnicodeDecodeError:
            want = "(bytes not valid in %s: %s)" % (charset, show(raw))
        return "%s (text in %s)" % (show(want), charset)
    # No charset in the table map: text if it is UTF-8 (or binhook could tell
    # it is), else the base64 of the bytes.
    if mb_quote(got.encode("utf-8")) == text or bytes_match(as_bytes):
        return None
    try:
        return "%s or base64 %s" % (show(raw.decode("utf-8")), show(base64.b64encode(raw).decode()))
    except UnicodeDecodeError:
        return "base64 %s" % show(base64.b64encode(raw).decode())


def is_zero_date(s):
    m = re.match(r"(\d{4})[-:](\d{2})[-:](\d{2})", s)
    return m and (m.group(2) == "00" or m.group(3) == "00")


def float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


class Checker:
    def __init__(self):
        self.enum_seen = {}  # (table, column) -> {index: label} when the table map has no labels
        self.set_seen = {}
        self.bases = {}  # mariadb-binlog's type -> its name without the size

    def expect(self, row, n, text, typ, meta, col, got):
        """None when binhook's value got agrees with mariadb-binlog's text,
        else the description of what the event must hold."""
        t = text.decode("utf-8", "surrogateescape")
        base = self.bases.get(typ)
        if base is None:
            base = self.bases[typ] = re.match(r"[A-Z/]+", typ).group(0)
        if base in ("TINYINT", "SHORTINT", "MEDIUMINT", "INT", "LONGINT"):
            m = re.fullmatch(r"(-?\d+)(?: \((\d+)\))?", t)
            if not m:
                return "(an integer mariadb-binlog printed as %r)" % t
            want = m.group(2) if (m.group(2) and col is not None and col.unsigned) else m.group(1)
            return None if isinstance(got, Num) and got == want else want
        if base == "FLOAT":
            want = t.strip()
            if not isinstance(got, Num):
                return "a number printing as %s with %%g" % want
            return None if "%g" % float32(float(got)) == want else \
                "a number printing as %s with %%g (binhook's prints as %s)" % (want, "%g" % float32(float(got)))
        if base == "DOUBLE":
            if not isinstance(got, Num):
                return "a number printing as %s with %%.20g" % t
            return None if "%.20g" % float(got) == t else \
                "a number printing as %s with %%.20g (binhook's prints as %s)" % (t, "%.20g" % float(got))
        if base == "DECIMAL":
            return None if isinstance(got, str) and not isinstance(got, Num) and got == t else show(t)
        if base == "BIT":
            m = re.fullmatch(r"b'([01]*)'", t)
            want = str(int(m.group(1) or "0", 2))
            return None if isinstance(got, Num) and got == want else want
        if base == "YEAR":
            want = "0" if t == "1900" else t
            return None if isinstance(got, Num) and got == want else want
        if base == "DATE":
            want = t.strip("'").replace(":", "-")
            return None if got == want and not isinstance(got, Num) else show(want)
        if base == "TIME":
            want = t.strip("'")
            return None if got == want and not isinstance(got, Num) else show(want)
        if base == "DATETIME":
            want = t.strip("'")
            if not is_zero_date(want):
                want = want.replace(" ", "T", 1)
            return None if got == want and not isinstance(got, Num) else show(want)
        if base == "TIMESTAMP":
            m = re.fullmatch(r"(\d+)(?:\.(\d+))?", t)
            sec, frac = int(m.group(1)), m.group(2)
            if sec == 0 and not (frac or "").strip("0"):
                want = "0000-00-00 00:00:00" + ("." + frac if frac else "")
            else:
                d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=sec)
                want = d.strftime("%Y-%m-%dT%H:%M:%S") + ("." + frac if frac else "") + "Z"
            return None if got == want and not isinstance(got, Num) else show(want)
        if base == "ENUM":
            idx = int(t)
            if col is not None and col.labels is not None:
                if idx == 0:
                    want = ""
                elif idx <= len(col.labels):
                    want = col.labels[idx - 1]
                else:
                    return "(index %d beyond the %d labels)" % (idx, len(col.labels))
                return None if got == want and not isinstance(got, Num) else show(want)
            if isinstance(got, Num):
                return None if got == str(idx) else str(idx)
            # A label binhook learned elsewhere: the same index, the same label.
            seen = self.enum_seen.setdefault((row.schema, row.table, n), {})
            if seen.setdefault(idx, got) != got or (idx == 0 and got != ""):
                return "the label of index %d (before: %s)" % (idx, show(seen[idx]))
            return None
        if base == "SET":
            # the bytes of the bitmask, little-endian, in the order they
            # are stored, each printed with its high bit first
            m = re.fullmatch(r"b'([01]*)'", t)
            groups = [m.group(1)[i:i + 8] for i in range(0, len(m.group(1)), 8)]
            mask = sum(int(g, 2) << (8 * i) for i, g in enumerate(groups))
            bits = [k for k in range(64) if mask >> k & 1]
            if col is not None and col.labels is not None:
                if bits and bits[-1] >= len(col.labels):
                    return "(bit %d beyond the %d labels)" % (bits[-1], len(col.labels))
                want = [col.labels[k] for k in bits]
                return None if same(got, want) else show(want)
            if isinstance(got, Num):
                return None if got == str(mask) else str(mask)
            if not isinstance(got, list) or len(got) != len(bits) or \
                    not all(isinstance(x, str) and not isinstance(x, Num) for x in got):
                return "%d labels for bitmask %d" % (len(bits), mask)
            seen = self.set_seen.setdefault((row.schema, row.table, n), {})
            for k, label in zip(bits, got):
                if seen.setdefault(k, label) != label:
                    return "label %s for bit %d, as before" % (show(seen[k]), k)
            return None
        if base in ("STRING", "VARSTRING") or "BLOB" in base or "TEXT" in base:
            return compare_string(text, typ, col, got)
        if base == "GEOMETRY":
            raw = mb_unquote(text)
            try:
                want = wkb_to_wkt(raw[4:])
            except (ValueError, struct.error, IndexError) as e:
                return "(WKB mariadb-binlog printed that cannot be read: %s)" % e
            return None if isinstance(got, str) and same_wkt(got, want) else show(want)
        return "(no rule to compare mariadb-binlog's type %s)" % typ


# WKB to WKT, to compare geometries (numbers compared as numbers).
WKB_NAMES = {1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING",
             6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION"}


def wkb_to_wkt(b):
    text, _ = wkb_geom(b, 0, True)
    return text


def wkb_geom(b, i, named):
    order = "<" if b[i] == 1 else ">"
    typ = struct.unpack_from(order + "I", b, i + 1)[0]
    i += 5
    name = WKB_NAMES[typ]

    def coords(i):
        x, y = struct.unpack_from(order + "dd", b, i)
        return "%r %r" % (x, y), i + 16

    def count(i):
        return struct.unpack_from(order + "I", b, i)[0], i + 4

    def ring(i):
        n, i = count(i)
        pts = []
        for _ in range(n):
            p, i = coords(i)
            pts.append(p)
        return "(" + ",".join(pts) + ")", i

    if typ == 1:
        body, i = coords(i)
        body = "(" + body + ")"
    elif typ == 2:
        body, i = ring(i)
    elif typ == 3:
        n, i = count(i)
        rings = []
        for _ in range(n):
            r, i = ring(i)
            rings.append(r)
        body = "(" + ",".join(rings) + ")"
    else:
        n, i = count(i)
        parts = []
        for _ in range(n):
            p, i = wkb_geom(b, i, typ == 7)
            parts.append(p[1:-1] if typ == 4 else p)  # MULTIPOINT(1 2,3 4)
        body = "(" + ",".join(parts) + ")"
    return (name + body if named else body), i


WKT_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def same_wkt(a, b):
    """The same text but for the spelling of the numbers, and the same
    numbers."""
    if WKT_NUMBER.sub("#", a) != WKT_NUMBER.sub("#", b):
        return False
    na, nb = WKT_NUMBER.findall(a), WKT_NUMBER.findall(b)
    return all(math.isclose(float(x), float(y), rel_tol=1e-15) for x, y in zip(na, nb))


# ---------------------------------------------------------------------------
# rows: the comparison of a whole file.

def cmd_rows(args):
    copy_to = None
    if "--copy" in args:
        i = args.index("--copy")
        copy_to = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        raise SystemExit(__doc__)
    binlog, events_path = args
    try:
        out, offsets, how = reference_output(binlog, copy_to)
    except ValueError as e:
        print("binlog_compare: %s: %s" % (binlog, e))
        return 1
    ref = parse_reference(out)
    got = [e for e in load_events(events_path) if e.get("type") in ROW_TYPES]
    name = os.path.basename(binlog)
    diffs = []
    checker = Checker()
    nvalues = 0

    def diff(msg):
        diffs.append(msg)

    class Label:
        def __init__(self, where, image, n, key):
            self.args = (where, image, n, key)

        def __str__(self):
            where, image, n, key = self.args
            return "%s: %s @%d%s" % (where, image, n, "" if key == "@%d" % n else " (%s)" % key)

    def original(at):
        return offsets.get(at, at) if offsets is not None else at

    class Where:
        """The row, as the diff lines name it (made only when needed)."""

        def __init__(self, k, r, e, events):
            self.k, self.r, self.e, self.events = k, r, e, events

        def __str__(self):
            r = self.r
            return "row %d (%s `%s`.`%s`, rows event(s) at %s; event %s)" % (
                self.k + 1, r.op, r.schema, r.table, "/".join(map(str, sorted(self.events))), self.e.get("id"))

    event_sets = {}  # the rows of a statement share their tuple of events
    last_pos = 0
    for k, (r, e) in enumerate(zip(ref, got)):
        events = event_sets.get(id(r.events))
        if events is None:
            events = event_sets[id(r.events)] = frozenset(original(a) for a in r.events)
        where = Where(k, r, e, events)
        if (e.get("type"), e.get("schema"), e.get("table")) != (r.op, r.schema, r.table):
            diff("%s: binhook has %s `%s`.`%s` there" % (where, e.get("type"), e.get("schema"), e.get("table")))
            continue
        epos = (e.get("position") or {}).get("pos")
        if not isinstance(epos, Num) or int(epos) not in events or int(epos) < last_pos:
            diff("%s: binhook's position.pos is %s, not the offset of the rows event (%s)" % (
                where, epos, " or ".join(map(str, sorted(events)))))
        else:
            last_pos = int(epos)
        cols = r.columns
        for image in ("before", "after"):
            values = r.images.get(image)
            eimg = e.get(image)
            if values is None:
                if eimg is not None:
                    diff("%s: binhook has a %s image, mariadb-binlog none" % (where, image))
                continue
            if not isinstance(eimg, dict):
                diff("%s: no %s image in binhook's event" % (where, image))
                continue
            keys = []
            for n, text, typ, meta, is_null in values:
                col = cols[n - 1] if cols is not None and n <= len(cols) else None
                key = col.name if col is not None and col.name is not None else "@%d" % n
                keys.append(key)
                nvalues += 1
                label = Label(where, image, n, key)
                if key not in eimg:
                    diff("%s: mariadb-binlog printed %s [%s], binhook has no such column (it has %s)" % (
                        label, show(text), typ, ", ".join(eimg)))
                    continue
                v = eimg[key]
                if is_null:
                    if v is not None:
                        diff("%s: mariadb-binlog printed NULL [%s], binhook %s" % (label, typ, show(v)))
                    continue
                if v is None:
                    diff("%s: mariadb-binlog printed %s [%s], binhook null" % (label, show(text), typ))
                    continue
                want = checker.expect(r, n, text, typ, meta, col, v)
                if want is not None:
                    diff("%s: mariadb-binlog printed %s [%s]: expected %s, binhook %s" % (
                        label, show(text), typ, want, show(v)))
            extra = [c for c in eimg if c not in keys]
            if extra:
                diff("%s: %s image: binhook has columns mariadb-binlog does not show: %s" % (
                    where, image, ", ".join(extra)))
            elif list(eimg) != keys:
                diff("%s: %s image: binhook's columns are in the order %s, the table's is %s" % (
                    where, image, ", ".join(eimg), ", ".join(keys)))
    if len(ref) != len(got):
        diff("mariadb-binlog shows %d row(s), binhook %d row event(s)" % (len(ref), len(got)))
        for r in ref[len(got):len(got) + 5]:
            diff("  only in mariadb-binlog: %s `%s`.`%s` in the rows event at %s" % (
                r.op, r.schema, r.table, "/".join(str(original(a)) for a in r.events)))
        for e in got[len(ref):len(ref) + 5]:
            diff("  only in binhook: %s" % json.dumps(e)[:300])
    counts = {op: sum(1 for r in ref if r.op == op) for op in ROW_TYPES}
    print("%s: mariadb-binlog read it %s: %d row(s) (%d insert, %d update, %d delete), %d value(s)" % (
        name, how, len(ref), counts["insert"], counts["update"], counts["delete"], nvalues))
    if diffs:
        for d in diffs[:MAX_DIFFS]:
            print("%s: %s" % (name, d))
        if len(diffs) > MAX_DIFFS:
            print("%s: ... and %d more difference(s)" % (name, len(diffs) - MAX_DIFFS))
        print("%s: %d difference(s)" % (name, len(diffs)))
        return 1
    print("%s: every value agrees" % name)
    return 0


def cmd_readable(args):
    if len(args) != 1:
        raise SystemExit(__doc__)
    try:
        _, _, how = reference_output(args[0])
    except ValueError as e:
        print(e)
        return 1
    print("mariadb-binlog reads it " + how)
    return 0


# ---------------------------------------------------------------------------
# json: MySQL JSON columns.

def path_legs(path):
    if not path.startswith("$"):
        raise ValueError("path %r does not start with $" % path)
    legs, i = [], 1
    while i < len(path):
        if path[i] == ".":
            m = re.match(r'\.(?:"((?:[^"\\]|\\.)*)"|([^.\[]+))', path[i:])
            legs.append(m.group(1) if m.group(1) is not None else m.group(2))
            i += m.end()
        elif path[i] == "[":
            m = re.match(r"\[(\d+)\]", path[i:])
            legs.append(int(m.group(1)))
            i += m.end()
        else:
            raise ValueError("cannot read path %r" % path)
    if not legs:
        raise ValueError("path %r names the whole document" % path)
    return legs


def apply_diff(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        legs = path_legs(op["path"])
        parent = doc
        for leg in legs[:-1]:
            parent = parent[leg]
        last = legs[-1]
        if op["op"] == "replace":
            if isinstance(last, int):
                parent[last] = op["value"]
            else:
                if last not in parent:
                    raise ValueError("replace of %s, which is not there" % op["path"])
                parent[last] = op["value"]
        elif op["op"] == "insert":
            if isinstance(last, int):
                parent.insert(last, op["value"])
            else:
                parent[last] = op["value"]
        else:
            del parent[last]
    return doc


def cmd_json(args):
    if len(args) < 3:
        raise SystemExit(__doc__)
    events_path, table, column = args[0], args[1], args[2]
    derived = [a.split("=", 1) for a in args[3:]]
    schema, _, tname = table.partition(".")
    rows = [e for e in load_events(events_path)
            if e.get("type") in ROW_TYPES and e.get("schema") == schema and e.get("table") == tname]
    problems, docs, partial, full = [], {}, 0, 0

    def check_derived(where, img, doc):
        for dcol, key in derived:
            if dcol in img and isinstance(doc, dict) and not same(img[dcol], doc.get(key)):
                problems.append("%s: %s is %s, the document's %s is %s" % (
                    where, dcol, show(img[dcol]), key, show(doc.get(key))))

    for k, e in enumerate(rows, 1):
        rowkey = json.dumps((e.get("before") or e.get("after") or {}).get("@1"))
        for image in ("before", "after"):
            img = e.get(image)
            if not isinstance(img, dict) or column not in img:
                continue
            where = "row %d (%s, %s, event %s)" % (k, e["type"], image, e.get("id"))
            v = img[column]
            if v is None:
                continue
            if isinstance(v, dict) and list(v) == ["$partial_json_diff"]:
                partial += 1
                ops = v["$partial_json_diff"]
                if image != "after" or (isinstance(e.get("before"), dict) and column in e["before"]):
                    problems.append("%s: a partial diff where binhook had a before image to apply it to" % where)
                if not isinstance(ops, list) or not ops:
                    problems.append("%s: the partial diff is not a list of operations: %s" % (where, show(ops)))
                    continue
                bad = [o for o in ops if not isinstance(o, dict) or o.get("op") not in ("replace", "insert", "remove")
                       or not isinstance(o.get("path"), str) or not o["path"].startswith("$")
                       or (o["op"] != "remove") != ("value" in o)]
                if bad:
                    problems.append("%s: malformed operations in the partial diff: %s" % (where, show(bad)))
                    continue
                if rowkey not in docs:
                    problems.append("%s: a partial diff for a row whose document was never seen" % where)
                    continue
                try:
                    doc = apply_diff(docs[rowkey], ops)
                except (ValueError, KeyError, IndexError, TypeError) as err:
                    problems.append("%s: the partial diff does not apply to %s: %s" % (where, show(docs[rowkey]), err))
                    continue
                docs[rowkey] = doc
                check_derived(where, img, doc)
                continue
            if isinstance(v, str):
                problems.append("%s: %s is a string, not a JSON document: %s" % (where, column, show(v)))
                continue
            if not isinstance(v, (dict, list)):
                problems.append("%s: %s is a scalar, not a document: %s" % (where, column, show(v)))
                continue
            full += 1
            if image == "after" or e["type"] == "delete":
                docs[rowkey] = v
            check_derived(where, img, v)
    print("%s: %d row event(s) of %s, %d full JSON document(s), %d partial diff(s)" % (
        os.path.basename(events_path), len(rows), table, full, partial))
    for p in problems:
        print(p)
    if not rows:
        print("no row events of %s" % table)
        return 1
    return 1 if problems else 0


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "rows":
        return cmd_rows(args)
    if cmd == "readable":
        return cmd_readable(args)
    if cmd == "json":
        return cmd_json(args)
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
