/* pe + uki: the PE parser against good and hostile images, PCR 11 as
 * systemd-stub 252 measures it (vectors from systemd-measure 252.39), and
 * systemd-measure's signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fixture.h"
#include "pe.h"
#include "uki.h"

/* The test image: DOS header, signature at 0x80, PE32+ optional header of
 * 240 bytes, section table, section data from 0x400. */
#define LFANEW 0x80
#define OPT (LFANEW + 24)
#define TABLE (OPT + 240)
#define DATA 0x400

struct tsec {
	const char *name;
	const unsigned char *data;
	uint32_t filelen, vsize;
};

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static unsigned char *build_pe(const struct tsec *s, size_t n, size_t *len)
{
	size_t total = DATA, off = DATA;
	uint32_t vaddr = 0x1000;
	unsigned char *b;

	for (size_t i = 0; i < n; i++)
		total += s[i].filelen;
	b = calloc(1, total);
	assert_non_null(b);
	b[0] = 'M';
	b[1] = 'Z';
	put32(b + 0x3c, LFANEW);
	memcpy(b + LFANEW, "PE\0\0", 4);
	put16(b + LFANEW + 4, PE_MACHINE_X64);
	put16(b + LFANEW + 6, (uint32_t)n);
	put16(b + LFANEW + 20, 240);
	put16(b + OPT, PE_MAGIC_PE32PLUS);
	for (size_t i = 0; i < n; i++) {
		unsigned char *h = b + TABLE + 40 * i;

		memcpy(h, s[i].name, strnlen(s[i].name, 8));
		put32(h + 8, s[i].vsize);
		put32(h + 12, vaddr);
		put32(h + 16, s[i].filelen);
		put32(h + 20, (uint32_t)off);
		memcpy(b + off, s[i].data, s[i].filelen);
		off += s[i].filelen;
		vaddr += (s[i].vsize + 0xfff) & ~0xfffu;
	}
	put32(b + OPT + 56, vaddr);	/* SizeOfImage */
	*len = total;
	return b;
}

static unsigned char v_linux[5000], v_initrd[3000];
static const char v_osrel[] = "ID=kcrypt-test\n", v_cmdline[] = "console=ttyS0 quiet",
		  v_pcrpkey[] = "not really a key\n", v_pcrsig[] = "{\"sha256\":[]}";

static int setup_data(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(v_linux); i++)
		v_linux[i] = (unsigned char)(i % 251);
	memset(v_initrd, 0xa5, sizeof(v_initrd));
	return 0;
}

#define SEC(n, d, l) { n, (const unsigned char *)(d), l, l }

/* the vector's sections, out of order, with others the stub ignores */
static unsigned char *vector_pe(size_t *len, uint32_t initrd_filelen)
{
	const struct tsec s[] = {
		SEC(".pcrsig", v_pcrsig, sizeof(v_pcrsig) - 1),
		{ ".initrd", v_initrd, initrd_filelen, sizeof(v_initrd) },
		SEC(".sbat", "sbat,1\n", 7),
		SEC(".pcrpkey", v_pcrpkey, sizeof(v_pcrpkey) - 1),
		SEC(".cmdline", v_cmdline, sizeof(v_cmdline) - 1),
		SEC(".osrel", v_osrel, sizeof(v_osrel) - 1),
		SEC(".linux", v_linux, sizeof(v_linux)),
	};
	return build_pe(s, sizeof(s) / sizeof(s[0]), len);
}

static void parse_vector(unsigned char *b, size_t len, struct uki *u)
{
	static struct pe_image img;
	char why[200] = "";

	assert_int_equal(pe_parse(b, len, &img, why, sizeof(why)), 0);
	assert_int_equal(img.nsections, 7);
	assert_int_equal(img.magic, PE_MAGIC_PE32PLUS);
	assert_int_equal(uki_find_sections(b, &img, u, why, sizeof(why)), 0);
}

static void assert_pcr(const struct uki_pcr *p, const char *hex)
{
	unsigned char want[UKI_DIGEST_MAX];

	assert_int_equal(p->len * 2, strlen(hex));
	assert_int_equal(codec_hex_decode(hex, want, p->len), 0);
	assert_memory_equal(p->value, want, p->len);
}

/* systemd-measure calculate --linux= --osrel= --cmdline= --initrd=
 * --pcrpkey= on the same bytes, for phases ":" (the stub alone),
 * enter-initrd and enter-initrd:leave-initrd; the last also written with
 * empty words, which systemd-measure drops */
static const struct vector {
	const char *bank, *phase, *hex;
} vectors[] = {
	{ "sha256", "", "7c7f6c172a43d4c587f32cc220415ac3c977f45ba72725060d05004b3c5a4ea4" },
	{ "sha256", "enter-initrd", "16e1b0594dd320adf4586b946dcd5e34301d9936753b53779d32a125607160e6" },
	{ "sha256", "enter-initrd:leave-initrd",
	  "75c22cd3025bc021b918a98017c85326ea64c856d0659bb36caaa03c42bd29b6" },
	{ "sha256", ":enter-initrd::leave-initrd:",
	  "75c22cd3025bc021b918a98017c85326ea64c856d0659bb36caaa03c42bd29b6" },
	{ "sha1", "", "9e21f4ea18194bbe0de3e24f7e92427a351225ce" },
	{ "sha1", "enter-initrd", "44e96dfeb4322b00699bf92642769c80bddeac74" },
	{ "sha1", "enter-initrd:leave-initrd", "1b7ec9b6335a537e0b50d4fbd47feec469541f1c" },
};

