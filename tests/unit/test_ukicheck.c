/* ukicheck: the verdict for each kind of token after booting a UKI, with
 * signature files made here the way systemd-measure makes them (RSA,
 * SHA-256 over the PolicyPCR digest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <tss2/tss2_tpm2_types.h>

#include "codec.h"
#include "policy.h"
#include "ukicheck.h"

static const char k_linux[] = "a kernel", k_osrel[] = "ID=t\n";

struct fx {
	EVP_PKEY *a, *b;
	char *pem_a, *pem_b;
	struct uki uki;
	struct ck_uki c;
	char sig[8192];
};

static char *pem_of(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

/* PCR 7 as the running TPM holds it */
static int fake_pcr(void *ctx, uint16_t bank, int pcr, unsigned char *out, size_t *len, char *why,
		    size_t whylen)
{
	(void)ctx;
	(void)why;
	(void)whylen;
	assert_int_equal(bank, TPM2_ALG_SHA256);
	assert_int_equal(pcr, 7);
	memset(out, 0x07, 32);
	*len = 32;
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	/* small keys keep the test fast under valgrind; systemd takes any RSA size */
	f->a = EVP_RSA_gen(1024);
	f->b = EVP_RSA_gen(1024);
	assert_non_null(f->a);
	assert_non_null(f->b);
	f->pem_a = pem_of(f->a);
	f->pem_b = pem_of(f->b);
	f->uki.part[UKI_LINUX] = (struct uki_part){ (const unsigned char *)k_linux, 8, 8 };
	f->uki.part[UKI_OSREL] = (struct uki_part){ (const unsigned char *)k_osrel, 5, 5 };
	f->c.uki = &f->uki;
	f->c.read_pcr = fake_pcr;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	EVP_PKEY_free(f->a);
	EVP_PKEY_free(f->b);
	free(f->pem_a);
	free(f->pem_b);
	free(f);
	return 0;
}

/* The PolicyPCR digest of mask (PCR 7 from fake_pcr, 11 predicted). */
static void pol_of(struct fx *f, uint32_t mask, const char *phase, unsigned char pol[32])
{
	unsigned char v[64];
	struct uki_pcr p;
	size_t n = 0;

	assert_int_equal(ck_pcr11(&f->c, "sha256", phase, &p), 0);
	if (mask & (1u << 7)) {
		memset(v, 0x07, 32);
		n = 32;
	}
	memcpy(v + n, p.value, 32);
	memset(pol, 0, 32);
	assert_int_equal(policy_pcr(pol, TPM2_ALG_SHA256, mask, v, n + 32), 0);
}

/* Append one systemd-measure entry, by key, for phase, to f->sig. */
static void sign_entry(struct fx *f, EVP_PKEY *key, const char *pem, uint32_t mask,
		       const char *phase, bool forge)
{
	unsigned char pol[32], sig[512];
	char polhex[65], sigb64[700], fphex[65];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct pubkey pk;
	size_t siglen = sizeof(sig), off = strlen(f->sig);
	char why[200];

	pol_of(f, mask, phase, pol);
	/* forged: the entry names this state, its signature is for another */
	pol[5] ^= forge ? 0xff : 0;
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, pol, 32), 1);
	EVP_MD_CTX_free(ctx);
	pol[5] ^= forge ? 0xff : 0;
	assert_int_equal(policy_pubkey_from_pem(pem, &pk, why, sizeof(why)), 0);
	for (int i = 0; i < 32; i++) {
		snprintf(polhex + 2 * i, 3, "%02x", pol[i]);
		snprintf(fphex + 2 * i, 3, "%02x", pk.pkfp[i]);
	}
	codec_b64_encode(sig, siglen, sigb64);
	snprintf(f->sig + off, sizeof(f->sig) - off,
		 "%s{\"pcrs\":[%s11],\"pkfp\":\"%s\",\"pol\":\"%s\",\"sig\":\"%s\"}",
		 off ? "," : "", mask & (1u << 7) ? "7," : "", fphex, polhex, sigb64);
}

