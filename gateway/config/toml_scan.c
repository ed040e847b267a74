/* toml_scan.c - see toml_scan.h. The scanner reads the text's smallest
 * parts as the TOML 1.0.0 specification and its ABNF define them: strings
 * (basic, literal, multi-line, with their escapes), integers in four bases,
 * floats, booleans, and the four kinds of dates and times. A scalar is read
 * as one token first, so that a message can quote it whole, then decided. */
#include "config/toml_scan.h"
#include "util/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes available) and its code
 * point in *cp; 0 when the bytes are not valid UTF-8. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
  unsigned c = s[0], min;
  size_t len;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (len > n) return 0;
  unsigned v = c & (0xffu >> (len + 1));
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[k] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

/* The character at the scanner, for messages. */
const char *scan_describe(const struct parser *p, char *out, size_t size)
{
  int c = peek(p);
  unsigned cp;
  if (c < 0) return "the end of the file";
  if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) return "the end of the line";
  if (c == '\r') return "a carriage return not followed by a line feed";
  if (c >= 0x20 && c < 0x7f) {
    snprintf(out, size, "'%c'", c);
  } else if (c < 0x80) {
    snprintf(out, size, "control character U+%04X", (unsigned)c);
  } else {
    size_t l = utf8_decode((const unsigned char *)p->s + p->i, p->len - p->i, &cp);
    if (l) snprintf(out, size, "'%.*s' (U+%04X)", (int)l, p->s + p->i, cp);
    else snprintf(out, size, "byte 0x%02X, which is not UTF-8", (unsigned)c);
  }
  return out;
}

int scan_error_at(struct parser *p, int line, int col, const char *fmt, ...)
{
  char msg[768];
  va_list ap;
  if (p->failed) return -1;
  p->failed = 1;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->file)
    bh_err(p->err, p->errsz, "%s:%d:%d: %s", p->file, line, col, msg);
  else
    bh_err(p->err, p->errsz, "%d:%d: %s", line, col, msg);
  return -1;
}

/* Checks the whole text for valid UTF-8 up front. */
int scan_check_utf8(struct parser *p)
{
  const unsigned char *s = (const unsigned char *)p->s;
  int line = 1, col = 1;
  size_t i = 0;
  unsigned cp;
  while (i < p->len) {
    if (s[i] < 0x80) {
      if (s[i] == '\n') line++, col = 0;
      i++, col++;
      continue;
    }
    size_t l = utf8_decode(s + i, p->len - i, &cp);
    if (!l) return scan_error_at(p, line, col, "invalid UTF-8 byte 0x%02x (a TOML file must be UTF-8)", s[i]);
    i += l, col++;
  }
  return 0;
}

struct toml_value *scan_new_value(enum toml_type type, int line, int col)
{
  struct toml_value *v = xcalloc(1, sizeof *v);
  v->type = type;
  v->line = line;
  v->col = col;
  return v;
}

/* ---- strings ---- */

