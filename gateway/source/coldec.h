/* coldec.h - column values from row images. Given a table definition and the
 * bytes of one row image, fills struct value entries (change.h) per the value
 * mapping of docs/DESIGN.md, appending text to the event's arena. */
#ifndef BH_COLDEC_H
#define BH_COLDEC_H

#include "source/binlog.h"
#include "source/charset.h"
#include "event/change.h"
#include "source/schema.h"

/* Decodes one row image at r: the null bitmap over the columns set in
 * present (a bitmap of t->ncols bits), then their values. Columns not present
 * get VAL_ABSENT. Returns 0, or -1 with err naming the column. */
int coldec_row(struct reader *r, const struct table *t, const unsigned char *present, struct value *vals,
               struct buf *arena, struct charset_conv *cs, char *err, size_t errsz);

/* The after image of a PARTIAL_UPDATE_ROWS event: JSON columns whose bit is
 * set in partial (one bit per JSON column present, in order) hold a diff,
 * applied to before (the decoded before image) when it has the column. */
int coldec_row_partial(struct reader *r, const struct table *t, const unsigned char *present, struct value *vals,
                       struct buf *arena, struct charset_conv *cs, const unsigned char *partial,
                       const struct value *before, char *err, size_t errsz);

/* Pieces exposed for unit tests. Each appends the text form to out and
 * returns the number of bytes consumed from p (n available), or -1. */
int coldec_decimal(const unsigned char *p, size_t n, int precision, int scale, struct buf *out);
void coldec_time_text(int neg, unsigned hours, unsigned min, unsigned sec, unsigned usec, int fsp,
                      struct buf *out);
int coldec_wkb_to_wkt(const unsigned char *p, size_t n, struct buf *out);

#endif
