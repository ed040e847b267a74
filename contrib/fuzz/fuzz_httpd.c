/* fuzz_httpd.c - a libFuzzer target for the admin server's reading of a
 * request head (httpd_parse_head in admin/httpd.c): an input is the bytes
 * a client sends. As the server does, the head is what comes before the
 * first blank line ("\r\n\r\n" or "\n\n"; all of the input without one),
 * NUL-terminated, parsed in place; then every header is looked up by name
 * and the times of the query (since=, until=) are read as the admin
 * server reads them.
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "admin/admin.h"
#include "admin/httpd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t head_len(const uint8_t *d, size_t n)
{
  for (size_t i = 0; i + 1 < n; i++) {
    if (d[i] == '\n' && d[i + 1] == '\n') return i + 2;
    if (i + 3 < n && !memcmp(d + i, "\r\n\r\n", 4)) return i + 4;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t n = head_len(data, size);
  char *head = malloc(n + 1);
  memcpy(head, data, n);
  head[n] = 0;
  struct httpd_head h;
  const char *why = NULL;
  size_t sum = 0;
  int status = httpd_parse_head(head, &h, &why);
  if (status) {
    if (!why || !*why || status < 400 || status > 599) abort();
  } else {
    if (!h.req.method || !h.req.target || !h.req.path || h.req.path[0] != '/') abort();
    for (size_t i = 0; i < h.req.nheaders; i++) {
      const char *v = httpd_header(&h.req, h.req.headers[i].name);
      if (!v) abort();
      sum += strlen(v);
    }
    if (h.req.query) {
      /* each name=value of the query, the value as a time */
      char *q = strdup(h.req.query), *save = NULL;
      for (char *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        int64_t t;
        if (eq) sum += (size_t)admin_parse_time(eq + 1, &t);
      }
      free(q);
    }
    sum += strlen(httpd_reason(404));
  }
  httpd_head_free(&h);
  free(head);
  return (int)(sum & 0);
}