static void pcr11_matches_systemd_measure(void **state)
{
	struct uki_pcr base, p;
	struct uki u;
	size_t len;
	unsigned char *b = vector_pe(&len, sizeof(v_initrd));

	(void)state;
	parse_vector(b, len, &u);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		assert_int_equal(uki_pcr11_sections(&u, vectors[i].bank, &base), 0);
		assert_int_equal(uki_pcr11_phase(&base, vectors[i].phase, &p), 0);
		assert_pcr(&p, vectors[i].hex);
	}
	assert_int_equal(uki_pcr11_sections(&u, "sm3_256", &base), -EOPNOTSUPP);
	free(b);
}

/* VirtualSize beyond the file bytes: the loader's zeros are measured
 * (systemd-measure on 1000 bytes of 0xa5 and 2000 zeros) */
static void zero_fill_is_measured(void **state)
{
	struct uki_pcr base, p;
	struct uki u;
	size_t len;
	unsigned char *b = vector_pe(&len, 1000);

	(void)state;
	parse_vector(b, len, &u);
	assert_int_equal(u.part[UKI_INITRD].filelen, 1000);
	assert_int_equal(u.part[UKI_INITRD].size, 3000);
	assert_int_equal(uki_pcr11_sections(&u, "sha256", &base), 0);
	assert_int_equal(uki_pcr11_phase(&base, "enter-initrd", &p), 0);
	assert_pcr(&p, "8ebb1acf8c08e4531e7fe794d4720c49dbf2c2f1b48496d811442c4224885121");
	free(b);
}

/* VirtualSize below SizeOfRawData (file alignment): only VirtualSize counts */
static void virtual_size_bounds_the_measurement(void **state)
{
	const struct tsec s[] = { { ".linux", v_linux, sizeof(v_linux), 1234 } };
	struct pe_image img;
	struct uki u;
	char why[200];
	size_t len;
	unsigned char *b = build_pe(s, 1, &len);

	(void)state;
	assert_int_equal(pe_parse(b, len, &img, why, sizeof(why)), 0);
	assert_int_equal(uki_find_sections(b, &img, &u, why, sizeof(why)), 0);
	assert_int_equal(u.part[UKI_LINUX].filelen, 1234);
	assert_int_equal(u.part[UKI_LINUX].size, 1234);
	free(b);
}

static void sections_as_stub_252_finds_them(void **state)
{
	const struct tsec s[] = {
		SEC(".linux", "first", 5),
		SEC(".linuxZ", "second", 6),	/* 252 compares strlen(".linux") bytes: a match */
		SEC(".uname", "6.1.0", 5),	/* 254+ only */
		SEC(".cmdlin", "x", 1),		/* too short: no match */
	};
	struct pe_image img;
	struct uki u;
	char why[200];
	size_t len;
	unsigned char *b = build_pe(s, 4, &len);

	(void)state;
	assert_int_equal(pe_parse(b, len, &img, why, sizeof(why)), 0);
	assert_int_equal(uki_find_sections(b, &img, &u, why, sizeof(why)), 0);
	assert_int_equal(u.part[UKI_LINUX].size, 6);
	assert_memory_equal(u.part[UKI_LINUX].data, "second", 6);
	assert_int_equal(u.part[UKI_CMDLINE].size, 0);
	free(b);
}

static void no_linux_is_no_uki(void **state)
{
	const struct tsec none[] = { SEC(".osrel", v_osrel, 4) };
	const struct tsec empty[] = { SEC(".linux", "", 0), SEC(".osrel", v_osrel, 4) };
	struct pe_image img;
	struct uki u;
	char why[200];
	size_t len;
	unsigned char *b = build_pe(none, 1, &len);

	(void)state;
	assert_int_equal(pe_parse(b, len, &img, why, sizeof(why)), 0);
	assert_int_equal(uki_find_sections(b, &img, &u, why, sizeof(why)), -ENOENT);
	assert_string_equal(why, "not a UKI: no .linux section");
	free(b);
	b = build_pe(empty, 2, &len);
	assert_int_equal(pe_parse(b, len, &img, why, sizeof(why)), 0);
	assert_int_equal(uki_find_sections(b, &img, &u, why, sizeof(why)), -ENOENT);
	free(b);
}

/* One hostile change to a good image; pe_parse refuses it with why. */
static void expect_refused(const unsigned char *good, size_t len, size_t at, const void *bytes,
			   size_t n, size_t cut, const char *why_has)
{
	unsigned char *b = malloc(len);
	struct pe_image img;
	char why[200] = "";

	memcpy(b, good, len);
	if (n)
		memcpy(b + at, bytes, n);
	if (pe_parse(b, len - cut, &img, why, sizeof(why)) != -EINVAL)
		fail_msg("accepted, wanted '%s'", why_has);
	if (!strstr(why, why_has))
		fail_msg("'%s' does not say '%s'", why, why_has);
	free(b);
}

