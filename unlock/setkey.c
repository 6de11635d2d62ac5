#include "setkey.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "discover.h"
#include "dmkey.h"
#include "keysource.h"
#include "plan.h"
#include "trust.h"
#include "vset.h"

int setkey_of_open(struct luks *l, const char *label, struct secret **key, char *why,
		   size_t whylen)
{
	const struct secret *vk = luks_key(l);
	struct vset_token t;
	int r = trust_set_token(l, &t, why, whylen);

	*key = NULL;
	if (r < 0)
		return r;
	if (!vk)
		return -ENOKEY;
	r = vset_unwrap(&t, vk->buf, vk->len, luks_uuid(l), label, key);
	if (r < 0)
		snprintf(why, whylen, "its kcrypt-set token does not verify with its volume key");
	return r;
}

/* A member's volume key: from its mapping when it is open (on the running
 * system no token unseals any more: PCR 11 and 15 moved), else its TPM
 * token. */
static int open_member(const struct plan_step *s, struct keysource_ctx *ks, struct luks *l,
		       struct ks_found *found, char *why, size_t whylen)
{
	struct secret *vk = NULL;
	int r = -ENOENT;

	if (s->vol->active && s->vol->active_name) {
		r = dmkey_read(s->vol->active_name, &vk);
		if (r == 0)
			r = luks_use_volume_key(l, vk);
		secret_free(vk);
		if (r == 0)
			return 0;
		log_debug(ks->log, "%s: the key of /dev/mapper/%s: %s", s->vol->devnode,
			  s->vol->active_name, r == -ENOKEY ? "in the kernel keyring" : strerror(-r));
	}
	r = keysource_tpm2_open(ks, l, found, why, whylen);
	if (r == -ENOENT && !why[0])
		snprintf(why, whylen, "no TPM token");
	return r < 0 ? r : 0;
}

/* One member: its key, then its binding. */
static int try_member(const struct plan_step *s, struct keysource_ctx *ks,
		      const struct logger *log, struct secret **key, char *why, size_t whylen)
{
	struct ks_found found = { 0 };
	struct luks *l = NULL;
	unsigned char id[VSET_ID_LEN];
	bool bad;
	int r = luks_load(s->vol->devnode, log, &l, why, whylen);

	if (r < 0)
		return -ENOENT;
	if (!trust_header_set(l, id, &bad)) {
		luks_free(l);
		return -ENOENT;
	}
	r = open_member(s, ks, l, &found, why, whylen);
	if (r >= 0)
		r = setkey_of_open(l, s->label, key, why, whylen);
	luks_free(l);
	return r < 0 ? -ENOKEY : 0;
}

int setkey_find(const struct strv *devices, const char *tpm_device, const char *sig_path,
		const struct logger *log, struct secret **key, char *why, size_t whylen)
{
	struct discover_opts o = { .devices = devices, .sysfs = "/sys" };
	struct volume_list vols = { 0 };
	struct tpm_state st = { .device = tpm_device, .sig_path = sig_path };
	struct keysource_ctx ks = { .tpm = &st, .log = log };
	struct config c;
	struct plan p = { 0 };
	size_t members = 0, off = 0;
	int r;

	*key = NULL;
	config_init(&c);
	r = discover_scan(&o, log, &vols);
	if (r == 0)
		r = plan_build(&vols, &c, &p);
	if (r < 0) {
		snprintf(why, whylen, "device scan failed: %s", strerror(-r));
		goto out;
	}
	r = -ENOENT;
	for (size_t i = 0; i < p.n && r != 0; i++) {
		char w[300] = "";
		int m;

		if (!p.steps[i].vol)
			continue;
		m = try_member(&p.steps[i], &ks, log, key, w, sizeof(w));
		if (m == -ENOENT)
			continue;
		members++;
		if (m == 0) {
			r = 0;
			log_info(log, "joining the volume set of %s (%s)", p.steps[i].label,
				 p.steps[i].vol->devnode);
		} else if (off < whylen) {
			off += (size_t)snprintf(why + off, whylen - off, "%s%s: %s", off ? "; " : "",
						p.steps[i].vol->devnode, w);
		}
	}
	if (r != 0 && members) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", why);
		snprintf(why, whylen, "this machine has a volume set but no member opens here with "
				      "the TPM to join it (%s)", tmp);
		r = -ENOKEY;
	}
out:
	keysource_tpm2_release(&st);
	plan_free(&p);
	volume_list_free(&vols);
	config_free(&c);
	return r;
}
