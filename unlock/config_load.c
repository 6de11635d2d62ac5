/* The I/O half of config: which files are read, in which order. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static bool yaml_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* Reads at most max+1 bytes so an oversized file is recognised unread. */
static int slurp(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}

static void load_file(struct config *c, int dirfd, const char *dir, const char *name,
		      struct diags *d)
{
	char path[4096];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		diags_add(d, path, 0, "cannot open: %s, skipped", strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;	/* directories, fifos, devices: not config */
	if (st.st_size > CONFIG_MAX_FILE_SIZE) {
		diags_add(d, path, 0, "file is larger than %d bytes, skipped", CONFIG_MAX_FILE_SIZE);
		goto out;
	}
	r = slurp(fd, CONFIG_MAX_FILE_SIZE, &buf, &len);
	if (r == -EFBIG) {
		diags_add(d, path, 0, "file is larger than %d bytes, skipped", CONFIG_MAX_FILE_SIZE);
		goto out;
	}
	if (r < 0) {
		diags_add(d, path, 0, "cannot read: %s, skipped", strerror(-r));
		goto out;
	}
	/* Kairos only merges files that declare themselves cloud-configs */
	if (config_has_header(buf, len))
		config_parse_yaml(c, buf, len, path, d);
out:
	free(buf);
	close(fd);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int keep_yaml(const struct dirent *e)
{
	return yaml_name(e->d_name);
}

static void load_dir(struct config *c, const char *dir, struct diags *d)
{
	struct dirent **list = NULL;
	int n, dirfd;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		if (errno != ENOENT)
			diags_add(d, dir, 0, "cannot read config directory: %s", strerror(errno));
		return;
	}
	n = scandirat(dirfd, ".", &list, keep_yaml, by_name);
	if (n < 0) {
		diags_add(d, dir, 0, "cannot read config directory: %s", strerror(errno));
		close(dirfd);
		return;
	}
	for (int i = 0; i < n; i++) {
		load_file(c, dirfd, dir, list[i]->d_name, d);
		free(list[i]);
	}
	free(list);
	close(dirfd);
}

void config_load_dirs(struct config *c, const struct strv *dirs, struct diags *d)
{
	for (size_t i = 0; i < dirs->n; i++)
		load_dir(c, dirs->v[i], d);
}

void config_load_cmdline_file(struct config *c, const char *path, struct diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			diags_add(d, path, 0, "cannot read kernel command line: %s", strerror(errno));
		return;
	}
	if (slurp(fd, 64 * 1024, &buf, &len) == 0) {
		char *nul = memchr(buf, '\0', len);
		/* terminate; /proc/cmdline ends in a newline, which is a separator */
		char *str = nul ? buf : realloc(buf, len + 1);
		if (str) {
			str[nul ? (size_t)(nul - buf) : len] = '\0';
			config_parse_cmdline(c, str, d);
			buf = str;
		}
	} else {
		diags_add(d, path, 0, "cannot read kernel command line");
	}
	free(buf);
	close(fd);
}
