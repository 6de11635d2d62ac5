#include "enroll.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <tss2/tss2_tpm2_types.h>

#include "codec.h"
#include "files.h"
#include "luks.h"
#include "policy.h"
#include "token.h"
#include "tpm2.h"
#include "discover.h"
#include "identity.h"
#include "recovery.h"
#include "sdver.h"
#include "setkey.h"
#include "vset.h"

#define SECRET_LEN 32

/* The values PolicyPCR will compare, in ascending PCR order: the current
 * ones for pcr_mask, zeros for zero_mask (a PCR in both is read). */
static int pcr_values(struct tpm2 *tpm, const struct enroll_opts *o, unsigned char *out,
		      size_t *len, char *why, size_t whylen)
{
	unsigned char cur[24 * 64];
	size_t clen = 0, k = 0;
	int r = o->pcr_mask ? tpm2_pcr_read(tpm, TPM2_ALG_SHA256, o->pcr_mask, cur, &clen, why,
					    whylen) : 0;

	if (r < 0)
		return r;
	*len = 0;
	for (int i = 0; i < 24; i++) {
		if (o->pcr_mask & (1u << i)) {
			memcpy(out + *len, cur + 32 * k++, 32);
		} else if (o->zero_mask & (1u << i)) {
			memset(out + *len, 0, 32);
		} else {
			continue;
		}
		*len += 32;
	}
	return 0;
}

/* The digest the sealed object's policy must have (design note §4.1 order). */
static int compute_policy(struct tpm2 *tpm, const struct enroll_opts *o, const struct pubkey *key,
			  unsigned char d[32], char *why, size_t whylen)
{
	unsigned char values[24 * 64], name[34];
	size_t len = 0;
	int r;

	memset(d, 0, 32);
	if (key) {
		if (policy_key_name(key, key->e, name) < 0 || policy_authorize(d, name) < 0)
			goto fail;
	}
	if (o->pcr_mask | o->zero_mask) {
		r = pcr_values(tpm, o, values, &len, why, whylen);
		if (r < 0)
			return r;
		if (policy_pcr(d, TPM2_ALG_SHA256, o->pcr_mask | o->zero_mask, values, len) < 0)
			goto fail;
	}
	if (o->pin && policy_authvalue(d) < 0)
		goto fail;
	return 0;
fail:
	snprintf(why, whylen, "cannot compute the policy digest");
	return -EIO;
}

/* Unseal what we just sealed, when the policy can be satisfied now. */
static int verify(struct tpm2 *tpm, const struct enroll_opts *o, const struct token_tpm2 *tok,
		  const struct secret *secret, const struct logger *log, char *why, size_t whylen)
{
	struct tpm2_unseal_in in = { .tok = tok, .pin = o->pin };
	struct secret *back = NULL;
	char *sig = NULL, path[256];
	int r;

	if (tok->pubkey_pcr_mask) {
		if (file_pcr_signature(o->sig_path, &sig, path, sizeof(path), why, whylen) < 0) {
			log_info(log, "no usable PCR signature: the new token is not test-unsealed");
			return 0;
		}
		in.sigjson = sig;
	}
	r = tpm2_unseal(tpm, &in, &back, why, whylen);
	if (r == 0 && (back->len != secret->len || memcmp(back->buf, secret->buf, secret->len))) {
		snprintf(why, whylen, "the test unseal returned another secret");
		r = -EIO;
	}
	if (r < 0 && r != -EIO) {
		/* e.g. a signature for another boot state: the token may still be right */
		log_warn(log, "test unseal failed (%s); enrolling anyway", why);
		r = 0;
	}
	secret_free(back);
	free(sig);
	return r;
}

/* Which parent the new token gets; why, for the line seal_new says once the
 * seal worked (a failing enroll says one line: its error). */
struct parent {
	bool srk;
	char why[400];
};

static void want_srk(const struct enroll_opts *o, struct parent *p)
{
	char lib[256] = "";
	int v;

	p->srk = o->srk == ENROLL_SRK_YES;
	if (o->srk != ENROLL_SRK_AUTO) {
		snprintf(p->why, sizeof(p->why), "%s",
			 o->srk_why ? o->srk_why : p->srk ? "--tpm2-srk=yes" : "--tpm2-srk=no");
		return;
	}
	v = sdver_installed(sdver_dirs, lib, sizeof(lib));
	p->srk = sdver_reads_srk(v);
	if (v < 0)
		snprintf(p->why, sizeof(p->why), "--tpm2-srk=auto: no systemd here, nothing but "
						 "kcrypt reads the token");
	else if (p->srk)
		snprintf(p->why, sizeof(p->why), "--tpm2-srk=auto: systemd %d here opens it", v);
	else
		snprintf(p->why, sizeof(p->why), "--tpm2-srk=auto: systemd %d here (%s) cannot open "
						 "tpm2_srk tokens, which need %d", v, lib, SDVER_SRK_MIN);
}

