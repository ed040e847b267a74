/* console.h - the delivery console's files (gateway/admin/console:
 * index.html, console.js, console.css), compiled into the binary by
 * embed.cmake and served by the admin server at /, /console.js and
 * /console.css. The page holds no data: it asks the admin API for
 * everything, with the same token, so serving it needs none. */
#ifndef BH_ADMIN_CONSOLE_H
#define BH_ADMIN_CONSOLE_H

#include <stddef.h>

struct console_asset {
  const char *path; /* "/", "/console.js", "/console.css" */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
};

/* The files, ended by one with a NULL path (generated: console_assets.c). */
extern const struct console_asset console_assets[];

#endif
