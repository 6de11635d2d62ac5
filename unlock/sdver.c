#include "sdver.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PREFIX "libsystemd-shared-"

/* /lib/systemd is /usr/lib/systemd on a merged /usr, a directory of its
 * own where /usr is not merged; lib64 for Fedora's layout */
const char *const sdver_dirs[] = { "/usr/lib/systemd", "/lib/systemd",
				   "/usr/lib/x86_64-linux-gnu/systemd", "/usr/lib64/systemd",
				   NULL };

int sdver_parse(const char *name)
{
	size_t n = strlen(name), digits = 0;
	const char *p;
	int v = 0;

	if (strncmp(name, PREFIX, strlen(PREFIX)) || n < strlen(PREFIX) + 4 ||
	    strcmp(name + n - 3, ".so"))
		return -1;
	for (p = name + strlen(PREFIX); *p >= '0' && *p <= '9' && digits < 5; p++, digits++)
		v = v * 10 + (*p - '0');
	/* then ".so", or the rest of a distribution's tag: ".4-1.fc40.so", "~rc1.so" */
	if (!digits || digits > 4 || v == 0 || (*p != '.' && *p != '-' && *p != '~'))
		return -1;
	return v;
}

bool sdver_reads_srk(int v)
{
	return v < 0 || v >= SDVER_SRK_MIN;
}

int sdver_installed(const char *const *dirs, char *path, size_t pathlen)
{
	int best = -ENOENT;

	for (size_t i = 0; dirs[i]; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d))) {
			int v = sdver_parse(e->d_name);

			/* several (an upgrade's leftovers): the oldest may be the one that boots */
			if (v > 0 && (best < 0 || v < best)) {
				best = v;
				snprintf(path, pathlen, "%s/%s", dirs[i], e->d_name);
			}
		}
		closedir(d);
	}
	return best;
}
