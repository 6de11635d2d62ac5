/* The TPM key source: every systemd-tpm2 token of the volume, unsealed with
 * our own ESYS code, its base64 passphrase given to its keyslot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "files.h"
#include "keysource.h"
#include "token.h"
#include "tpm2.h"
#include "vset.h"

static void load_signature(struct tpm_state *st, const struct logger *log)
{
	char path[256];

	st->sig_loaded = true;
	if (file_pcr_signature(st->sig_path, &st->sigjson, path, sizeof(path), st->sig_why,
			       sizeof(st->sig_why)) == 0)
		log_debug(log, "tpm2: PCR signatures from %s", path);
}

int keysource_tpm2_get(struct tpm_state *st, const struct logger *log, struct tpm2 **out,
		       char *why, size_t whylen)
{
	*out = NULL;
	if (!st->tpm && st->open_error == 0) {
		st->open_error = tpm2_open(st->device, log, &st->tpm, st->open_why,
					   sizeof(st->open_why));
		if (st->open_error == 0)
			st->open_error = 1;	/* opened: never retried either way */
	}
	if (!st->tpm) {
		snprintf(why, whylen, "%s", st->open_why);
		return st->open_error < 0 ? st->open_error : -ENODEV;
	}
	*out = st->tpm;
	return 0;
}

static int passphrase_of(const struct secret *secret, struct secret **out)
{
	struct secret *p = secret_new(4 * ((secret->len + 2) / 3) + 1);

	if (!p)
		return -errno;
	/* systemd's rule: the LUKS passphrase is base64 of the unsealed bytes */
	p->len = codec_b64_encode(secret->buf, secret->len, (char *)p->buf);
	*out = p;
	return 0;
}

static int try_token(const struct keysource_ctx *ctx, struct luks *l, int id,
		     const char *json, struct ks_found *found, char *why, size_t whylen)
{
	struct tpm_state *st = ctx->tpm;
	struct token_tpm2 tok;
	struct secret *secret = NULL, *pass = NULL;
	struct tpm2 *tpm;
	char tw[200];
	int r;

	r = token_parse(json, &tok, tw, sizeof(tw));
	if (r < 0) {
		snprintf(why, whylen, "token %d malformed: %s", id, tw);
		return -EBADMSG;
	}
	r = luks_keyslot_bounded(l, tok.keyslot, why, whylen);
	if (r < 0)
		goto out;
	r = keysource_tpm2_get(st, ctx->log, &tpm, why, whylen);
	if (r < 0)
		goto out;
	if (tok.pubkey_pcr_mask && !st->sig_loaded)
		load_signature(st, ctx->log);
	if (tok.pubkey_pcr_mask && st->sig_why[0]) {
		snprintf(why, whylen, "%s", st->sig_why);
		r = -EINVAL;
		goto out;
	}
	{
		struct tpm2_unseal_in in = { .tok = &tok, .sigjson = st->sigjson, .pin = st->pin };
		r = tpm2_unseal(tpm, &in, &secret, why, whylen);
	}
	if (r < 0)
		goto out;
	r = passphrase_of(secret, &pass);
	if (r < 0)
		goto out;

	r = luks_open_passphrase_slot(l, tok.keyslot, pass->buf, pass->len);
	if (r >= 0)
		found->claimed = vset_claim_parse(secret->buf, secret->len, found->set_id);
	if (r == -EPERM)
		snprintf(why, whylen, "token %d: the unsealed key does not open keyslot %d", id,
			 tok.keyslot);
	else if (r < 0)
		snprintf(why, whylen, "cannot read the volume key: %s", strerror(-r));
out:
	secret_free(secret);
	secret_free(pass);
	token_free(&tok);
	return r;
}

int keysource_tpm2_open(const struct keysource_ctx *ctx, struct luks *l, struct ks_found *found,
			char *why, size_t whylen)
{
	int last = -ENOENT;

	if (!ctx->tpm)
		return -ENOENT;
	for (int id = 0; id < LUKS_MAX_TOKENS; id++) {
		const char *json = NULL;
		int r;

		if (luks_token_json(l, id, &json) < 0 || !token_is_tpm2(json))
			continue;
		r = try_token(ctx, l, id, json, found, why, whylen);
		if (r >= 0)
			return r;
		last = r;
		/* no TPM: no other token will fare better */
		if (r == -ENODEV)
			break;
	}
	return last;
}

void keysource_tpm2_release(struct tpm_state *st)
{
	if (!st)
		return;
	tpm2_close(st->tpm);
	st->tpm = NULL;
	free(st->sigjson);
	st->sigjson = NULL;
}
