/* token: systemd-tpm2 token JSON (real systemd 252 output) -> struct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "fixture.h"
#include "token.h"

static void parse_fixture(const char *name, struct token_tpm2 *t)
{
	char why[200] = "";
	char *json = fixture(name);

	assert_non_null(json);
	assert_true(token_is_tpm2(json));
	assert_int_equal(token_parse(json, t, why, sizeof(why)), 0);
	free(json);
}

static void pcr7_token(void **state)
{
	struct token_tpm2 t;

	(void)state;
	parse_fixture("token/252-pcr7.json", &t);
	assert_int_equal(t.keyslot, 1);
	assert_int_equal(t.nshards, 1);
	assert_int_equal(t.shard[0].len, 240);	/* 158-byte private + 78-byte public + sizes */
	assert_int_equal(t.pcr_mask, 1u << 7);
	assert_int_equal(t.bank, TPM2_ALG_SHA256);
	assert_int_equal(t.primary_alg, TOKEN_ALG_ECC);
	assert_false(t.pin);
	assert_int_equal(t.pubkey_pcr_mask, 0);
	assert_null(t.pubkey_pem);
	assert_null(t.srk);
	token_free(&t);
}

static void signed_token(void **state)
{
	struct token_tpm2 t;

	(void)state;
	parse_fixture("token/252-signed-pcr7.json", &t);
	assert_int_equal(t.pcr_mask, 1u << 7);
	assert_int_equal(t.pubkey_pcr_mask, 1u << 11);
	assert_non_null(t.pubkey_pem);
	assert_non_null(strstr(t.pubkey_pem, "-----BEGIN PUBLIC KEY-----"));
	token_free(&t);
	parse_fixture("token/252-signed.json", &t);
	assert_int_equal(t.pcr_mask, 0);
	token_free(&t);
}

static void pin_token(void **state)
{
	struct token_tpm2 t;

	(void)state;
	parse_fixture("token/252-pin.json", &t);
	assert_true(t.pin);
	assert_false(t.has_salt);
	token_free(&t);
}

static void later_versions(void **state)
{
	/* 257+ arrays, 253+ salt, 254+ srk, 256+ pin omitted */
	const char *json =
		"{\"type\":\"systemd-tpm2\",\"keyslots\":[\"2\"],"
		"\"tpm2-blob\":[\"AAQAAAAAAAQAAAAA\",\"AAQAAAAAAAQAAAAA\"],"
		"\"tpm2-pcrs\":[],\"tpm2-pcr-bank\":\"SHA256\",\"tpm2-primary-alg\":\"rsa\","
		"\"tpm2-policy-hash\":[\"" "0000000000000000000000000000000000000000000000000000000000000000"
		"\",\"" "1111111111111111111111111111111111111111111111111111111111111111" "\"],"
		"\"tpm2_salt\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
		"\"tpm2_srk\":\"gQAAAQ==\",\"tpm2_pcrlock\":false,\"future_field\":1}";
	struct token_tpm2 t;
	char why[200] = "";

	(void)state;
	assert_int_equal(token_parse(json, &t, why, sizeof(why)), 0);
	assert_int_equal(t.nshards, 2);
	assert_int_equal(t.shard[1].policy_hash[0], 0x11);
	assert_int_equal(t.primary_alg, TOKEN_ALG_RSA);
	assert_true(t.has_salt);
	assert_int_equal(t.srk_len, 4);
	assert_false(t.pin);
	token_free(&t);
}

static void bad(const char *json, const char *want)
{
	struct token_tpm2 t;
	char why[200] = "";

	assert_int_equal(token_parse(json, &t, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, want));
}

#define BASE "\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-pcrs\":[7]," \
	     "\"tpm2-policy-hash\":\"b6a225e25da0907bd9cd3f156f18d4ef8614fe75ab4511d37b87939d272c80de\""

