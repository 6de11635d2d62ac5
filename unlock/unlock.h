/* Runs a plan: for each step, load the header, try the key sources in
 * order, record what happened. Keeps going after a failure. */
#ifndef KCRYPT_UNLOCK_H
#define KCRYPT_UNLOCK_H

#include "keysource.h"
#include "plan.h"

enum step_state { RES_PLANNED, RES_OPENED, RES_VERIFIED, RES_SKIPPED, RES_FAILED };

struct step_result {
	enum step_state state;
	enum fail_class fail;
	int keyslot;		/* -1 when none */
	const char *source;	/* key source that opened it */
	bool degraded;		/* header had one bad copy */
	struct luks *held;	/* opened: header and volume key, until unlock_release */
	struct ks_found found;	/* what the key source said of the volume set */
	char reason[600];
};

struct unlock_opts {
	bool test;	/* verify keys, activate nothing */
	bool dry_run;	/* decide only */
};

/* res has p->n entries. Unseal every volume, then (after the caller judged
 * the keys found: the volume set) activate them in plan order. Logs one
 * line per step. Call unlock_release(res) afterwards. */
void unlock_unseal(const struct plan *p, const struct unlock_opts *o,
		   const struct keysource_ctx *ks, const struct logger *log,
		   struct step_result *res);
void unlock_activate(const struct plan *p, const struct unlock_opts *o, const struct logger *log,
		     struct step_result *res);

/* Turn a step whose key was found into a failure (its key is dropped). */
void unlock_fail(struct step_result *res, enum fail_class f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fail closed: close every mapping this run opened; returns how many. */
size_t unlock_close(const struct plan *p, struct step_result *res, const struct logger *log);

/* "LABEL (device)", or the device alone. */
const char *unlock_who(const struct plan_step *s, char *buf, size_t size);

/* Measure each volume unlock_activate opened, in plan order. */
typedef int (*unlock_measure_fn)(void *ctx, const char *name, const char *uuid,
				 const struct secret *vk, char *why, size_t whylen);
/* Returns 0, or -EIO when a measurement failed (logged). */
int unlock_measure(const struct plan *p, const struct step_result *res, unlock_measure_fn fn,
		   void *ctx, const struct logger *log);

void unlock_release(struct step_result *res, size_t n);

const char *unlock_state_name(enum step_state s);

#endif