static int parse_escape(struct parser *p, struct buf *b)
{
  int line = p->line, col = p->col;
  char d[64];
  adv(p); /* the backslash */
  int c = peek(p);
  switch (c) {
  case 'b': buf_addc(b, '\b'); break;
  case 't': buf_addc(b, '\t'); break;
  case 'n': buf_addc(b, '\n'); break;
  case 'f': buf_addc(b, '\f'); break;
  case 'r': buf_addc(b, '\r'); break;
  case '"': buf_addc(b, '"'); break;
  case '\\': buf_addc(b, '\\'); break;
  case 'u':
  case 'U': {
    int ndig = c == 'u' ? 4 : 8;
    unsigned cp = 0;
    adv(p);
    for (int k = 0; k < ndig; k++) {
      int h = bh_hexval(peek(p));
      if (h < 0) return scan_error_at(p, line, col, "escape '\\%c' needs %d hexadecimal digits", c, ndig);
      cp = cp * 16 + (unsigned)h;
      adv(p);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return scan_error_at(p, line, col, "escape '\\%c%0*X' is not a Unicode scalar value", c, ndig, cp);
    buf_add_utf8(b, cp);
    return 0;
  }
  default:
    if (c > 0x20 && c < 0x7f) return scan_error_at(p, line, col, "invalid escape sequence '\\%c'", c);
    return scan_error_at(p, line, col, "invalid escape sequence: '\\' followed by %s",
                         scan_describe(p, d, sizeof d));
  }
  adv(p);
  return 0;
}

/* Reads a string of any of the four kinds at the scanner into *out (NUL-
 * terminated, caller frees) and *outlen. */
int scan_string(struct parser *p, char **out, size_t *outlen)
{
  int line = p->line, col = p->col;
  int q = peek(p);
  int literal = q == '\'';
  int multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
  struct buf b = BUF_INIT;
  buf_add(&b, "", 0); /* allocated and NUL-terminated even when empty */

  advn(p, multi ? 3 : 1);
  if (multi) { /* a newline right after the opening delimiter is trimmed */
    if (peek(p) == '\n')
      adv(p);
    else if (peek(p) == '\r' && peek_at(p, 1) == '\n')
      advn(p, 2);
  }
  for (;;) {
    int c = peek(p);
    if (c < 0 || (!multi && at_newline(p))) {
      scan_error_at(p, line, col, "unterminated %s", multi ? "multi-line string" : "string");
      goto fail;
    }
    if (c == q) {
      if (!multi) {
        adv(p);
        break;
      }
      size_t n = 0;
      while (peek_at(p, n) == q)
        n++;
      if (n >= 3) {
        if (n > 5) {
          scan_error(p, "three quotes in a row inside a multi-line string must be escaped");
          goto fail;
        }
        for (size_t k = 3; k < n; k++)
          buf_addc(&b, (char)q); /* up to two quotes just before the end */
        advn(p, n);
        break;
      }
      for (size_t k = 0; k < n; k++)
        buf_addc(&b, (char)q);
      advn(p, n);
      continue;
    }
    if (c == '\\' && !literal) {
      if (multi) {
        /* a backslash ending a line trims it and all whitespace after it */
        size_t k = 1;
        while (peek_at(p, k) == ' ' || peek_at(p, k) == '\t')
          k++;
        if (peek_at(p, k) == '\n' || (peek_at(p, k) == '\r' && peek_at(p, k + 1) == '\n')) {
          advn(p, k);
          for (;;) {
            if (peek(p) == ' ' || peek(p) == '\t' || peek(p) == '\n')
              adv(p);
            else if (peek(p) == '\r' && peek_at(p, 1) == '\n')
              advn(p, 2);
            else
              break;
          }
          continue;
        }
      }
      if (parse_escape(p, &b)) goto fail;
      continue;
    }
    if (multi && at_newline(p)) {
      buf_addc(&b, '\n');
      advn(p, c == '\r' ? 2 : 1);
      continue;
    }
    if (is_ctrl(c) && c != '\t') {
      if (c == '\r')
        scan_error(p, "a carriage return not followed by a line feed is not allowed in a string");
      else
        scan_error(p, "control character U+%04X is not allowed in a string%s", (unsigned)c,
                   literal ? "" : " (escape it)");
      goto fail;
    }
    /* copy the run of ordinary characters in one go */
    size_t start = p->i;
    while (p->i < p->len) {
      int ch = (unsigned char)p->s[p->i];
      if (ch == q || (ch == '\\' && !literal) || (is_ctrl(ch) && ch != '\t')) break;
      adv(p);
    }
    buf_add(&b, p->s + start, p->i - start);
  }
  *outlen = b.len;
  *out = buf_steal(&b);
  return 0;
fail:
  buf_free(&b);
  return -1;
}

int scan_string_value(struct parser *p, struct toml_value **out)
{
  struct toml_value *v = scan_new_value(TOML_STRING, p->line, p->col);
  if (scan_string(p, &v->u.str.ptr, &v->u.str.len)) {
    free(v);
    return -1;
  }
  *out = v;
  return 0;
}

/* ---- numbers, booleans, dates and times ---- */

static int digit_of(int c, int base)
{
  int d = bh_hexval(c);
  return d >= 0 && d < base ? d : -1;
}

/* Reads digits of base, single underscores allowed between two digits, from
 * t[*i]; returns 0 and moves *i past them, -1 when there is no digit, -2 on a
 * misplaced underscore. */
static int scan_digits(const char *t, size_t n, size_t *i, int base)
{
  size_t j = *i;
  if (j >= n || digit_of((unsigned char)t[j], base) < 0) return j < n && t[j] == '_' ? -2 : -1;
  while (j < n) {
    if (digit_of((unsigned char)t[j], base) >= 0) {
      j++;
    } else if (t[j] == '_') {
      if (j + 1 >= n || digit_of((unsigned char)t[j + 1], base) < 0) return -2;
      j++;
    } else {
      break;
    }
  }
  *i = j;
  return 0;
}

static int parse_number(struct parser *p, const char *t, size_t n, int line, int col, struct toml_value **out)
{
  static const char *const base_names[] = {[2] = "binary", [8] = "octal", [16] = "hexadecimal"};
  size_t i = 0;
  int neg = 0, rc;
  if (t[0] == '+' || t[0] == '-') neg = t[0] == '-', i = 1;

  if (n - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
    int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
    if (i)
      return scan_error_at(p, line, col, "%s %s integer cannot have a sign: '%.*s'", base == 8 ? "an" : "a",
                           base_names[base], (int)n, t);
    size_t start = i += 2;
    rc = scan_digits(t, n, &i, base);
    if (rc == -2) goto underscore;
    if (rc || i != n)
      return scan_error_at(p, line, col, "invalid %s integer '%.*s'", base_names[base], (int)n, t);
    uint64_t v = 0;
    for (size_t k = start; k < n; k++) {
      if (t[k] == '_') continue;
      uint64_t d = (uint64_t)digit_of((unsigned char)t[k], base);
      if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)base)
        return scan_error_at(p, line, col, "integer '%.*s' does not fit in 64 bits", (int)n, t);
      v = v * (uint64_t)base + d;
    }
    *out = scan_new_value(TOML_INTEGER, line, col);
    (*out)->u.integer = (int64_t)v;
    return 0;
  }

  size_t int_start = i;
  rc = scan_digits(t, n, &i, 10);
  if (rc == -2) goto underscore;
  if (rc) goto invalid;
  if (t[int_start] == '0' && i - int_start > 1)
    return scan_error_at(p, line, col, "leading zeros are not allowed in a number: '%.*s'", (int)n, t);
  int is_float = 0;
  if (i < n && t[i] == '.') {
    i++;
    is_float = 1;
    rc = scan_digits(t, n, &i, 10);
    if (rc == -2) goto underscore;
    if (rc)
      return scan_error_at(p, line, col, "a decimal point must be followed by digits: '%.*s'", (int)n, t);
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    is_float = 1;
    if (i < n && (t[i] == '+' || t[i] == '-')) i++;
    rc = scan_digits(t, n, &i, 10);
    if (rc == -2) goto underscore;
    if (rc) return scan_error_at(p, line, col, "an exponent needs digits: '%.*s'", (int)n, t);
  }
  if (i != n) goto invalid;

  if (is_float) {
    char tmp[128];
    struct buf b = BUF_INIT;
    for (size_t k = 0; k < n; k++)
      if (t[k] != '_') buf_addc(&b, t[k]);
    errno = 0;
    double d = strtod(b.p, NULL);
    int range = errno == ERANGE && isinf(d);
    snprintf(tmp, sizeof tmp, "%.*s", (int)n, t);
    buf_free(&b);
    if (range) return scan_error_at(p, line, col, "float '%s' is out of range", tmp);
    *out = scan_new_value(TOML_FLOAT, line, col);
    (*out)->u.flt = d;
    return 0;
  }
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (size_t k = int_start; k < n; k++) {
    if (t[k] == '_') continue;
    uint64_t d = (uint64_t)(t[k] - '0');
    if (v > (limit - d) / 10)
      return scan_error_at(p, line, col, "integer '%.*s' does not fit in 64 bits", (int)n, t);
    v = v * 10 + d;
  }
  *out = scan_new_value(TOML_INTEGER, line, col);
  (*out)->u.integer = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;