/* A token with this policy and parent kind that still loads on this TPM:
 * after a TPM clear (or on another TPM) an old token has the same policy
 * hash but is dead; one under the other parent is read by other systemds. */
static bool already_enrolled(struct tpm2 *tpm, struct luks *l, const unsigned char hash[32],
			     bool srk, int *id, const struct logger *log)
{
	for (int i = 0; i < LUKS_MAX_TOKENS; i++) {
		const char *json;
		struct token_tpm2 t;
		char why[64];
		bool same;

		if (luks_token_json(l, i, &json) < 0 || !token_is_tpm2(json) ||
		    token_parse(json, &t, why, sizeof(why)) < 0)
			continue;
		same = t.nshards == 1 && !memcmp(t.shard[0].policy_hash, hash, 32) &&
		       (t.srk != NULL) == srk;
		if (same && tpm2_token_loads(tpm, &t, why, sizeof(why)) < 0) {
			log_info(log, "token %d has this policy but does not load on this TPM (cleared "
				      "or replaced): enrolling a new one", i);
			same = false;
		}
		token_free(&t);
		if (same) {
			*id = i;
			return true;
		}
	}
	return false;
}

/* Writes the header twice: keyslot, then token. A crash between the two
 * leaves an unused keyslot; the unlock key works throughout. */
static int store(struct luks *l, const struct enroll_opts *o, struct token_tpm2 *tok,
		 const struct secret *secret, int *token_id, int *keyslot, char *why, size_t whylen)
{
	struct secret *pass = secret_new(4 * ((secret->len + 2) / 3) + 1);
	char *json = NULL;
	int r;

	if (!pass)
		return -ENOMEM;
	pass->len = codec_b64_encode(secret->buf, secret->len, (char *)pass->buf);
	r = o->unlock_key ? luks_add_keyslot(l, o->unlock_key->buf, o->unlock_key->len, pass->buf,
					     pass->len)
			  : luks_add_keyslot_vk(l, pass->buf, pass->len);
	secret_free(pass);
	if (r < 0) {
		snprintf(why, whylen, "cannot add a keyslot: %s", strerror(-r));
		return r;
	}
	*keyslot = tok->keyslot = r;
	json = token_format(tok);
	r = json ? luks_add_token(l, json) : -ENOMEM;
	free(json);
	if (r < 0) {
		snprintf(why, whylen, "cannot store the token: %s", strerror(-r));
		luks_destroy_keyslot(l, *keyslot);
		return r;
	}
	*token_id = r;
	return 0;
}

static int load_pubkey(const struct enroll_opts *o, struct token_tpm2 *tok, struct pubkey *key,
		       char *why, size_t whylen)
{
	char *pem = o->pubkey_pem ? strdup(o->pubkey_pem) : NULL;
	int r = o->pubkey_pem ? (pem ? 0 : -ENOMEM) : file_read_text(o->pubkey_path, 64 * 1024, &pem);

	if (r == 0)
		r = policy_pubkey_from_pem(pem, key, why, whylen);
	else
		snprintf(why, whylen, "%s: cannot read the public key: %s", o->pubkey_path,
			 r == -EFBIG ? "not a regular file under 64 KiB" : strerror(-r));
	tok->pubkey_pem = pem;
	return r < 0 ? -EINVAL : 0;	/* a key problem, not a device one */
}

/* Public key, TPM, policy digest: everything before the secret exists. */
static int prepare(const struct enroll_opts *o, const struct logger *log, struct tpm2 **tpm,
		   struct token_tpm2 *tok, char *why, size_t whylen)
{
	struct pubkey key, *keyp = NULL;
	int r;

	if (o->pubkey_path || o->pubkey_pem) {
		r = load_pubkey(o, tok, &key, why, whylen);
		if (r < 0)
			return r;
		keyp = &key;
	}
	r = tpm2_open(o->tpm_device, log, tpm, why, whylen);
	if (r < 0)
		return r;
	tok->nshards = 1;
	tok->pcr_mask = o->pcr_mask | o->zero_mask;
	tok->pubkey_pcr_mask = keyp ? o->pubkey_pcr_mask : 0;
	tok->bank = TPM2_ALG_SHA256;
	tok->pin = o->pin != NULL;
	return compute_policy(*tpm, o, keyp, tok->shard[0].policy_hash, why, whylen);
}

