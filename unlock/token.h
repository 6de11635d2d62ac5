/* systemd-tpm2 LUKS2 token JSON <-> struct token_tpm2 (pure).
 * Accepts what systemd 248..262 write (see shared/design/systemd-tpm2-token.md §1). */
#ifndef KCRYPT_TOKEN_H
#define KCRYPT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_TYPE_TPM2 "systemd-tpm2"
#define TOKEN_MAX_SHARDS 4

enum token_alg { TOKEN_ALG_ECC = 0, TOKEN_ALG_RSA = 1 };

struct token_blob {
	unsigned char *data;	/* TPM2B_PRIVATE || TPM2B_PUBLIC [|| seed] */
	size_t len;
	unsigned char policy_hash[32];
};

struct token_tpm2 {
	int keyslot;
	struct token_blob shard[TOKEN_MAX_SHARDS];
	size_t nshards;
	uint32_t pcr_mask;		/* tpm2-pcrs: literal PCRs */
	uint16_t bank;			/* TPM2_ALG_SHA1/256/384/512; 0 = pick automatically */
	enum token_alg primary_alg;
	bool pin;
	uint32_t pubkey_pcr_mask;	/* tpm2_pubkey_pcrs: signed PCRs */
	char *pubkey_pem;		/* decoded tpm2_pubkey (PEM text) */
	unsigned char salt[32];
	bool has_salt;
	unsigned char *srk;		/* Esys_TR_Serialize output, NULL = legacy primary */
	size_t srk_len;
	bool pcrlock;			/* unsupported: refused with a clear reason */
};

/* True when json is a token of type systemd-tpm2 (whatever else it holds). */
bool token_is_tpm2(const char *json);

/* Returns 0, or -EINVAL with why set ("tpm2-blob is not base64", ...). */
int token_parse(const char *json, struct token_tpm2 *t, char *why, size_t whylen);
void token_free(struct token_tpm2 *t);

/* The token as systemd writes it: compact, string blob and hash, tpm2-pin
 * always present. Legacy primary (no srk): as 252 does, readable by 252
 * and every later version; no salt. With srk: as 255 does (its key order,
 * tpm2_pcrlock false, tpm2_salt with a PIN, tpm2_srk last), readable by
 * 254 and later. Only single-shard tokens. malloc'd, or NULL. */
char *token_format(const struct token_tpm2 *t);

/* "sha256" for TPM2_ALG_SHA256 etc.; "sha256" for 0 (the default bank). */
const char *token_bank_name(uint16_t alg);

/* "7+11" style mask description for messages. */
void token_mask_str(uint32_t mask, char *buf, size_t size);

#endif