underscore:
  return scan_error_at(p, line, col, "an underscore in a number must be between two digits: '%.*s'", (int)n,
                       t);
invalid:
  if ((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z'))
    return scan_error_at(p, line, col, "invalid value '%.*s' (strings need quotes)", (int)n, t);
  return scan_error_at(p, line, col, "invalid number '%.*s'", (int)n, t);
}

static int two_digits(const char *t, size_t n, size_t i)
{
  if (i + 2 > n || !is_digit(t[i]) || !is_digit(t[i + 1])) return -1;
  return (t[i] - '0') * 10 + (t[i + 1] - '0');
}

/* Reads hh:mm:ss[.frac] from t[*i]; 0 or -1 with a message in why. */
static int time_part(const char *t, size_t n, size_t *i, const char **why)
{
  size_t j = *i;
  int h = two_digits(t, n, j), m = -1, s = -1;
  if (h >= 0 && j + 2 < n && t[j + 2] == ':') m = two_digits(t, n, j + 3);
  if (m >= 0 && (j + 5 >= n || t[j + 5] != ':')) {
    *why = "seconds are required (hh:mm:ss)";
    return -1;
  }
  if (m >= 0) s = two_digits(t, n, j + 6);
  if (h < 0 || m < 0 || s < 0) {
    *why = "a time is written hh:mm:ss with two digits each";
    return -1;
  }
  if (h > 23) return *why = "hour out of range (00-23)", -1;
  if (m > 59) return *why = "minute out of range (00-59)", -1;
  if (s > 60) return *why = "second out of range (00-60)", -1;
  j += 8;
  if (j < n && t[j] == '.') {
    j++;
    if (j >= n || !is_digit(t[j])) return *why = "a decimal point must be followed by digits", -1;
    while (j < n && is_digit(t[j]))
      j++;
  }
  *i = j;
  return 0;
}

static int parse_datetime(struct parser *p, const char *t, size_t n, int line, int col,
                          struct toml_value **out)
{
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *why = NULL;
  enum toml_type type;
  size_t i = 0;

  if (t[2] == ':') {
    if (time_part(t, n, &i, &why)) goto bad;
    if (i != n) goto trailing;
    type = TOML_TIME_LOCAL;
  } else {
    int y = 0;
    for (i = 0; i < 4; i++)
      y = y * 10 + (t[i] - '0');
    int mo = n > 4 && t[4] == '-' ? two_digits(t, n, 5) : -1;
    int d = mo >= 0 && n > 7 && t[7] == '-' ? two_digits(t, n, 8) : -1;
    if (mo < 0 || d < 0) {
      why = "a date is written yyyy-mm-dd";
      goto bad;
    }
    if (mo < 1 || mo > 12) {
      why = "month out of range (01-12)";
      goto bad;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)) {
      why = "day out of range for its month";
      goto bad;
    }
    i = 10;
    if (i == n) {
      type = TOML_DATE_LOCAL;
    } else {
      if (t[i] != 'T' && t[i] != 't' && t[i] != ' ') goto trailing;
      i++;
      if (time_part(t, n, &i, &why)) goto bad;
      type = TOML_DATETIME_LOCAL;
      if (i < n && (t[i] == 'Z' || t[i] == 'z')) {
        i++;
        type = TOML_DATETIME;
      } else if (i < n && (t[i] == '+' || t[i] == '-')) {
        int oh = two_digits(t, n, i + 1);
        int om = oh >= 0 && i + 3 < n && t[i + 3] == ':' ? two_digits(t, n, i + 4) : -1;
        if (oh < 0 || om < 0) {
          why = "a time offset is written +hh:mm or -hh:mm";
          goto bad;
        }
        if (oh > 23 || om > 59) {
          why = "time offset out of range";
          goto bad;
        }
        i += 6;
        type = TOML_DATETIME;
      }
      if (i != n) goto trailing;
    }
  }

  struct toml_value *v = scan_new_value(type, line, col);
  v->u.str.ptr = xstrndup(t, n);
  v->u.str.len = n;
  if (n > 10 && type != TOML_TIME_LOCAL) v->u.str.ptr[10] = 'T';
  if (type == TOML_DATETIME && v->u.str.ptr[n - 1] == 'z') v->u.str.ptr[n - 1] = 'Z';
  *out = v;
  return 0;

trailing:
  why = "unexpected characters after it";
bad:
  return scan_error_at(p, line, col, "invalid date or time '%.*s': %s", (int)n, t, why);
}

