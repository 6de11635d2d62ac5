#include "uki.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static const char *const names[UKI_NSECTIONS] = {
	[UKI_LINUX] = ".linux",	  [UKI_OSREL] = ".osrel",   [UKI_CMDLINE] = ".cmdline",
	[UKI_INITRD] = ".initrd", [UKI_SPLASH] = ".splash", [UKI_DTB] = ".dtb",
	[UKI_PCRSIG] = ".pcrsig", [UKI_PCRPKEY] = ".pcrpkey",
};

const char *uki_section_name(enum uki_section s)
{
	return s < UKI_NSECTIONS ? names[s] : "?";
}

int uki_find_sections(const unsigned char *buf, const struct pe_image *img, struct uki *u,
		      char *why, size_t whylen)
{
	memset(u, 0, sizeof(*u));
	for (size_t i = 0; i < img->nsections; i++) {
		const struct pe_section *s = &img->sect[i];

		for (int j = 0; j < UKI_NSECTIONS; j++) {
			if (memcmp(s->name, names[j], strlen(names[j])) != 0)
				continue;
			pe_section_loaded(buf, s, &u->part[j].data, &u->part[j].filelen);
			u->part[j].size = s->vsize;
		}
	}
	/* the stub's own test: a .linux of size 0 is no .linux */
	if (!u->part[UKI_LINUX].size) {
		snprintf(why, whylen, "not a UKI: no .linux section");
		return -ENOENT;
	}
	return 0;
}

int uki_section_text(const struct uki *u, enum uki_section s, size_t max, char **out)
{
	const struct uki_part *p = &u->part[s];

	*out = NULL;
	if (!p->size)
		return 0;
	if (p->size > max)
		return -EFBIG;
	/* the zeros after filelen end the text anyway */
	*out = malloc(p->filelen + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, p->data, p->filelen);
	(*out)[p->filelen] = '\0';
	return 0;
}

static int pcr_init(const char *bank, struct uki_pcr *pcr, const EVP_MD **md)
{
	memset(pcr, 0, sizeof(*pcr));
	*md = NULL;
	if (strcmp(bank, "sha1") && strcmp(bank, "sha256") && strcmp(bank, "sha384") &&
	    strcmp(bank, "sha512"))
		return -EOPNOTSUPP;
	*md = EVP_get_digestbyname(bank);
	if (!*md || EVP_MD_get_size(*md) > UKI_DIGEST_MAX)
		return -EOPNOTSUPP;
	snprintf(pcr->bank, sizeof(pcr->bank), "%s", bank);
	pcr->len = (size_t)EVP_MD_get_size(*md);
	return 0;
}

/* PCR = H(PCR || digest): what TPM2_PCR_Extend does with one bank's digest */
static int extend(struct uki_pcr *pcr, const EVP_MD *md, const unsigned char *digest)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) &&
		 EVP_DigestUpdate(ctx, pcr->value, pcr->len) &&
		 EVP_DigestUpdate(ctx, digest, pcr->len) &&
		 EVP_DigestFinal_ex(ctx, pcr->value, NULL);

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* H(section as loaded): the file bytes, then the loader's zero fill */
static int hash_part(const struct uki_part *p, const EVP_MD *md, unsigned char *out)
{
	static const unsigned char zeros[4096];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t left = p->size - p->filelen;
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) &&
		 EVP_DigestUpdate(ctx, p->data, p->filelen);

	while (ok && left) {
		size_t n = left < sizeof(zeros) ? left : sizeof(zeros);

		ok = EVP_DigestUpdate(ctx, zeros, n);
		left -= n;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int uki_pcr11_sections(const struct uki *u, const char *bank, struct uki_pcr *out)
{
	unsigned char d[UKI_DIGEST_MAX];
	const EVP_MD *md;
	int r = pcr_init(bank, out, &md);

	for (int s = 0; r == 0 && s < UKI_NSECTIONS; s++) {
		/* .pcrsig signs the result: it cannot be part of it */
		if (s == UKI_PCRSIG || !u->part[s].size)
			continue;
		r = EVP_Digest(names[s], strlen(names[s]) + 1, d, NULL, md, NULL) ? 0 : -EIO;
		if (r == 0)
			r = extend(out, md, d);
		if (r == 0)
			r = hash_part(&u->part[s], md, d);
		if (r == 0)
			r = extend(out, md, d);
	}
	return r;
}

int uki_pcr11_phase(const struct uki_pcr *base, const char *path, struct uki_pcr *out)
{
	unsigned char d[UKI_DIGEST_MAX];
	const EVP_MD *md = EVP_get_digestbyname(base->bank);
	const char *w = path;

	*out = *base;
	if (!md)
		return -EOPNOTSUPP;
	while (*w) {
		size_t n = strcspn(w, ":");

		if (n) {
			if (!EVP_Digest(w, n, d, NULL, md, NULL) || extend(out, md, d) < 0)
				return -EIO;
		}
		w += n;
		if (*w == ':')
			w++;
	}
	return 0;
}

int uki_verify_signature(const char *pem, const unsigned char pol[32], const unsigned char *sig,
			 size_t siglen)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *ctx = NULL;
	int r = -EINVAL;

	/* systemd-measure: EVP_DigestSign with the bank's digest, SHA-256 for
	 * the sha256 bank, RSA's default PKCS#1 v1.5 padding */
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1)
		goto out;
	r = EVP_DigestVerify(ctx, sig, siglen, pol, 32) == 1 ? 0 : -EBADMSG;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return r;
}
