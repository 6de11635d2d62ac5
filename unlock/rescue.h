/* The way back when the TPM cannot open an expected volume (PCR 7 moved,
 * TPM cleared or absent, lockout, no signature): ask a person. The PIN of
 * PIN-bound tokens first, then the recovery key or a passphrase; a key
 * typed once is tried on every volume still closed. What opens here is
 * judged by the volume-set proof like any TPM key, afterwards. */
#ifndef KCRYPT_RESCUE_H
#define KCRYPT_RESCUE_H

#include "prompt.h"
#include "runall.h"

#define RESCUE_TRIES 3
#define RESCUE_MARKER KCRYPT_RUN_DIR "/recovery-used"

#define RESCUE_SOURCE_KEY "recovery key"
#define RESCUE_SOURCE_PASS "passphrase"

/* Returns how many volumes it opened (their keys held, as unlock_unseal
 * leaves them). */
size_t rescue_pass(const struct prompt *pr, struct run *run, const struct plan *sub,
		   struct step_result *res, const struct logger *log);

/* After activation: the volumes a typed key opened, listed in
 * RESCUE_MARKER (label and device, a line each) for the booted system:
 * kcrypt status names them, kcrypt reseal removes the file. */
void rescue_mark(const struct plan *sub, const struct step_result *res);
bool rescue_opened(const struct step_result *r);

#endif
