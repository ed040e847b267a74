/* spec.h - the keys gateway.toml knows, one table per section in the manner
 * of nginx's ngx_command_t, and the loader that reads a parsed file against
 * them. Internal to config/ (and to its unit test, which checks the tables
 * against gateway.toml): the rest of binhook reads struct config.
 *
 * A row names a key, says what it holds (its type), where it goes (the
 * offset of its field in the section's struct), its bounds and its default.
 * The default is written as TOML text, as gateway.toml documents it, and
 * goes through the same reader as a value in the file. Adding a key is
 * adding a row, and its comment in gateway.toml. A key with logic of its own
 * has a handler, called with the key and the section's struct; a check
 * across keys (one that needs another) is the section's finish.
 *
 * The loader collects every problem with its file:line:col and goes on: a
 * reader that finds a problem reports it, returns -1 and leaves the field as
 * it was. */
#ifndef BH_CONFIG_SPEC_H
#define BH_CONFIG_SPEC_H

#include "config/config.h"
#include "config/secret.h"
#include "config/toml.h"
#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

/* What a key holds, and the C type of its field. */
enum spec_type {
  SPEC_STRING,   /* char *: a string, not empty unless SPEC_EMPTY_OK */
  SPEC_PATH,     /* char *: a path, relative to the directory of the file that names it */
  SPEC_TEXT,     /* struct config_text: a string and where it is in the file (templates,
                    expressions), not empty unless SPEC_EMPTY_OK */
  SPEC_STRINGS,  /* char **: a string or a list of them, none empty; NULL-terminated */
  SPEC_GLOBS,    /* char **: "schema.table" patterns, one or a list; NULL when the list is empty */
  SPEC_INTEGER,  /* a whole number from min to max, stored as .store says */
  SPEC_DURATION, /* double: seconds from dmin to dmax, written "15s" or as a number */
  SPEC_SIZE,     /* bytes from min to max, written "64MiB" or as a number, stored as .store says */
  SPEC_BOOL,     /* int: 0 or 1 */
  SPEC_ENUM,     /* an enum (int-sized, asserted below): one of .names */
  SPEC_MASK,     /* unsigned: one or a list of .names, their values or'ed */
  SPEC_SECRET,   /* where a secret is (.from): checked here, read by the handler or the finish */
  SPEC_TABLE,    /* a [section] of its own, read with .section */
  SPEC_CUSTOM,   /* read by .read alone */
};

/* The C type of a SPEC_INTEGER or SPEC_SIZE field. */
enum spec_store { SPEC_UNSIGNED, SPEC_SIZE_T, SPEC_U64, SPEC_I64, SPEC_DOUBLE };

enum {
  SPEC_EMPTY_OK = 1, /* SPEC_STRING, SPEC_TEXT: "" is a value */
  SPEC_LIST = 2,     /* SPEC_SECRET inline: one or a list of them */
};

/* The words of a SPEC_ENUM or SPEC_MASK and what each stands for. */
struct spec_name {
  const char *name;
  int value; /* SPEC_MASK: the bit */
};

struct spec_enum {
  const char *what;              /* SPEC_ENUM: the noun of "unknown level 'x'"; SPEC_MASK: what a value
                                    must be ("an event type or a list of them") */
  const struct spec_name *names; /* ended by a NULL name; a name whose value an earlier
                                    name has already is an alias: accepted, never listed */
  int unset;                     /* SPEC_ENUM: the field when the key has no default */
};

struct loader;
struct spec_key;
struct spec_section;

/* Reads k's value into obj, the section's struct; 0, or -1 after reporting. */
typedef int spec_read_fn(struct loader *l, const struct spec_key *row, const struct toml_key *k,
                         const char *sect, void *obj);

/* A further check of a string, a path (as resolved) or a text: 0, or -1
 * with a message in err that reads after "'key' in [section]: ". */
typedef int spec_check_fn(const char *s, char *err, size_t errsz);

struct spec_key {
  const char *name;
  enum spec_type type;
  size_t offset;                 /* of the field in the section's struct (not SPEC_CUSTOM, SPEC_SECRET) */
  enum spec_store store;         /* SPEC_INTEGER, SPEC_SIZE */
  int64_t min, max;              /* SPEC_INTEGER, SPEC_SIZE */
  double dmin, dmax;             /* SPEC_DURATION */
  const char *def;               /* the default as TOML text ("\"5s\"", "10000"); NULL: none */
  const struct spec_enum *names; /* SPEC_ENUM, SPEC_MASK */
  const char *what;              /* SPEC_STRINGS, SPEC_SECRET with SPEC_LIST: what the value
                                    must be ("an e-mail address or a list of them") */
  const char *empty;             /* SPEC_STRINGS, SPEC_GLOBS: an empty list is refused, with
                                    this advice ("" for none); NULL: allowed */
  enum secret_from from;         /* SPEC_SECRET */
  spec_check_fn *check;          /* SPEC_STRING, SPEC_PATH, SPEC_TEXT, SPEC_STRINGS (each item),
                                    SPEC_SECRET */
  spec_read_fn *read;            /* SPEC_CUSTOM; SPEC_SECRET: takes the secret at once */
  const struct spec_section *section; /* SPEC_TABLE */
  unsigned flags;                     /* SPEC_EMPTY_OK, SPEC_LIST */
};

/* At most this many keys in a section. */
#define SPEC_MAX_KEYS 40

