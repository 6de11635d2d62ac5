/* Recovery keys exactly as systemd-cryptenroll --recovery-key makes them,
 * so either tool opens, lists and wipes the other's: 32 random bytes in
 * modhex, eight dash-separated groups of eight; the formatted string is a
 * passphrase keyslot's passphrase, and a token of type systemd-recovery
 * names that keyslot. */
#ifndef KCRYPT_RECOVERY_H
#define KCRYPT_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "luks.h"
#include "secret.h"

#define RECOVERY_TOKEN_TYPE "systemd-recovery"
#define RECOVERY_RAW_LEN 32
#define RECOVERY_KEY_LEN 71	/* 64 modhex characters and 7 dashes */

/* A fresh key, formatted. 0 or -errno. */
int recovery_new(struct secret **out);

/* What a person typed (any case, with or without dashes or spaces, a
 * trailing newline) as the canonical formatted key: 0, or -EINVAL when it
 * is not a recovery key (then it is a passphrase, used as typed). */
int recovery_normalize(const unsigned char *in, size_t len, struct secret **out);

/* The installation's one recovery key file: read when it exists (it must
 * hold a recovery key), else a new key written to it (0600, O_EXCL, synced).
 * *created says which. -errno with why set. */
int recovery_file(const char *path, struct secret **key, bool *created, char *why,
		  size_t whylen);

/* Show a new key once, on the controlling terminal (never stdout, which
 * the installer parses, and never a log). -ENOTTY when there is none. */
int recovery_show(const struct secret *key, const char *what);

/* Add key to l: a keyslot (opened by old, or by the volume key l holds
 * when old is NULL), then the token. A crash between the two leaves an
 * unused keyslot. -EEXIST when a systemd-recovery token's keyslot opens
 * with key already (nothing written). *keyslot the new slot. */
int recovery_enroll(struct luks *l, const struct secret *old, const struct secret *key,
		    int *keyslot, char *why, size_t whylen);

#endif
