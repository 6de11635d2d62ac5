/* Read a file under tests/data into a NUL-terminated buffer (test helper). */
#ifndef KCRYPT_TEST_FIXTURE_H
#define KCRYPT_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

static inline char *fixture(const char *rel)
{
	char path[1024];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA, rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

#endif
