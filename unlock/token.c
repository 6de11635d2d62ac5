#include "token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <tss2/tss2_tpm2_types.h>

#include "codec.h"

void token_free(struct token_tpm2 *t)
{
	for (size_t i = 0; i < t->nshards; i++)
		free(t->shard[i].data);
	free(t->pubkey_pem);
	free(t->srk);
	memset(t, 0, sizeof(*t));
}

void token_mask_str(uint32_t mask, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < 24 && off < size; i++)
		if (mask & (1u << i))
			off += (size_t)snprintf(buf + off, size - off, "%s%d", off ? "+" : "", i);
	if (!buf[0])
		snprintf(buf, size, "none");
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int pcr_list(json_object *a, uint32_t *mask)
{
	*mask = 0;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		int64_t v;
		if (!json_object_is_type(e, json_type_int))
			return -EINVAL;
		v = json_object_get_int64(e);
		if (v < 0 || v > 23)
			return -EINVAL;
		*mask |= 1u << v;
	}
	return 0;
}

static const struct { const char *name; uint16_t alg; } banks[] = {
	{ "sha1", TPM2_ALG_SHA1 }, { "sha256", TPM2_ALG_SHA256 },
	{ "sha384", TPM2_ALG_SHA384 }, { "sha512", TPM2_ALG_SHA512 },
};

static int parse_bank(const char *s, uint16_t *bank)
{
	for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++)
		if (!strcasecmp(s, banks[i].name)) {
			*bank = banks[i].alg;
			return 0;
		}
	return -EINVAL;
}

const char *token_bank_name(uint16_t alg)
{
	for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++)
		if (banks[i].alg == alg)
			return banks[i].name;
	return "sha256";
}

/* string, or (257+) array of strings */
static int strings_of(json_object *v, const char **out, size_t *n)
{
	*n = 0;
	if (json_object_is_type(v, json_type_string)) {
		out[(*n)++] = json_object_get_string(v);
		return 0;
	}
	if (!json_object_is_type(v, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string) || *n == TOKEN_MAX_SHARDS)
			return -EINVAL;
		out[(*n)++] = json_object_get_string(e);
	}
	return *n ? 0 : -EINVAL;
}

bool token_is_tpm2(const char *json)
{
	json_object *root = json_tokener_parse(json), *v;
	bool is = root && (v = get(root, "type")) && json_object_is_type(v, json_type_string) &&
		  !strcmp(json_object_get_string(v), TOKEN_TYPE_TPM2);

	json_object_put(root);
	return is;
}

#define FAIL(...)                                        \
	do {                                             \
		snprintf(why, whylen, __VA_ARGS__);      \
		r = -EINVAL;                             \
		goto out;                                \
	} while (0)

static int parse_shards(json_object *root, struct token_tpm2 *t, char *why, size_t whylen)
{
	const char *blobs[TOKEN_MAX_SHARDS], *hashes[TOKEN_MAX_SHARDS];
	size_t nb = 0, nh = 0;
	json_object *b = get(root, "tpm2-blob"), *h = get(root, "tpm2-policy-hash");
	int r = 0;

	if (!b || strings_of(b, blobs, &nb) < 0)
		FAIL("tpm2-blob is missing or not a string");
	if (!h || strings_of(h, hashes, &nh) < 0)
		FAIL("tpm2-policy-hash is missing or not a string");
	if (nb != nh)
		FAIL("tpm2-blob and tpm2-policy-hash have different shard counts");
	for (size_t i = 0; i < nb; i++) {
		struct token_blob *s = &t->shard[i];
		s->data = codec_b64_decode(blobs[i], &s->len);
		t->nshards = i + 1;
		if (!s->data || s->len < 4)
			FAIL("tpm2-blob is not valid base64");
		if (codec_hex_decode(hashes[i], s->policy_hash, 32) < 0)
			FAIL("tpm2-policy-hash is not 64 hex digits");
	}
out:
	return r;
}

static int parse_pubkey(json_object *root, struct token_tpm2 *t, char *why, size_t whylen)
{
	json_object *pk = get(root, "tpm2_pubkey");
	unsigned char *pem;
	size_t len;
	int r = 0;

	if (pcr_list(get(root, "tpm2_pubkey_pcrs"), &t->pubkey_pcr_mask) < 0)
		FAIL("tpm2_pubkey_pcrs is not a list of PCR numbers");
	if (!pk)
		goto check;
	if (!json_object_is_type(pk, json_type_string))
		FAIL("tpm2_pubkey is not a string");
	pem = codec_b64_decode(json_object_get_string(pk), &len);
	if (!pem || memchr(pem, '\0', len)) {
		free(pem);
		FAIL("tpm2_pubkey is not base64 PEM text");
	}
	pem[len] = '\0';
	t->pubkey_pem = (char *)pem;
check:
	if (t->pubkey_pcr_mask && !t->pubkey_pem)
		FAIL("tpm2_pubkey_pcrs is set but tpm2_pubkey is missing");
out:
	return r;
}