static void close_sig(struct fx *f)
{
	static const char head[] = "{\"sha256\":[";
	size_t n = strlen(f->sig), h = sizeof(head) - 1;

	assert_true(n + h + 3 <= sizeof(f->sig));
	memmove(f->sig + h, f->sig, n);
	memcpy(f->sig, head, h);
	memcpy(f->sig + h + n, "]}", 3);
	f->c.pcrsig = f->sig;
}

static void judge(struct fx *f, uint32_t pcrs, uint32_t signed_pcrs, const char *pem, bool pin,
		  const unsigned char *hash, struct ck_result *r)
{
	struct token_tpm2 t = { .nshards = 1, .bank = TPM2_ALG_SHA256, .pcr_mask = pcrs,
				.pubkey_pcr_mask = signed_pcrs, .pin = pin };

	t.pubkey_pem = pem ? strdup(pem) : NULL;
	if (hash)
		memcpy(t.shard[0].policy_hash, hash, 32);
	ck_token(&f->c, &t, r);
	token_free(&t);
}

static void expect(const struct ck_result *r, enum ck_verdict v, const char *has)
{
	if (r->verdict != v || !strstr(r->reason, has))
		fail_msg("%s: '%s', wanted %s and '%s'", ck_verdict_name(r->verdict), r->reason,
			 ck_verdict_name(v), has);
}

static void signed_by_the_tokens_key(void **state)
{
	struct fx *f = *state;
	struct ck_result r;

	sign_entry(f, f->b, f->pem_b, 1u << 11, "enter-initrd", false);
	sign_entry(f, f->a, f->pem_a, 1u << 11, "enter-initrd", false);
	close_sig(f);
	judge(f, 0, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_OPENS, "signed PCR 11: phase enter-initrd signed by the token's key");
	/* a kcrypt token also binds PCR 15 to zero: the UKI leaves that alone */
	judge(f, 1u << 15, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_OPENS, "literal PCR 15: unaffected by the UKI");
}

static void signed_by_another_key(void **state)
{
	struct fx *f = *state;
	struct ck_result r;

	sign_entry(f, f->b, f->pem_b, 1u << 11, "enter-initrd", false);
	close_sig(f);
	judge(f, 0, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_REFUSED, ".pcrsig: no sha256 signature in the file is by the token's public key");
}

static void signed_for_other_phases(void **state)
{
	struct fx *f = *state;
	struct ck_result r;

	sign_entry(f, f->a, f->pem_a, 1u << 11, "enter-initrd:leave-initrd", false);
	sign_entry(f, f->a, f->pem_a, 1u << 11, "", false);
	close_sig(f);
	judge(f, 0, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_REFUSED, "no signature by the token's key for phase enter-initrd: the .pcrsig "
			       "signs this UKI only for the stub's measurements alone, "
			       "enter-initrd:leave-initrd");
}

static void no_or_forged_signature(void **state)
{
	struct fx *f = *state;
	struct ck_result r;

	judge(f, 0, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_REFUSED, "the UKI has no .pcrsig section");
	sign_entry(f, f->a, f->pem_a, 1u << 11, "enter-initrd", true);
	close_sig(f);
	judge(f, 0, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_REFUSED, "the .pcrsig signature for phase enter-initrd does not verify with "
			       "the token's key (RSA, SHA-256)");
	judge(f, 0, 1u << 11, "garbage", false, NULL, &r);
	expect(&r, CK_REFUSED, "the token's public key is not a PEM");
}

static void signed_with_pcr7(void **state)
{
	struct fx *f = *state;
	uint32_t mask = (1u << 7) | (1u << 11);
	struct ck_result r;

	sign_entry(f, f->a, f->pem_a, mask, "enter-initrd", false);
	close_sig(f);
	judge(f, 0, mask, f->pem_a, false, NULL, &r);
	expect(&r, CK_OPENS, "signed PCR 7+11");
	f->c.read_pcr = NULL;
	judge(f, 0, mask, f->pem_a, false, NULL, &r);
	expect(&r, CK_UNKNOWN, "PCR 7 is read from the TPM, and there is none");
}

