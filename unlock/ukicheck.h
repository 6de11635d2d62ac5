/* Will a systemd-tpm2 token unseal in the initrd after booting a given UKI?
 * Pure: the token, the UKI's sections and predicted PCR 11, and (through a
 * callback) the current values of the PCRs a UKI does not decide, in; a
 * verdict with its reason out. kcrypt check-uki is its caller. */
#ifndef KCRYPT_UKICHECK_H
#define KCRYPT_UKICHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"
#include "uki.h"

/* The phase the initrd unseals in: systemd-pcrphase (or kcrypt pcrphase)
 * has measured this word before the volumes are opened. */
#define UKICHECK_PHASE "enter-initrd"

enum ck_verdict { CK_OPENS = 0, CK_UNKNOWN, CK_REFUSED };	/* worse is larger */

/* Current value of PCR pcr in bank (TPM2_ALG_SHA256, ...), into out (*len
 * bytes); -errno with why ("no TPM reachable") when it cannot be read. */
typedef int (*ck_read_pcr_fn)(void *ctx, uint16_t bank, int pcr, unsigned char *out,
			      size_t *len, char *why, size_t whylen);

#define CK_MAX_BANKS 4

struct ck_uki {
	const struct uki *uki;
	const char *pcrsig;		/* the .pcrsig text, NULL when absent */
	const char *pcrpkey;		/* the .pcrpkey text, NULL when absent */
	ck_read_pcr_fn read_pcr;	/* may be NULL: no TPM */
	void *read_ctx;
	/* PCR 11 after the sections, per bank used so far (ck_pcr11 fills it) */
	struct uki_pcr base[CK_MAX_BANKS];
	size_t nbase;
};

struct ck_result {
	enum ck_verdict verdict;
	bool pin;		/* opens only with the PIN */
	bool other_pcrpkey;	/* the UKI's .pcrpkey is not the token's key */
	char reason[1024];
};

/* PCR 11 of the UKI in bank after phase path ("" for the stub alone,
 * "enter-initrd", "enter-initrd:leave-initrd"). 0 or -errno. */
int ck_pcr11(struct ck_uki *c, const char *bank, const char *phase, struct uki_pcr *out);

/* Judge one parsed token. */
void ck_token(struct ck_uki *c, const struct token_tpm2 *t, struct ck_result *res);

const char *ck_verdict_name(enum ck_verdict v);

#endif
