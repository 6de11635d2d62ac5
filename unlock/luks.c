#include "luks.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "secret.h"

#include "luks_int.h"

/* libcryptsetup's own messages are detail: ours carry the one-line error */
void luks_cs_log(int level, const char *msg, void *usrptr)
{
	const struct logger *log = usrptr;
	char line[512];
	size_t n;

	(void)level;
	if (!log)
		return;
	snprintf(line, sizeof(line), "%s", msg);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug(log, "libcryptsetup: %s", line);
}

static int copy_range(int from, int to, uint64_t off, uint64_t size)
{
	char buf[65536];
	uint64_t done = 0;

	while (done < size) {
		size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		ssize_t r = pread(from, buf, want, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;	/* short device: libcryptsetup will say what is missing */
		if (pwrite(to, buf, (size_t)r, (off_t)(off + done)) != r)
			return -errno;
		done += (uint64_t)r;
	}
	return 0;
}

/* A sparse in-memory copy of what libcryptsetup reads: both header copies
 * and the keyslot areas the header names. Whatever libcryptsetup then
 * "repairs" lands here, never on the disk. */
static int copy_metadata(int from, const struct hdr_state *st, int *out)
{
	uint64_t devsize = 0, size;
	struct stat sb;
	int fd = memfd_create("kcrypt-luks2-header", MFD_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	if (fstat(from, &sb) == 0 && S_ISREG(sb.st_mode))
		devsize = (uint64_t)sb.st_size;
	else if (ioctl(from, BLKGETSIZE64, &devsize) < 0)
		devsize = 0;
	/* never more than the device holds, whatever the JSON claims */
	size = devsize && st->metadata_size > devsize ? devsize : st->metadata_size;
	r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (r == 0)
		r = copy_range(from, fd, 0, 2 * st->hdr_size);
	for (size_t i = 0; r == 0 && i < st->nareas; i++)
		r = copy_range(from, fd, st->areas[i].offset, st->areas[i].size);
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

static int classify(int fd, struct luks *l, bool rw, char *why, size_t whylen)
{
	struct hdr_state st;
	int r = luks_hdr_check(fd, &st);


	if (r < 0) {
		snprintf(why, whylen, "cannot read header: %s", strerror(-r));
		return r;
	}
	l->health = st.health;
	switch (st.health) {
	case HDR_NOT_LUKS:
		snprintf(why, whylen, "not a LUKS volume");
		return -EMEDIUMTYPE;
	case HDR_LUKS1:
		snprintf(why, whylen, "LUKS1 volume: only LUKS2 is supported");
		return -EPROTONOSUPPORT;
	case HDR_DAMAGED:
		snprintf(why, whylen, "LUKS2 header is damaged: no valid copy (primary and secondary fail their checksum)");
		return -EBADMSG;
	case HDR_DEGRADED:
		log_warn(l->log, "%s LUKS2 header copy is damaged or stale; using the %s copy without repairing (run 'cryptsetup repair')",
			 st.primary_ok ? "secondary" : "primary", st.primary_ok ? "primary" : "secondary");
		if (rw) {
			snprintf(why, whylen, "LUKS2 header has a damaged copy: run 'cryptsetup repair' first");
			return -EROFS;
		}
		r = copy_metadata(fd, &st, &l->memfd);
		if (r == 0 && !st.primary_ok) {
			/* A bad primary area may still hold another signature
			 * (the filesystem an interrupted encrypt replaced), which
			 * makes libcryptsetup refuse the good secondary copy as
			 * ambiguous. Blank it in the copy; the disk stays as is. */
			static const unsigned char zero[4096];
			if (pwrite(l->memfd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero))
				r = -EIO;
		}
		if (r < 0)
			snprintf(why, whylen, "cannot copy the LUKS2 header: %s", strerror(-r));
		return r;
	default:
		/* healthy, but its JSON may still be something libcryptsetup
		 * rewrites on load: a read-only load works on a copy too */
		r = rw ? 0 : copy_metadata(fd, &st, &l->memfd);
		if (r < 0)
			snprintf(why, whylen, "cannot copy the LUKS2 header: %s", strerror(-r));
		return r;
	}
}

static int load(const char *path, bool rw, const struct logger *log, struct luks **out,
		char *why, size_t whylen)
{
	struct luks *l = calloc(1, sizeof(*l));
	char hdrpath[64];
	int fd = -1, r;

	*out = NULL;
	snprintf(why, whylen, "unknown error");
	if (!l)
		return -ENOMEM;
	l->memfd = -1;
	l->log = log;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s", r == -ENOENT ? "no such device" : strerror(-r));
		goto out;
	}
	r = classify(fd, l, rw, why, whylen);
	if (r < 0)
		goto out;
	if (l->memfd >= 0) {
		snprintf(hdrpath, sizeof(hdrpath), "/proc/self/fd/%d", l->memfd);
		r = crypt_init_data_device(&l->cd, hdrpath, path);
	} else {
		r = crypt_init(&l->cd, path);
	}
	if (r < 0) {
		snprintf(why, whylen, "cannot open device: %s", strerror(-r));
		goto out;
	}
	crypt_set_log_callback(l->cd, luks_cs_log, (void *)log);
	r = crypt_load(l->cd, CRYPT_LUKS2, NULL);
	if (r < 0) {
		snprintf(why, whylen, "cannot load LUKS2 header: %s", strerror(-r));
		r = -EBADMSG;
		goto out;
	}
	*out = l;
	l = NULL;
out:
	if (fd >= 0)
		close(fd);
	luks_free(l);
	return r;
}

int luks_load(const char *path, const struct logger *log, struct luks **out, char *why,
	      size_t whylen)
{
	return load(path, false, log, out, why, whylen);
}

int luks_load_rw(const char *path, const struct logger *log, struct luks **out, char *why,
		 size_t whylen)
{
	return load(path, true, log, out, why, whylen);
}

void luks_free(struct luks *l)
{
	if (!l)
		return;
	crypt_free(l->cd);
	secret_free(l->vk);
	free(l->datadev);
	if (l->memfd >= 0)
		close(l->memfd);
	free(l);
}

enum hdr_health luks_health(const struct luks *l)
{
	return l->health;
}

static struct secret *vk_buffer(struct luks *l)
{
	int size = crypt_get_volume_key_size(l->cd);

	if (size <= 0)
		return NULL;
	secret_free(l->vk);
	l->vk = secret_new((size_t)size);
	return l->vk;
}

static int keep_key(struct luks *l, int r, size_t len)
{
	if (r < 0) {
		secret_free(l->vk);
		l->vk = NULL;
	} else {
		l->vk->len = len;
	}
	return r;
}

int luks_open_passphrase_slot(struct luks *l, int keyslot, const unsigned char *pass,
			      size_t len)
{
	struct secret *vk = vk_buffer(l);
	size_t vklen;
	int r;

	if (!vk)
		return -ENOMEM;
	vklen = vk->cap;
	r = crypt_volume_key_get(l->cd, keyslot, (char *)vk->buf, &vklen, (const char *)pass, len);
	return keep_key(l, r, vklen);
}

int luks_open_passphrase(struct luks *l, const unsigned char *pass, size_t len)
{
	return luks_open_passphrase_slot(l, CRYPT_ANY_SLOT, pass, len);
}

/* The volume key a token yields. */
static int open_by_token(struct luks *l, int id)
{
	struct crypt_keyslot_context *kc = NULL;
	struct secret *vk;
	size_t vklen;
	int r;

	r = crypt_keyslot_context_init_by_token(l->cd, id, NULL, NULL, 0, NULL, &kc);
	if (r < 0)
		return r;
	vk = vk_buffer(l);
	if (!vk) {
		crypt_keyslot_context_free(kc);
		return -ENOMEM;
	}
	vklen = vk->cap;
	r = crypt_volume_key_get_by_keyslot_context(l->cd, CRYPT_ANY_SLOT, (char *)vk->buf, &vklen,
						    kc);
	crypt_keyslot_context_free(kc);
	return keep_key(l, r, vklen);
}

const struct secret *luks_key(const struct luks *l)
{
	return l->vk;
}

const char *luks_uuid(const struct luks *l)
{
	return crypt_get_uuid(l->cd);
}

int luks_activate(struct luks *l, const char *name)
{
	if (!l->vk)
		return -ENOKEY;
	/* The key goes into the dm table (root-only, as cryptsetup
	 * --disable-keyring), not the kernel keyring: so the PCR 15 value can
	 * be recomputed from the mapping by an auditor or a test. The header's
	 * persistent flags (allow-discards, ...) apply by themselves. */
	crypt_volume_key_keyring(l->cd, 0);
	return crypt_activate_by_volume_key(l->cd, name, (const char *)l->vk->buf, l->vk->len, 0);
}

int luks_token_json(struct luks *l, int id, const char **json)
{
	int r = crypt_token_json_get(l->cd, id, json);

	return r < 0 ? -ENOENT : 0;
}

static bool token_is(const char *json, const char *type)
{
	struct json_object *root = json_tokener_parse(json), *t;
	bool is = root && json_object_object_get_ex(root, "type", &t) &&
		  !strcmp(json_object_get_string(t), type);

	json_object_put(root);
	return is;
}

int luks_open_token(struct luks *l, const char *skip_type)
{
	bool tried = false;
	int last = -ENOENT;

	for (int id = 0; id < LUKS_MAX_TOKENS; id++) {
		const char *json = NULL;
		int r;

		if (crypt_token_json_get(l->cd, id, &json) < 0 || !json)
			continue;
		if (skip_type && token_is(json, skip_type))
			continue;
		r = open_by_token(l, id);
		if (r >= 0)
			return r;
		/* no handler installed for this type: not ours to judge */
		if (r == -ENOENT || r == -EINVAL || r == -ENOANO)
			continue;
		tried = true;
		last = r;
	}
	return tried ? last : -ENOENT;
}

static void parse_token(const char *json, struct luks_token *t)
{
	struct json_object *root = json_tokener_parse(json), *type, *slots;

	if (!root)
		return;
	if (json_object_object_get_ex(root, "type", &type))
		snprintf(t->type, sizeof(t->type), "%s", json_object_get_string(type));
	if (json_object_object_get_ex(root, "keyslots", &slots) &&
	    json_object_is_type(slots, json_type_array)) {
		size_t n = json_object_array_length(slots);
		for (size_t i = 0; i < n && t->nkeyslots < LUKS_MAX_SLOTS; i++)
			t->keyslots[t->nkeyslots++] =
				atoi(json_object_get_string(json_object_array_get_idx(slots, i)));
	}
	json_object_put(root);
}

int luks_info(struct luks *l, struct luks_info *info)
{
	int max = crypt_keyslot_max(CRYPT_LUKS2);

	memset(info, 0, sizeof(*info));
	for (int i = 0; i < max && i < LUKS_MAX_SLOTS; i++) {
		crypt_keyslot_info ki = crypt_keyslot_status(l->cd, i);
		if (ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST)
			info->keyslots[info->nkeyslots++] = i;
	}
	for (int id = 0; id < LUKS_MAX_TOKENS; id++) {
		const char *json = NULL;
		struct luks_token *t = &info->tokens[info->ntokens];

		if (crypt_token_json_get(l->cd, id, &json) < 0 || !json)
			continue;
		memset(t, 0, sizeof(*t));
		t->id = id;
		snprintf(t->type, sizeof(t->type), "unknown");
		parse_token(json, t);
		info->ntokens++;
	}
	return 0;
}

int luks_deactivate(struct luks *l, const char *name)
{
	return crypt_deactivate(l->cd, name);
}

/* A TPM-sealed secret is 256 random bits: its keyslot needs no slow KDF
 * (systemd uses 1000 pbkdf2 iterations). These bounds are far above what
 * any tool sets for such a slot and far below a stalled boot. */
#define MAX_PBKDF2_ITERATIONS 10000000u
#define MAX_ARGON2_TIME 64u
#define MAX_ARGON2_KIB (4u << 20)

int luks_keyslot_bounded(struct luks *l, int keyslot, char *why, size_t whylen)
{
	struct crypt_pbkdf_type p;

	if (crypt_keyslot_get_pbkdf(l->cd, keyslot, &p) < 0)
		return 0;	/* libcryptsetup will say what is wrong with it */
	if (!strcmp(p.type, CRYPT_KDF_PBKDF2) ? p.iterations > MAX_PBKDF2_ITERATIONS
					       : p.iterations > MAX_ARGON2_TIME ||
						 p.max_memory_kb > MAX_ARGON2_KIB) {
		snprintf(why, whylen, "keyslot %d asks for %s with %u iterations and %u KiB: more "
				      "than a machine-sealed key needs, refusing to stall on it",
			 keyslot, p.type, p.iterations, p.max_memory_kb);
		return -E2BIG;
	}
	return 0;
}

int luks_use_volume_key(struct luks *l, const struct secret *vk)
{
	struct secret *k;

	if (crypt_volume_key_verify(l->cd, (const char *)vk->buf, vk->len) < 0)
		return -EPERM;
	k = secret_new(vk->len);
	if (!k)
		return -ENOMEM;
	memcpy(k->buf, vk->buf, vk->len);
	k->len = vk->len;
	secret_free(l->vk);
	l->vk = k;
	return 0;
}