static void malformed(void **state)
{
	(void)state;
	bad("[1,2]", "not a JSON object");
	bad("{\"type\":\"clevis\"}", "type is not systemd-tpm2");
	bad("{" BASE "}", "tpm2-blob is missing");
	bad("{" BASE ",\"tpm2-blob\":\"!!!!\"}", "not valid base64");
	bad("{" BASE ",\"tpm2-blob\":5}", "tpm2-blob is missing or not a string");
	bad("{\"type\":\"systemd-tpm2\",\"keyslots\":[\"x\"]}", "not a keyslot number");
	bad("{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-pcrs\":[24]}", "tpm2-pcrs");
	bad("{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"tpm2-pcrs\":\"7\"}", "tpm2-pcrs");
	bad("{" BASE ",\"tpm2-blob\":\"AAAAAA==\",\"tpm2-pcr-bank\":\"md5\"}", "tpm2-pcr-bank");
	bad("{" BASE ",\"tpm2-blob\":\"AAAAAA==\",\"tpm2-pin\":\"yes\"}", "tpm2-pin is not a boolean");
	bad("{" BASE ",\"tpm2-blob\":\"AAAAAA==\",\"tpm2_pubkey_pcrs\":[11]}", "tpm2_pubkey is missing");
	bad("{" BASE ",\"tpm2-blob\":\"AAAAAA==\",\"tpm2_salt\":\"AAAA\"}", "tpm2_salt");
	bad("{" BASE ",\"tpm2-blob\":[\"AAAAAA==\",\"AAAAAA==\"]}", "different shard counts");
}

/* token_format gives systemd 252's bytes back for 252's own tokens */
static void format_252(void **state)
{
	static const char *const names[] = { "token/252-pcr7.json", "token/252-pin.json",
					     "token/252-signed-pcr7.json", "token/252-signed.json" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *json = fixture(names[i]), *out;
		struct token_tpm2 t;

		parse_fixture(names[i], &t);
		out = token_format(&t);
		assert_non_null(out);
		assert_string_equal(out, json);
		free(out);
		free(json);
		token_free(&t);
	}
}

/* The SRK profile: systemd 255's key order, tpm2_pcrlock false,
 * tpm2_salt (with a PIN) then tpm2_srk last; it parses back. */
static void format_srk(void **state)
{
	static unsigned char blob[4] = { 0, 1, 0, 2 }, srk[4] = { 0x81, 0, 0, 1 };
	struct token_tpm2 t = { .keyslot = 3, .nshards = 1, .pcr_mask = 1u << 7,
				.bank = TPM2_ALG_SHA256, .primary_alg = TOKEN_ALG_ECC, .pin = true,
				.has_salt = true, .srk = srk, .srk_len = sizeof(srk) };
	struct token_tpm2 back;
	char why[200] = "", *out;

	(void)state;
	t.shard[0].data = blob;
	t.shard[0].len = sizeof(blob);
	memset(t.shard[0].policy_hash, 0xab, 32);
	memset(t.salt, 0, 32);
	out = token_format(&t);
	assert_non_null(out);
	assert_string_equal(out,
		"{\"type\":\"systemd-tpm2\",\"keyslots\":[\"3\"],\"tpm2-blob\":\"AAEAAg==\","
		"\"tpm2-pcrs\":[7],\"tpm2-pcr-bank\":\"sha256\",\"tpm2-primary-alg\":\"ecc\","
		"\"tpm2-policy-hash\":\"abababababababababababababababababababababababababababababababab\","
		"\"tpm2-pin\":true,\"tpm2_pcrlock\":false,"
		"\"tpm2_salt\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"tpm2_srk\":\"gQAAAQ==\"}");
	assert_int_equal(token_parse(out, &back, why, sizeof(why)), 0);
	assert_int_equal(back.srk_len, 4);
	assert_true(back.has_salt);
	assert_false(back.pcrlock);
	token_free(&back);
	free(out);
	/* a salt without the SRK would be a token 252 misreads: refused */
	t.srk = NULL;
	assert_null(token_format(&t));
}

static void mask_text(void **state)
{
	char buf[64];

	(void)state;
	token_mask_str((1u << 7) | (1u << 11), buf, sizeof(buf));
	assert_string_equal(buf, "7+11");
	token_mask_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pcr7_token),   cmocka_unit_test(signed_token),
		cmocka_unit_test(pin_token),    cmocka_unit_test(later_versions),
		cmocka_unit_test(malformed),    cmocka_unit_test(mask_text),
		cmocka_unit_test(format_252),   cmocka_unit_test(format_srk),
	};
	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