static int token_char(int c)
{
  return c > 0x20 && c != 0x7f && !strchr(",[]{}#\"'=", c);
}

/* Booleans, numbers, dates and times: reads the whole token first, so that
 * messages can quote it, then decides what it is. */
int scan_scalar(struct parser *p, struct toml_value **out)
{
  int line = p->line, col = p->col;
  size_t start = p->i;
  char d[64];
  while (token_char(peek(p)))
    adv(p);
  /* a date followed by a space and a time is one date-time */
  if (p->i - start == 10 && is_digit(p->s[start]) && p->s[start + 4] == '-' && peek(p) == ' ' &&
      is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && peek_at(p, 3) == ':') {
    adv(p);
    while (token_char(peek(p)))
      adv(p);
  }
  const char *t = p->s + start;
  size_t n = p->i - start;
  if (n == 0) return scan_error(p, "expected a value, found %s", scan_describe(p, d, sizeof d));

  if ((n == 4 && !memcmp(t, "true", 4)) || (n == 5 && !memcmp(t, "false", 5))) {
    *out = scan_new_value(TOML_BOOLEAN, line, col);
    (*out)->u.boolean = n == 4;
    return 0;
  }
  size_t sign = t[0] == '+' || t[0] == '-';
  if (n - sign == 3 && (!memcmp(t + sign, "inf", 3) || !memcmp(t + sign, "nan", 3))) {
    *out = scan_new_value(TOML_FLOAT, line, col);
    (*out)->u.flt = t[sign] == 'i' ? (t[0] == '-' ? -INFINITY : INFINITY) : (t[0] == '-' ? -NAN : NAN);
    return 0;
  }
  if (n >= 5 && is_digit(t[0]) && is_digit(t[1]) && is_digit(t[2]) && is_digit(t[3]) && t[4] == '-')
    return parse_datetime(p, t, n, line, col, out);
  if (n >= 3 && is_digit(t[0]) && is_digit(t[1]) && t[2] == ':')
    return parse_datetime(p, t, n, line, col, out);
  return parse_number(p, t, n, line, col, out);
}

