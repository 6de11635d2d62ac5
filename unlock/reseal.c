#include "reseal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dmkey.h"
#include "enroll.h"
#include "luks.h"
#include "recovery.h"
#include "token.h"

#define PCR15 (1u << 15)
#define PCR11 (1u << 11)

/* The volume key, from the open mapping or the unlock key (a recovery key
 * typed in any spelling is tried in its canonical form first). */
static int open_volume(struct luks *l, const struct reseal_opts *o, char *why, size_t whylen)
{
	struct secret *vk = NULL, *canon = NULL;
	int r = -ENOKEY;

	if (o->active_name && dmkey_read(o->active_name, &vk) == 0) {
		r = luks_use_volume_key(l, vk);
		secret_free(vk);
		if (r == 0)
			return 0;
	}
	if (!o->unlock_key) {
		snprintf(why, whylen, "%s; give the recovery key with --unlock-key-file",
			 o->active_name ? "its volume key cannot be read from its mapping"
					: "it is not open");
		return -ENOKEY;
	}
	if (recovery_normalize(o->unlock_key->buf, o->unlock_key->len, &canon) == 0) {
		r = luks_open_passphrase(l, canon->buf, canon->len);
		secret_free(canon);
	}
	if (r < 0)
		r = luks_open_passphrase(l, o->unlock_key->buf, o->unlock_key->len);
	if (r < 0) {
		snprintf(why, whylen, "the unlock key opens no keyslot");
		return -EPERM;
	}
	return 0;
}

/* Remove the token, and its keyslot unless another token names it. */
static int retire(struct luks *l, int id, int keyslot, char *why, size_t whylen)
{
	struct luks_info info;
	int r = luks_remove_token(l, id);

	if (r < 0) {
		snprintf(why, whylen, "cannot remove the old token %d: %s", id, strerror(-r));
		return r;
	}
	if (keyslot < 0 || luks_info(l, &info) < 0)
		return 0;
	for (size_t i = 0; i < info.ntokens; i++)
		for (size_t k = 0; k < info.tokens[i].nkeyslots; k++)
			if (info.tokens[i].keyslots[k] == keyslot)
				return 0;
	r = luks_destroy_keyslot(l, keyslot);
	if (r < 0)
		snprintf(why, whylen, "cannot remove the old keyslot %d: %s", keyslot, strerror(-r));
	return r;
}

static int one(struct luks *l, const struct reseal_opts *o, int id, const struct token_tpm2 *t,
	       const struct logger *log, struct reseal_result *res, char *why, size_t whylen)
{
	struct enroll_opts e = {
		.device = o->device,
		.tpm_device = o->tpm_device,
		.sig_path = o->sig_path,
		.pcr_mask = t->pcr_mask & ~PCR15,
		.zero_mask = t->pcr_mask & PCR15,
		.pubkey_pem = t->pubkey_pcr_mask ? t->pubkey_pem : NULL,
		.pubkey_pcr_mask = t->pubkey_pcr_mask,
		.pin = t->pin ? o->pin : NULL,
		/* the profile of the token it replaces: who could read it still can */
		.srk = t->srk ? ENROLL_SRK_YES : ENROLL_SRK_NO,
		.srk_why = t->srk ? "as the SRK token it replaces" : "as the legacy token it replaces",
	};
	int new_id = -1, slot = -1, r;

	if (t->pcrlock || t->nshards != 1 || (t->pubkey_pcr_mask && !t->pubkey_pem)) {
		log_warn(log, "%s: token %d: a pcrlock or multi-part policy kcrypt cannot reseal; "
			      "left alone", o->device, id);
		res->skipped++;
		return 0;
	}
	if (t->pcr_mask & PCR11) {
		log_warn(log, "%s: token %d is bound by value to PCR 11, which is not the initrd's "
			      "value here; left alone (enroll a signed policy instead)", o->device, id);
		res->skipped++;
		return 0;
	}
	if (t->pin && !o->pin) {
		log_warn(log, "%s: token %d needs its PIN (--tpm2-pin-file); left alone", o->device,
			 id);
		res->skipped++;
		return 0;
	}
	r = enroll_tpm2_open(l, &e, log, &new_id, &slot, why, whylen);
	if (r < 0)
		return r;
	if (r == 1 && new_id == id) {
		log_info(log, "%s: token %d is current: left alone", o->device, id);
		res->current++;
		return 0;
	}
	/* the new token (or an equal one a crashed reseal left) opens from
	 * now on: only then does the old one go */
	r = retire(l, id, t->keyslot, why, whylen);
	if (r < 0)
		return r;
	log_info(log, "%s: token %d resealed as token %d (keyslot %d)", o->device, id, new_id,
		 slot);
	res->replaced++;
	return 0;
}

int reseal_volume(const struct reseal_opts *o, const struct logger *log,
		  struct reseal_result *res, char *why, size_t whylen)
{
	struct token_tpm2 toks[LUKS_MAX_TOKENS];
	int ids[LUKS_MAX_TOKENS];
	size_t n = 0;
	struct luks *l = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	r = luks_load_rw(o->device, log, &l, why, whylen);
	if (r == 0 && luks_health(l) != HDR_OK) {
		snprintf(why, whylen, "LUKS2 header has a damaged copy: run 'cryptsetup repair' first");
		r = -EROFS;
	}
	if (r == 0)
		r = open_volume(l, o, why, whylen);
	if (r < 0)
		goto out;
	/* the list first: resealing adds and removes tokens */
	for (int i = 0; i < LUKS_MAX_TOKENS; i++) {
		const char *json;
		char pwhy[128];

		if (luks_token_json(l, i, &json) < 0 || !token_is_tpm2(json))
			continue;
		if (token_parse(json, &toks[n], pwhy, sizeof(pwhy)) < 0) {
			log_warn(log, "%s: token %d: %s; left alone", o->device, i, pwhy);
			res->skipped++;
			continue;
		}
		ids[n++] = i;
	}
	if (!n) {
		snprintf(why, whylen, "no systemd-tpm2 token to reseal (add one with kcrypt enroll --tpm)");
		r = -ENOENT;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		r = one(l, o, ids[i], &toks[i], log, res, why, whylen);
out:
	for (size_t i = 0; i < n; i++)
		token_free(&toks[i]);
	luks_free(l);
	return r;
}
