/* libcryptsetup seam: load a LUKS2 header read-only, verify or activate with
 * a passphrase or a token, list keyslots and tokens. The only file that
 * includes libcryptsetup.h. */
#ifndef KCRYPT_LUKS_H
#define KCRYPT_LUKS_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "luks_hdr.h"
#include "secret.h"

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

/* Load the header. Never writes: libcryptsetup works on an in-memory copy
 * of the metadata (a degraded header, one bad or stale copy, included). Returns 0, or -ENOENT (no such device),
 * -EMEDIUMTYPE (not LUKS), -EPROTONOSUPPORT (LUKS1), -EBADMSG (no valid
 * header copy), other -errno. why gets a short explanation. */
int luks_load(const char *path, const struct logger *log, struct luks **out, char *why,
	      size_t whylen);
/* For enrollment, which writes: the device itself, and only when both
 * copies are healthy (-EROFS otherwise, "run cryptsetup repair"). */
int luks_load_rw(const char *path, const struct logger *log, struct luks **out, char *why,
		 size_t whylen);
void luks_free(struct luks *l);
enum hdr_health luks_health(const struct luks *l);

/* Opening finds the volume key, nothing more (no device-mapper needed): it
 * stays in locked memory for luks_key and luks_activate until luks_free.
 * Return the keyslot (>= 0), -EPERM when the passphrase opens no keyslot,
 * other -errno. */
int luks_open_passphrase(struct luks *l, const unsigned char *pass, size_t len);
/* The same, restricted to one keyslot (a token's). */
int luks_open_passphrase_slot(struct luks *l, int keyslot, const unsigned char *pass,
			      size_t len);
/* Any token libcryptsetup can use (built-in or plugin), except tokens of type
 * skip_type (handled natively). Returns the keyslot, -ENOENT when there is
 * no usable token, -EPERM when tokens failed. */
int luks_open_token(struct luks *l, const char *skip_type);
/* Token id's JSON (owned by l) in *json; -ENOENT when the id is unused. */
int luks_token_json(struct luks *l, int id, const char **json);

int luks_info(struct luks *l, struct luks_info *info);

/* 0 when the keyslot's KDF cost is one a machine-made key can ask for;
 * -E2BIG (why says what it asks) when opening it would stall the boot. */
int luks_keyslot_bounded(struct luks *l, int keyslot, char *why, size_t whylen);

/* Unseal now, activate later: the volume key of the last successful open,
 * lent for the PCR 15 measurement, and its mapping as /dev/mapper/name. */
const struct secret *luks_key(const struct luks *l);
/* Take a volume key found elsewhere (an active mapping) after the header's
 * digest confirms it: 0, or -EPERM when it is not this volume's. */
int luks_use_volume_key(struct luks *l, const struct secret *vk);
int luks_activate(struct luks *l, const char *name);
const char *luks_uuid(const struct luks *l);

/* Enrollment (writes the header). A new keyslot for pass, opened by old,
 * with systemd's parameters (pbkdf2, sha512, 1000 iterations): returns the
 * keyslot or -errno (-EPERM: old opens nothing). */
int luks_add_keyslot(struct luks *l, const unsigned char *old, size_t oldlen,
		     const unsigned char *pass, size_t passlen);
/* The same for the volume key the last open found (or luks_use_volume_key
 * took): -ENOKEY when there is none. */
int luks_add_keyslot_vk(struct luks *l, const unsigned char *pass, size_t passlen);
/* Remove token id (its keyslot stays). */
int luks_remove_token(struct luks *l, int id);
/* Store a token; returns its id or -errno. */
int luks_add_token(struct luks *l, const char *json);
int luks_destroy_keyslot(struct luks *l, int keyslot);

/* Installer path (kcrypt encrypt). The header is built in memory first:
 * luks_format_memory makes a LUKS2 header for dev (label, uuid, one
 * keyslot for pass; pbkdf2 as above; allow-discards) without writing to
 * dev; luks_add_token works on it; luks_commit writes it onto dev, primary
 * binary header last. */
#define LUKS_NEW_HDR_BYTES (16u << 20)
int luks_format_memory(const char *dev, const char *label, const char *uuid,
		       const unsigned char *pass, size_t passlen, const struct logger *log,
		       struct luks **out, char *why, size_t whylen);
int luks_commit(struct luks *l, char *why, size_t whylen);
int luks_deactivate(struct luks *l, const char *name);

#endif
