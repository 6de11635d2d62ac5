/* The set key a volume joins its machine's volume set with (encrypt,
 * enroll, bind): from a member that opens here. */
#ifndef KCRYPT_SETKEY_H
#define KCRYPT_SETKEY_H

#include "log.h"
#include "luks.h"
#include "secret.h"
#include "strv.h"

/* The set key of the bound volume l, opened (its volume key held); label
 * is its Kairos label. -ENOENT: l has no binding; -EBADMSG: its binding
 * does not verify with its key. */
int setkey_of_open(struct luks *l, const char *label, struct secret **key, char *why,
		   size_t whylen);

/* The set key of this machine: the first member (OEM first) among devices
 * (NULL: every block device) that its TPM token opens. -ENOENT: there is no
 * member, a new set begins; -ENOKEY: members exist and none opens here. */
int setkey_find(const struct strv *devices, const char *tpm_device, const char *sig_path,
		const struct logger *log, struct secret **key, char *why, size_t whylen);

#endif
