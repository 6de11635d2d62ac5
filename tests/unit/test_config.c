/* config: YAML and kernel command line in, struct config out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct fx {
	struct config c;
	struct diags d;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	config_init(&f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	config_free(&f->c);
	diags_free(&f->d);
	free(f);
	return 0;
}

static int parse(struct fx *f, const char *yaml)
{
	return config_parse_yaml(&f->c, yaml, strlen(yaml), "t.yaml", &f->d);
}

static void encrypted_partitions_list(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "#cloud-config\ninstall:\n  encrypted_partitions:\n"
				  "  - COS_PERSISTENT\n  - COS_DATA\n  - COS_DATA\n"), 0);
	assert_int_equal(f->c.encrypted.n, 2);
	assert_string_equal(f->c.encrypted.v[0], "COS_PERSISTENT");
	assert_string_equal(f->c.encrypted.v[1], "COS_DATA");
	assert_int_equal(f->d.n, 0);
}

static void flow_list_and_extra_partitions(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "install:\n  encrypted_partitions: [COS_OEM]\n"
				  "  extra-partitions:\n  - name: data\n    size: 100\n"
				  "    fs: ext4\n    label: COS_DATA\n  - name: nolabel\n"), 0);
	assert_int_equal(f->c.encrypted.n, 1);
	assert_int_equal(f->c.extra_labels.n, 1);
	assert_string_equal(f->c.extra_labels.v[0], "COS_DATA");
	assert_int_equal(f->d.n, 0);
}

static void kcrypt_block(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "kcrypt:\n  tpm_device: /dev/tpmrm0\n  timeout: 12\n"
				  "  debug: true\n  mapper_names:\n    COS_PERSISTENT: persistent\n"
				  "  uuid_label_mappings:\n    COS_DATA: 1234-abcd\n"
				  "  challenger:\n    challenger_server: http://kms\n"), 0);
	/* a file on a volume must not choose the TPM device (it is written to) */
	assert_null(f->c.tpm_device);
	assert_int_equal(f->c.timeout, 12);
	assert_true(f->c.debug);
	assert_string_equal(kv_get(&f->c.mapper_names, "COS_PERSISTENT"), "persistent");
	assert_string_equal(kv_get(&f->c.uuid_labels, "COS_DATA"), "1234-abcd");
	assert_int_equal(f->d.n, 1);
	assert_non_null(strstr(f->d.v[0].msg, "kcrypt.tpm_device is ignored here"));
}

/* The trust settings: the kernel command line only, never a file. */
static void trust_settings_cmdline_only(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "kcrypt:\n  allow_plaintext: COS_OEM\n  volume_set: auto\n"), 0);
	assert_int_equal(f->c.allow_plaintext.n, 0);
	assert_false(f->c.allow_plaintext_all);
	assert_int_equal(f->d.n, 2);
	config_parse_cmdline(&f->c, "kcrypt.allow_plaintext=COS_OEM,COS_DATA kcrypt.volume_set=required",
			     &f->d);
	assert_int_equal(f->c.allow_plaintext.n, 2);
	assert_string_equal(f->c.allow_plaintext.v[1], "COS_DATA");
	assert_true(f->c.set_required);
	config_parse_cmdline(&f->c, "kcrypt.allow_plaintext kcrypt.volume_set=maybe", &f->d);
	assert_true(f->c.allow_plaintext_all);
	assert_int_equal(f->d.n, 3);
	assert_non_null(strstr(f->d.v[2].msg, "'maybe' is not auto or required"));
}

static void later_file_wins_scalars_lists_merge(void **state)
{
	struct fx *f = *state;

	parse(f, "kcrypt:\n  timeout: 5\ninstall:\n  encrypted_partitions: [A]\n");
	parse(f, "kcrypt:\n  timeout: 7\ninstall:\n  encrypted_partitions: [B]\n");
	assert_int_equal(f->c.timeout, 7);
	assert_int_equal(f->c.encrypted.n, 2);
}

static void malformed_yaml_reports_line(void **state)
{
	struct fx *f = *state;

	assert_int_not_equal(parse(f, "#cloud-config\ninstall:\n  encrypted_partitions: [a\n  b: :\n"), 0);
	assert_int_equal(f->d.n, 1);
	assert_string_equal(f->d.v[0].path, "t.yaml");
	assert_true(f->d.v[0].line >= 3);
	assert_non_null(strstr(f->d.v[0].msg, "malformed YAML"));
	assert_int_equal(f->c.encrypted.n, 0);
}

static void wrong_types_are_ignored_one_by_one(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "install:\n  encrypted_partitions: 5\n"
				  "kcrypt:\n  timeout: soon\n  tpm_device: [a]\n  debug: maybe\n"
				  "  mapper_names: [x]\n"), 0);
	assert_int_equal(f->c.encrypted.n, 0);
	assert_int_equal(f->c.timeout, CONFIG_DEFAULT_TIMEOUT);
	assert_null(f->c.tpm_device);
	assert_int_equal(f->d.n, 5);
	assert_non_null(strstr(f->d.v[0].msg, "install.encrypted_partitions: expected a list"));
	assert_int_equal(f->d.v[0].line, 2);
}

static void bad_label_items_skipped(void **state)
{
	struct fx *f = *state;

	parse(f, "install:\n  encrypted_partitions: [GOOD, {a: b}, \"has space\", [x]]\n");
	assert_int_equal(f->c.encrypted.n, 1);
	assert_int_equal(f->d.n, 3);
}

