#include "keysource.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "token.h"

static int from_keyfile(const struct keysource_ctx *ctx, struct luks *l, struct ks_found *found,
			char *why, size_t whylen)
{
	int r;

	(void)found;
	if (!ctx->keyfile)
		return -ENOENT;
	r = luks_open_passphrase(l, ctx->keyfile->buf, ctx->keyfile->len);
	if (r == -EPERM)
		snprintf(why, whylen, "key file %s opens no keyslot", ctx->keyfile_path);
	else if (r < 0)
		snprintf(why, whylen, "cannot read the volume key: %s", strerror(-r));
	return r;
}

static int from_tokens(const struct keysource_ctx *ctx, struct luks *l, struct ks_found *found,
		       char *why, size_t whylen)
{
	int r;

	(void)found;
	if (!ctx->tokens)
		return -ENOENT;
	/* systemd-tpm2 tokens are ours: never hand them to systemd's plugin
	 * (with --no-tpm it would use the TPM behind our back) */
	r = luks_open_token(l, TOKEN_TYPE_TPM2);
	if (r == -EPERM)
		snprintf(why, whylen, "no token could unlock it");
	else if (r < 0 && r != -ENOENT)
		snprintf(why, whylen, "token: %s", strerror(-r));
	return r;
}

/* Order matters: an explicit key file wins over anything automatic. */
static const struct keysource sources[] = {
	{ "key-file", from_keyfile },
	{ "tpm2", keysource_tpm2_open },
	{ "token", from_tokens },
};

const struct keysource *keysource_table(size_t *n)
{
	*n = sizeof(sources) / sizeof(sources[0]);
	return sources;
}
