/* Raw LUKS2 header health check, done before libcryptsetup sees the device:
 * libcryptsetup repairs a damaged or stale copy on load (it writes), and
 * unlock must never write. Pure over the bytes plus one reader. */
#ifndef KCRYPT_LUKS_HDR_H
#define KCRYPT_LUKS_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LUKS2_BIN_HDR_SIZE 4096

enum hdr_health {
	HDR_NOT_LUKS,	/* no LUKS magic in either place */
	HDR_LUKS1,
	HDR_OK,		/* both copies valid and of the same generation */
	HDR_DEGRADED,	/* one copy valid (or both valid, different seqid) */
	HDR_DAMAGED,	/* LUKS2 magic found, no copy valid */
};

/* libcryptsetup's bound on the keyslots area (LUKS2_MAX_KEYSLOTS_SIZE) */
#define LUKS2_MAX_KEYSLOTS_SIZE (128u << 20)
#define HDR_MAX_AREAS 32

/* A byte range of the header device that libcryptsetup reads. */
struct hdr_area {
	uint64_t offset, size;
};

struct hdr_state {
	enum hdr_health health;
	bool primary_ok, secondary_ok;
	uint64_t hdr_size;	/* of the valid copy */
	uint64_t good_offset;	/* where the valid copy starts */
	uint64_t metadata_size;	/* 2 * hdr_size + keyslots area, from the JSON,
				 * at most LUKS2_MAX_KEYSLOTS_SIZE of it */
	struct hdr_area areas[HDR_MAX_AREAS];	/* the keyslots' areas, inside it */
	size_t nareas;
};

/* Check one header copy at buf (hdr_size bytes read from expect_offset). */
bool luks_hdr_copy_valid(const unsigned char *buf, size_t len, uint64_t expect_offset,
			 bool secondary, uint64_t *hdr_size, uint64_t *seqid);

/* Read fd and classify. Returns 0, or -errno on read errors. */
int luks_hdr_check(int fd, struct hdr_state *st);

#endif
