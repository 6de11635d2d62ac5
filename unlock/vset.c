#include "vset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "codec.h"

#define VERSION 1
#define K_VERSION "kcrypt_set_version"
#define K_ID "kcrypt_set"
#define K_WRAP "kcrypt_set_wrap"
static const unsigned char claim_magic[4] = { 'K', 'C', 'S', '1' };

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

bool vset_token_is(const char *json)
{
	json_object *root = json ? json_tokener_parse(json) : NULL, *t;
	bool is = root && json_object_is_type(root, json_type_object) && (t = get(root, "type")) &&
		  json_object_is_type(t, json_type_string) &&
		  !strcmp(json_object_get_string(t), VSET_TOKEN_TYPE);

	json_object_put(root);
	return is;
}

int vset_token_parse(const char *json, struct vset_token *t, char *why, size_t whylen)
{
	json_object *root = json_tokener_parse(json), *v;
	unsigned char *wrap = NULL;
	size_t len = 0;
	int r = -EINVAL;

	memset(t, 0, sizeof(*t));
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	v = get(root, K_VERSION);
	if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != VERSION) {
		snprintf(why, whylen, "%s is not %d", K_VERSION, VERSION);
		goto out;
	}
	v = get(root, K_ID);
	if (!v || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) != 2 * VSET_ID_LEN ||
	    codec_hex_decode(json_object_get_string(v), t->id, VSET_ID_LEN) < 0) {
		snprintf(why, whylen, "%s is not %d hex digits", K_ID, 2 * VSET_ID_LEN);
		goto out;
	}
	v = get(root, K_WRAP);
	if (v && json_object_is_type(v, json_type_string) && json_object_get_string_len(v) < 128)
		wrap = codec_b64_decode(json_object_get_string(v), &len);
	if (!wrap || len != VSET_WRAP_LEN) {
		snprintf(why, whylen, "%s is not %d bytes of base64", K_WRAP, VSET_WRAP_LEN);
		goto out;
	}
	memcpy(t->wrap, wrap, VSET_WRAP_LEN);
	r = 0;
out:
	free(wrap);
	json_object_put(root);
	return r;
}

char *vset_token_format(const struct vset_token *t)
{
	char id[2 * VSET_ID_LEN + 1], wrap[4 * ((VSET_WRAP_LEN + 2) / 3) + 1];
	json_object *root = json_object_new_object();
	char *out = NULL;

	if (!root)
		return NULL;
	vset_id_hex(t->id, id);
	codec_b64_encode(t->wrap, VSET_WRAP_LEN, wrap);
	/* keyslots must be present for libcryptsetup; the token opens none */
	if (json_object_object_add(root, "type", json_object_new_string(VSET_TOKEN_TYPE)) == 0 &&
	    json_object_object_add(root, "keyslots", json_object_new_array()) == 0 &&
	    json_object_object_add(root, K_VERSION, json_object_new_int(VERSION)) == 0 &&
	    json_object_object_add(root, K_ID, json_object_new_string(id)) == 0 &&
	    json_object_object_add(root, K_WRAP, json_object_new_string(wrap)) == 0)
		out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return out;
}

struct secret *vset_key_new(void)
{
	struct secret *k = secret_new(VSET_KEY_LEN);

	if (!k)
		return NULL;
	if (getrandom(k->buf, VSET_KEY_LEN, 0) != VSET_KEY_LEN) {
		secret_free(k);
		errno = EIO;
		return NULL;
	}
	k->len = VSET_KEY_LEN;
	return k;
}

int vset_id(const struct secret *key, unsigned char id[VSET_ID_LEN])
{
	static const char dom[] = "kcrypt-set-id-v1";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(ctx, dom, sizeof(dom) - 1) &&
		 EVP_DigestUpdate(ctx, key->buf, key->len) && EVP_DigestFinal_ex(ctx, md, &mdlen);

	EVP_MD_CTX_free(ctx);
	if (!ok || key->len != VSET_KEY_LEN)
		return -EIO;
	memcpy(id, md, VSET_ID_LEN);
	return 0;
}

void vset_id_hex(const unsigned char id[VSET_ID_LEN], char out[2 * VSET_ID_LEN + 1])
{
	for (size_t i = 0; i < VSET_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* "kcrypt-set-wrap-v1" \0 uuid \0 label: binds the wrap to this volume in
 * this role, so it cannot be moved to another volume or label. */
static int info(const char *uuid, const char *label, unsigned char *buf, size_t size,
		size_t *len)
{
	int n = snprintf((char *)buf, size, "kcrypt-set-wrap-v1%c%s%c%s", 0, uuid ? uuid : "", 0,
			 label ? label : "");

	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	*len = (size_t)n;
	return 0;
}

static int wrap_key(const unsigned char *vk, size_t vklen, const unsigned char *inf, size_t len,
		    unsigned char out[32])
{
	unsigned int outlen = 0;

	/* the volume key is uniformly random: HMAC is a sound PRF over it */
	return HMAC(EVP_sha256(), vk, (int)vklen, inf, len, out, &outlen) && outlen == 32 ? 0 : -EIO;
}

/* enc: 1 to seal in -> out, 0 to open (tag checked). */
static int gcm(int enc, const unsigned char key[32], const unsigned char nonce[12],
	       const unsigned char *aad, size_t aadlen, const unsigned char *in,
	       unsigned char *out, unsigned char tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) &&
	     EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) &&
	     EVP_CipherUpdate(c, out, &n, in, VSET_KEY_LEN) && n == VSET_KEY_LEN &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag)) &&
	     EVP_CipherFinal_ex(c, out + n, &n) &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag));
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -EBADMSG;
}

