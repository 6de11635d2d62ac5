#include "keysource.h"

#include <errno.h>

static int from_keyfile(const struct keysource_ctx *ctx, struct luks *l, const char *name)
{
	if (!ctx->keyfile)
		return -ENOENT;
	return luks_open_passphrase(l, name, ctx->keyfile->buf, ctx->keyfile->len);
}

static int from_tokens(const struct keysource_ctx *ctx, struct luks *l, const char *name)
{
	if (!ctx->tokens)
		return -ENOENT;
	return luks_open_token(l, name);
}

static const struct keysource sources[] = {
	{ "key-file", from_keyfile },
	{ "token", from_tokens },
};

const struct keysource *keysource_table(size_t *n)
{
	*n = sizeof(sources) / sizeof(sources[0]);
	return sources;
}
