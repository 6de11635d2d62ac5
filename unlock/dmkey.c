#include "dmkey.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <libdevmapper.h>

#include "codec.h"

/* "aes-xts-plain64 HEXKEY 0 /dev/vda2 32768 ...": the second field. */
static int key_of(const char *params, struct secret **key)
{
	const char *k = strchr(params, ' '), *end;
	struct secret *s, *hex;
	size_t n;
	int r;

	if (!k)
		return -ENOENT;
	k++;
	if (*k == ':')
		return -ENOKEY;		/* ":64:logon:cryptsetup:...": in the keyring */
	end = strchr(k, ' ');
	n = end ? (size_t)(end - k) : strlen(k);
	if (n == 0 || n % 2 || n / 2 > 1024)
		return -ENOENT;
	/* the hex field alone, in locked memory (the decoder takes a string) */
	hex = secret_new(n + 1);
	s = secret_new(n / 2);
	if (!hex || !s) {
		secret_free(hex);
		secret_free(s);
		return -ENOMEM;
	}
	memcpy(hex->buf, k, n);
	hex->buf[n] = '\0';
	r = codec_hex_decode((const char *)hex->buf, s->buf, n / 2) < 0 ? -ENOENT : 0;
	secret_free(hex);
	if (r < 0) {
		secret_free(s);
		return r;
	}
	s->len = n / 2;
	*key = s;
	return 0;
}

int dmkey_read(const char *name, struct secret **key)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_TABLE);
	uint64_t start, length;
	char *type = NULL, *params = NULL;
	int r = -ENOENT;

	*key = NULL;
	if (!dmt)
		return -ENOMEM;
	/* secure: libdevmapper wipes its buffers of the table */
	if (!dm_task_set_name(dmt, name) || !dm_task_secure_data(dmt) || !dm_task_no_open_count(dmt) ||
	    !dm_task_run(dmt))
		goto out;
	dm_get_next_target(dmt, NULL, &start, &length, &type, &params);
	if (type && params && !strcmp(type, "crypt"))
		r = key_of(params, key);
	if (params)
		explicit_bzero(params, strlen(params));
out:
	dm_task_destroy(dmt);
	return r;
}
