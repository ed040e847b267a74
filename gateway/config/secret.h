/* secret.h - reading the secrets a configuration names: the source's and
 * an SMTP endpoint's password, webhook signing secrets, AWS credentials and
 * the admin token. Each is written in the file, or named by a *_env key (an
 * environment variable) or a *_file key (a file, whose path the loader has
 * made relative to the configuration file that names it). Every one of them
 * is read by secret_fetch and released by secret_free, so that they are all
 * read alike and wiped before their memory goes back.
 *
 * What a missing secret means (an error, a warning, nothing) is the
 * caller's to decide: secret_fetch says what happened as a status. */
#ifndef BH_CONFIG_SECRET_H
#define BH_CONFIG_SECRET_H

#include <stddef.h>

/* Where a secret is. */
enum secret_from {
  SECRET_INLINE, /* written in the configuration */
  SECRET_ENV,    /* in an environment variable */
  SECRET_FILE,   /* in a file */
};

enum secret_status {
  SECRET_OK,
  SECRET_UNSET,      /* the environment variable is not set */
  SECRET_UNREADABLE, /* the file cannot be read; errno says why */
};

/* The largest secret file read; the rest of a larger one is left out. */
#define SECRET_FILE_MAX 65536

/* Fetches the secret what names: what itself (SECRET_INLINE), the value of
 * the variable called what (SECRET_ENV; "" when set to nothing), or the
 * contents of the file at path what (SECRET_FILE; at most SECRET_FILE_MAX
 * bytes). Returns SECRET_OK with *out, which the caller releases with
 * secret_free; any other status leaves *out NULL. */
enum secret_status secret_fetch(enum secret_from from, const char *what, char **out);

/* Cuts s at its first line break (\r or \n), in place; returns s. */
char *secret_first_line(char *s);

/* Appends a copy of the n bytes at s to the NULL-terminated vector vec (NULL:
 * a new one) as one secret, unless n is 0; returns the vector. */
char **secret_add(char **vec, const char *s, size_t n);

/* Appends the secrets of text, separated by white space, to vec (as
 * secret_add); returns the vector, NULL when vec was NULL and text holds
 * none. */
char **secret_split(char **vec, const char *text);

/* Wipes s, then frees it; NULL is fine. */
void secret_free(char *s);

/* secret_free on every secret of the NULL-terminated vector v, then frees
 * v; NULL is fine. */
void secret_vec_free(char **v);

#endif
