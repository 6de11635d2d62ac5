/* Small text files kcrypt reads whole: PEM keys, PCR signature files. */
#ifndef KCRYPT_FILES_H
#define KCRYPT_FILES_H

#include <stddef.h>

/* A regular file of at most max bytes, NUL-terminated, malloc'd. Returns 0,
 * or -errno (-EFBIG: not a regular file of at most max bytes). */
int file_read_text(const char *path, size_t max, char **out);

/* systemd's tpm2-pcr-signature.json: the explicit path when given, else the
 * first one found in /run/systemd, /.extra, /etc/systemd,
 * /usr/local/lib/systemd, /usr/lib/systemd. Returns 0 with *json (and the
 * path used in found), -ENOENT when none exists, or -errno with why set for
 * an explicit path that cannot be read. */
int file_pcr_signature(const char *explicit_path, char **json, char *found, size_t foundlen,
		       char *why, size_t whylen);

#endif
