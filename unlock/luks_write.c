/* The writers: new keyslots and tokens on a loaded header, and the
 * installer's header built in memory and committed primary-last. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luks_int.h"

int luks_add_keyslot(struct luks *l, const unsigned char *old, size_t oldlen,
		     const unsigned char *pass, size_t passlen)
{
	/* the secret is 256 random bits: no need for a slow KDF, and it is
	 * what systemd-cryptenroll uses, so both tools make the same slots */
	struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha512",
					  .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	int r;

	if (l->memfd >= 0 && !l->fresh)
		return -EROFS;	/* degraded header: never write through a copy */
	r = crypt_set_pbkdf_type(l->cd, &pbkdf);
	if (r < 0)
		return r;
	return crypt_keyslot_add_by_passphrase(l->cd, CRYPT_ANY_SLOT, (const char *)old, oldlen,
					       (const char *)pass, passlen);
}

int luks_add_keyslot_vk(struct luks *l, const unsigned char *pass, size_t passlen)
{
	struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha512",
					  .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	int r;

	if ((l->memfd >= 0 && !l->fresh) || !l->vk)
		return l->vk ? -EROFS : -ENOKEY;
	r = crypt_set_pbkdf_type(l->cd, &pbkdf);
	if (r < 0)
		return r;
	return crypt_keyslot_add_by_volume_key(l->cd, CRYPT_ANY_SLOT, (const char *)l->vk->buf,
					       l->vk->len, (const char *)pass, passlen);
}

int luks_remove_token(struct luks *l, int id)
{
	if (l->memfd >= 0 && !l->fresh)
		return -EROFS;
	return crypt_token_json_set(l->cd, id, NULL);
}

int luks_add_token(struct luks *l, const char *json)
{
	if (l->memfd >= 0 && !l->fresh)
		return -EROFS;
	return crypt_token_json_set(l->cd, CRYPT_ANY_TOKEN, json);
}

int luks_destroy_keyslot(struct luks *l, int keyslot)
{
	return crypt_keyslot_destroy(l->cd, keyslot);
}

int luks_format_memory(const char *dev, const char *label, const char *uuid,
		       const unsigned char *pass, size_t passlen, const struct logger *log,
		       struct luks **out, char *why, size_t whylen)
{
	/* what systemd-cryptenroll uses for a 256-bit random secret */
	struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha512",
					  .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	struct crypt_params_luks2 params = { .label = label, .sector_size = 512 };
	struct luks *l = calloc(1, sizeof(*l));
	char hdrpath[64];
	int r;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->log = log;
	l->fresh = true;
	l->datadev = strdup(dev);
	l->memfd = memfd_create("kcrypt-new-luks2-header", MFD_CLOEXEC);
	if (!l->datadev || l->memfd < 0 || ftruncate(l->memfd, LUKS_NEW_HDR_BYTES) < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot make an in-memory header: %s", strerror(-r));
		goto out;
	}
	snprintf(hdrpath, sizeof(hdrpath), "/proc/self/fd/%d", l->memfd);
	r = crypt_init_data_device(&l->cd, hdrpath, dev);
	if (r < 0) {
		snprintf(why, whylen, "cannot open device: %s", strerror(-r));
		goto out;
	}
	crypt_set_log_callback(l->cd, luks_cs_log, (void *)log);
	/* the header goes in front of the data once written to the device */
	r = crypt_set_data_offset(l->cd, LUKS_NEW_HDR_BYTES / 512);
	if (r == 0)
		r = crypt_set_pbkdf_type(l->cd, &pbkdf);
	if (r == 0)
		r = crypt_format(l->cd, CRYPT_LUKS2, "aes", "xts-plain64", uuid, NULL, 64, &params);
	if (r < 0) {
		snprintf(why, whylen, "cannot format: %s", strerror(-r));
		goto out;
	}
	r = crypt_keyslot_add_by_volume_key(l->cd, CRYPT_ANY_SLOT, NULL, 0, (const char *)pass,
					    passlen);
	if (r < 0) {
		snprintf(why, whylen, "cannot add the keyslot: %s", strerror(-r));
		goto out;
	}
	/* as Kairos' "cryptsetup refresh --persistent --allow-discards" */
	(void)crypt_persistent_flags_set(l->cd, CRYPT_FLAGS_ACTIVATION,
					 CRYPT_ACTIVATE_ALLOW_DISCARDS);
	*out = l;
	l = NULL;
out:
	luks_free(l);
	return r;
}

static int pwrite_all(int fd, const unsigned char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, buf, len, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		buf += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

int luks_commit(struct luks *l, char *why, size_t whylen)
{
	const size_t size = LUKS_NEW_HDR_BYTES, head = 4096;
	unsigned char *buf = NULL;
	int fd = -1, r;

	if (!l->fresh)
		return -EINVAL;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	if (pread(l->memfd, buf, size, 0) != (ssize_t)size) {
		r = -EIO;
		snprintf(why, whylen, "cannot read the new header back");
		goto out;
	}
	/* O_EXCL: a mounted or otherwise claimed block device is refused */
	fd = open(l->datadev, O_RDWR | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot open for writing: %s",
			 r == -EBUSY ? "it is mounted or in use" : strerror(-r));
		goto out;
	}
	/* Everything but the primary binary header first, then the primary:
	 * once the primary is valid, everything it points to is on disk. */
	r = pwrite_all(fd, buf + head, size - head, (off_t)head);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0)
		r = pwrite_all(fd, buf, head, 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		snprintf(why, whylen, "writing the header failed: %s", strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

