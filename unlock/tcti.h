/* tpm2-tss TCTIs, linked directly (device, swtpm, mssim): which one a
 * --tpm-device / kcrypt.tpm_device string names. */
#ifndef KCRYPT_TCTI_H
#define KCRYPT_TCTI_H

#include <stddef.h>

#include <tss2/tss2_tcti.h>

/* spec: NULL/"auto", a path, "device:PATH", "swtpm:...", "mssim:...".
 * Returns 0, -ENODEV (no TPM, why says so), -EINVAL (unknown form). */
int tcti_from_spec(const char *spec, TSS2_TCTI_CONTEXT **out, char *why, size_t whylen);

/* 0 when path is a character device of the tpm or tpmrm class; -ENOTTY
 * otherwise: the device TCTI writes command bytes to whatever it opens,
 * and a LUKS partition must never be that. */
int tcti_is_tpm_device(const char *path);

#endif
