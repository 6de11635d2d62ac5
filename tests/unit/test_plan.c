/* plan: volumes + config in, ordered steps out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "plan.h"

static struct volume vol(const char *dev, const char *label, const char *part, int version)
{
	struct volume v = { .devnode = (char *)dev, .kname = (char *)dev, .label = (char *)label,
			    .partname = (char *)part, .luks_version = version,
			    .uuid = (char *)dev };	/* unique: a shared UUID is refused */
	return v;
}

static void order_roles_and_expectations(void **state)
{
	struct volume v[] = {
		vol("sdx", "OTHER", NULL, 2),
		vol("vda5", NULL, "persistent", 2),
		vol("vda7", "COS_DATA_LUKS", NULL, 2),
		vol("vda2", "COS_OEM", "oem", 2),
	};
	struct volume_list l = { v, 4 };
	struct config c;
	struct plan p;

	(void)state;
	config_init(&c);
	strv_add(&c.encrypted, "COS_DATA");
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.steps[0].vol->devnode, "vda2");
	assert_int_equal(p.steps[0].role, ROLE_OEM);
	assert_string_equal(p.steps[0].mapper, "oem");
	assert_string_equal(p.steps[1].vol->devnode, "vda5");
	assert_string_equal(p.steps[1].mapper, "persistent");
	assert_string_equal(p.steps[2].vol->devnode, "sdx");
	assert_false(p.steps[2].expected);
	assert_int_equal(p.steps[2].action, STEP_OPEN);
	assert_string_equal(p.steps[3].label, "COS_DATA");
	assert_true(p.steps[3].expected);
	assert_string_equal(p.steps[3].mapper, "COS_DATA_LUKS");
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(p.steps[i].action, STEP_OPEN);
	plan_free(&p);
	config_free(&c);
}

static void duplicate_uuids_refuse_both(void **state)
{
	struct volume v[] = { vol("vda2", "COS_OEM", "oem", 2), vol("vda3", "COS_PERSISTENT", NULL, 2) };
	struct volume_list l = { v, 2 };
	struct config c;
	struct plan p;

	(void)state;
	v[1].uuid = v[0].uuid;	/* a copy of OEM relabelled as PERSISTENT */
	config_init(&c);
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(p.steps[i].action, STEP_REFUSE);
		assert_int_equal(p.steps[i].fail, FAIL_AMBIGUOUS);
		assert_non_null(strstr(p.steps[i].reason, "LUKS UUID vda2 is on both vda2 and vda3"));
	}
	plan_free(&p);
	config_free(&c);
}

static void active_is_skipped(void **state)
{
	struct volume v[] = { vol("vda5", "COS_PERSISTENT", NULL, 2) };
	struct volume_list l = { v, 1 };
	struct config c;
	struct plan p;

	(void)state;
	v[0].active = true;
	v[0].active_name = (char *)"persistent";
	config_init(&c);
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.steps[0].action, STEP_SKIP_ACTIVE);
	assert_string_equal(p.steps[0].mapper, "persistent");
	plan_free(&p);
	config_free(&c);
}

static void duplicate_labels_refuse_both(void **state)
{
	struct volume v[] = { vol("vda5", "COS_PERSISTENT", NULL, 2),
			      vol("sdb1", "COS_PERSISTENT_LUKS", NULL, 2),
			      vol("vda2", "COS_OEM", NULL, 2) };
	struct volume_list l = { v, 3 };
	struct config c;
	struct plan p;

	(void)state;
	config_init(&c);
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.steps[0].action, STEP_OPEN);	/* OEM unaffected */
	for (size_t i = 1; i < 3; i++) {
		assert_int_equal(p.steps[i].action, STEP_REFUSE);
		assert_int_equal(p.steps[i].fail, FAIL_AMBIGUOUS);
		assert_non_null(strstr(p.steps[i].reason, "vda5"));
		assert_non_null(strstr(p.steps[i].reason, "sdb1"));
	}
	plan_free(&p);
	config_free(&c);
}

static void duplicate_mapper_names_refused(void **state)
{
	struct volume v[] = { vol("a", NULL, "data", 2), vol("b", NULL, "data", 2) };
	struct volume_list l = { v, 2 };
	struct config c;
	struct plan p;

	(void)state;
	config_init(&c);
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.steps[0].fail, FAIL_AMBIGUOUS);
	assert_int_equal(p.steps[1].fail, FAIL_AMBIGUOUS);
	assert_non_null(strstr(p.steps[0].reason, "mapper name data"));
	plan_free(&p);
	config_free(&c);
}

static void luks1_refused_and_missing_listed(void **state)
{
	struct volume v[] = { vol("old", "COS_OEM", NULL, 1) };
	struct volume_list l = { v, 1 };
	struct config c;
	struct plan p;

	(void)state;
	config_init(&c);
	strv_add(&c.encrypted, "COS_GONE");
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.steps[0].action, STEP_REFUSE);
	assert_int_equal(p.steps[0].fail, FAIL_DEVICE);
	assert_non_null(strstr(p.steps[0].reason, "LUKS1"));
	assert_null(p.steps[1].vol);
	assert_true(p.steps[1].expected);
	assert_int_equal(p.steps[1].fail, FAIL_DEVICE);
	assert_non_null(strstr(p.steps[1].reason, "COS_GONE"));
	plan_free(&p);
	config_free(&c);
}

static void one_volume_with_name(void **state)
{
	struct volume v = vol("img", "X", NULL, 2);
	struct config c;
	struct plan p;

	(void)state;
	config_init(&c);
	assert_int_equal(plan_build_one(&v, &c, "mine", &p), 0);
	assert_string_equal(p.steps[0].mapper, "mine");
	assert_int_equal(p.steps[0].action, STEP_OPEN);
	plan_free(&p);
	assert_int_equal(plan_build_one(&v, &c, "bad/name", &p), 0);
	assert_int_equal(p.steps[0].action, STEP_REFUSE);
	plan_free(&p);
	config_free(&c);
}

static void empty(void **state)
{
	struct volume_list l = { 0 };
	struct config c;
	struct plan p;

	(void)state;
	config_init(&c);
	assert_int_equal(plan_build(&l, &c, &p), 0);
	assert_int_equal(p.n, 0);
	plan_free(&p);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(order_roles_and_expectations),
		cmocka_unit_test(active_is_skipped),
		cmocka_unit_test(duplicate_uuids_refuse_both),
		cmocka_unit_test(duplicate_labels_refuse_both),
		cmocka_unit_test(duplicate_mapper_names_refused),
		cmocka_unit_test(luks1_refused_and_missing_listed),
		cmocka_unit_test(one_volume_with_name),
		cmocka_unit_test(empty),
	};
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
