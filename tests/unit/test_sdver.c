/* sdver: which systemd is installed, from libsystemd-shared's file name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sdver.h"

static void names(void **state)
{
	(void)state;
	assert_int_equal(sdver_parse("libsystemd-shared-252.so"), 252);	/* Debian 12 */
	assert_int_equal(sdver_parse("libsystemd-shared-255.so"), 255);	/* Ubuntu 24.04 */
	assert_int_equal(sdver_parse("libsystemd-shared-255.4-1.fc40.so"), 255);	/* Fedora */
	assert_int_equal(sdver_parse("libsystemd-shared-256.7-1.so"), 256);	/* Arch */
	assert_int_equal(sdver_parse("libsystemd-shared-257~rc1.so"), 257);
	assert_int_equal(sdver_parse("libsystemd-shared-.so"), -1);
	assert_int_equal(sdver_parse("libsystemd-shared-x252.so"), -1);
	assert_int_equal(sdver_parse("libsystemd-shared-252x.so"), -1);
	assert_int_equal(sdver_parse("libsystemd-shared-252.so.bak"), -1);
	assert_int_equal(sdver_parse("libsystemd-shared-0.so"), -1);
	assert_int_equal(sdver_parse("libsystemd-shared-123456.so"), -1);
	assert_int_equal(sdver_parse("libsystemd-core-252.so"), -1);
	assert_int_equal(sdver_parse("libsystemd-shared-252"), -1);
	assert_int_equal(sdver_parse(""), -1);
}

static void reads_srk(void **state)
{
	(void)state;
	assert_false(sdver_reads_srk(252));
	assert_false(sdver_reads_srk(253));
	assert_true(sdver_reads_srk(254));
	assert_true(sdver_reads_srk(257));
	assert_true(sdver_reads_srk(-1));	/* no systemd: only kcrypt reads it */
}

static void touch(const char *dir, const char *name)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

/* the lowest of what the directories hold, and where it is */
static void installed(void **state)
{
	char root[] = "/tmp/kcrypt-sdver.XXXXXX", a[600], b[600], cmd[700], path[600] = "";
	const char *dirs[4];

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(a, sizeof(a), "%s/a", root);
	snprintf(b, sizeof(b), "%s/b", root);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	dirs[0] = "/nonexistent-kcrypt";
	dirs[1] = a;
	dirs[2] = b;
	dirs[3] = NULL;
	assert_int_equal(sdver_installed(dirs, path, sizeof(path)), -ENOENT);
	touch(a, "libsystemd-core-255.so");
	touch(a, "libsystemd-shared-255.so");
	assert_int_equal(sdver_installed(dirs, path, sizeof(path)), 255);
	touch(b, "libsystemd-shared-252.so");
	assert_int_equal(sdver_installed(dirs, path, sizeof(path)), 252);
	assert_non_null(strstr(path, "/b/libsystemd-shared-252.so"));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	/* Debian's place is in the list */
	for (size_t i = 0;; i++) {
		assert_non_null(sdver_dirs[i]);
		if (!strcmp(sdver_dirs[i], "/usr/lib/x86_64-linux-gnu/systemd"))
			break;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(reads_srk),
		cmocka_unit_test(installed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
