#include "pe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DOS_HDR_SIZE 64
#define DOS_LFANEW 0x3c		/* e_lfanew: where the PE signature is */
#define COFF_SIZE 20		/* after the 4-byte signature */
#define OPT_SIZEOFIMAGE 56	/* same offset in PE32 and PE32+ */
#define SECT_HDR_SIZE 40

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void pe_section_name(const struct pe_section *s, char out[9])
{
	memcpy(out, s->name, 8);
	out[8] = '\0';
	/* a hostile name must not garble the message it lands in */
	for (int i = 0; i < 8 && out[i]; i++)
		if (out[i] < ' ' || out[i] > '~')
			out[i] = '?';
}

static void read_section(const unsigned char *p, struct pe_section *s)
{
	memcpy(s->name, p, 8);
	s->vsize = le32(p + 8);
	s->vaddr = le32(p + 12);
	s->rawsize = le32(p + 16);
	s->rawoff = le32(p + 20);
}

/* The loader copies the file bytes and maps VirtualSize bytes: both must
 * be where the headers say, or the firmware would not load the image. */
static int check_section(const struct pe_image *img, const struct pe_section *s, size_t len,
			 char *why, size_t whylen)
{
	char name[9];

	pe_section_name(s, name);
	if (s->rawsize && (uint64_t)s->rawoff + s->rawsize > len) {
		snprintf(why, whylen, "truncated: section %s ends past the end of the file", name);
		return -EINVAL;
	}
	if ((uint64_t)s->vaddr + s->vsize > img->image_size) {
		snprintf(why, whylen, "not a valid PE image: section %s lies outside SizeOfImage",
			 name);
		return -EINVAL;
	}
	return 0;
}

static int parse_headers(const unsigned char *buf, size_t len, struct pe_image *img,
			 uint64_t *table, char *why, size_t whylen)
{
	uint64_t pe, opt;
	uint16_t optsize;

	if (len < DOS_HDR_SIZE || buf[0] != 'M' || buf[1] != 'Z') {
		snprintf(why, whylen, "not a PE image: no MZ header");
		return -EINVAL;
	}
	pe = le32(buf + DOS_LFANEW);
	if (pe + 4 + COFF_SIZE > len || memcmp(buf + pe, "PE\0\0", 4) != 0) {
		snprintf(why, whylen, "not a PE image: no PE signature");
		return -EINVAL;
	}
	img->machine = le16(buf + pe + 4);
	img->nsections = le16(buf + pe + 6);
	optsize = le16(buf + pe + 20);
	opt = pe + 4 + COFF_SIZE;
	if (optsize < OPT_SIZEOFIMAGE + 4 || opt + optsize > len) {
		snprintf(why, whylen, "not a PE image: optional header missing or truncated");
		return -EINVAL;
	}
	img->magic = le16(buf + opt);
	if (img->magic != PE_MAGIC_PE32 && img->magic != PE_MAGIC_PE32PLUS) {
		snprintf(why, whylen, "not a PE image: optional header magic 0x%x", img->magic);
		return -EINVAL;
	}
	img->image_size = le32(buf + opt + OPT_SIZEOFIMAGE);
	*table = opt + optsize;
	return 0;
}

int pe_parse(const unsigned char *buf, size_t len, struct pe_image *img, char *why,
	     size_t whylen)
{
	uint64_t table;
	int r;

	memset(img, 0, sizeof(*img));
	r = parse_headers(buf, len, img, &table, why, whylen);
	if (r < 0)
		return r;
	if (img->nsections == 0 || img->nsections > PE_MAX_SECTIONS) {
		snprintf(why, whylen, "not a valid PE image: %zu sections (1 to %d)", img->nsections,
			 PE_MAX_SECTIONS);
		return -EINVAL;
	}
	if (table + (uint64_t)img->nsections * SECT_HDR_SIZE > len) {
		snprintf(why, whylen, "truncated: the section table ends past the end of the file");
		return -EINVAL;
	}
	for (size_t i = 0; i < img->nsections; i++) {
		read_section(buf + table + i * SECT_HDR_SIZE, &img->sect[i]);
		r = check_section(img, &img->sect[i], len, why, whylen);
		if (r < 0)
			return r;
	}
	return 0;
}

void pe_section_loaded(const unsigned char *buf, const struct pe_section *s,
		       const unsigned char **data, size_t *filelen)
{
	/* EDK2's loader: copy min(VirtualSize, SizeOfRawData), zero the rest */
	*filelen = s->rawsize < s->vsize ? s->rawsize : s->vsize;
	*data = *filelen ? buf + s->rawoff : buf;
}
