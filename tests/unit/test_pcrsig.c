/* pcrsig + policy: systemd-measure's signature file and the PCR public key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "fixture.h"
#include "pcrsig.h"
#include "policy.h"

struct fx {
	char *sig, *pem, *pkfp_hex;
	struct pubkey key;
	unsigned char pol[32];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char why[200], *p;

	f->sig = fixture("pcrsig/252-sha256.json");
	f->pem = fixture("pcrsig/pub.pem");
	f->pkfp_hex = fixture("pcrsig/pub.pkfp");
	assert_non_null(f->sig);
	assert_non_null(f->pem);
	assert_non_null(f->pkfp_hex);
	if ((p = strchr(f->pkfp_hex, '\n')))
		*p = '\0';
	assert_int_equal(policy_pubkey_from_pem(f->pem, &f->key, why, sizeof(why)), 0);
	/* the first entry's pol: what PolicyGetDigest returns in that boot state */
	p = strstr(f->sig, "\"pol\":\"");
	assert_non_null(p);
	p[7 + 64] = '\0';
	assert_int_equal(codec_hex_decode(p + 7, f->pol, 32), 0);
	p[7 + 64] = '"';
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free(f->sig);
	free(f->pem);
	free(f->pkfp_hex);
	free(f);
	return 0;
}

static void pkfp_is_pkcs1_der_hash(void **state)
{
	struct fx *f = *state;
	unsigned char want[32];

	assert_int_equal(codec_hex_decode(f->pkfp_hex, want, 32), 0);
	assert_memory_equal(f->key.pkfp, want, 32);
	assert_int_equal(f->key.e, 65537);
	assert_int_equal(f->key.nlen, 256);
}

static void finds_matching_entry(void **state)
{
	struct fx *f = *state;
	struct pcrsig_match m;
	char why[200];

	assert_int_equal(pcrsig_find(f->sig, "sha256", 1u << 11, f->key.pkfp, f->pol, &m, why, sizeof(why)), 0);
	assert_int_equal(m.siglen, 256);
}

static void no_match_reasons(void **state)
{
	struct fx *f = *state;
	struct pcrsig_match m;
	unsigned char other[32] = { 1 };
	char why[200];

	assert_int_equal(pcrsig_find(f->sig, "sha256", 1u << 11, f->key.pkfp, other, &m, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "no signature matches"));
	assert_int_equal(pcrsig_find(f->sig, "sha256", 1u << 11, other, f->pol, &m, why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "by the token's public key"));
	assert_int_equal(pcrsig_find(f->sig, "sha1", 1u << 11, f->key.pkfp, f->pol, &m, why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "no sha1 entries"));
	/* a signature over PCRs 11+12 is no signature for 11 */
	assert_int_equal(pcrsig_find(f->sig, "sha256", (1u << 11) | (1u << 12), f->key.pkfp, f->pol, &m, why, sizeof(why)), -ENOKEY);
}

static void malformed_files(void **state)
{
	struct fx *f = *state;
	struct pcrsig_match m;
	char why[200];
	static const char *const bad[] = {
		"", "[]", "{\"sha256\":5}", "{\"sha256\":[5]}",
		"{\"sha256\":[{\"pcrs\":[11],\"pkfp\":\"zz\",\"pol\":\"00\"}]}",
		"{\"sha256\":[{\"pcrs\":[99],\"pkfp\":\"00\",\"pol\":\"00\"}]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pcrsig_find(bad[i], "sha256", 1u << 11, f->key.pkfp, f->pol, &m, why, sizeof(why)), -EINVAL);
}

static void keys_that_are_not_rsa(void **state)
{
	struct pubkey k;
	char why[200];
	const char *ec = "-----BEGIN PUBLIC KEY-----\n"
			 "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n"
			 "q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n"
			 "-----END PUBLIC KEY-----\n";

	(void)state;
	assert_int_equal(policy_pubkey_from_pem(ec, &k, why, sizeof(why)), -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "not RSA"));
	assert_int_equal(policy_pubkey_from_pem("garbage", &k, why, sizeof(why)), -EINVAL);
}

static void pin_auth_values(void **state)
{
	unsigned char out[32], want[32];
	unsigned char salt[32] = { 0 };
	int n;

	(void)state;
	/* 251/252: SHA256(PIN) */
	n = policy_pin_auth((const unsigned char *)"1234", 4, NULL, out);
	assert_int_equal(n, 32);
	codec_hex_decode("03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4", want, 32);
	assert_memory_equal(out, want, 32);
	/* trailing zero bytes trimmed: SHA256("pin191") ends in 00 (design note §9 H) */
	n = policy_pin_auth((const unsigned char *)"pin191", 6, NULL, out);
	assert_int_equal(n, 31);
	/* 253+: with a salt the value differs and stays 32 bytes or fewer */
	n = policy_pin_auth((const unsigned char *)"1234", 4, salt, out);
	assert_true(n > 0 && n <= 32);
	assert_memory_not_equal(out, want, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(pkfp_is_pkcs1_der_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(finds_matching_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(no_match_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_files, setup, teardown),
		cmocka_unit_test(keys_that_are_not_rsa),
		cmocka_unit_test(pin_auth_values),
	};
	return cmocka_run_group_tests_name("pcrsig", tests, NULL, NULL);
}
