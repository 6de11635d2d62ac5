/* kcrypt reseal: replace a volume's systemd-tpm2 tokens that no longer
 * unseal (PCR 7 moved with a firmware update, the TPM was cleared or
 * replaced) with tokens sealed to the same policy on this TPM now. */
#ifndef KCRYPT_RESEAL_H
#define KCRYPT_RESEAL_H

#include "log.h"
#include "secret.h"

struct reseal_opts {
	const char *device;
	const char *active_name;	/* its dm-crypt mapping (key read from it); NULL: none */
	const struct secret *unlock_key;	/* else: recovery key or passphrase */
	const struct secret *pin;	/* for PIN-bound tokens */
	const char *tpm_device, *sig_path;
};

struct reseal_result {
	int replaced, current, skipped;	/* tokens */
};

/* For each token: left alone when one with its policy loads on this TPM,
 * else a new token and keyslot, then the old token and keyslot removed: a
 * crash at any write leaves a volume the old or the new token opens.
 * PCR 15 is bound to zero as enroll does; literal PCR 11 is refused (it
 * differs after the initrd). Returns 0, or -errno with why set. */
int reseal_volume(const struct reseal_opts *o, const struct logger *log,
		  struct reseal_result *res, char *why, size_t whylen);

#endif
