/* Measurements into the TPM, as systemd does them, so that policies signed
 * with systemd-measure match and so that nothing after us can reuse what
 * the initrd was allowed to unseal (design notes: systemd-tpm2-token.md §7,
 * peers-and-security.md §C). */
#ifndef KCRYPT_MEASURE_H
#define KCRYPT_MEASURE_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct tpm2;

#define MEASURE_PCR_KERNEL 11	/* systemd-stub's UKI measurements and the phase words */
#define MEASURE_PCR_VOLUME 15	/* volume-key measurements */

/* True when systemd-stub measured the booted UKI (it sets the EFI variable
 * StubPcrKernelImage): only then do phase words and volume keys count.
 * efivars: the efivarfs mount point, NULL for the usual one. */
bool measure_is_measured_uki(const char *efivars);

/* Extend PCR 11 in every active bank with H_bank(word), as systemd-pcrphase:
 * "enter-initrd", "leave-initrd", ... */
int measure_phase(struct tpm2 *t, const char *word, char *why, size_t whylen);

/* Extend PCR 15 in every active bank with HMAC_bank(vk, "cryptsetup:" +
 * escaped name + ":" + uuid), as systemd-cryptsetup's tpm2-measure-pcr=. */
int measure_volume_key(struct tpm2 *t, const char *name, const char *uuid,
		       const unsigned char *vk, size_t vklen, char *why, size_t whylen);

/* The message measured for a volume (exported for the tests). */
int measure_volume_message(const char *name, const char *uuid, char *out, size_t size);

#endif
