#include "measure.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpm2.h"

#define EFI_VAR_STUB_PCR "StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

bool measure_is_measured_uki(const char *efivars)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", efivars ? efivars : "/sys/firmware/efi/efivars",
		 EFI_VAR_STUB_PCR);
	return access(path, F_OK) == 0;
}

static const EVP_MD *bank_md(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return EVP_sha1();
	case TPM2_ALG_SHA256:
		return EVP_sha256();
	case TPM2_ALG_SHA384:
		return EVP_sha384();
	case TPM2_ALG_SHA512:
		return EVP_sha512();
	default:
		return NULL;	/* e.g. SM3: not one systemd measures either */
	}
}

/* key NULL: plain hash of msg; else HMAC(key, msg) -- per active bank. */
static int extend_all(struct tpm2 *t, int pcr, const unsigned char *key, size_t keylen,
		      const void *msg, size_t len, char *why, size_t whylen)
{
	uint16_t banks[8], algs[8];
	unsigned char d[8][64];
	size_t n = 0;
	int nb, r = 0;

	nb = tpm2_pcr_banks(t, banks, 8, why, whylen);
	if (nb < 0)
		return nb;
	for (int i = 0; i < nb; i++) {
		const EVP_MD *md = bank_md(banks[i]);
		unsigned int dl = 0;

		if (!md)
			continue;
		memset(d[n], 0, sizeof(d[n]));
		if (key ? !HMAC(md, key, (int)keylen, msg, len, d[n], &dl)
			: !EVP_Digest(msg, len, d[n], &dl, md, NULL)) {
			r = -EIO;
			snprintf(why, whylen, "cannot compute the measurement");
			goto out;
		}
		algs[n++] = banks[i];
	}
	if (!n) {
		snprintf(why, whylen, "the TPM has no SHA PCR bank active");
		r = -ENODEV;
		goto out;
	}
	r = tpm2_pcr_extend(t, pcr, algs, (const unsigned char (*)[64])d, n, why, whylen);
out:
	explicit_bzero(d, sizeof(d));
	return r;
}

int measure_phase(struct tpm2 *t, const char *word, char *why, size_t whylen)
{
	return extend_all(t, MEASURE_PCR_KERNEL, NULL, 0, word, strlen(word), why, whylen);
}

/* systemd's xescape(name, ":"): ':' , '\\' and non-printables as \xNN */
int measure_volume_message(const char *name, const char *uuid, char *out, size_t size)
{
	size_t o = 0;
	int n;

	n = snprintf(out, size, "cryptsetup:");
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	o = (size_t)n;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < ' ' || *p >= 127 || *p == '\\' || *p == ':')
			n = snprintf(out + o, size - o, "\\x%02x", *p);
		else
			n = snprintf(out + o, size - o, "%c", *p);
		if (n < 0 || (size_t)n >= size - o)
			return -ENAMETOOLONG;
		o += (size_t)n;
	}
	n = snprintf(out + o, size - o, ":%s", uuid);
	if (n < 0 || (size_t)n >= size - o)
		return -ENAMETOOLONG;
	return 0;
}

int measure_volume_key(struct tpm2 *t, const char *name, const char *uuid,
		       const unsigned char *vk, size_t vklen, char *why, size_t whylen)
{
	char msg[512];

	if (measure_volume_message(name, uuid, msg, sizeof(msg)) < 0) {
		snprintf(why, whylen, "volume name too long to measure");
		return -ENAMETOOLONG;
	}
	return extend_all(t, MEASURE_PCR_VOLUME, vk, vklen, msg, strlen(msg), why, whylen);
}
