#include "trust.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "discover.h"
#include "identity.h"
#include "luks.h"

/* A mapping of an opened LUKS volume: its filesystem carries the volume's
 * label by design and is no twin. The attacker cannot make one before the
 * initrd's kcrypt runs. */
static bool is_crypt_mapping(const char *dev)
{
	char path[128], uuid[16] = "";
	struct stat st;
	FILE *f;

	if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode))
		return false;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/uuid", major(st.st_rdev),
		 minor(st.st_rdev));
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(uuid, sizeof(uuid), f))
		uuid[0] = '\0';
	fclose(f);
	return !strncmp(uuid, "CRYPT-", 6);
}

int trust_plaintext(const struct strv *devices, const struct config *c, const struct logger *log)
{
	struct fsinfo *fs = NULL;
	size_t n = 0;
	int r = discover_filesystems(devices, &fs, &n), found = 0;

	if (r < 0) {
		log_err(log, "device scan failed: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		char label[64];

		if (fs[i].type && !strcmp(fs[i].type, "crypto_LUKS"))
			continue;
		if (!identity_protected(fs[i].label, fs[i].partname, c, label, sizeof(label)) ||
		    identity_plaintext_allowed(label, c) || is_crypt_mapping(fs[i].devnode))
			continue;
		log_err(log, "%s: refused: %s, not LUKS2 but bears the protected name %s (%s%s%s%s): "
			     "a plaintext downgrade? (kcrypt.allow_plaintext=%s on the kernel command line "
			     "if it is plaintext by design)",
			fs[i].devnode, fs[i].type ? fs[i].type : "no known content", label,
			fs[i].label ? "label " : "", fs[i].label ? fs[i].label : "",
			fs[i].label && fs[i].partname ? ", GPT name " : fs[i].partname ? "GPT name " : "",
			fs[i].partname ? fs[i].partname : "", label);
		found++;
	}
	for (size_t i = 0; i < n; i++)
		fsinfo_clear(&fs[i]);
	free(fs);
	return found;
}

int trust_set_token(struct luks *l, struct vset_token *t, char *why, size_t whylen)
{
	int r = -ENOENT;

	for (int id = 0; id < LUKS_MAX_TOKENS; id++) {
		const char *json = NULL;

		if (luks_token_json(l, id, &json) < 0 || !vset_token_is(json))
			continue;
		if (vset_token_parse(json, t, why, whylen) == 0)
			return 0;
		r = -EBADMSG;
	}
	return r;
}

bool trust_header_set(struct luks *l, unsigned char id[VSET_ID_LEN], bool *malformed)
{
	struct vset_token t;
	char why[128];
	int r = trust_set_token(l, &t, why, sizeof(why));

	*malformed = r == -EBADMSG;
	if (r == 0)
		memcpy(id, t.id, VSET_ID_LEN);
	return r == 0;
}

/* What one volume proves; why says what is wrong for VSET_BAD. */
static void member_of(const struct plan_step *s, const struct step_result *res,
		      struct vset_member *m, char *why, size_t whylen)
{
	const struct secret *vk = luks_key(res->held);
	struct secret *key = NULL;
	struct vset_token t;
	char tw[128] = "", a[2 * VSET_ID_LEN + 1], b[2 * VSET_ID_LEN + 1];
	int r = trust_set_token(res->held, &t, tw, sizeof(tw));

	memset(m, 0, sizeof(*m));
	if (r == -ENOENT) {
		m->state = res->found.claimed ? VSET_BAD : VSET_UNBOUND;
		if (res->found.claimed) {
			vset_id_hex(res->found.set_id, a);
			snprintf(why, whylen, "its TPM secret names volume set %.8s but its header has "
					      "no kcrypt-set token (removed?)", a);
		}
		return;
	}
	m->state = VSET_BAD;
	if (r < 0) {
		snprintf(why, whylen, "its kcrypt-set token is malformed: %s", tw);
		return;
	}
	r = vset_unwrap(&t, vk->buf, vk->len, luks_uuid(res->held), s->label, &key);
	secret_free(key);
	vset_id_hex(t.id, a);
	if (r < 0) {
		snprintf(why, whylen, "its kcrypt-set token (set %.8s) was not made with its volume key, "
				      "UUID and label %s", a, s->label[0] ? s->label : "(none)");
		return;
	}
	if (res->found.claimed && memcmp(res->found.set_id, t.id, VSET_ID_LEN)) {
		vset_id_hex(res->found.set_id, b);
		snprintf(why, whylen, "its TPM secret names volume set %.8s, its header set %.8s", b, a);
		return;
	}
	m->state = VSET_BOUND;
	memcpy(m->id, t.id, VSET_ID_LEN);
}

static void refuse_all(const struct plan *p, struct step_result *res, const size_t *idx,
		       const struct vset_member *m, char (*whys)[300], size_t n,
		       const struct vset_verdict *v, const struct logger *log)
{
	char w[300], set[2 * VSET_ID_LEN + 1] = "", names[600] = "";
	size_t off = 0;

	if (v->have_id)
		vset_id_hex(v->id, set);
	for (size_t k = 0; k < n; k++) {
		const struct plan_step *s = &p->steps[idx[k]];

		if (!m[k].refused)
			continue;
		unlock_who(s, w, sizeof(w));
		if (off < sizeof(names))
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", off ? ", " : "", w);
		if (!whys[k][0] && m[k].state == VSET_UNBOUND)
			snprintf(whys[k], sizeof(whys[k]), v->have_id ? "it is not bound to any set"
				 : "it is not bound and kcrypt.volume_set=required");
		else if (!whys[k][0])
			snprintf(whys[k], sizeof(whys[k]), "it is bound to another set");
		log_err(log, "%s: does not belong to the volume set %.8s of this machine: %s", w,
			set[0] ? set : "(none)", whys[k]);
	}
	log_err(log, "refusing the whole volume set: %s does not belong", names);
	for (size_t k = 0; k < n; k++) {
		struct step_result *rs = &res[idx[k]];

		if (m[k].refused)
			unlock_fail(rs, FAIL_TRUST, "does not belong to the volume set of this machine: %s",
				    whys[k]);
		else
			unlock_fail(rs, FAIL_TRUST, "not opened: %s does not belong to its volume set",
				    names);
	}
}

int trust_volume_set(const struct plan *p, struct step_result *res, bool require,
		     struct trust_anchor *a, const struct logger *log)
{
	struct vset_member *m = calloc(p->n + 1, sizeof(*m));
	size_t *idx = calloc(p->n + 1, sizeof(*idx)), n = 0;
	char (*whys)[300] = calloc(p->n + 1, sizeof(*whys));
	struct vset_verdict v;
	int r = 0;

	if (!m || !idx || !whys) {
		r = -ENOMEM;
		for (size_t i = 0; i < p->n; i++)
			if (res[i].held && res[i].state == RES_VERIFIED)
				unlock_fail(&res[i], FAIL_SYSTEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->n; i++) {
		if (!res[i].held || res[i].state != RES_VERIFIED)
			continue;
		member_of(&p->steps[i], &res[i], &m[n], whys[n], sizeof(whys[n]));
		idx[n++] = i;
	}
	if (!n)
		goto out;
	vset_decide(m, n, a->have ? a->id : NULL, require, &v);
	/* a bound volume after an unbound pass is the same mix as in one pass */
	for (size_t k = 0; a->unbound && v.have_id && k < n; k++) {
		m[k].refused = true;
		v.ok = false;
		if (m[k].state == VSET_BOUND)
			snprintf(whys[k], sizeof(whys[k]), "it is bound, the volumes opened before it "
							    "are not");
	}
	if (!v.ok) {
		refuse_all(p, res, idx, m, whys, n, &v, log);
		r = -EPERM;
		goto out;
	}
	if (v.have_id) {
		char hex[2 * VSET_ID_LEN + 1];

		vset_id_hex(v.id, hex);
		log_info(log, "%zu volume(s) proved their membership of volume set %.8s", n, hex);
		a->have = true;
		memcpy(a->id, v.id, VSET_ID_LEN);
	} else if (v.legacy) {
		a->unbound = true;
	}
	if (v.legacy && n > 1) {
		log_warn(log, "%zu volumes are NOT BOUND to a volume set: a swapped volume would go "
			      "unnoticed; bind them with 'kcrypt bind'", n);
	}
out:
	free(m);
	free(idx);
	free(whys);
	return r;
}
