#include "pcrsig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "codec.h"

static int entry_mask(json_object *e, uint32_t *mask)
{
	json_object *a;

	*mask = 0;
	if (!json_object_object_get_ex(e, "pcrs", &a) || !json_object_is_type(a, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *p = json_object_array_get_idx(a, i);
		int64_t v = json_object_get_int64(p);
		if (!json_object_is_type(p, json_type_int) || v < 0 || v > 23)
			return -EINVAL;
		*mask |= 1u << v;
	}
	return 0;
}

static int entry_hex(json_object *e, const char *key, unsigned char out[32])
{
	json_object *v;

	if (!json_object_object_get_ex(e, key, &v) || !json_object_is_type(v, json_type_string))
		return -EINVAL;
	return codec_hex_decode(json_object_get_string(v), out, 32) < 0 ? -EINVAL : 0;
}

static int entry_sig(json_object *e, struct pcrsig_match *m)
{
	json_object *v;
	unsigned char *sig;
	size_t len = 0;

	if (!json_object_object_get_ex(e, "sig", &v) || !json_object_is_type(v, json_type_string))
		return -EINVAL;
	sig = codec_b64_decode(json_object_get_string(v), &len);
	if (!sig || len == 0 || len > PCRSIG_MAX_SIG) {
		free(sig);
		return -EINVAL;
	}
	memcpy(m->sig, sig, len);
	m->siglen = len;
	free(sig);
	return 0;
}

int pcrsig_find(const char *json, const char *bank, uint32_t mask, const unsigned char pkfp[32],
		const unsigned char pol[32], struct pcrsig_match *m, char *why, size_t whylen)
{
	json_object *root = json_tokener_parse(json), *arr;
	bool key_seen = false;
	int r = -ENOENT;

	memset(m, 0, sizeof(*m));
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(why, whylen, "signature file is not a JSON object");
		r = -EINVAL;
		goto out;
	}
	if (!json_object_object_get_ex(root, bank, &arr)) {
		snprintf(why, whylen, "signature file has no %s entries", bank);
		r = -ENOKEY;
		goto out;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		snprintf(why, whylen, "signature file: %s is not a list", bank);
		r = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		unsigned char efp[32], epol[32];
		uint32_t emask;

		if (!json_object_is_type(e, json_type_object) || entry_mask(e, &emask) < 0 ||
		    entry_hex(e, "pkfp", efp) < 0 || entry_hex(e, "pol", epol) < 0) {
			snprintf(why, whylen, "signature file: %s entry %zu is malformed", bank, i);
			r = -EINVAL;
			goto out;
		}
		if (emask != mask || memcmp(efp, pkfp, 32) != 0)
			continue;
		key_seen = true;
		if (memcmp(epol, pol, 32) != 0)
			continue;
		if (entry_sig(e, m) < 0) {
			snprintf(why, whylen, "signature file: %s entry %zu has no valid sig", bank, i);
			r = -EINVAL;
			goto out;
		}
		r = 0;
		goto out;
	}
	if (key_seen) {
		snprintf(why, whylen, "no signature matches the current PCR state");
	} else {
		snprintf(why, whylen, "no %s signature in the file is by the token's public key", bank);
		r = -ENOKEY;
	}
out:
	json_object_put(root);
	return r;
}
