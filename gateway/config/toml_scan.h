/* toml_scan.h - the TOML scanner, private to toml.c and toml_scan.c: the
 * parser's state, the characters and positions under it, and the readers of
 * the document's smallest parts (strings, numbers, booleans, dates and times,
 * comments, ends of lines). toml.c builds the tree of tables, arrays and keys
 * out of them.
 *
 * Every reader starts at the scanner's position, moves it past what it read
 * and returns 0, or -1 after recording the first error of the document
 * (scan_error_at keeps only the first one). A value a reader makes is the
 * caller's. */
#ifndef BH_TOML_SCAN_H
#define BH_TOML_SCAN_H

#include "config/toml.h"
#include "util/buf.h"

#include <stddef.h>

/* Nested tables and arrays: deep enough for any real document, shallow
 * enough that walking a tree recursively never exhausts the stack. */
#define MAX_DEPTH 200

struct parser {
  const char *s;
  size_t len, i; /* the text and the scanner's offset in it */
  int line, col; /* the scanner's position, 1-based */
  const char *file;
  char *err;
  size_t errsz;
  int failed;
  struct toml_value *root;
  struct toml_value *cur; /* the table keys go to: the last [header]'s, or the root */
  unsigned section;       /* identifies the current [header]'s run of key/value lines */
  unsigned next_section;
  struct buf cur_name; /* the last header's key, for messages */
};

/* ---- characters and positions ---- */

static inline int peek(const struct parser *p)
{
  return p->i < p->len ? (unsigned char)p->s[p->i] : -1;
}

static inline int peek_at(const struct parser *p, size_t k)
{
  return p->i + k < p->len ? (unsigned char)p->s[p->i + k] : -1;
}

/* Moves past one byte; columns count characters, not bytes. */
static inline void adv(struct parser *p)
{
  unsigned char c = (unsigned char)p->s[p->i++];
  if (c == '\n') {
    p->line++;
    p->col = 1;
  } else if ((c & 0xc0) != 0x80) {
    p->col++;
  }
}

static inline void advn(struct parser *p, size_t n)
{
  while (n--)
    adv(p);
}

static inline int is_ctrl(int c)
{
  return (c >= 0 && c < 0x20) || c == 0x7f;
}

static inline int at_newline(const struct parser *p)
{
  int c = peek(p);
  return c == '\n' || (c == '\r' && peek_at(p, 1) == '\n');
}

static inline int is_bare(int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static inline int is_digit(int c)
{
  return c >= '0' && c <= '9';
}

/* ---- errors ---- */

/* Records "file:line:col: message" as the document's error, unless one is
 * recorded already; returns -1 for tail calls. */
int scan_error_at(struct parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define scan_error(p, ...) scan_error_at((p), (p)->line, (p)->col, __VA_ARGS__)

/* The character at the scanner, for messages ("'x'", "the end of the
 * line", ...): a static string or out. */
const char *scan_describe(const struct parser *p, char *out, size_t size);

/* Checks the whole text for valid UTF-8, so that the readers afterwards deal
 * with ASCII syntax only and treat other characters as opaque. */
int scan_check_utf8(struct parser *p);

/* ---- values ---- */

/* A new value of type at line:col (never NULL); released with the tree. */
struct toml_value *scan_new_value(enum toml_type type, int line, int col);

/* A string of any of the four kinds into *out (NUL-terminated, caller frees)
 * and *outlen. */
int scan_string(struct parser *p, char **out, size_t *outlen);

/* A string value. */
int scan_string_value(struct parser *p, struct toml_value **out);

/* A boolean, number, date or time value. */
int scan_scalar(struct parser *p, struct toml_value **out);

/* ---- blanks ---- */

/* A comment, from its '#' to the end of the line (not included). */
int scan_comment(struct parser *p);

/* White space, line breaks and comments. */
int scan_blank(struct parser *p);

/* Spaces and a comment up to and including the end of the line (or of the
 * file); anything else is an error naming what it came after. */
int scan_end_of_line(struct parser *p, const char *after);

#endif
