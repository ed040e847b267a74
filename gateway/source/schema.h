/* schema.h - table definitions as the binlog describes them. A TABLE_MAP
 * event becomes a struct table: column types and metadata, and, from the
 * optional metadata (binlog_row_metadata=FULL), names, signedness, charsets,
 * ENUM/SET labels and the primary key. Tables are immutable once built and
 * reference-counted, so events queued for the main loop keep the definition
 * they were decoded with even after an ALTER TABLE.
 *
 * The table-id map (struct table_map) is the decoder's: ids are only
 * meaningful within one binlog file (they are reused after a server restart),
 * so it is cleared on ROTATE and FORMAT_DESCRIPTION. */
#ifndef BH_SCHEMA_H
#define BH_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

struct column {
  char *name;         /* "@N" (1-based) when the binlog does not say */
  uint8_t type;       /* binlog type; for CHAR/ENUM/SET the real type (MT_STRING/ENUM/SET) */
  uint16_t meta;      /* type metadata, decoded (see schema.c) */
  uint8_t nullable;
  int8_t is_unsigned; /* 1 unsigned, 0 signed, -1 unknown (treated as signed) */
  uint16_t charset;   /* collation id, 0 unknown; 63 is binary */
  uint8_t text_kind;  /* the collation's enum charset_kind + 1, when the decoder looked it up; 0: not yet */
  uint8_t geom_type;
  uint8_t in_pk;
  uint32_t nlabels;   /* ENUM/SET labels, when known */
  char **labels;
};

struct table {
  /* atomic; alone on its cache line: the reading thread takes and drops a
   * reference for every row while the printing thread reads the rest */
  int refs;
  char refs_line[60];
  uint64_t id;
  char *schema, *name;
  uint32_t ncols;
  struct column *cols;
  uint32_t npk;
  uint32_t *pk;             /* column indexes of the primary key, in key order */
  int names_known;          /* column names came from metadata or the server */
  int has_metadata;         /* the TABLE_MAP carried optional metadata */
  int filtered;             /* excluded by the table globs: its rows are skipped */
  struct table_json *json;  /* the printer's pieces (table_json), built on first use */
  unsigned char *map;       /* the TABLE_MAP body it was built from, when the same body is this table again
                               (the decoder's: set before the table is shared); NULL otherwise */
  size_t map_len;
};

/* What the JSON printer (event/change.c) needs of a table, made once per
 * table and kept with it: the column layout is known once, not found again
 * for every row. Every string is JSON already (quoted, escaped), and each
 * can be read 16 bytes at a time (there is room after it). */
struct table_json_col {
  const char *key; /* "name": */
  uint32_t key_len;
  uint32_t nlabels;           /* ENUM and SET labels, when the column has them */
  const char *const *labels;  /* "label" */
  const uint32_t *label_lens;
  uint32_t value_room;        /* the most an ENUM or SET value of the column prints */
};
struct table_json {
  const char *head; /* ,"schema":"s","table":"t" */
  uint32_t head_len;
  uint32_t keys_len; /* of every column's key together */
  size_t row_room;   /* atomic: room a row's JSON asks for at once (the last long row's length and a
                        quarter), so that a request's body is one allocation, not a doubling chain */
  struct table_json_col cols[];
};

/* Parses a TABLE_MAP body (after the common header, checksum excluded).
 * table_id_len is 6, or 4 for old formats. mariadb selects MariaDB's rules
 * for which columns have charsets. Returns a table with one reference, or
 * NULL with err. */
struct table *table_from_map(const unsigned char *body, size_t n, int table_id_len, int mariadb, char *err,
                             size_t errsz);

struct table *table_ref(struct table *t);
void table_unref(struct table *t);

/* Replaces column names (and, when given, the primary key) of t, which must
 * not be shared yet: used when names come from information_schema. names has
 * t->ncols entries, copied. */
void table_set_names(struct table *t, char *const *names, const uint32_t *pk, uint32_t npk);

/* The table's JSON pieces, built on the first call (safe from any thread:
 * one of the builds is kept) and freed with the table. */
const struct table_json *table_json(struct table *t);

/* The quoted JSON key ("name":) of column i (table_json's). */
const char *table_json_key(struct table *t, uint32_t i, size_t *len);

/* A column's SQL type family name for messages ("varchar", "enum"). */
const char *column_type_name(const struct column *c);

/* id -> table, owned references. */
struct table_map;
struct table_map *table_map_new(void);
void table_map_free(struct table_map *m);
void table_map_clear(struct table_map *m);
/* Stores t (takes the caller's reference), replacing any table with its id. */
void table_map_put(struct table_map *m, struct table *t);
/* Borrowed reference or NULL. */
struct table *table_map_get(struct table_map *m, uint64_t id);

#endif
