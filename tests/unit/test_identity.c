/* identity: Kairos labels, UUIDv5, roles and mapper names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "identity.h"

static void uuid_v5_matches_kairos(void **state)
{
	char u[UUID_STR_LEN];

	(void)state;
	/* the values Kairos documents for its two labels */
	assert_int_equal(identity_uuid_v5("COS_PERSISTENT", u), 0);
	assert_string_equal(u, "85c39d0f-4867-5227-8334-f5eec606d9eb");
	assert_int_equal(identity_uuid_v5("COS_OEM", u), 0);
	assert_string_equal(u, "8bfa06f9-ca4f-56dc-90c9-49cf20f4f45e");
}

static void label_rules(void **state)
{
	struct config c;
	struct volume v = { 0 };
	char out[64];

	(void)state;
	config_init(&c);
	v.label = (char *)"COS_PERSISTENT_LUKS";
	assert_true(identity_label(&v, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_PERSISTENT");

	v.label = (char *)"COS_OEM";
	v.partname = (char *)"persistent";	/* the LUKS2 label wins */
	assert_true(identity_label(&v, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_OEM");

	v.label = NULL;
	assert_true(identity_label(&v, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_PERSISTENT");

	v.partname = (char *)"oem";
	assert_true(identity_label(&v, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_OEM");

	v.partname = NULL;
	v.uuid = (char *)"85C39D0F-4867-5227-8334-F5EEC606D9EB";
	assert_true(identity_label(&v, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_PERSISTENT");

	v.uuid = (char *)"11111111-2222-3333-4444-555555555555";
	assert_false(identity_label(&v, &c, out, sizeof(out)));
	kv_set(&c.uuid_labels, "COS_LEGACY", "11111111-2222-3333-4444-555555555555");
	assert_true(identity_label(&v, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_LEGACY");

	/* a listed label's v5 UUID identifies it too */
	identity_uuid_v5("COS_DATA", out);
	v.uuid = out;
	strv_add(&c.encrypted, "COS_DATA");
	{
		char lab[64];
		assert_true(identity_label(&v, &c, lab, sizeof(lab)));
		assert_string_equal(lab, "COS_DATA");
	}
	config_free(&c);
}

static void roles(void **state)
{
	struct config c;

	(void)state;
	config_init(&c);
	strv_add(&c.encrypted, "COS_DATA");
	assert_int_equal(identity_role("COS_OEM", &c), ROLE_OEM);
	assert_int_equal(identity_role("COS_PERSISTENT", &c), ROLE_PERSISTENT);
	assert_int_equal(identity_role("COS_DATA", &c), ROLE_LISTED);
	assert_int_equal(identity_role("OTHER", &c), ROLE_UNLISTED);
	assert_int_equal(identity_role(NULL, &c), ROLE_UNLISTED);
	assert_string_equal(identity_role_name(ROLE_LISTED), "listed");
	config_free(&c);
}

static void mapper_names(void **state)
{
	struct config c;
	struct volume v = { .kname = (char *)"vda5", .label = (char *)"COS_PERSISTENT",
			    .partname = (char *)"persistent" };
	char out[128];

	(void)state;
	config_init(&c);
	assert_int_equal(identity_mapper_name(&v, "COS_PERSISTENT", &c, out, sizeof(out)), 0);
	assert_string_equal(out, "persistent");
	v.partname = NULL;
	assert_int_equal(identity_mapper_name(&v, "COS_PERSISTENT", &c, out, sizeof(out)), 0);
	assert_string_equal(out, "COS_PERSISTENT");
	v.label = (char *)"bad/label";
	assert_int_equal(identity_mapper_name(&v, NULL, &c, out, sizeof(out)), 0);
	assert_string_equal(out, "vda5");
	kv_set(&c.mapper_names, "COS_PERSISTENT", "data");
	assert_int_equal(identity_mapper_name(&v, "COS_PERSISTENT", &c, out, sizeof(out)), 0);
	assert_string_equal(out, "data");
	config_free(&c);
}

static void dm_name_validity(void **state)
{
	char longname[200];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_true(identity_valid_dm_name("persistent"));
	assert_false(identity_valid_dm_name(""));
	assert_false(identity_valid_dm_name(".."));
	assert_false(identity_valid_dm_name("a/b"));
	assert_false(identity_valid_dm_name("a b"));
	assert_false(identity_valid_dm_name(longname));
	assert_false(identity_valid_dm_name(NULL));
}

/* The names a plaintext volume must not bear on a measured boot. */
static void protected_names(void **state)
{
	struct config c;
	char out[64];

	(void)state;
	config_init(&c);
	strv_add(&c.encrypted, "COS_DATA");
	assert_true(identity_protected("COS_OEM", NULL, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_OEM");
	assert_true(identity_protected("COS_PERSISTENT_LUKS", NULL, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_PERSISTENT");
	assert_true(identity_protected(NULL, "oem", &c, out, sizeof(out)));
	assert_string_equal(out, "COS_OEM");
	assert_true(identity_protected("whatever", "persistent", &c, out, sizeof(out)));
	assert_string_equal(out, "COS_PERSISTENT");
	assert_true(identity_protected("COS_DATA", NULL, &c, out, sizeof(out)));
	assert_string_equal(out, "COS_DATA");
	assert_true(identity_protected(NULL, "COS_DATA", &c, out, sizeof(out)));
	assert_false(identity_protected("ROOT", "root", &c, out, sizeof(out)));
	assert_false(identity_protected("COS_OEMX", "oemx", &c, out, sizeof(out)));
	assert_false(identity_protected(NULL, NULL, &c, out, sizeof(out)));
	assert_false(identity_plaintext_allowed("COS_OEM", &c));
	strv_add(&c.allow_plaintext, "COS_OEM");
	assert_true(identity_plaintext_allowed("COS_OEM", &c));
	assert_false(identity_plaintext_allowed("COS_PERSISTENT", &c));
	c.allow_plaintext_all = true;
	assert_true(identity_plaintext_allowed("COS_PERSISTENT", &c));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uuid_v5_matches_kairos),
		cmocka_unit_test(label_rules),
		cmocka_unit_test(roles),
		cmocka_unit_test(mapper_names),
		cmocka_unit_test(dm_name_validity),
		cmocka_unit_test(protected_names),
	};
	return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