static void literal_pcrs(void **state)
{
	struct fx *f = *state;
	unsigned char same[32], same7[32], v[64];
	struct uki_pcr p;
	struct ck_result r;

	judge(f, 1u << 7, 0, NULL, false, NULL, &r);
	expect(&r, CK_OPENS, "literal PCR 7: unaffected by the UKI");
	judge(f, (1u << 4) | (1u << 7), 0, NULL, false, NULL, &r);
	expect(&r, CK_REFUSED, "literal PCR 4: the firmware measures the booted UKI's Authenticode");
	judge(f, 1u << 12, 0, NULL, false, NULL, &r);
	expect(&r, CK_UNKNOWN, "literal PCR 12: systemd-stub measures the command line");
	judge(f, 1u << 11, 0, NULL, false, NULL, &r);
	expect(&r, CK_REFUSED, "literal PCR 11 binds the UKI the key was sealed to (systemd-stub "
			       "measures the UKI's sections into it): this UKI gives it another value");
	/* sealed in the initrd of this very UKI: it does open */
	assert_int_equal(ck_pcr11(&f->c, "sha256", "enter-initrd", &p), 0);
	memset(same, 0, 32);
	assert_int_equal(policy_pcr(same, TPM2_ALG_SHA256, 1u << 11, p.value, 32), 0);
	judge(f, 1u << 11, 0, NULL, false, same, &r);
	expect(&r, CK_OPENS, "literal PCR 11: the values this UKI gives in the initrd");
	memset(v, 0x07, 32);
	memcpy(v + 32, p.value, 32);
	memset(same7, 0, 32);
	assert_int_equal(policy_pcr(same7, TPM2_ALG_SHA256, (1u << 7) | (1u << 11), v, 64), 0);
	judge(f, (1u << 7) | (1u << 11), 0, NULL, false, same7, &r);
	expect(&r, CK_OPENS, "literal PCR 7+11: the values this UKI gives");
	f->c.read_pcr = NULL;
	judge(f, (1u << 7) | (1u << 11), 0, NULL, false, same7, &r);
	expect(&r, CK_REFUSED, "cannot compare: PCR 7 is read from the TPM, and there is none");
}

static void notes_pin_and_pcrpkey(void **state)
{
	struct fx *f = *state;
	struct ck_result r;

	sign_entry(f, f->a, f->pem_a, 1u << 11, "enter-initrd", false);
	close_sig(f);
	f->c.pcrpkey = f->pem_a;
	judge(f, 1u << 7, 1u << 11, f->pem_a, true, NULL, &r);
	expect(&r, CK_OPENS, "signed PCR 11: phase enter-initrd signed by the token's key; literal "
			     "PCR 7: unaffected by the UKI; needs the PIN");
	assert_true(r.pin);
	assert_false(r.other_pcrpkey);
	f->c.pcrpkey = f->pem_b;
	judge(f, 0, 1u << 11, f->pem_a, false, NULL, &r);
	expect(&r, CK_OPENS, "; warning: the UKI's .pcrpkey is not the token's key");
	assert_true(r.other_pcrpkey);
	judge(f, 0, 0, NULL, true, NULL, &r);
	expect(&r, CK_OPENS, "no PCRs bound; needs the PIN");
}

static void pcrlock_is_refused(void **state)
{
	struct fx *f = *state;
	struct token_tpm2 t = { .nshards = 2, .pcrlock = true };
	struct ck_result r;

	ck_token(&f->c, &t, &r);
	expect(&r, CK_REFUSED, "pcrlock policies (systemd 255+) are not supported");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(signed_by_the_tokens_key), T(signed_by_another_key), T(signed_for_other_phases),
		T(no_or_forged_signature),   T(signed_with_pcr7),     T(literal_pcrs),
		T(notes_pin_and_pcrpkey),    T(pcrlock_is_refused),
	};
	return cmocka_run_group_tests_name("ukicheck", tests, NULL, NULL);
}
