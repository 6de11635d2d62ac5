/* kcrypt encrypt: the installer's call. Turns a labelled partition into a
 * LUKS2 volume that opens with a TPM token and nothing else. Destroys the
 * partition's data, as Kairos' encrypt does. */
#ifndef KCRYPT_ENCRYPT_H
#define KCRYPT_ENCRYPT_H

#include <stdbool.h>

#include "enroll.h"
#include "log.h"
#include "strv.h"

struct encrypt_opts {
	const char *label;		/* filesystem label or GPT name to find; LUKS label */
	const struct strv *devices;	/* candidates (--device); NULL: every block device */
	struct enroll_opts tpm;		/* the token's policy (device is unused) */
	bool mkfs;			/* make ext4 with the label inside (needs device-mapper) */
	const struct secret *recovery;	/* also a recovery key (recovery.h); NULL: none */
};

struct encrypt_result {
	char device[256];
	char uuid[40];
	int keyslot, token, recovery_keyslot;
};

/* Returns 0, or -errno with why set: -ENOENT nothing has that label,
 * -ENOTUNIQ several partitions do, -EEXIST it is LUKS already, -EBUSY in
 * use, -ENOSPC too small; TPM and policy errors as enroll_tpm2. On any
 * error before the header write, the device is untouched. */
int encrypt_volume(const struct encrypt_opts *o, const struct logger *log,
		   struct encrypt_result *res, char *why, size_t whylen);

#endif
