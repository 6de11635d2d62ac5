#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "luks.h"

/* modhex: the 16 letters that sit at the same place on most keyboard
 * layouts, so a key typed on any of them means the same */
static const char modhex[] = "cbdefghijklnrtuv";

static void format(const unsigned char raw[RECOVERY_RAW_LEN], struct secret *out)
{
	size_t j = 0;

	for (size_t i = 0; i < RECOVERY_RAW_LEN; i++) {
		out->buf[j++] = (unsigned char)modhex[raw[i] >> 4];
		out->buf[j++] = (unsigned char)modhex[raw[i] & 0xf];
		if (i % 4 == 3 && i + 1 < RECOVERY_RAW_LEN)
			out->buf[j++] = '-';
	}
	out->buf[j] = '\0';
	out->len = j;
}

int recovery_new(struct secret **out)
{
	unsigned char raw[RECOVERY_RAW_LEN];
	struct secret *s = secret_new(RECOVERY_KEY_LEN + 1);
	int r = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		r = -EIO;
		goto out;
	}
	format(raw, s);
	*out = s;
	s = NULL;
out:
	explicit_bzero(raw, sizeof(raw));
	secret_free(s);
	return r;
}

static int nibble(unsigned char c)
{
	const char *p;

	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	p = c ? strchr(modhex, c) : NULL;
	return p ? (int)(p - modhex) : -1;
}

int recovery_normalize(const unsigned char *in, size_t len, struct secret **out)
{
	unsigned char raw[RECOVERY_RAW_LEN];
	size_t n = 0;
	struct secret *s = NULL;
	int r = -EINVAL;

	*out = NULL;
	for (size_t i = 0; i < len; i++) {
		int v = nibble(in[i]);

		if (in[i] == '-' || in[i] == ' ' || in[i] == '\n' || in[i] == '\r')
			continue;
		if (v < 0 || n >= 2 * RECOVERY_RAW_LEN)
			goto out;
		if (n % 2 == 0)
			raw[n / 2] = (unsigned char)(v << 4);
		else
			raw[n / 2] |= (unsigned char)v;
		n++;
	}
	if (n != 2 * RECOVERY_RAW_LEN)
		goto out;
	s = secret_new(RECOVERY_KEY_LEN + 1);
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	format(raw, s);
	*out = s;
	r = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	return r;
}

static int create(const char *path, struct secret **key, char *why, size_t whylen)
{
	int fd, r = recovery_new(key);

	if (r < 0) {
		snprintf(why, whylen, "no random bytes for a recovery key");
		return r;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: cannot create the recovery key file: %s", path,
			 strerror(-r));
		goto fail;
	}
	/* no newline: the file is also a cryptsetup --key-file as it stands */
	if (write(fd, (*key)->buf, (*key)->len) != (ssize_t)(*key)->len || fsync(fd) < 0) {
		r = errno ? -errno : -EIO;
		snprintf(why, whylen, "%s: cannot write the recovery key: %s", path, strerror(-r));
		close(fd);
		unlink(path);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	secret_free(*key);
	*key = NULL;
	return r;
}

int recovery_file(const char *path, struct secret **key, bool *created, char *why,
		  size_t whylen)
{
	struct secret *raw = NULL;
	int r;

	*key = NULL;
	*created = false;
	r = secret_read_file(path, 4096, &raw);
	if (r == -ENOENT) {
		r = create(path, key, why, whylen);
		*created = r == 0;
		return r;
	}
	if (r < 0) {
		snprintf(why, whylen, "%s: cannot read the recovery key file: %s", path, strerror(-r));
		return r;
	}
	r = recovery_normalize(raw->buf, raw->len, key);
	secret_free(raw);
	if (r < 0)
		snprintf(why, whylen, "%s: does not hold a recovery key (64 modhex characters)", path);
	return r;
}

int recovery_show(const struct secret *key, const char *what)
{
	int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	FILE *f;

	if (fd < 0)
		return -ENOTTY;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	/* unbuffered: no copy of the key lingers in a stdio buffer */
	setvbuf(f, NULL, _IONBF, 0);
	fprintf(f, "\nA recovery key was made for %s:\n\n    ", what);
	fwrite(key->buf, 1, key->len, f);
	fprintf(f, "\n\nStore it somewhere safe, off this machine. Typed at the boot prompt (or "
		   "given to systemd-cryptsetup) it opens the volumes when the TPM cannot.\n\n");
	fclose(f);
	return 0;
}

/* The keyslot of an existing systemd-recovery token that key opens. */
static bool have(struct luks *l, const struct secret *key)
{
	struct luks_info info;

	if (luks_info(l, &info) < 0)
		return false;
	for (size_t i = 0; i < info.ntokens; i++) {
		const struct luks_token *t = &info.tokens[i];

		if (strcmp(t->type, RECOVERY_TOKEN_TYPE))
			continue;
		for (size_t k = 0; k < t->nkeyslots; k++)
			if (luks_open_passphrase_slot(l, t->keyslots[k], key->buf, key->len) >= 0)
				return true;
	}
	return false;
}

int recovery_enroll(struct luks *l, const struct secret *old, const struct secret *key,
		    int *keyslot, char *why, size_t whylen)
{
	char json[96];
	int r;

	*keyslot = -1;
	if (have(l, key)) {
		snprintf(why, whylen, "this recovery key is enrolled already");
		return -EEXIST;
	}
	r = old ? luks_add_keyslot(l, old->buf, old->len, key->buf, key->len)
		: luks_add_keyslot_vk(l, key->buf, key->len);
	if (r < 0) {
		snprintf(why, whylen, "cannot add the recovery keyslot: %s", strerror(-r));
		return r;
	}
	*keyslot = r;
	snprintf(json, sizeof(json), "{\"type\":\"" RECOVERY_TOKEN_TYPE "\",\"keyslots\":[\"%d\"]}",
		 r);
	r = luks_add_token(l, json);
	if (r < 0) {
		snprintf(why, whylen, "cannot store the recovery token: %s", strerror(-r));
		luks_destroy_keyslot(l, *keyslot);
		*keyslot = -1;
		return r;
	}
	return 0;
}
