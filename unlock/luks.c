#include "luks.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

struct luks {
	struct crypt_device *cd;
	int memfd;		/* in-memory header copy, -1 when unused */
	enum hdr_health health;
	const struct logger *log;
};

/* libcryptsetup's own messages are detail: ours carry the one-line error */
static void cs_log(int level, const char *msg, void *usrptr)
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

static int copy_metadata(int from, uint64_t size, int *out)
{
	char buf[65536];
	uint64_t done = 0;
	int fd = memfd_create("kcrypt-luks2-header", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (done < size) {
		size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		ssize_t r = pread(from, buf, want, (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;	/* short device: libcryptsetup will say what is missing */
		if (write(fd, buf, (size_t)r) != r) {
			int e = errno;
			close(fd);
			return -e;
		}
		done += (uint64_t)r;
	}
	*out = fd;
	return 0;
}

static int classify(int fd, struct luks *l, char *why, size_t whylen)
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
		return copy_metadata(fd, st.metadata_size ? st.metadata_size : 16u << 20, &l->memfd);
	default:
		return 0;
	}
}

int luks_load(const char *path, const struct logger *log, struct luks **out, char *why,
	      size_t whylen)
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
	r = classify(fd, l, why, whylen);
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
	crypt_set_log_callback(l->cd, cs_log, (void *)log);
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

void luks_free(struct luks *l)
{
	if (!l)
		return;
	crypt_free(l->cd);
	if (l->memfd >= 0)
		close(l->memfd);
	free(l);
}

enum hdr_health luks_health(const struct luks *l)
{
	return l->health;
}

int luks_open_passphrase(struct luks *l, const char *name, const unsigned char *pass,
			 size_t len)
{
	return crypt_activate_by_passphrase(l->cd, name, CRYPT_ANY_SLOT, (const char *)pass, len,
					    0);
}

int luks_open_passphrase_slot(struct luks *l, const char *name, int keyslot,
			      const unsigned char *pass, size_t len)
{
	return crypt_activate_by_passphrase(l->cd, name, keyslot, (const char *)pass, len, 0);
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

int luks_open_token(struct luks *l, const char *name, const char *skip_type)
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
		r = crypt_activate_by_token(l->cd, name, id, NULL, 0);
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

int luks_add_keyslot(struct luks *l, const unsigned char *old, size_t oldlen,
		     const unsigned char *pass, size_t passlen)
{
	/* the secret is 256 random bits: no need for a slow KDF, and it is
	 * what systemd-cryptenroll uses, so both tools make the same slots */
	struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha512",
					  .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	int r;

	if (l->memfd >= 0)
		return -EROFS;	/* degraded header: never write through a copy */
	r = crypt_set_pbkdf_type(l->cd, &pbkdf);
	if (r < 0)
		return r;
	return crypt_keyslot_add_by_passphrase(l->cd, CRYPT_ANY_SLOT, (const char *)old, oldlen,
					       (const char *)pass, passlen);
}

int luks_add_token(struct luks *l, const char *json)
{
	if (l->memfd >= 0)
		return -EROFS;
	return crypt_token_json_set(l->cd, CRYPT_ANY_TOKEN, json);
}

int luks_destroy_keyslot(struct luks *l, int keyslot)
{
	return crypt_keyslot_destroy(l->cd, keyslot);
}