static void non_mapping_root_and_empty(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, ""), 0);
	assert_int_equal(parse(f, "#cloud-config\n"), 0);
	assert_int_equal(parse(f, "- a\n- b\n"), 0);
	assert_int_equal(f->d.n, 1);
	assert_int_equal(parse(f, "install: ~\nkcrypt: null\n"), 0);
	assert_int_equal(f->d.n, 1);
}

static void multiple_documents(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "install:\n  encrypted_partitions: [A]\n---\n"
				  "install:\n  encrypted_partitions: [B]\n"), 0);
	assert_int_equal(f->c.encrypted.n, 2);
}

static void deep_nesting_is_bounded(void **state)
{
	struct fx *f = *state;
	size_t n = 100000;
	char *buf = malloc(n + 1);

	memset(buf, '[', n);
	buf[n] = '\0';
	assert_int_not_equal(parse(f, buf), 0);
	assert_int_equal(f->d.n, 1);
	free(buf);
}

static void aliases_are_not_expanded(void **state)
{
	struct fx *f = *state;
	const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "install:\n  encrypted_partitions: *d\n";

	assert_int_equal(parse(f, bomb), 0);
	assert_int_equal(f->c.encrypted.n, 0);
	assert_int_equal(f->d.n, 1);
}

static void oversized_input_refused(void **state)
{
	struct fx *f = *state;
	size_t n = CONFIG_MAX_FILE_SIZE + 1;
	char *buf = malloc(n);

	memset(buf, '#', n);
	assert_int_not_equal(config_parse_yaml(&f->c, buf, n, "big.yaml", &f->d), 0);
	assert_non_null(strstr(f->d.v[0].msg, "larger than"));
	free(buf);
}

static void header_detection(void **state)
{
	(void)state;
	assert_true(config_has_header("#cloud-config\n", 14));
	assert_true(config_has_header("#cloud-config", 13));
	assert_true(config_has_header("#kairos-config\nx", 16));
	assert_false(config_has_header("#cloud-configs\n", 15));
	assert_false(config_has_header("install: {}\n", 12));
}

static void cmdline_keys(void **state)
{
	struct fx *f = *state;

	config_parse_cmdline(&f->c, "BOOT_IMAGE=/vmlinuz console=ttyS0 rd.kcrypt.debug "
			     "rd.kcrypt.timeout=9s kcrypt.tpm_device=\"device:/dev/tpm0\" "
			     "kcrypt.encrypted_partitions=COS_A,COS_B "
			     "kcrypt.mapper_names.COS_OEM=oem kcrypt.challenger.mdns=true "
			     "kcrypt.uuid_label_mappings.COS_X=abcd\n", &f->d);
	assert_true(f->c.debug);
	assert_int_equal(f->c.timeout, 9);
	assert_string_equal(f->c.tpm_device, "device:/dev/tpm0");
	assert_int_equal(f->c.encrypted.n, 2);
	assert_string_equal(kv_get(&f->c.mapper_names, "COS_OEM"), "oem");
	assert_string_equal(kv_get(&f->c.uuid_labels, "COS_X"), "abcd");
	assert_false(f->c.disabled);
	assert_int_equal(f->d.n, 0);
}

static void cmdline_disable_and_bad_values(void **state)
{
	struct fx *f = *state;

	config_parse_cmdline(&f->c, "rd.kcrypt=0 rd.kcrypt.timeout=abc rd.kcrypt.debug=perhaps", &f->d);
	assert_true(f->c.disabled);
	assert_int_equal(f->c.timeout, CONFIG_DEFAULT_TIMEOUT);
	assert_int_equal(f->d.n, 2);
	config_parse_cmdline(&f->c, "rd.kcrypt=1", &f->d);
	assert_false(f->c.disabled);
}

static void cmdline_prompt(void **state)
{
	struct fx *f = *state;

	assert_true(f->c.prompt);
	assert_int_equal(f->c.prompt_timeout, CONFIG_DEFAULT_PROMPT_TIMEOUT);
	config_parse_cmdline(&f->c, "rd.kcrypt.prompt=0 rd.kcrypt.prompt_timeout=15", &f->d);
	assert_false(f->c.prompt);
	assert_int_equal(f->c.prompt_timeout, 15);
	config_parse_cmdline(&f->c, "kcrypt.prompt kcrypt.prompt_timeout=later "
			     "kcrypt.prompt=sometimes", &f->d);
	assert_true(f->c.prompt);
	assert_int_equal(f->c.prompt_timeout, 15);
	assert_int_equal(f->d.n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(encrypted_partitions_list, setup, teardown),
		cmocka_unit_test_setup_teardown(flow_list_and_extra_partitions, setup, teardown),
		cmocka_unit_test_setup_teardown(trust_settings_cmdline_only, setup, teardown),
		cmocka_unit_test_setup_teardown(kcrypt_block, setup, teardown),
		cmocka_unit_test_setup_teardown(later_file_wins_scalars_lists_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_yaml_reports_line, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_types_are_ignored_one_by_one, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_label_items_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(non_mapping_root_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(multiple_documents, setup, teardown),
		cmocka_unit_test_setup_teardown(deep_nesting_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(aliases_are_not_expanded, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_input_refused, setup, teardown),
		cmocka_unit_test(header_detection),
		cmocka_unit_test_setup_teardown(cmdline_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(cmdline_disable_and_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(cmdline_prompt, setup, teardown),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