/* The PIN's authValue: 252's unsalted rule for the legacy profile; with
 * the SRK (254+ only) a fresh tpm2_salt, as systemd 253+ does. */
static int pin_auth(const struct enroll_opts *o, bool srk, struct token_tpm2 *tok,
		    unsigned char auth[32], const struct logger *log, char *why, size_t whylen)
{
	int n;

	if (srk) {
		if (getrandom(tok->salt, sizeof(tok->salt), 0) != (ssize_t)sizeof(tok->salt)) {
			snprintf(why, whylen, "no random bytes");
			return -EIO;
		}
		tok->has_salt = true;
	}
	n = policy_pin_auth(o->pin->buf, o->pin->len, srk ? tok->salt : NULL, auth);
	if (n < 0) {
		snprintf(why, whylen, "cannot derive the PIN's authValue");
		return -EIO;
	}
	/* digests ending in 0 are trimmed by the TPM */
	if (!srk && n < 32)
		log_warn(log, "this PIN's digest ends in a zero byte: systemd 252 will not accept it");
	return n;
}

/* A fresh random secret sealed to tok's policy under the chosen parent,
 * and test-unsealed. */
static int seal_new(struct tpm2 *tpm, const struct enroll_opts *o, const struct parent *p,
		    const struct logger *log, struct token_tpm2 *tok, struct secret **out, char *why,
		    size_t whylen)
{
	struct tpm2_seal_out sealed = { 0 };
	struct secret *secret = secret_new(VSET_CLAIM_LEN);
	unsigned char auth[32];
	bool srk = p->srk;
	int authlen = 0, r;

	*out = NULL;
	if (!secret || (o->set_id ? vset_claim_make(o->set_id, secret) < 0
				  : getrandom(secret->buf, SECRET_LEN, 0) != SECRET_LEN)) {
		secret_free(secret);
		snprintf(why, whylen, "no random bytes");
		return -EIO;
	}
	if (!o->set_id)
		secret->len = SECRET_LEN;
	if (o->pin) {
		r = authlen = pin_auth(o, srk, tok, auth, log, why, whylen);
		if (r < 0)
			goto out;
	}
	r = tpm2_seal(tpm, tok->shard[0].policy_hash, o->pin ? auth : NULL,
		      o->pin ? (size_t)authlen : 0, secret, srk, &sealed, why, whylen);
	explicit_bzero(auth, sizeof(auth));
	if (r < 0)
		goto out;
	log_info(log, "%s: parent key of a new token: %s (%s)", o->device ? o->device : "volume",
		 srk ? "the persistent SRK at 0x81000001"
		     : "a transient primary made at each unseal, as systemd 252",
		 p->why);
	if (sealed.srk_created)
		log_info(log, "created the SRK (%s) and persisted it at 0x81000001",
			 sealed.alg == TOKEN_ALG_RSA ? "RSA 2048" : "ECC NIST P-256");
	tok->shard[0].data = sealed.blob;
	tok->shard[0].len = sealed.len;
	tok->primary_alg = sealed.alg;	/* with the SRK, its type, as systemd writes it */
	tok->srk = sealed.srk;
	tok->srk_len = sealed.srk_len;
	r = verify(tpm, o, tok, secret, log, why, whylen);
out:
	if (r < 0)
		secret_free(secret);
	else
		*out = secret;
	return r;
}

int enroll_seal(const struct enroll_opts *o, const struct logger *log, struct token_tpm2 *tok,
		struct secret **secret, char *why, size_t whylen)
{
	struct tpm2 *tpm = NULL;
	struct parent p;
	int r;

	*secret = NULL;
	want_srk(o, &p);
	r = prepare(o, log, &tpm, tok, why, whylen);
	if (r == 0)
		r = seal_new(tpm, o, &p, log, tok, secret, why, whylen);
	tpm2_close(tpm);
	return r;
}

/* Before the TPM is asked anything: a header we could not write, or no
 * free keyslot, would fail late with libcryptsetup's bare errno. */
static int writable(const char *dev, struct luks *l, char *why, size_t whylen)
{
	struct luks_info info;
	int ro = 0, fd = open(dev, O_RDWR | O_CLOEXEC);

	if (fd < 0 || (ioctl(fd, BLKROGET, &ro) == 0 && ro)) {
		snprintf(why, whylen, "cannot write its header: %s",
			 fd < 0 ? strerror(errno) : "read-only block device");
		if (fd >= 0)
			close(fd);
		return -EROFS;
	}
	close(fd);
	if (luks_info(l, &info) == 0 && info.nkeyslots >= LUKS_MAX_SLOTS) {
		snprintf(why, whylen, "no free keyslot (all %d are in use)", LUKS_MAX_SLOTS);
		return -ENOSPC;
	}
	return 0;
}