static int parse_optional(json_object *root, struct token_tpm2 *t, char *why, size_t whylen)
{
	json_object *v;
	int r = 0;

	if ((v = get(root, "tpm2-pcr-bank"))) {
		if (!json_object_is_type(v, json_type_string) ||
		    parse_bank(json_object_get_string(v), &t->bank) < 0)
			FAIL("tpm2-pcr-bank is not sha1, sha256, sha384 or sha512");
	}
	if ((v = get(root, "tpm2-primary-alg"))) {
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (!strcasecmp(s, "ecc"))
			t->primary_alg = TOKEN_ALG_ECC;
		else if (!strcasecmp(s, "rsa"))
			t->primary_alg = TOKEN_ALG_RSA;
		else
			FAIL("tpm2-primary-alg is not ecc or rsa");
	}
	if ((v = get(root, "tpm2-pin"))) {
		if (!json_object_is_type(v, json_type_boolean))
			FAIL("tpm2-pin is not a boolean");
		t->pin = json_object_get_boolean(v);
	}
	if ((v = get(root, "tpm2_salt"))) {
		size_t len = 0;
		unsigned char *salt = json_object_is_type(v, json_type_string) ?
			codec_b64_decode(json_object_get_string(v), &len) : NULL;
		if (!salt || len != 32) {
			free(salt);
			FAIL("tpm2_salt is not 32 bytes of base64");
		}
		memcpy(t->salt, salt, 32);
		free(salt);
		t->has_salt = true;
	}
	if ((v = get(root, "tpm2_srk"))) {
		t->srk = json_object_is_type(v, json_type_string) ?
			codec_b64_decode(json_object_get_string(v), &t->srk_len) : NULL;
		if (!t->srk)
			FAIL("tpm2_srk is not base64");
	}
	if ((v = get(root, "tpm2_pcrlock")) || (v = get(root, "tpm2-pcrlock")))
		t->pcrlock = json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
out:
	return r;
}

int token_parse(const char *json, struct token_tpm2 *t, char *why, size_t whylen)
{
	json_object *root = NULL, *v;
	int r = 0;

	memset(t, 0, sizeof(*t));
	t->keyslot = -1;
	root = json_tokener_parse(json);
	if (!root || !json_object_is_type(root, json_type_object))
		FAIL("token is not a JSON object");
	v = get(root, "type");
	if (!v || !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), TOKEN_TYPE_TPM2) != 0)
		FAIL("token type is not " TOKEN_TYPE_TPM2);
	v = get(root, "keyslots");
	if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != 1 ||
	    !json_object_is_type(json_object_array_get_idx(v, 0), json_type_string))
		FAIL("keyslots is not a list of one keyslot number");
	{
		const char *s = json_object_get_string(json_object_array_get_idx(v, 0));
		char *end;
		long ks = strtol(s, &end, 10);
		if (!*s || *end || ks < 0 || ks > 31)
			FAIL("keyslots holds '%s', not a keyslot number", s);
		t->keyslot = (int)ks;
	}
	if (pcr_list(get(root, "tpm2-pcrs"), &t->pcr_mask) < 0)
		FAIL("tpm2-pcrs is not a list of PCR numbers 0..23");
	r = parse_shards(root, t, why, whylen);
	if (r == 0)
		r = parse_optional(root, t, why, whylen);
	if (r == 0)
		r = parse_pubkey(root, t, why, whylen);
out:
	json_object_put(root);
	if (r < 0)
		token_free(t);
	return r;
}

static json_object *mask_json(uint32_t mask)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < 24; i++)
		if (mask & (1u << i))
			json_object_array_add(a, json_object_new_int(i));
	return a;
}

static json_object *b64_json(const unsigned char *data, size_t len)
{
	char *buf = malloc(4 * ((len + 2) / 3) + 1);
	json_object *s;

	if (!buf)
		return NULL;
	codec_b64_encode(data, len, buf);
	s = json_object_new_string(buf);
	free(buf);
	return s;
}

char *token_format(const struct token_tpm2 *t)
{
	json_object *root, *slots;
	char num[16], hex[65], *out;
	const char *bank = token_bank_name(t->bank);

	/* a salted PIN is 253+: only in the SRK profile, which 252 cannot read anyway */
	if (t->nshards != 1 || (t->has_salt && !t->srk))
		return NULL;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", t->shard[0].policy_hash[i]);
	snprintf(num, sizeof(num), "%d", t->keyslot);

	root = json_object_new_object();
	slots = json_object_new_array();
	json_object_array_add(slots, json_object_new_string(num));
	json_object_object_add(root, "type", json_object_new_string(TOKEN_TYPE_TPM2));
	json_object_object_add(root, "keyslots", slots);
	json_object_object_add(root, "tpm2-blob", b64_json(t->shard[0].data, t->shard[0].len));
	json_object_object_add(root, "tpm2-pcrs", mask_json(t->pcr_mask));
	json_object_object_add(root, "tpm2-pcr-bank", json_object_new_string(bank));
	json_object_object_add(root, "tpm2-primary-alg",
			       json_object_new_string(t->primary_alg == TOKEN_ALG_RSA ? "rsa" : "ecc"));
	json_object_object_add(root, "tpm2-policy-hash", json_object_new_string(hex));
	json_object_object_add(root, "tpm2-pin", json_object_new_boolean(t->pin));
	if (t->srk)	/* 255..259 write it, false, into every token */
		json_object_object_add(root, "tpm2_pcrlock", json_object_new_boolean(0));
	if (t->pubkey_pcr_mask) {
		json_object_object_add(root, "tpm2_pubkey_pcrs", mask_json(t->pubkey_pcr_mask));
		json_object_object_add(root, "tpm2_pubkey",
				       b64_json((const unsigned char *)t->pubkey_pem, strlen(t->pubkey_pem)));
	}
	if (t->srk && t->has_salt)
		json_object_object_add(root, "tpm2_salt", b64_json(t->salt, sizeof(t->salt)));
	if (t->srk)
		json_object_object_add(root, "tpm2_srk", b64_json(t->srk, t->srk_len));
	/* compact, and base64's '/' unescaped, as systemd writes it */
	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}
