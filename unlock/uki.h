/* Unified kernel images as systemd-stub 252 sees them (pure, OpenSSL):
 * which sections it finds and measures into PCR 11, in which order, the
 * PCR 11 values after the phase words systemd-pcrphase adds, and the check
 * of a systemd-measure signature (design note systemd-tpm2-token.md §7). */
#ifndef KCRYPT_UKI_H
#define KCRYPT_UKI_H

#include <stddef.h>
#include <stdint.h>

#include "pe.h"

/* systemd 252's unified_sections[], in its canonical (measurement) order.
 * 254 added .uname and .sbat before .pcrpkey, 256 .ucode: a 252 stub does
 * not look at those, so neither do we. */
enum uki_section {
	UKI_LINUX,
	UKI_OSREL,
	UKI_CMDLINE,
	UKI_INITRD,
	UKI_SPLASH,
	UKI_DTB,
	UKI_PCRSIG,	/* the signature of the expected PCRs: never measured */
	UKI_PCRPKEY,
	UKI_NSECTIONS,
};

/* A section as loaded: filelen bytes at data, then zeros up to size
 * (VirtualSize, what the stub measures). size 0: absent. */
struct uki_part {
	const unsigned char *data;
	size_t filelen;
	size_t size;
};

struct uki {
	struct uki_part part[UKI_NSECTIONS];
};

#define UKI_DIGEST_MAX 64

/* One bank's PCR 11 value. */
struct uki_pcr {
	char bank[8];		/* "sha256", ... as in signature files and tokens */
	size_t len;
	unsigned char value[UKI_DIGEST_MAX];
};

/* ".linux", ... */
const char *uki_section_name(enum uki_section s);

/* The sections of img (parsed from buf) as 252's pe_memory_locate_sections
 * finds them: a header whose name begins with the section name (252
 * compares strlen(name) bytes, so ".linuxX" counts as .linux), the last
 * such header winning. Returns 0, or -ENOENT "no .linux section" (the stub
 * refuses to boot such an image). */
int uki_find_sections(const unsigned char *buf, const struct pe_image *img, struct uki *u,
		      char *why, size_t whylen);

/* A text section (.pcrsig, .pcrpkey), NUL-terminated and malloc'd in *out;
 * NULL when absent. -EFBIG when larger than max. */
int uki_section_text(const struct uki *u, enum uki_section s, size_t max, char **out);

/* PCR 11 after systemd-stub, from zero: for every present section except
 * .pcrsig, in order, extend H(name with its NUL), then H(contents).
 * bank: "sha1", "sha256", "sha384", "sha512". -EOPNOTSUPP for another. */
int uki_pcr11_sections(const struct uki *u, const char *bank, struct uki_pcr *out);

/* base extended with each word of path ("enter-initrd:leave-initrd"; empty
 * words skipped), H(word) without a NUL, as systemd-pcrphase does. */
int uki_pcr11_phase(const struct uki_pcr *base, const char *path, struct uki_pcr *out);

/* systemd-measure's signature of a policy digest: RSASSA-PKCS1-v1_5 over
 * the 32 bytes of pol with SHA-256 (its sha256 entries), by the PEM public
 * key. 0 when valid, -EBADMSG when not, -EINVAL when the key is unusable. */
int uki_verify_signature(const char *pem, const unsigned char pol[32], const unsigned char *sig,
			 size_t siglen);

#endif
