#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* RFC 4122 URL namespace 6ba7b811-9dad-11d1-80b4-00c04fd430c8 */
static const unsigned char url_ns[16] = { 0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
					  0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8 };

int identity_uuid_v5(const char *name, char out[UUID_STR_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, url_ns, 16) &&
	     EVP_DigestUpdate(ctx, name, strlen(name)) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen < 16)
		return -EIO;
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	snprintf(out, UUID_STR_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
		 md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
		 md[12], md[13], md[14], md[15]);
	return 0;
}

static bool uuid_is_v5_of(const char *uuid, const char *label)
{
	char v5[UUID_STR_LEN];

	return uuid && identity_uuid_v5(label, v5) == 0 && strcasecmp(uuid, v5) == 0;
}

static bool copy(char *out, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* Kairos' GPT partition names for the two volumes every install has */
static const struct {
	const char *label, *gpt;
} gpt_names[] = { { LABEL_OEM, "oem" }, { LABEL_PERSISTENT, "persistent" } };

const char *identity_gpt_name(const char *label)
{
	for (size_t i = 0; i < sizeof(gpt_names) / sizeof(gpt_names[0]); i++)
		if (!strcmp(label, gpt_names[i].label))
			return gpt_names[i].gpt;
	return NULL;
}

bool identity_label(const struct volume *v, const struct config *c, char *out, size_t size)
{
	static const char suffix[] = "_LUKS";
	const size_t sl = sizeof(suffix) - 1;

	if (v->label && *v->label && strcmp(v->label, "unknown") != 0) {
		size_t n = strlen(v->label);
		if (n > sl && !strcmp(v->label + n - sl, suffix))
			n -= sl;
		return copy(out, size, v->label, n);
	}
	for (size_t i = 0; v->partname && i < sizeof(gpt_names) / sizeof(gpt_names[0]); i++)
		if (!strcmp(v->partname, gpt_names[i].gpt))
			return copy(out, size, gpt_names[i].label, strlen(gpt_names[i].label));
	for (size_t i = 0; v->uuid && i < c->uuid_labels.n; i++)
		if (!strcasecmp(c->uuid_labels.val[i], v->uuid))
			return copy(out, size, c->uuid_labels.key[i], strlen(c->uuid_labels.key[i]));
	if (uuid_is_v5_of(v->uuid, LABEL_OEM))
		return copy(out, size, LABEL_OEM, strlen(LABEL_OEM));
	if (uuid_is_v5_of(v->uuid, LABEL_PERSISTENT))
		return copy(out, size, LABEL_PERSISTENT, strlen(LABEL_PERSISTENT));
	for (size_t i = 0; i < c->encrypted.n; i++)
		if (uuid_is_v5_of(v->uuid, c->encrypted.v[i]))
			return copy(out, size, c->encrypted.v[i], strlen(c->encrypted.v[i]));
	return false;
}

enum role identity_role(const char *label, const struct config *c)
{
	if (!label || !*label)
		return ROLE_UNLISTED;
	if (!strcmp(label, LABEL_OEM))
		return ROLE_OEM;
	if (!strcmp(label, LABEL_PERSISTENT))
		return ROLE_PERSISTENT;
	if (strv_contains(&c->encrypted, label))
		return ROLE_LISTED;
	return ROLE_UNLISTED;
}

const char *identity_role_name(enum role r)
{
	switch (r) {
	case ROLE_OEM:
		return "oem";
	case ROLE_PERSISTENT:
		return "persistent";
	case ROLE_LISTED:
		return "listed";
	default:
		return "unlisted";
	}
}

bool identity_valid_dm_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	/* DM_NAME_LEN is 128 including the NUL */
	if (n == 0 || n > 127 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (; *name; name++)
		if (!isgraph((unsigned char)*name) || *name == '/')
			return false;
	return true;
}

int identity_mapper_name(const struct volume *v, const char *label, const struct config *c,
			 char *out, size_t size)
{
	const char *cand[4] = { NULL, v->partname, v->label, v->kname };

	if (label)
		cand[0] = kv_get(&c->mapper_names, label);
	if (!cand[0] && v->label)
		cand[0] = kv_get(&c->mapper_names, v->label);
	for (size_t i = 0; i < 4; i++) {
		if (!identity_valid_dm_name(cand[i]))
			continue;
		if (strlen(cand[i]) >= size)
			return -ENAMETOOLONG;
		strcpy(out, cand[i]);
		return 0;
	}
	return -EINVAL;
}

static bool names_label(const char *fslabel, const char *partname, const char *label)
{
	size_t n = strlen(label);
	const char *gpt = identity_gpt_name(label);

	if (fslabel && (!strcmp(fslabel, label) ||
			(!strncmp(fslabel, label, n) && !strcmp(fslabel + n, "_LUKS"))))
		return true;
	return partname && (!strcmp(partname, label) || (gpt && !strcmp(partname, gpt)));
}

bool identity_protected(const char *fslabel, const char *partname, const struct config *c,
			char *out, size_t size)
{
	static const char *const fixed[] = { LABEL_OEM, LABEL_PERSISTENT };

	for (size_t i = 0; i < 2; i++)
		if (names_label(fslabel, partname, fixed[i]))
			return copy(out, size, fixed[i], strlen(fixed[i]));
	for (size_t i = 0; i < c->encrypted.n; i++)
		if (names_label(fslabel, partname, c->encrypted.v[i]))
			return copy(out, size, c->encrypted.v[i], strlen(c->encrypted.v[i]));
	return false;
}

bool identity_plaintext_allowed(const char *label, const struct config *c)
{
	return c->allow_plaintext_all || strv_contains(&c->allow_plaintext, label);
}
