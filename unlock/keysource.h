/* Key sources, tried in order for each volume. A new source (the TPM, a
 * recovery key, a network KMS) is one more entry in the table in
 * keysource.c; nothing else changes. */
#ifndef KCRYPT_KEYSOURCE_H
#define KCRYPT_KEYSOURCE_H

#include <stdbool.h>

#include "log.h"
#include "luks.h"
#include "secret.h"

struct keysource_ctx {
	const struct secret *keyfile;	/* --key-file content, NULL when none */
	const char *keyfile_path;
	bool tokens;			/* try libcryptsetup tokens */
	const struct logger *log;
};

struct keysource {
	const char *name;
	/* Returns the keyslot opened (>= 0); -ENOENT when this source has
	 * nothing for the volume; -EPERM when its key was rejected; other
	 * -errno on failure. name NULL = verify only. */
	int (*open)(const struct keysource_ctx *ctx, struct luks *l, const char *name);
};

/* The sources in the order they are tried; n gets the count. */
const struct keysource *keysource_table(size_t *n);

#endif
