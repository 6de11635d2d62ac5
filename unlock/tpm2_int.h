/* Inside the TPM module: the context and the per-operation state that
 * tpm2.c (context, parents, loading), tpm2_unseal.c, tpm2_pcr.c,
 * tpm2_seal.c and tpm2_srk.c share. Nothing outside unlock/tpm2*.c includes it. */
#ifndef KCRYPT_TPM2_INT_H
#define KCRYPT_TPM2_INT_H

#include <stdbool.h>

#include <tss2/tss2_esys.h>

#include "tpm2.h"

#define PCR_CHANGED_RETRIES 10
#define TPM2_SRK_HANDLE 0x81000001	/* the TCG's shared SRK handle, systemd's */

/* A TPM-verified PCR signature: the ticket is not bound to a session, so
 * one VerifySignature serves every volume sealed to the same key and state. */
struct verified {
	bool valid;
	uint16_t bank;		/* (bank, mask, pkfp, exponent) -> approved, no PolicyGetDigest */
	uint32_t mask;
	unsigned char pkfp[32];
	uint32_t exponent;
	TPM2B_DIGEST approved;
	TPM2B_NAME name;
	TPMT_TK_VERIFIED ticket;
};

struct tpm2 {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR primary[2];	/* legacy transient parents by enum token_alg */
	ESYS_TR hmac, policy;	/* one salted HMAC + one policy session per run */
	bool started;		/* Startup sent (only when the TPM said INITIALIZE) */
	struct verified verified;
	uint16_t banks[8];	/* active PCR banks, read once */
	int nbanks;		/* -1 until read */
	const struct logger *log;
};

/* Everything one unseal holds; released on every path. */
struct op {
	struct tpm2 *t;
	ESYS_TR parent, object, hmac, ext;	/* hmac: enroll's session (unseal keeps its pair in struct tpm2) */
	bool parent_is_srk;
	char *why;
	size_t whylen;
};

/* salted, encrypting HMAC sessions: AES-128-CFB */
extern const TPMT_SYM_DEF tpm2_session_sym;

/* The storage key template: legacy primary (noda false) or SRK (true). */
void primary_template(enum token_alg alg, bool noda, TPM2B_PUBLIC *tmpl);
TSS2_RC legacy_primary(struct tpm2 *t, enum token_alg alg, ESYS_TR *out);
/* o->parent = the SRK at 0x81000001, created and persisted when missing
 * (*created); *alg its type. 0 or -errno with o->why. */
int srk_get(struct op *o, enum token_alg *alg, bool *created);
/* Esys_TR_Serialize of o->parent (the token's tpm2_srk), malloc'd. */
int srk_serialize(struct op *o, unsigned char **buf, size_t *len);
/* step under the token's SRK failed with rc: -EIO with a line saying
 * the SRK is gone or another key, else tpm_fail's. */
int srk_explain(struct op *o, const char *step, TSS2_RC rc);
void op_flush(ESYS_CONTEXT *esys, ESYS_TR *h);
void op_release(struct op *o);
uint32_t tpm_property(struct tpm2 *t, TPM2_PT prop);
bool tpm2_need_startup(struct tpm2 *t, TSS2_RC rc);
void tpm2_wipe_response(struct tpm2 *t);
/* Map a TPM error to -errno and one line in o->why. */
int tpm_fail(struct op *o, const char *step, TSS2_RC rc);
int get_parent(struct op *o, const struct token_tpm2 *tok);
int load_shard(struct op *o, const struct token_blob *b);
int start_hmac(struct op *o, const struct tpm2_unseal_in *in);
TPML_PCR_SELECTION selection(uint16_t bank, uint32_t mask);

#endif