/* The enums of SPEC_ENUM fields are read and written as int. */
_Static_assert(sizeof(enum sign_scheme) == sizeof(int) && sizeof(enum config_ordering) == sizeof(int) &&
                   sizeof(enum config_snapshot) == sizeof(int) && sizeof(enum snapshot_lock) == sizeof(int) &&
                   sizeof(enum log_level) == sizeof(int) && sizeof(enum log_format) == sizeof(int),
               "an enum of struct config is not int-sized");

struct spec_section {
  const char *name;            /* "source"; NULL: the top level */
  const struct spec_key *keys; /* ended by a row with a NULL name */
  /* After the keys, the checks across them. seen[i] is the key of row i when
   * its value was read without a problem, else NULL. */
  void (*finish)(struct loader *l, const struct toml_value *t, const char *sect, void *obj,
                 const struct toml_key *const *seen);
};

/* The sections (keys_top.c, keys_endpoint.c, keys_rule.c); spec_include
 * is the top level of an included file. */
extern const struct spec_section spec_top, spec_source, spec_state, spec_log, spec_admin, spec_endpoint,
    spec_rule, spec_include;

/* The top-level endpoint and rule keys: every [endpoint.NAME] and [[rule]]
 * of the file being read, appended to the config's (keys_endpoint.c,
 * keys_rule.c). */
spec_read_fn spec_read_endpoints, spec_read_rules;

/* Checks an environment variable's name (keys_top.c), an HTTP method
 * (keys_endpoint.c). */
spec_check_fn spec_check_env_name, spec_check_http_method;

/* A copy of a mysql:// URL with its password, if any, replaced by "***",
 * so that messages can show the URL; the caller frees it (keys_top.c). */
char *spec_redact_url(const char *url);

/* The state of one config_load. */
struct loader {
  struct config *cfg;
  const char *file; /* the file being read, interned in cfg->files */
  const char *text; /* its text, for the positions of string contents */
  size_t textlen;
  const struct toml_value *include; /* the main file's include, read after it */
  struct buf errs;                  /* every problem so far, one a line */
  int nerr;
};

/* ---- the walk (spec.c) ---- */

/* Reads table t against sec into obj: every key of t in the file's order,
 * an unknown one answered with the nearest known key; then sec's finish.
 * sect names the section in messages ("source", "endpoint.hook", "rule
 * 'x'"; NULL: the top level). */
void spec_read(struct loader *l, const struct spec_section *sec, const char *sect, const struct toml_value *t,
               void *obj);

/* Sets the fields of sec's rows in obj to their defaults (obj zeroed
 * before), going into the sections of SPEC_TABLE rows. */
void spec_defaults(const struct spec_section *sec, void *obj);

/* Frees what sec's typed rows hold in obj (strings, paths, texts, lists)
 * and sets those fields to NULL; the fields of SPEC_CUSTOM rows and what a
 * finish makes are the section's owner's to free. */
void spec_free(const struct spec_section *sec, void *obj);

/* The row called name in sec, or NULL; and its index. */
const struct spec_key *spec_find(const struct spec_section *sec, const char *name, size_t *index);

/* The key seen[] holds for the row called name (see struct spec_section). */
const struct toml_key *spec_seen(const struct spec_section *sec, const struct toml_key *const *seen,
                                 const char *name);

/* The name of value in e (its first), or "?". */
const char *spec_enum_name(const struct spec_enum *e, int value);

/* ---- problems (spec.c) ---- */

/* A problem at line:col of the file being read. */
void spec_error(struct loader *l, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A problem whose message starts with its position already. */
void spec_error_raw(struct loader *l, const char *msg);

/* "'key' in [section]", or "'key'" at the top level, into buf. */
const char *spec_where(char *buf, size_t size, const struct toml_key *k, const char *sect);

/* "'key' in [section] must be WANT, not a string". */
void spec_type_error(struct loader *l, const struct toml_key *k, const char *sect, const char *want);

/* An unknown key of sec, with the nearest known one. */
void spec_unknown_key(struct loader *l, const struct toml_key *k, const char *sect,
                      const struct spec_section *sec);

/* A relative path p taken from the directory of the file cfgfile, so that
 * a configuration means the same whatever the working directory; a copy
 * the caller frees. */
char *spec_path(const char *cfgfile, const char *p);

/* ---- values (values.c) ---- */

/* Reads k's value as row says into the field of obj; 0, or -1 after
 * reporting. */
int spec_read_value(struct loader *l, const struct spec_key *row, const struct toml_key *k, const char *sect,
                    void *obj);

/* k's string (not empty when nonempty), or NULL after reporting. */
const char *spec_get_string(struct loader *l, const struct toml_key *k, const char *sect, int nonempty);

/* k's string into t with its position; 0, or -1 after reporting. */
int spec_get_text(struct loader *l, const struct toml_key *k, const char *sect, int nonempty,
                  struct config_text *t);

/* k's strings (a string or a list of them, none empty; what says so in a
 * message): a NULL-terminated vector the caller frees, empty for an empty
 * list, or NULL after reporting. */
char **spec_get_strings(struct loader *l, const struct toml_key *k, const char *sect, const char *what);

/* A duration within [min, max] seconds; 0, or -1 after reporting. */
int spec_get_duration(struct loader *l, const struct toml_key *k, const char *sect, double min, double max,
                      double *out);

/* headers = { "X-Name" = "template", ... } into *out, *nout (replacing what
 * they held); 0, or -1 after reporting. */
int spec_get_headers(struct loader *l, const struct toml_key *k, const char *sect, struct config_header **out,
                     size_t *nout);

void spec_text_free(struct config_text *t);
void spec_headers_free(struct config_header *h, size_t n);

#endif
