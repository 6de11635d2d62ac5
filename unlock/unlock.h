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
	char reason[600];
};

struct unlock_opts {
	bool test;	/* verify keys, activate nothing */
	bool dry_run;	/* decide only */
};

/* res has p->n entries. Logs one line per step. */
void unlock_run(const struct plan *p, const struct unlock_opts *o,
		const struct keysource_ctx *ks, const struct logger *log,
		struct step_result *res);

const char *unlock_state_name(enum step_state s);

#endif
