/* Pure: config + volumes -> ordered steps. Decides names, expectations,
 * skips and refusals; touches no device. */
#ifndef KCRYPT_PLAN_H
#define KCRYPT_PLAN_H

#include "config.h"
#include "identity.h"
#include "volume.h"

enum step_action {
	STEP_OPEN,		/* try to open it */
	STEP_SKIP_ACTIVE,	/* already open: nothing to do */
	STEP_REFUSE,		/* cannot be opened: see reason */
};

/* Why a step failed; each maps to one exit code in cli.c */
enum fail_class {
	FAIL_NONE = 0,
	FAIL_DEVICE,	/* missing, not LUKS, LUKS1, header damaged */
	FAIL_KEY,	/* no key source opened it */
	FAIL_AMBIGUOUS,	/* two volumes claim one identity or name */
	FAIL_SYSTEM,	/* I/O, memory, device-mapper */
	FAIL_TRUST,	/* not this machine's: plaintext twin, not in the volume set */
};

struct plan_step {
	const struct volume *vol;	/* NULL for an expected volume not found */
	char label[64];			/* Kairos identity, "" when none */
	enum role role;
	bool expected;
	char mapper[128];		/* dm name to create */
	enum step_action action;
	enum fail_class fail;
	char reason[512];		/* why refused */
};

struct plan {
	struct plan_step *steps;
	size_t n;
};

/* All volumes (unlock-all / status). OEM first, then PERSISTENT, then the
 * rest in discovery order; expected-but-missing labels last. */
int plan_build(const struct volume_list *vols, const struct config *c, struct plan *out);

/* One volume (unlock DEVICE [NAME]); name NULL means the usual rules. */
int plan_build_one(const struct volume *vol, const struct config *c, const char *name,
		   struct plan *out);

void plan_free(struct plan *p);

/* Mark s refused with a reason. */
void plan_refuse(struct plan_step *s, enum fail_class f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