/* The set the volume is bound to, from its binding and the volume key the
 * unlock key opened: a new token's secret then names it. */
static int set_of(const struct enroll_opts *o, struct luks *l, unsigned char id[VSET_ID_LEN],
		  bool *bound, char *why, size_t whylen)
{
	struct secret *key = NULL;
	struct volume v;
	struct config c;
	char label[64] = "";
	int r = discover_probe(o->device, "/sys", &v);

	*bound = false;
	if (r < 0) {
		snprintf(why, whylen, "cannot probe: %s", strerror(-r));
		return r;
	}
	config_init(&c);
	if (!identity_label(&v, &c, label, sizeof(label)))
		label[0] = '\0';
	volume_clear(&v);
	config_free(&c);
	r = setkey_of_open(l, label, &key, why, whylen);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = vset_id(key, id);
	secret_free(key);
	if (r < 0) {
		snprintf(why, whylen, "its kcrypt-set token does not verify with its volume key: "
				      "refusing to enroll a volume that poses as a member");
		return -EBADMSG;
	}
	*bound = true;
	return 0;
}

/* The header, writable and healthy, opened with the unlock key. */
static int load_open(const struct enroll_opts *o, const struct logger *log, struct luks **l,
		     char *why, size_t whylen)
{
	int r = luks_load_rw(o->device, log, l, why, whylen);

	if (r < 0)
		return r;
	if (luks_health(*l) != HDR_OK) {
		snprintf(why, whylen, "LUKS2 header has a damaged copy: run 'cryptsetup repair' first");
		return -EROFS;
	}
	r = writable(o->device, *l, why, whylen);
	if (r < 0)
		return r;
	r = luks_open_passphrase(*l, o->unlock_key->buf, o->unlock_key->len);
	if (r < 0) {
		snprintf(why, whylen, "the unlock key opens no keyslot");
		return -EPERM;
	}
	return 0;
}

int enroll_recovery(const struct enroll_opts *o, const struct secret *key,
		    const struct logger *log, int *keyslot, char *why, size_t whylen)
{
	struct luks *l = NULL;
	int r = load_open(o, log, &l, why, whylen);

	*keyslot = -1;
	if (r == 0)
		r = recovery_enroll(l, o->unlock_key, key, keyslot, why, whylen);
	luks_free(l);
	return r;
}

int enroll_tpm2(const struct enroll_opts *o, const struct logger *log, int *token_id,
		int *keyslot, char *why, size_t whylen)
{
	struct luks *l = NULL;
	int r = load_open(o, log, &l, why, whylen);

	*token_id = *keyslot = -1;
	if (r == 0)
		r = enroll_tpm2_open(l, o, log, token_id, keyslot, why, whylen);
	if (r == 1) {
		*token_id = -1;
		r = 0;
	}
	luks_free(l);
	return r;
}

int enroll_tpm2_open(struct luks *l, const struct enroll_opts *o, const struct logger *log,
		     int *token_id, int *keyslot, char *why, size_t whylen)
{
	struct enroll_opts opts = *o;
	unsigned char set[VSET_ID_LEN];
	bool bound = false;
	struct parent p;
	struct tpm2 *tpm = NULL;
	struct secret *secret = NULL;
	struct token_tpm2 tok = { 0 };
	int r;

	*token_id = *keyslot = -1;
	r = set_of(o, l, set, &bound, why, whylen);
	if (r < 0)
		goto out;
	opts.set_id = bound ? set : NULL;
	want_srk(o, &p);
	r = prepare(&opts, log, &tpm, &tok, why, whylen);
	if (r < 0)
		goto out;
	if (already_enrolled(tpm, l, tok.shard[0].policy_hash, p.srk, token_id, log)) {
		log_info(log, "%s: a systemd-tpm2 token with this policy and parent is already "
			      "enrolled (token %d)", o->device, *token_id);
		r = 1;
		goto out;
	}
	r = seal_new(tpm, &opts, &p, log, &tok, &secret, why, whylen);
	if (r == 0)
		r = store(l, &opts, &tok, secret, token_id, keyslot, why, whylen);
out:
	token_free(&tok);
	secret_free(secret);
	tpm2_close(tpm);
	return r;
}
