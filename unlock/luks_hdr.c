#include "luks_hdr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

static const unsigned char magic1[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
static const unsigned char magic2[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };

/* Header sizes LUKS2 allows; the secondary copy sits at one of them. */
static const uint64_t hdr_sizes[] = { 0x4000, 0x8000, 0x10000, 0x20000, 0x40000,
				      0x80000, 0x100000, 0x200000, 0x400000 };

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool allowed_size(uint64_t s)
{
	for (size_t i = 0; i < sizeof(hdr_sizes) / sizeof(hdr_sizes[0]); i++)
		if (hdr_sizes[i] == s)
			return true;
	return false;
}

bool luks_hdr_copy_valid(const unsigned char *buf, size_t len, uint64_t expect_offset,
			 bool secondary, uint64_t *hdr_size, uint64_t *seqid)
{
	unsigned char md[EVP_MAX_MD_SIZE], csum[64];
	char alg[33];
	unsigned int mdlen = 0;
	const EVP_MD *type;
	EVP_MD_CTX *ctx;
	uint64_t size;
	bool ok;

	if (len < LUKS2_BIN_HDR_SIZE || memcmp(buf, secondary ? magic2 : magic1, 6) != 0)
		return false;
	if (buf[6] != 0 || buf[7] != 2)
		return false;
	size = be64(buf + 8);
	if (!allowed_size(size) || size > len || be64(buf + 256) != expect_offset)
		return false;
	memcpy(alg, buf + 72, 32);
	alg[32] = '\0';
	type = EVP_get_digestbyname(alg);
	if (!type)
		return false;
	/* the checksum covers the whole copy with its own field zeroed */
	memcpy(csum, buf + 448, 64);
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return false;
	ok = EVP_DigestInit_ex(ctx, type, NULL) && EVP_DigestUpdate(ctx, buf, 448) &&
	     EVP_DigestUpdate(ctx, (const unsigned char[64]){ 0 }, 64) &&
	     EVP_DigestUpdate(ctx, buf + 512, size - 512) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen > 64 || memcmp(md, csum, mdlen) != 0)
		return false;
	*hdr_size = size;
	*seqid = be64(buf + 16);
	return true;
}

static int read_at(int fd, unsigned char *buf, size_t len, uint64_t off, size_t *got)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = pread(fd, buf + n, len - n, (off_t)(off + n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

static uint64_t json_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return 0;
	return strtoull(json_object_get_string(v), NULL, 10);
}

/* keyslots_size and the keyslot areas from the JSON area of a valid copy;
 * everything bounded by the metadata size, which libcryptsetup bounds. */
static void parse_layout(const unsigned char *copy, uint64_t hdr_size, struct hdr_state *st)
{
	size_t jlen = (size_t)(hdr_size - LUKS2_BIN_HDR_SIZE);
	const char *json = (const char *)copy + LUKS2_BIN_HDR_SIZE;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *cfg, *slots;
	uint64_t ks = 0;

	st->nareas = 0;
	if (!tok)
		return;
	root = json_tokener_parse_ex(tok, json, (int)strnlen(json, jlen));
	json_tokener_free(tok);
	if (root && json_object_object_get_ex(root, "config", &cfg))
		ks = json_u64(cfg, "keyslots_size");
	if (ks > LUKS2_MAX_KEYSLOTS_SIZE)
		ks = LUKS2_MAX_KEYSLOTS_SIZE;
	st->metadata_size = 2 * hdr_size + ks;
	if (root && json_object_object_get_ex(root, "keyslots", &slots) &&
	    json_object_is_type(slots, json_type_object)) {
		json_object_object_foreach(slots, key, ko) {
			struct json_object *area;
			uint64_t off, size;

			(void)key;
			if (st->nareas >= HDR_MAX_AREAS ||
			    !json_object_object_get_ex(ko, "area", &area))
				continue;
			off = json_u64(area, "offset");
			size = json_u64(area, "size");
			if (off < 2 * hdr_size || size == 0 || off > st->metadata_size ||
			    size > st->metadata_size - off)
				continue;	/* libcryptsetup refuses such a slot itself */
			st->areas[st->nareas++] = (struct hdr_area){ off, size };
		}
	}
	json_object_put(root);
}

static int check_copy(int fd, uint64_t off, bool secondary, unsigned char **buf,
		      uint64_t *size, uint64_t *seqid, bool *magic)
{
	unsigned char head[LUKS2_BIN_HDR_SIZE];
	size_t got = 0;
	uint64_t s;
	int r;

	*magic = false;
	r = read_at(fd, head, sizeof(head), off, &got);
	if (r < 0 || got < sizeof(head))
		return r;
	*magic = memcmp(head, secondary ? magic2 : magic1, 6) == 0;
	if (!*magic)
		return 0;
	s = be64(head + 8);
	if (!allowed_size(s))
		return 0;
	*buf = malloc(s);
	if (!*buf)
		return -ENOMEM;
	r = read_at(fd, *buf, s, off, &got);
	if (r < 0 || !luks_hdr_copy_valid(*buf, got, off, secondary, size, seqid)) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

int luks_hdr_check(int fd, struct hdr_state *st)
{
	unsigned char head[8], *p = NULL, *s = NULL;
	uint64_t psize = 0, pseq = 0, ssize = 0, sseq = 0;
	bool pmagic = false, smagic = false, m;
	size_t got = 0;
	int r;

	memset(st, 0, sizeof(*st));
	r = read_at(fd, head, sizeof(head), 0, &got);
	if (r < 0)
		return r;
	if (got == sizeof(head) && !memcmp(head, magic1, 6) && head[6] == 0 && head[7] == 1) {
		st->health = HDR_LUKS1;
		return 0;
	}
	r = check_copy(fd, 0, false, &p, &psize, &pseq, &pmagic);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < sizeof(hdr_sizes) / sizeof(hdr_sizes[0]) && !s; i++) {
		/* with a valid primary the secondary must be where it says */
		if (p && hdr_sizes[i] != psize)
			continue;
		r = check_copy(fd, hdr_sizes[i], true, &s, &ssize, &sseq, &m);
		if (r < 0)
			goto out;
		smagic = smagic || m;
	}
	st->primary_ok = p != NULL;
	st->secondary_ok = s != NULL;
	if (p && s && pseq == sseq)
		st->health = HDR_OK;
	else if (p || s)
		st->health = HDR_DEGRADED;
	else
		st->health = pmagic || smagic ? HDR_DAMAGED : HDR_NOT_LUKS;

	/* the newer valid copy is the one libcryptsetup would trust */
	if (p && (!s || pseq >= sseq)) {
		st->hdr_size = psize;
		st->good_offset = 0;
		parse_layout(p, psize, st);
	} else if (s) {
		st->hdr_size = ssize;
		st->good_offset = ssize;
		parse_layout(s, ssize, st);
	}
out:
	free(p);
	free(s);
	return r;
}
