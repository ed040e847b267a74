/* expr.h - the rule `when` expression language: compiled once when the
 * config is loaded, evaluated against every candidate change.
 *
 *   changed(status) and after.status == "paid" and after.total >= 100
 *
 * Ownership: expr_compile returns a tree the caller owns and releases with
 * expr_free; expr_eval only reads the expression and the event, so one
 * compiled expression may be evaluated by several threads at once.
 *
 * The language
 *
 *   Values     before.COL, after.COL, key.COL (COL a name, or `odd name`
 *              in backquotes, or "odd name" in double quotes); table,
 *              schema, type (the event's fields, strings), user (who ran a
 *              statement: "user@host", or "unknown"); literals: "text"
 *              or 'text' (escapes \\ \" \' \n \r \t \0 \uXXXX \u{X...}; any
 *              other backslash is kept as it is, so "^\d+$" is a regex
 *              with \d), numbers (integers of any size, decimals,
 *              exponents: all kept exact), true, false, null, lists
 *              [1, 2, "a"] (of any values).
 *   Operators  from the loosest: or; and; not; the comparisons == != < <=
 *              > >=, x in LIST, x not in LIST, x matches "REGEX" (PCRE2,
 *              UTF mode, compiled at load), x is null, x is not null.
 *              Comparisons do not chain (a == b == c is an error).
 *              Parentheses group.
 *   Functions  changed(COL) (on an update, COL is in the after image and
 *              differs from before, or is missing from before: the rule of
 *              the event's "changed" list; false on other events),
 *              changed() (any column changed), lower(x), upper(x) (ASCII,
 *              Latin-1, Greek and Cyrillic letters; other characters are
 *              kept), len(x) (characters of a string, UTF-8 code points;
 *              items of a list or SET), contains(x, y) (y is a substring of
 *              the string x, or an item of the list x), starts_with(x, y).
 *
 * Type errors: a literal that can never take part is refused when the
 * expression is compiled: ordering (< <= > >=) null or a list, `in` with a
 * right side that is not a list, lower/upper/starts_with of a non-string,
 * len/contains of something that is neither a string nor a list.
 *
 * Semantics: evaluation never fails. A value that cannot take part in an
 * operation makes it false (comparisons, in, matches, contains,
 * starts_with) or null (lower, upper, len), so a rule never fires on data it
 * cannot read.
 *   - Numbers compare exactly across integers, unsigned 64-bit integers,
 *     DECIMAL values and literals (no double is involved:
 *     99.999999999999999999 < 100). FLOAT and DOUBLE values compare as
 *     doubles (the other side converted to a double; to a float when one
 *     side is a FLOAT column, so a FLOAT 0.1 equals the literal 0.1).
 *   - A string compared with a number is read as a number when it is one in
 *     JSON's syntax ("120.00", "-1e3"), exactly; otherwise the comparison is
 *     false. This makes after.total >= 100 work on canonical JSON events,
 *     where DECIMAL columns are strings.
 *   - Strings compare bytewise (UTF-8 order). Dates, times, DATETIME and
 *     TIMESTAMP are strings in their canonical form ("2024-01-02T03:04:05"),
 *     so comparing them with string literals of the same shape orders them
 *     in time. BINARY and BLOB values compare as their raw bytes.
 *   - true and false are the numbers 1 and 0 (TINYINT(1) columns and JSON
 *     booleans compare equal to them).
 *   - ENUM values are their label; SET values are the list of their labels
 *     ("a" in after.flags, contains(after.flags, "a"), len(after.flags)).
 *     Without known labels they are their index or bit mask. BIT and YEAR
 *     are numbers.
 *   - JSON columns: an array is a list, a string a string, a number a
 *     number; an object compares as its JSON text.
 *   - null: a NULL column, and a column missing from the image (partial
 *     row images, the before of an insert, the after of a delete, a
 *     column the table does not have) are null. x == null is x is null and
 *     x != null is x is not null; otherwise null equals nothing and orders
 *     with nothing: after.a == 1, after.a < 1 are false when a is null.
 *   - != is the negation of ==, and not in the negation of in: a null or
 *     mismatched value is != any value. The ordering operators are false
 *     when their operands do not compare (null, or a string and a list).
 *   - Two lists are equal when their items are pairwise equal. x in Y is
 *     false when Y is not a list (a list literal, a SET or a JSON array):
 *     use contains() for substrings.
 *   - In a boolean place (an operand of and, or, not, or the whole
 *     expression), null is false, a number is true when not zero, a string
 *     or list when not empty.
 *   - key.COL is the primary key column COL (from the after image, or
 *     before for a delete); null when COL is not in the key.
 *   - table is null on statement events; schema is their default
 *     database; type is "insert", "update", "delete", "snapshot" or
 *     "statement"; user is null on row events. */
#ifndef BH_EXPR_H
#define BH_EXPR_H

#include "event/change.h"

#include <stddef.h>

struct expr;

/* Compiles text, an expression found in file at line:col (the position of
 * its first character; the columns of a message count characters from there,
 * and newlines inside text move to the next line). Returns the expression,
 * or NULL with "file:line:col: message" in err. */
struct expr *expr_compile(const char *text, const char *file, int line, int col, char *err, size_t errsz);

/* 1 when the expression holds for e, 0 when not. Never fails. */
int expr_eval(const struct expr *x, const struct change *e);

void expr_free(struct expr *x);

/* Where a column read comes from. */
enum expr_scope {
  EXPR_BEFORE,
  EXPR_AFTER,
  EXPR_KEY,
  EXPR_CHANGED, /* changed(COL), or changed() with a NULL name */
};

/* The event fields an expression reads (expr_reads), for the rule index. */
enum {
  EXPR_READS_TABLE = 1,
  EXPR_READS_SCHEMA = 2,
  EXPR_READS_TYPE = 4,
  EXPR_READS_CHANGED_ANY = 8, /* changed() */
  EXPR_READS_USER = 16,
};
unsigned expr_reads(const struct expr *x);

/* Calls fn once per column reference in the expression, in text order
 * (a column read twice is reported twice). name is borrowed from x. */
void expr_foreach_column(const struct expr *x, void (*fn)(void *arg, enum expr_scope scope, const char *name),
                         void *arg);

/* 1 when the expression calls changed() or changed(COL): it can only hold
 * on updates (unless or'ed with something else). */
int expr_uses_changed(const struct expr *x);

#endif
