/* Enrollment: add a systemd-tpm2 token to a LUKS2 volume. Installer path,
 * kept apart from the boot path. */
#ifndef KCRYPT_ENROLL_H
#define KCRYPT_ENROLL_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "secret.h"
#include "token.h"

/* The token's parent: the persistent SRK (systemd >= 254 reads it) or the
 * legacy transient primary (systemd 252 reads it); auto: the SRK unless a
 * systemd older than 254 is installed here (sdver.h). */
enum enroll_srk { ENROLL_SRK_AUTO, ENROLL_SRK_YES, ENROLL_SRK_NO };

struct enroll_opts {
	const char *device;
	const struct secret *unlock_key;	/* opens an existing keyslot; NULL with
						 * enroll_tpm2_open: the volume key held */
	const char *tpm_device;
	uint32_t pcr_mask;			/* literal PCRs, their current values */
	uint32_t zero_mask;			/* literal PCRs bound to all zeros (PCR 15:
						 * unseal before any volume key is measured) */
	const char *pubkey_path;		/* PCR signing key (PEM), NULL: none */
	const char *pubkey_pem;			/* or the key itself (reseal: the old token's) */
	uint32_t pubkey_pcr_mask;		/* signed PCRs */
	const struct secret *pin;		/* NULL: no PIN */
	const char *sig_path;			/* to test-unseal a signed policy; NULL: search */
	const unsigned char *set_id;		/* the secret names this volume set (vset.h);
						 * NULL: a plain random secret (unbound volume) */
	enum enroll_srk srk;
	const char *srk_why;			/* why srk is what it is, for the log;
						 * NULL: the --tpm2-srk option */
};

/* Returns 0 (with *token_id, or -1 when an identical token that loads on
 * this TPM was already there), or -errno with why set. On failure the
 * header is as it was. A member of a volume set gets a secret naming its
 * set (o->set_id is ignored: the volume's own binding decides). */
int enroll_tpm2(const struct enroll_opts *o, const struct logger *log, int *token_id,
		int *keyslot, char *why, size_t whylen);

struct luks;
/* enroll_tpm2 on a header loaded for writing and opened (its volume key
 * held): what reseal builds on. Returns 1 with *token_id the token when
 * one with this policy that loads here is there already. */
int enroll_tpm2_open(struct luks *l, const struct enroll_opts *o, const struct logger *log,
		     int *token_id, int *keyslot, char *why, size_t whylen);

/* A recovery key (recovery.h) on o->device, opened by o->unlock_key.
 * Returns 0 (*keyslot), -EEXIST when that key is there already, or -errno
 * with why set; on failure the header is as it was. */
int enroll_recovery(const struct enroll_opts *o, const struct secret *key,
		    const struct logger *log, int *keyslot, char *why, size_t whylen);

/* No volume involved (kcrypt encrypt): seal a fresh random secret to the
 * policy o describes and test-unseal it. tok gets everything but its
 * keyslot; *secret the secret (base64 of it is the LUKS passphrase). */
int enroll_seal(const struct enroll_opts *o, const struct logger *log, struct token_tpm2 *tok,
		struct secret **secret, char *why, size_t whylen);

#endif
