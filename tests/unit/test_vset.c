/* vset: the volume-set binding (wrap, token, TPM secret marker, verdict). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vset.h"

static const unsigned char vk_a[64] = { 1, 2, 3 }, vk_b[64] = { 9, 9, 9 };
#define UUID "8bfa06f9-ca4f-56dc-90c9-49cf20f4f45e"

static void wrap_opens_only_with_its_volume(void **state)
{
	struct secret *key = vset_key_new(), *back = NULL;
	struct vset_token t, u;
	unsigned char id[VSET_ID_LEN];

	(void)state;
	assert_non_null(key);
	assert_int_equal(vset_wrap(key, vk_a, sizeof(vk_a), UUID, "COS_OEM", &t), 0);
	assert_int_equal(vset_id(key, id), 0);
	assert_memory_equal(id, t.id, VSET_ID_LEN);
	assert_int_equal(vset_unwrap(&t, vk_a, sizeof(vk_a), UUID, "COS_OEM", &back), 0);
	assert_memory_equal(back->buf, key->buf, VSET_KEY_LEN);
	secret_free(back);
	/* another volume key, UUID or label: the attacker's volume, a moved
	 * token, a relabelled copy */
	assert_int_equal(vset_unwrap(&t, vk_b, sizeof(vk_b), UUID, "COS_OEM", &back), -EBADMSG);
	assert_null(back);
	assert_int_equal(vset_unwrap(&t, vk_a, sizeof(vk_a), "85c39d0f-4867-5227-8334-f5eec606d9eb",
				     "COS_OEM", &back), -EBADMSG);
	assert_int_equal(vset_unwrap(&t, vk_a, sizeof(vk_a), UUID, "COS_PERSISTENT", &back), -EBADMSG);
	/* the public id copied onto another wrap does not help */
	u = t;
	u.id[0] ^= 1;
	assert_int_equal(vset_unwrap(&u, vk_a, sizeof(vk_a), UUID, "COS_OEM", &back), -EBADMSG);
	u = t;
	u.wrap[20] ^= 1;
	assert_int_equal(vset_unwrap(&u, vk_a, sizeof(vk_a), UUID, "COS_OEM", &back), -EBADMSG);
	secret_free(key);
}

static void token_round_trip(void **state)
{
	struct secret *key = vset_key_new();
	struct vset_token t, back;
	char why[128], *json;

	(void)state;
	assert_int_equal(vset_wrap(key, vk_a, sizeof(vk_a), UUID, "COS_OEM", &t), 0);
	json = vset_token_format(&t);
	assert_non_null(json);
	assert_true(vset_token_is(json));
	assert_non_null(strstr(json, "\"type\":\"kcrypt-set\""));
	assert_non_null(strstr(json, "\"keyslots\":[]"));
	assert_int_equal(vset_token_parse(json, &back, why, sizeof(why)), 0);
	assert_memory_equal(&back, &t, sizeof(t));
	free(json);
	secret_free(key);
}

static void token_refusals(void **state)
{
	static const char *const bad[] = {
		"[]", "{}", "nonsense",
		"{\"type\":\"kcrypt-set\",\"keyslots\":[],\"kcrypt_set_version\":2}",
		"{\"type\":\"kcrypt-set\",\"keyslots\":[],\"kcrypt_set_version\":1,\"kcrypt_set\":\"zz\"}",
		"{\"type\":\"kcrypt-set\",\"keyslots\":[],\"kcrypt_set_version\":1,"
		"\"kcrypt_set\":\"00112233445566778899aabbccddeeff\",\"kcrypt_set_wrap\":\"AAAA\"}",
		"{\"type\":\"kcrypt-set\",\"keyslots\":[],\"kcrypt_set_version\":1,"
		"\"kcrypt_set\":\"00112233445566778899aabbccddeeff\",\"kcrypt_set_wrap\":7}",
	};
	struct vset_token t;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(vset_token_parse(bad[i], &t, why, sizeof(why)), -EINVAL);
		assert_true(why[0] != '\0');
	}
	assert_false(vset_token_is("{\"type\":\"systemd-tpm2\"}"));
	assert_false(vset_token_is("{\"type\":7}"));
	assert_false(vset_token_is(NULL));
}

static void claim_marker(void **state)
{
	unsigned char id[VSET_ID_LEN] = { 0xab, 0xcd }, back[VSET_ID_LEN];
	struct secret *s = secret_new(VSET_CLAIM_LEN);

	(void)state;
	assert_int_equal(vset_claim_make(id, s), 0);
	assert_int_equal(s->len, VSET_CLAIM_LEN);
	assert_true(vset_claim_parse(s->buf, s->len, back));
	assert_memory_equal(back, id, VSET_ID_LEN);
	/* systemd's secrets (32 random bytes) never read as a claim */
	assert_false(vset_claim_parse(s->buf, 32, back));
	s->buf[0] = 'X';
	assert_false(vset_claim_parse(s->buf, s->len, back));
	secret_free(s);
}

static struct vset_member bound(unsigned char tag)
{
	struct vset_member m = { .state = VSET_BOUND };

	memset(m.id, tag, VSET_ID_LEN);
	return m;
}

static void verdicts(void **state)
{
	struct vset_member m[3];
	struct vset_verdict v;
	unsigned char anchor[VSET_ID_LEN];

	(void)state;
	/* all of one set */
	m[0] = bound(1), m[1] = bound(1), m[2] = bound(1);
	vset_decide(m, 3, NULL, false, &v);
	assert_true(v.ok);
	assert_false(v.legacy);
	assert_int_equal(v.id[0], 1);
	/* OEM swapped: the majority names it */
	m[0] = bound(7);
	vset_decide(m, 3, NULL, false, &v);
	assert_false(v.ok);
	assert_true(m[0].refused);
	assert_false(m[1].refused);
	/* swapped by an unbound volume, or a stripped binding */
	m[0] = (struct vset_member){ .state = VSET_UNBOUND };
	vset_decide(m, 3, NULL, false, &v);
	assert_false(v.ok);
	assert_true(m[0].refused);
	m[0] = (struct vset_member){ .state = VSET_BAD };
	vset_decide(m, 3, NULL, false, &v);
	assert_false(v.ok);
	assert_true(m[0].refused);
	/* two volumes of two sets: the tie goes to the first, both fail */
	m[0] = bound(1), m[1] = bound(2);
	vset_decide(m, 2, NULL, false, &v);
	assert_false(v.ok);
	assert_true(m[1].refused);
	/* pass two: measured against the set pass one proved */
	memset(anchor, 2, sizeof(anchor));
	m[0] = bound(1);
	vset_decide(m, 1, anchor, false, &v);
	assert_false(v.ok);
	assert_true(m[0].refused);
	m[0] = bound(2);
	vset_decide(m, 1, anchor, false, &v);
	assert_true(v.ok);
	/* nothing bound: allowed (legacy, loudly) unless required */
	m[0] = (struct vset_member){ .state = VSET_UNBOUND };
	m[1] = (struct vset_member){ .state = VSET_UNBOUND };
	vset_decide(m, 2, NULL, false, &v);
	assert_true(v.ok);
	assert_true(v.legacy);
	vset_decide(m, 2, NULL, true, &v);
	assert_false(v.ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrap_opens_only_with_its_volume),
		cmocka_unit_test(token_round_trip),
		cmocka_unit_test(token_refusals),
		cmocka_unit_test(claim_marker),
		cmocka_unit_test(verdicts),
	};
	return cmocka_run_group_tests_name("vset", tests, NULL, NULL);
}