int scan_comment(struct parser *p)
{
  adv(p); /* '#' */
  for (;;) {
    int c = peek(p);
    if (c < 0 || at_newline(p)) return 0;
    if (is_ctrl(c) && c != '\t') {
      if (c == '\r')
        return scan_error(p, "a carriage return not followed by a line feed is not allowed in a comment");
      return scan_error(p, "control character U+%04X is not allowed in a comment", (unsigned)c);
    }
    adv(p);
  }
}

int scan_blank(struct parser *p)
{
  for (;;) {
    int c = peek(p);
    if (c == ' ' || c == '\t' || c == '\n')
      adv(p);
    else if (c == '\r' && peek_at(p, 1) == '\n')
      advn(p, 2);
    else if (c == '#') {
      if (scan_comment(p)) return -1;
    } else
      return 0;
  }
}

int scan_end_of_line(struct parser *p, const char *after)
{
  char d[64];
  while (peek(p) == ' ' || peek(p) == '\t')
    adv(p);
  if (peek(p) == '#' && scan_comment(p)) return -1;
  if (peek(p) < 0) return 0;
  if (at_newline(p)) {
    advn(p, peek(p) == '\r' ? 2 : 1);
    return 0;
  }
  return scan_error(p, "expected the end of the line after %s, found %s", after,
                    scan_describe(p, d, sizeof d));
}
