/* kcrypt bind: volumes made before the volume set existed (or by
 * systemd-cryptenroll) join it. Writes one kcrypt-set token per volume;
 * the keyslots are not touched. */
#ifndef KCRYPT_BIND_H
#define KCRYPT_BIND_H

#include "log.h"
#include "plan.h"
#include "unlock.h"

/* Every step whose key was found (RES_VERIFIED, key held) is bound to the
 * one set its bound members already share, or to a new one. Returns the
 * number newly bound, or -errno with why set: -EPERM when bound members
 * disagree or a binding does not verify (nothing is written then). */
int bind_volumes(const struct plan *p, struct step_result *res, const struct logger *log,
		 char *why, size_t whylen);

#endif