static void hostile_headers(void **state)
{
	size_t len;
	unsigned char *b = vector_pe(&len, sizeof(v_initrd)), v[4];
	struct pe_image img;
	char why[200];

	(void)state;
	expect_refused(b, len, 0, "ZM", 2, 0, "no MZ header");
	expect_refused(b, len, 0, NULL, 0, len - 10, "no MZ header");
	put32(v, 0xfffffff0);
	expect_refused(b, len, 0x3c, v, 4, 0, "no PE signature");
	expect_refused(b, len, LFANEW, "PE\0\1", 4, 0, "no PE signature");
	put16(v, 8);
	expect_refused(b, len, LFANEW + 20, v, 2, 0, "optional header missing");
	put16(v, 0xffff);
	expect_refused(b, len, LFANEW + 20, v, 2, 0, "truncated");
	expect_refused(b, len, OPT, "\x0b\x03", 2, 0, "magic 0x30b");
	put16(v, 0);
	expect_refused(b, len, LFANEW + 6, v, 2, 0, "0 sections");
	put16(v, 97);
	expect_refused(b, len, LFANEW + 6, v, 2, 0, "97 sections");
	expect_refused(b, len, 0, NULL, 0, len - TABLE - 50, "section table ends past the end");
	/* the last section's bytes cut off: a truncated download */
	expect_refused(b, len, 0, NULL, 0, 100, "truncated: section .linux ends past");
	put32(v, 0xffffff00);
	expect_refused(b, len, TABLE + 20, v, 4, 0, "section .pcrsig ends past");
	expect_refused(b, len, TABLE + 8, v, 4, 0, "section .pcrsig lies outside SizeOfImage");
	expect_refused(b, len, TABLE + 12, v, 4, 0, "lies outside SizeOfImage");
	/* a name with control characters is shown, not printed raw */
	memcpy(b + TABLE, "\x1b[2J\n", 5);
	expect_refused(b, len, TABLE + 20, v, 4, 0, "section ?[2J?ig ends");
	memcpy(b + TABLE, ".pcrsig", 7);
	/* the good image parses, also as PE32 (the stub takes either) */
	put16(b + OPT, PE_MAGIC_PE32);
	assert_int_equal(pe_parse(b, len, &img, why, sizeof(why)), 0);
	free(b);
}

static void text_sections(void **state)
{
	struct uki u;
	size_t len;
	unsigned char *b = vector_pe(&len, sizeof(v_initrd));
	char *t;

	(void)state;
	parse_vector(b, len, &u);
	assert_int_equal(uki_section_text(&u, UKI_PCRSIG, 1024, &t), 0);
	assert_string_equal(t, v_pcrsig);
	free(t);
	assert_int_equal(uki_section_text(&u, UKI_PCRSIG, 4, &t), -EFBIG);
	assert_null(t);
	assert_int_equal(uki_section_text(&u, UKI_DTB, 1024, &t), 0);
	assert_null(t);
	free(b);
}

/* the first entry of systemd-measure 252's signature file (make-fixtures.sh) */
static void signatures_verify_as_systemd_measure_made_them(void **state)
{
	char *sig = fixture("pcrsig/252-sha256.json"), *pem = fixture("pcrsig/pub.pem"), *p, *q;
	unsigned char pol[32], *raw;
	size_t rawlen = 0;

	(void)state;
	assert_non_null(sig);
	assert_non_null(pem);
	p = strstr(sig, "\"pol\":\"");
	assert_non_null(p);
	q = strstr(p, "\"sig\":\"");
	assert_non_null(q);
	q += 7;
	*strchr(q, '"') = '\0';
	p[7 + 64] = '\0';
	assert_int_equal(codec_hex_decode(p + 7, pol, 32), 0);
	raw = codec_b64_decode(q, &rawlen);
	assert_non_null(raw);
	assert_int_equal(uki_verify_signature(pem, pol, raw, rawlen), 0);
	pol[0] ^= 1;
	assert_int_equal(uki_verify_signature(pem, pol, raw, rawlen), -EBADMSG);
	assert_int_equal(uki_verify_signature("not a key", pol, raw, rawlen), -EINVAL);
	free(raw);
	free(sig);
	free(pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pcr11_matches_systemd_measure),
		cmocka_unit_test(zero_fill_is_measured),
		cmocka_unit_test(virtual_size_bounds_the_measurement),
		cmocka_unit_test(sections_as_stub_252_finds_them),
		cmocka_unit_test(no_linux_is_no_uki),
		cmocka_unit_test(hostile_headers),
		cmocka_unit_test(text_sections),
		cmocka_unit_test(signatures_verify_as_systemd_measure_made_them),
	};
	return cmocka_run_group_tests_name("uki", tests, setup_data, NULL);
}
