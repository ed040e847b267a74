/* fuzz_toml.c - a libFuzzer target for the TOML parser and the typed
 * configuration loader. An input is a configuration file's text: it is
 * parsed whole (toml_parse) and partially (toml_parse_partial, as `binhook
 * check` does), every node of the trees is visited, and the text is then
 * loaded as a configuration (config_load) from a file in a directory of
 * its own, so that the spec tables, the values, the rules' `when`
 * expressions and inline templates are read as binhook reads them.
 *
 * Built by the BINHOOK_FUZZ option of CMakeLists.txt; contrib/fuzz/README.md
 * says how to run it. */
#include "config/config.h"
#include "config/toml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads every node, so that a pointer the parser left wrong is touched. */
static size_t walk(const struct toml_value *v)
{
  size_t n = 1;
  switch (v->type) {
  case TOML_TABLE:
    for (size_t i = 0; i < v->u.table.len; i++) {
      const struct toml_key *k = &v->u.table.entries[i];
      n += k->keylen + (size_t)(toml_getn(v, k->key, k->keylen) != NULL) + walk(k->value);
    }
    break;
  case TOML_ARRAY:
    for (size_t i = 0; i < v->u.array.len; i++) n += walk(v->u.array.items[i]);
    break;
  case TOML_STRING:
  case TOML_DATETIME:
  case TOML_DATETIME_LOCAL:
  case TOML_DATE_LOCAL:
  case TOML_TIME_LOCAL: n += strlen(v->u.str.ptr) <= v->u.str.len; break;
  default: n += strlen(toml_type_name(v->type)) + strlen(toml_type_article(v->type)); break;
  }
  return n;
}

/* A directory of this process's own for the configuration file: the
 * include patterns and template paths of an input are relative to it. */
static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char err[1024];
  struct toml_value *root = toml_parse((const char *)data, size, "fuzz.toml", err, sizeof err);
  if (root) (void)walk(root);
  toml_free(root);
  root = NULL;
  int bad = toml_parse_partial((const char *)data, size, "fuzz.toml", &root, err, sizeof err);
  (void)walk(root);
  (void)toml_get_path(root, "source.url");
  (void)toml_incomplete(root);
  toml_free(root);
  (void)bad;

  if (!dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-toml-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
  }
  char path[96];
  snprintf(path, sizeof path, "%s/gateway.toml", dir);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f)) abort();
  struct config cfg;
  config_defaults(&cfg);
  char *errs = malloc(1 << 16);
  (void)config_load(path, &cfg, errs, 1 << 16);
  free(errs);
  config_free(&cfg);
  return 0;
}
