/* TPM2 access (tpm2-tss ESYS), the only file that includes ESYS. TCTIs are
 * linked directly (device, swtpm, mssim): no dlopen on the boot path.
 * One context serves every volume of a run: the parent key is created once. */
#ifndef KCRYPT_TPM2_H
#define KCRYPT_TPM2_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "secret.h"
#include "token.h"

struct tpm2;

/* spec: NULL/"auto" (/dev/tpmrm0, then /dev/tpm0), a device path, or a
 * tpm2-tss TCTI string "device:PATH", "swtpm:host=H,port=P",
 * "swtpm:path=SOCK", "mssim:host=H,port=P". -ENODEV when there is no TPM. */
int tpm2_open(const char *spec, const struct logger *log, struct tpm2 **out, char *why,
	      size_t whylen);
void tpm2_close(struct tpm2 *t);

struct tpm2_unseal_in {
	const struct token_tpm2 *tok;
	const char *sigjson;		/* signature file content, NULL when none */
	const struct secret *pin;	/* NULL when none */
};

/* Unseal the token's secret (all shards, concatenated). Returns 0, or:
 * -ENOENT no signature authorizes the current PCRs; -EPERM the PCR state
 * does not satisfy the policy; -EACCES wrong PIN; -ENOLCK TPM in lockout;
 * -EBADMSG token blob malformed; -EINVAL signature file malformed or key
 * unusable; -EIO other TPM failures. why says which, in one line. */
int tpm2_unseal(struct tpm2 *t, const struct tpm2_unseal_in *in, struct secret **out,
		char *why, size_t whylen);

/* Current values of the mask's PCRs in bank, concatenated in ascending
 * index order into out (room for 24 * 64 bytes); *len gets the length. */
int tpm2_pcr_read(struct tpm2 *t, uint16_t bank, uint32_t mask, unsigned char *out, size_t *len,
		  char *why, size_t whylen);

/* The PCR banks the TPM has active (TPM2_ALG_SHA1, _SHA256, ...), at most
 * max of them, into algs; returns the count or -errno. */
int tpm2_pcr_banks(struct tpm2 *t, uint16_t *algs, size_t max, char *why, size_t whylen);

/* Extend PCR pcr in n banks at once: digest[i] (of the bank's size) into
 * bank algs[i]. Returns 0 or -EIO. */
int tpm2_pcr_extend(struct tpm2 *t, int pcr, const uint16_t *algs,
		    const unsigned char (*digest)[64], size_t n, char *why, size_t whylen);

/* The dictionary-attack state: a PIN typed wrong counts a failure; at
 * max_failures the TPM refuses every DA-protected object until one
 * failure is forgotten per interval seconds. */
struct tpm2_da {
	bool in_lockout;
	uint32_t failures, max_failures, interval;
};
int tpm2_da_info(struct tpm2 *t, struct tpm2_da *da, char *why, size_t whylen);

/* 0 when every shard of tok loads under its parent on this TPM; -ENOENT
 * when it does not (sealed on another TPM, or before a TPM clear). */
int tpm2_token_loads(struct tpm2 *t, const struct token_tpm2 *tok, char *why, size_t whylen);

struct tpm2_seal_out {
	unsigned char *blob;	/* TPM2B_PRIVATE || TPM2B_PUBLIC, malloc'd */
	size_t len;
	enum token_alg alg;	/* the parent's type (legacy primary or SRK) */
	unsigned char *srk;	/* with srk: Esys_TR_Serialize of the SRK, malloc'd */
	size_t srk_len;
	bool srk_created;	/* with srk: it was missing and is persisted now */
};

/* Seal secret with authPolicy = policy; auth (PIN-derived, may be NULL)
 * becomes the object's userAuth. PIN-less objects get noDA. The parent:
 * srk false, the legacy transient primary (what systemd 252 can load);
 * true, the persistent SRK at 0x81000001, created and persisted there
 * with systemd's template when missing (systemd >= 254 loads it). The
 * salted session that carries the secret is salted with that parent. */
int tpm2_seal(struct tpm2 *t, const unsigned char policy[32], const unsigned char *auth,
	      size_t authlen, const struct secret *secret, bool srk, struct tpm2_seal_out *out,
	      char *why, size_t whylen);
void tpm2_seal_out_free(struct tpm2_seal_out *out);

#endif