static int seal_or_open(int enc, const unsigned char *vk, size_t vklen, const char *uuid,
			const char *label, const unsigned char id[VSET_ID_LEN],
			const unsigned char *in, unsigned char wrap[VSET_WRAP_LEN],
			unsigned char *out)
{
	unsigned char inf[512], aad[512 + VSET_ID_LEN], k[32];
	size_t len;
	int r = info(uuid, label, inf, sizeof(inf), &len);

	if (r < 0)
		return r;
	memcpy(aad, inf, len);
	memcpy(aad + len, id, VSET_ID_LEN);
	r = wrap_key(vk, vklen, inf, len, k);
	if (r == 0)
		r = enc ? gcm(1, k, wrap, aad, len + VSET_ID_LEN, in, wrap + 12, wrap + 12 + 32)
			: gcm(0, k, wrap, aad, len + VSET_ID_LEN, wrap + 12, out, wrap + 12 + 32);
	explicit_bzero(k, sizeof(k));
	return r;
}

int vset_wrap(const struct secret *key, const unsigned char *vk, size_t vklen, const char *uuid,
	      const char *label, struct vset_token *t)
{
	int r = vset_id(key, t->id);

	if (r < 0)
		return r;
	if (getrandom(t->wrap, 12, 0) != 12)
		return -EIO;
	return seal_or_open(1, vk, vklen, uuid, label, t->id, key->buf, t->wrap, NULL);
}

int vset_unwrap(const struct vset_token *t, const unsigned char *vk, size_t vklen,
		const char *uuid, const char *label, struct secret **key)
{
	struct vset_token copy = *t;
	unsigned char id[VSET_ID_LEN];
	struct secret *k = secret_new(VSET_KEY_LEN);
	int r;

	*key = NULL;
	if (!k)
		return -ENOMEM;
	r = seal_or_open(0, vk, vklen, uuid, label, t->id, NULL, copy.wrap, k->buf);
	k->len = VSET_KEY_LEN;
	if (r == 0 && (vset_id(k, id) < 0 || memcmp(id, t->id, VSET_ID_LEN)))
		r = -EBADMSG;
	if (r < 0) {
		secret_free(k);
		return r;
	}
	*key = k;
	return 0;
}

int vset_claim_make(const unsigned char id[VSET_ID_LEN], struct secret *out)
{
	if (out->cap < VSET_CLAIM_LEN)
		return -EINVAL;
	memcpy(out->buf, claim_magic, 4);
	memcpy(out->buf + 4, id, VSET_ID_LEN);
	if (getrandom(out->buf + 4 + VSET_ID_LEN, VSET_CLAIM_RANDOM, 0) != VSET_CLAIM_RANDOM)
		return -EIO;
	out->len = VSET_CLAIM_LEN;
	return 0;
}

bool vset_claim_parse(const unsigned char *secret, size_t len, unsigned char id[VSET_ID_LEN])
{
	if (len != VSET_CLAIM_LEN || memcmp(secret, claim_magic, 4))
		return false;
	memcpy(id, secret + 4, VSET_ID_LEN);
	return true;
}

/* The id most bound members proved; the first in order on a tie. */
static const unsigned char *majority(const struct vset_member *m, size_t n)
{
	const unsigned char *best = NULL;
	size_t best_votes = 0;

	for (size_t i = 0; i < n; i++) {
		size_t votes = 0;

		if (m[i].state != VSET_BOUND)
			continue;
		for (size_t j = 0; j < n; j++)
			votes += m[j].state == VSET_BOUND && !memcmp(m[i].id, m[j].id, VSET_ID_LEN);
		if (votes > best_votes) {
			best = m[i].id;
			best_votes = votes;
		}
	}
	return best;
}

void vset_decide(struct vset_member *m, size_t n, const unsigned char *anchor, bool require,
		 struct vset_verdict *out)
{
	const unsigned char *set = anchor ? anchor : majority(m, n);

	memset(out, 0, sizeof(*out));
	out->ok = true;
	if (set) {
		out->have_id = true;
		memcpy(out->id, set, VSET_ID_LEN);
	}
	for (size_t i = 0; i < n; i++) {
		m[i].refused = m[i].state == VSET_BAD ||
			       (set && m[i].state == VSET_UNBOUND) ||
			       (set && m[i].state == VSET_BOUND && memcmp(m[i].id, set, VSET_ID_LEN)) ||
			       (!set && require);
		if (m[i].refused)
			out->ok = false;
	}
	out->legacy = out->ok && !set && n > 0;
}
