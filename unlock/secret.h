/* The one home of key material: page-locked, excluded from core dumps,
 * wiped before it is released. Nothing else may hold a copy. */
#ifndef KCRYPT_SECRET_H
#define KCRYPT_SECRET_H

#include <stddef.h>

struct secret {
	unsigned char *buf;
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes mapped */
};

/* Returns NULL with errno set when memory cannot be mapped or locked. */
struct secret *secret_new(size_t cap);
void secret_free(struct secret *s);

/* Read a whole key file (or "-" for stdin) of at most max bytes.
 * Returns 0, or -errno: -EISDIR, -ENODATA (empty), -EFBIG (too large), ... */
int secret_read_file(const char *path, size_t max, struct secret **out);

#endif
