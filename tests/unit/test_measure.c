/* measure: the message systemd-cryptsetup HMACs into PCR 15, and the EFI
 * variable that says a UKI was measured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "measure.h"

static void volume_message(void **state)
{
	const char *uuid = "85c39d0f-4867-5227-8334-f5eec606d9eb";
	char m[256];

	(void)state;
	assert_int_equal(measure_volume_message("persistent", uuid, m, sizeof(m)), 0);
	assert_string_equal(m, "cryptsetup:persistent:85c39d0f-4867-5227-8334-f5eec606d9eb");
	/* xescape(name, ":"): the separator, backslash and control bytes */
	assert_int_equal(measure_volume_message("a:b\\c\td", uuid, m, sizeof(m)), 0);
	assert_string_equal(m, "cryptsetup:a\\x3ab\\x5cc\\x09d:85c39d0f-4867-5227-8334-f5eec606d9eb");
	assert_int_equal(measure_volume_message("persistent", uuid, m, 40), -ENAMETOOLONG);
}

static void measured_uki_variable(void **state)
{
	char dir[] = "/tmp/kcrypt-efivars.XXXXXX", path[128];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_false(measure_is_measured_uki(dir));
	snprintf(path, sizeof(path), "%s/StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f",
		 dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_true(measure_is_measured_uki(dir));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(volume_message),
		cmocka_unit_test(measured_uki_variable),
	};
	return cmocka_run_group_tests_name("measure", tests, NULL, NULL);
}
