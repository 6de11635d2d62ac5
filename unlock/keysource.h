/* Key sources, tried in order for each volume. A new source (the TPM, a
 * recovery key, a network KMS) is one more entry in the table in
 * keysource.c; nothing else changes. */
#ifndef KCRYPT_KEYSOURCE_H
#define KCRYPT_KEYSOURCE_H

#include <stdbool.h>

#include "log.h"
#include "luks.h"
#include "secret.h"

struct tpm2;

/* TPM key source state, shared by every volume of a run: the TPM is opened
 * once, the signature file read once. */
struct tpm_state {
	const char *device;		/* --tpm-device / KCRYPT_TPM2_DEVICE / config; NULL: auto */
	const char *sig_path;		/* --tpm2-signature; NULL: search the usual places */
	const struct secret *pin;	/* --tpm2-pin-file; NULL when none */
	struct tpm2 *tpm;		/* opened on first use */
	int open_error;			/* < 0 once opening failed: not retried */
	char open_why[256];
	bool sig_loaded;
	char *sigjson;			/* NULL when no file was found */
	char sig_why[256];		/* why the file could not be used */
};

struct keysource_ctx {
	const struct secret *keyfile;	/* --key-file content, NULL when none */
	const char *keyfile_path;
	bool tokens;			/* try libcryptsetup tokens */
	struct tpm_state *tpm;		/* NULL: TPM source off */
	const struct logger *log;
};

/* What a source learnt beyond the key: kcrypt's sealed secrets name the
 * volume set they were made for (vset.h). */
struct ks_found {
	bool claimed;
	unsigned char set_id[16];
};

struct keysource {
	const char *name;
	/* Finds the volume key (luks_open_*): returns the keyslot (>= 0);
	 * -ENOENT with why empty when this source has nothing for the volume;
	 * otherwise -errno with why set to one line (-EPERM: its key was
	 * rejected). Activation is the caller's, later. */
	int (*open)(const struct keysource_ctx *ctx, struct luks *l, struct ks_found *found,
		    char *why, size_t whylen);
};

/* The TPM source (keysource_tpm2.c) and its teardown. */
int keysource_tpm2_open(const struct keysource_ctx *ctx, struct luks *l, struct ks_found *found,
			char *why, size_t whylen);
void keysource_tpm2_release(struct tpm_state *st);
/* The run's TPM, opened on first use (also for measurements). */
int keysource_tpm2_get(struct tpm_state *st, const struct logger *log, struct tpm2 **out,
		       char *why, size_t whylen);

/* The sources in the order they are tried; n gets the count. */
const struct keysource *keysource_table(size_t *n);

#endif
