#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_MAX (1024 * 1024)

int file_read_text(const char *path, size_t max, char **out)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	/* O_NONBLOCK: a FIFO in place of a key must not hang us before fstat */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), r = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		r = -EIO;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

int file_pcr_signature(const char *explicit_path, char **json, char *found, size_t foundlen,
		       char *why, size_t whylen)
{
	/* systemd 252 searches the four directories, 254+ also /.extra in the
	 * initrd; /run/systemd first because systemd-stub's copy lands there */
	static const char *const dirs[] = {
		"/run/systemd", "/.extra", "/etc/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd",
	};
	int r;

	if (explicit_path) {
		r = file_read_text(explicit_path, SIG_MAX, json);
		if (r < 0)
			snprintf(why, whylen, "signature file %s: %s", explicit_path,
				 r == -EFBIG ? "not a regular file under 1 MiB" : strerror(-r));
		else
			snprintf(found, foundlen, "%s", explicit_path);
		return r;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(found, foundlen, "%s/tpm2-pcr-signature.json", dirs[i]);
		if (file_read_text(found, SIG_MAX, json) == 0)
			return 0;
	}
	found[0] = '\0';
	return -ENOENT;
}
