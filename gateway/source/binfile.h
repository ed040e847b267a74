/* binfile.h - binlog files read offline: checks the magic number and feeds
 * every event, with its offset, to a decoder. The file is read in chunks, so
 * a file of any size is read in bounded memory (one event at a time). */
#ifndef BH_BINFILE_H
#define BH_BINFILE_H

#include "source/decoder.h"

#include <stddef.h>

/* Reads path to its end. Returns 0, or -1 with err naming the file and the
 * offset (a truncated event, a wrong magic number, a decoding error). */
int binfile_read(const char *path, struct decoder *d, char *err, size_t errsz);

#endif
