/* expr_dec.c - exact decimal numbers for the expression language (see
 * expr_impl.h): the number literals of an expression, DECIMAL columns and
 * numeric strings all compare through them, so no double ever rounds a
 * comparison (99.999999999999999999 < 100). A number is read into sign,
 * integer digits and fraction digits; an exponent moves the point by
 * rewriting the digits. */
#include "match/expr_impl.h"

#include <string.h>

int expr_dec_parse(const char *s, size_t n, struct dec *d, struct buf *out)
{
  size_t i = 0;
  memset(d, 0, sizeof *d);
  if (i < n && s[i] == '-') d->neg = 1, i++;
  size_t is = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  size_t ni = i - is, fs = i, nf = 0;
  if (!ni) return -1;
  if (i < n && s[i] == '.') {
    fs = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    nf = i - fs;
    if (!nf) return -1;
  }
  long exp = 0;
  int has_exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    int eneg = 0;
    has_exp = 1;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    size_t es = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (exp <= EXPR_MAX_EXPONENT) exp = exp * 10 + (s[i] - '0');
      i++;
    }
    if (i == es) return -1;
    if (exp > EXPR_MAX_EXPONENT) return -1;
    if (eneg) exp = -exp;
  }
  if (i != n) return -1;
  const char *ip = s + is, *fp = s + fs;
  if (has_exp && exp) {
    /* Move the point: the digits ip+fp with the point after ni + exp. */
    long point = (long)ni + exp;
    size_t total = ni + nf;
    buf_reset(out);
    if (point <= 0) {
      buf_addc(out, '.');
      for (long k = 0; k < -point; k++)
        buf_addc(out, '0');
      buf_add(out, ip, ni);
      buf_add(out, fp, nf);
      d->ip = out->p, d->ni = 0;
      d->fp = out->p + 1, d->nf = out->len - 1;
    } else if ((size_t)point >= total) {
      buf_add(out, ip, ni);
      buf_add(out, fp, nf);
      for (size_t k = total; k < (size_t)point; k++)
        buf_addc(out, '0');
      d->ip = out->p, d->ni = out->len;
      d->fp = out->p + out->len, d->nf = 0;
    } else {
      buf_add(out, ip, ni);
      buf_add(out, fp, nf);
      d->ip = out->p, d->ni = (size_t)point;
      d->fp = out->p + point, d->nf = total - (size_t)point;
    }
  } else {
    d->ip = ip, d->ni = ni, d->fp = fp, d->nf = nf;
  }
  while (d->ni && d->ip[0] == '0')
    d->ip++, d->ni--;
  while (d->nf && d->fp[d->nf - 1] == '0')
    d->nf--;
  if (!d->ni && !d->nf) d->neg = 0;
  return 0;
}

int expr_dec_cmp(const struct dec *a, const struct dec *b)
{
  if (a->neg != b->neg) return a->neg ? -1 : 1;
  int m;
  if (a->ni != b->ni) {
    m = a->ni < b->ni ? -1 : 1;
  } else {
    m = memcmp(a->ip, b->ip, a->ni);
    if (!m) {
      size_t nf = a->nf < b->nf ? a->nf : b->nf;
      m = memcmp(a->fp, b->fp, nf);
      /* No trailing zeros: the one with more fraction digits is larger. */
      if (!m && a->nf != b->nf) m = a->nf < b->nf ? -1 : 1;
    }
    m = m < 0 ? -1 : m > 0;
  }
  return a->neg ? -m : m;
}

void expr_dec_format(const struct dec *d, struct buf *out)
{
  if (d->neg) buf_addc(out, '-');
  if (d->ni)
    buf_add(out, d->ip, d->ni);
  else
    buf_addc(out, '0');
  if (d->nf) {
    buf_addc(out, '.');
    buf_add(out, d->fp, d->nf);
  }
}
