#include "bind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luks.h"
#include "setkey.h"
#include "trust.h"
#include "vset.h"

static bool held(const struct step_result *r)
{
	return r->held && r->state == RES_VERIFIED;
}

/* The set key the bound members share; NULL (and 0) when none is bound. */
static int shared_key(const struct plan *p, struct step_result *res, struct secret **key,
		      char *why, size_t whylen)
{
	unsigned char id[VSET_ID_LEN], first[VSET_ID_LEN];
	char w[300], tw[200];

	*key = NULL;
	for (size_t i = 0; i < p->n; i++) {
		struct secret *k = NULL;
		int r;

		if (!held(&res[i]))
			continue;
		r = setkey_of_open(res[i].held, p->steps[i].label, &k, tw, sizeof(tw));
		if (r == -ENOENT)
			continue;
		if (r == 0)
			r = vset_id(k, id);
		if (r < 0) {
			secret_free(k);
			snprintf(why, whylen, "%s: %s", unlock_who(&p->steps[i], w, sizeof(w)), tw);
			goto fail;
		}
		if (!*key) {
			*key = k;
			memcpy(first, id, VSET_ID_LEN);
			continue;
		}
		secret_free(k);
		if (memcmp(id, first, VSET_ID_LEN)) {
			snprintf(why, whylen, "%s is bound to another volume set than the volumes "
					      "before it: refusing to merge sets",
				 unlock_who(&p->steps[i], w, sizeof(w)));
			goto fail;
		}
	}
	return 0;
fail:
	secret_free(*key);
	*key = NULL;
	return -EPERM;
}

static int bind_one(const struct plan_step *s, struct step_result *r, const struct secret *key,
		    const struct logger *log)
{
	const struct secret *vk = luks_key(r->held);
	struct vset_token t;
	char w[300], hex[2 * VSET_ID_LEN + 1], *json;
	int ret = vset_wrap(key, vk->buf, vk->len, luks_uuid(r->held), s->label, &t);

	struct luks *rw = NULL;
	char lw[200];

	json = ret == 0 ? vset_token_format(&t) : NULL;
	/* the header it was opened from is a read-only copy: write the disk */
	ret = !json ? -ENOMEM : luks_load_rw(s->vol->devnode, log, &rw, lw, sizeof(lw));
	if (ret == 0)
		ret = luks_add_token(rw, json);
	luks_free(rw);
	free(json);
	unlock_who(s, w, sizeof(w));
	if (ret < 0) {
		log_err(log, "%s: cannot store the kcrypt-set token: %s", w, strerror(-ret));
		return ret;
	}
	vset_id_hex(t.id, hex);
	log_info(log, "%s: bound to volume set %.8s (token %d)", w, hex, ret);
	if (!r->found.claimed && r->source && !strcmp(r->source, "tpm2"))
		log_warn(log, "%s: its TPM token predates the set: re-enroll it (kcrypt enroll) and "
			      "remove the old one, or a stripped binding goes unnoticed", w);
	return 0;
}

int bind_volumes(const struct plan *p, struct step_result *res, const struct logger *log,
		 char *why, size_t whylen)
{
	struct secret *key = NULL;
	int n = 0, r = shared_key(p, res, &key, why, whylen);

	if (r < 0)
		return r;
	if (!key && !(key = vset_key_new())) {
		snprintf(why, whylen, "no random bytes for a set key");
		return -EIO;
	}
	for (size_t i = 0; i < p->n && r == 0; i++) {
		struct vset_token t;
		char tw[64];

		if (!held(&res[i]) || trust_set_token(res[i].held, &t, tw, sizeof(tw)) != -ENOENT)
			continue;
		if (res[i].degraded) {
			snprintf(why, whylen, "%s: a LUKS2 header copy is damaged: run 'cryptsetup repair' "
					      "first", p->steps[i].vol->devnode);
			r = -EROFS;
			break;
		}
		r = bind_one(&p->steps[i], &res[i], key, log);
		if (r == 0)
			n++;
		else
			snprintf(why, whylen, "cannot write a header: %s", strerror(-r));
	}
	secret_free(key);
	return r < 0 ? r : n;
}
