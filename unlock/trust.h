/* Is the disk this machine's own? The checks unlock-all makes between
 * finding the keys and activating anything (threat model:
 * tests/THREAT-MODEL.md). */
#ifndef KCRYPT_TRUST_H
#define KCRYPT_TRUST_H

#include <stdbool.h>

#include "config.h"
#include "log.h"
#include "plan.h"
#include "strv.h"
#include "unlock.h"
#include "vset.h"

/* Plaintext downgrade: devices (NULL: every block device) holding anything
 * but LUKS while bearing a protected name (identity_protected), other than
 * the dm-crypt mappings (the filesystems inside opened volumes). Each is
 * logged as an error. Returns how many, or -errno when the scan failed. */
int trust_plaintext(const struct strv *devices, const struct config *c, const struct logger *log);

/* The set the earlier volumes of this run proved. */
struct trust_anchor {
	bool have;
	unsigned char id[VSET_ID_LEN];
	bool unbound;	/* the earlier volumes opened as an unbound set */
};

/* Volume set: every step whose key was found (RES_VERIFIED with the key
 * held) must prove membership of one set with its volume key. Otherwise
 * all of them fail (FAIL_TRUST), each refused one named; returns -EPERM.
 * Returns 0 when they may be activated (an unbound set is allowed, with a
 * warning, unless require). a is read and updated. */
int trust_volume_set(const struct plan *p, struct step_result *res, bool require,
		     struct trust_anchor *a, const struct logger *log);

/* The first kcrypt-set token of l: 0, -ENOENT none, -EBADMSG malformed
 * (why says how). */
int trust_set_token(struct luks *l, struct vset_token *t, char *why, size_t whylen);

/* Membership of one volume from its header alone (status): the set id its
 * kcrypt-set token names; false when it has none (or a malformed one). */
bool trust_header_set(struct luks *l, unsigned char id[VSET_ID_LEN], bool *malformed);

#endif
