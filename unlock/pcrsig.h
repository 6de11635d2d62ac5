/* Signed PCR policy files (systemd-measure's tpm2-pcr-signature.json): find
 * the entry that authorizes the current PCR state. Pure. */
#ifndef KCRYPT_PCRSIG_H
#define KCRYPT_PCRSIG_H

#include <stddef.h>
#include <stdint.h>

#define PCRSIG_MAX_SIG 512

struct pcrsig_match {
	unsigned char sig[PCRSIG_MAX_SIG];
	size_t siglen;
};

/* In json, under bank (e.g. "sha256"), the first entry whose pcrs == mask,
 * pkfp == pkfp and pol == pol. Returns 0; -ENOENT when entries by this key
 * exist but none for this PCR state; -ENOKEY when no entry of this bank is
 * by this key;
 * -EINVAL when the file is malformed. why says which. */
int pcrsig_find(const char *json, const char *bank, uint32_t mask, const unsigned char pkfp[32],
		const unsigned char pol[32], struct pcrsig_match *m, char *why, size_t whylen);

#endif
