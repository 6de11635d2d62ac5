/* libcryptsetup seam: load a LUKS2 header read-only, verify or activate with
 * a passphrase or a token, list keyslots and tokens. The only file that
 * includes libcryptsetup.h. */
#ifndef KCRYPT_LUKS_H
#define KCRYPT_LUKS_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "luks_hdr.h"

#define LUKS_MAX_SLOTS 32
#define LUKS_MAX_TOKENS 32

struct luks;

struct luks_token {
	int id;
	char type[64];
	int keyslots[LUKS_MAX_SLOTS];
	size_t nkeyslots;
};

struct luks_info {
	int keyslots[LUKS_MAX_SLOTS];	/* active keyslot numbers */
	size_t nkeyslots;
	struct luks_token tokens[LUKS_MAX_TOKENS];
	size_t ntokens;
};

/* Load the header. Never writes: a degraded header (one bad or stale copy)
 * is loaded from an in-memory copy. Returns 0, or -ENOENT (no such device),
 * -EMEDIUMTYPE (not LUKS), -EPROTONOSUPPORT (LUKS1), -EBADMSG (no valid
 * header copy), other -errno. why gets a short explanation. */
int luks_load(const char *path, const struct logger *log, struct luks **out, char *why,
	      size_t whylen);
void luks_free(struct luks *l);
enum hdr_health luks_health(const struct luks *l);

/* name NULL: verify only (no device-mapper needed). Return the keyslot
 * (>= 0), -EPERM when the passphrase opens no keyslot, other -errno. */
int luks_open_passphrase(struct luks *l, const char *name, const unsigned char *pass,
			 size_t len);
/* The same, restricted to one keyslot (a token's). */
int luks_open_passphrase_slot(struct luks *l, const char *name, int keyslot,
			      const unsigned char *pass, size_t len);
/* Any token libcryptsetup can use (built-in or plugin), except tokens of type
 * skip_type (handled natively). Returns the keyslot, -ENOENT when there is
 * no usable token, -EPERM when tokens failed. */
int luks_open_token(struct luks *l, const char *name, const char *skip_type);
/* Token id's JSON (owned by l) in *json; -ENOENT when the id is unused. */
int luks_token_json(struct luks *l, int id, const char **json);

int luks_info(struct luks *l, struct luks_info *info);

/* Enrollment (writes the header). A new keyslot for pass, opened by old,
 * with systemd's parameters (pbkdf2, sha512, 1000 iterations): returns the
 * keyslot or -errno (-EPERM: old opens nothing). */
int luks_add_keyslot(struct luks *l, const unsigned char *old, size_t oldlen,
		     const unsigned char *pass, size_t passlen);
/* Store a token; returns its id or -errno. */
int luks_add_token(struct luks *l, const char *json);
int luks_destroy_keyslot(struct luks *l, int keyslot);

#endif
