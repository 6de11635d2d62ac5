#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct secret *secret_new(size_t cap)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = cap ? (cap + (size_t)page - 1) / (size_t)page * (size_t)page : (size_t)page;
	struct secret *s = calloc(1, sizeof(*s));
	void *p;

	if (!s)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* keep keys out of swap and out of core files */
	if (mlock(p, len) < 0) {
		int e = errno;
		munmap(p, len);
		errno = e;
		goto fail;
	}
	(void)madvise(p, len, MADV_DONTDUMP);
	s->buf = p;
	s->cap = len;
	return s;
fail:
	free(s);
	return NULL;
}

void secret_free(struct secret *s)
{
	if (!s)
		return;
	if (s->buf) {
		explicit_bzero(s->buf, s->cap);
		munlock(s->buf, s->cap);
		munmap(s->buf, s->cap);
	}
	free(s);
}

/* Move the content into a larger locked buffer, wiping the old one. */
static int grow(struct secret **sp, size_t cap)
{
	struct secret *n = secret_new(cap);

	if (!n)
		return -errno;
	memcpy(n->buf, (*sp)->buf, (*sp)->len);
	n->len = (*sp)->len;
	secret_free(*sp);
	*sp = n;
	return 0;
}

static int read_all(int fd, struct secret **sp, size_t max)
{
	for (;;) {
		struct secret *s = *sp;
		ssize_t n;

		if (s->len > max)
			return -EFBIG;
		if (s->len == s->cap) {
			int r = grow(sp, s->cap * 2 > max + 1 ? max + 1 : s->cap * 2);
			if (r < 0)
				return r;
			continue;
		}
		n = read(fd, s->buf + s->len, s->cap - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		s->len += (size_t)n;
	}
}

int secret_read_file(const char *path, size_t max, struct secret **out)
{
	struct secret *s = NULL;
	struct stat st;
	size_t cap = 4096;
	int fd = -1, r;

	*out = NULL;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	/* lock only what the key needs; one spare byte tells "max" from "more" */
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > max) {
			r = -EFBIG;
			goto out;
		}
		cap = (size_t)st.st_size + 1;
	}
	s = secret_new(cap);
	if (!s) {
		r = -errno;
		goto out;
	}
	r = read_all(fd, &s, max);
	if (r == 0 && s->len == 0)
		r = -ENODATA;
	if (r == 0) {
		*out = s;
		s = NULL;
	}
out:
	secret_free(s);
	if (fd > STDIN_FILENO)
		close(fd);
	return r;
}
