/* PE/COFF images (UEFI applications, UKIs), pure: the headers and the
 * section table of a file held in memory, every offset checked against
 * the buffer, since the file may be anybody's. */
#ifndef KCRYPT_PE_H
#define KCRYPT_PE_H

#include <stddef.h>
#include <stdint.h>

#define PE_MAX_SECTIONS 96	/* the PE format's own limit (Microsoft PE spec) */

#define PE_MACHINE_X64 0x8664
#define PE_MAGIC_PE32 0x10b
#define PE_MAGIC_PE32PLUS 0x20b

struct pe_section {
	unsigned char name[8];	/* as in the file: NUL-padded, not NUL-terminated */
	uint32_t vsize;		/* VirtualSize: its size once loaded */
	uint32_t vaddr;		/* VirtualAddress (RVA) */
	uint32_t rawsize;	/* SizeOfRawData: bytes in the file (aligned) */
	uint32_t rawoff;	/* PointerToRawData */
};

struct pe_image {
	uint16_t machine;	/* COFF Machine, PE_MACHINE_X64 for x86-64 */
	uint16_t magic;		/* optional header: PE32 or PE32+ */
	uint32_t image_size;	/* SizeOfImage: the loaded image's extent */
	size_t nsections;
	struct pe_section sect[PE_MAX_SECTIONS];
};

/* Parse buf (len bytes): DOS header, "PE\0\0", COFF header, optional
 * header, section table. Every section's file bytes lie inside buf and its
 * loaded extent inside SizeOfImage. Returns 0, or -EINVAL with why set
 * ("not a PE image: no MZ header", "truncated: section .initrd ends past
 * the end of the file", ...). */
int pe_parse(const unsigned char *buf, size_t len, struct pe_image *img, char *why,
	     size_t whylen);

/* A section as the UEFI loader places it in memory: the first *filelen
 * bytes at *data (min of VirtualSize and SizeOfRawData), then zeros up to
 * VirtualSize. */
void pe_section_loaded(const unsigned char *buf, const struct pe_section *s,
		       const unsigned char **data, size_t *filelen);

/* The section's name as text ("%.8s"), for messages. */
void pe_section_name(const struct pe_section *s, char out[9]);

#endif
