/* The volume set: the volumes one installation encrypted belong together,
 * and unlock-all proves it before it activates any of them.
 *
 * Each member's LUKS2 header carries a "kcrypt-set" token (systemd ignores
 * token types it does not know) holding the set's id and the set key
 * wrapped (AES-256-GCM) under a key derived from that volume's own volume
 * key, its UUID and its Kairos label. Only a holder of the genuine volume
 * key can make or read that wrap, so a volume of the attacker's, with its
 * own key, can only carry a set key the attacker knows, never the genuine
 * one. Secrets sealed by kcrypt also start with a marker naming the set
 * ("KCS1" + set id), so a member whose binding token was stripped from the
 * header is noticed once its TPM secret is unsealed.
 *
 * Pure: bytes in, bytes out (OpenSSL for the primitives); no I/O. */
#ifndef KCRYPT_VSET_H
#define KCRYPT_VSET_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

#define VSET_TOKEN_TYPE "kcrypt-set"
#define VSET_KEY_LEN 32
#define VSET_ID_LEN 16
#define VSET_WRAP_LEN (12 + VSET_KEY_LEN + 16)	/* nonce || ciphertext || tag */
#define VSET_CLAIM_RANDOM 32
#define VSET_CLAIM_LEN (4 + VSET_ID_LEN + VSET_CLAIM_RANDOM)

struct vset_token {
	unsigned char id[VSET_ID_LEN];
	unsigned char wrap[VSET_WRAP_LEN];
};

/* True when json is a token of type kcrypt-set. */
bool vset_token_is(const char *json);
/* Returns 0, or -EINVAL with why set. */
int vset_token_parse(const char *json, struct vset_token *t, char *why, size_t whylen);
/* malloc'd JSON, or NULL. */
char *vset_token_format(const struct vset_token *t);

/* A fresh random set key (locked memory); NULL with errno set. */
struct secret *vset_key_new(void);
/* The set's public id: SHA-256("kcrypt-set-id-v1" || key), first 16 bytes. */
int vset_id(const struct secret *key, unsigned char id[VSET_ID_LEN]);
void vset_id_hex(const unsigned char id[VSET_ID_LEN], char out[2 * VSET_ID_LEN + 1]);

/* Wrap key under (vk, uuid, label) into t (with the key's id). */
int vset_wrap(const struct secret *key, const unsigned char *vk, size_t vklen, const char *uuid,
	      const char *label, struct vset_token *t);
/* The set key t holds for this volume. -EBADMSG: the wrap was not made with
 * this volume key, UUID and label, or its id does not match its key. */
int vset_unwrap(const struct vset_token *t, const unsigned char *vk, size_t vklen,
		const char *uuid, const char *label, struct secret **key);

/* A TPM secret that names its set: "KCS1" || id || 32 random bytes. */
int vset_claim_make(const unsigned char id[VSET_ID_LEN], struct secret *out);
/* True (id filled) when an unsealed secret has that form. */
bool vset_claim_parse(const unsigned char *secret, size_t len, unsigned char id[VSET_ID_LEN]);

/* The verdict over the volumes one run is about to open. */
enum vset_state {
	VSET_UNBOUND = 0,	/* no binding token, no claim */
	VSET_BOUND,		/* binding verified with the volume key: id */
	VSET_BAD,		/* binding present but wrong, or claim without binding */
};

struct vset_member {
	enum vset_state state;
	unsigned char id[VSET_ID_LEN];	/* BOUND: the set it proved */
	bool refused;			/* out: does not belong */
};

struct vset_verdict {
	bool ok;		/* the volumes may be opened */
	bool legacy;		/* ok, but nothing is bound: nothing was proven */
	bool have_id;
	unsigned char id[VSET_ID_LEN];	/* the set they belong to */
};

/* anchor: the set earlier volumes of this run proved (NULL: none yet); the
 * set is then the anchor, else the id most members proved (the first one
 * in plan order on a tie). A member that is BAD, bound elsewhere, or
 * unbound while the set is bound does not belong, and then no member may
 * be opened. require: an unbound set is refused too. */
void vset_decide(struct vset_member *m, size_t n, const unsigned char *anchor, bool require,
		 struct vset_verdict *out);

#endif
