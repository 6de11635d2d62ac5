/* TPM2 access (tpm2-tss ESYS), the only file that includes ESYS. TCTIs are
 * linked directly (device, swtpm, mssim): no dlopen on the boot path.
 * One context serves every volume of a run: the parent key is created once. */
#ifndef KCRYPT_TPM2_H
#define KCRYPT_TPM2_H

#include <stddef.h>

#include "log.h"
#include "secret.h"
#include "token.h"

struct tpm2;

/* spec: NULL/"auto" (/dev/tpmrm0, then /dev/tpm0), a device path, or a
 * tpm2-tss TCTI string "device:PATH", "swtpm:host=H,port=P",
 * "swtpm:path=SOCK", "mssim:host=H,port=P". -ENODEV when there is no TPM. */
int tpm2_open(const char *spec, const struct logger *log, struct tpm2 **out, char *why,
	      size_t whylen);
void tpm2_close(struct tpm2 *t);

struct tpm2_unseal_in {
	const struct token_tpm2 *tok;
	const char *sigjson;		/* signature file content, NULL when none */
	const struct secret *pin;	/* NULL when none */
};

/* Unseal the token's secret (all shards, concatenated). Returns 0, or:
 * -ENOENT no signature authorizes the current PCRs; -EPERM the PCR state
 * does not satisfy the policy; -EACCES wrong PIN; -ENOLCK TPM in lockout;
 * -EBADMSG token blob malformed; -EINVAL signature file malformed or key
 * unusable; -EIO other TPM failures. why says which, in one line. */
int tpm2_unseal(struct tpm2 *t, const struct tpm2_unseal_in *in, struct secret **out,
		char *why, size_t whylen);

#endif
