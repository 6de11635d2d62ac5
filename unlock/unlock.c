#include "unlock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *unlock_state_name(enum step_state s)
{
	static const char *const names[] = { "planned", "opened", "verified", "skipped", "failed" };
	return names[s];
}

const char *unlock_who(const struct plan_step *s, char *buf, size_t size)
{
	const char *dev = s->vol ? s->vol->devnode : "-";

	if (s->label[0])
		snprintf(buf, size, "%s (%s)", s->label, dev);
	else
		snprintf(buf, size, "%s", dev);
	return buf;
}

static enum fail_class load_fail_class(int r)
{
	return r == -ENOMEM ? FAIL_SYSTEM : FAIL_DEVICE;
}

static enum fail_class source_fail_class(int r)
{
	switch (r) {
	case -ENOMEM:
		return FAIL_SYSTEM;
	case -EBUSY:
	case -EEXIST:
		return FAIL_DEVICE;	/* the mapping is in the way, not the key */
	default:
		return FAIL_KEY;
	}
}

/* Try each key source; the first that opens the volume wins. Every source
 * that had something to say about a failure adds its line to the reason. */
static void try_sources(const struct plan_step *s, const struct keysource_ctx *ks,
			struct luks *l, struct step_result *res)
{
	const struct keysource *src;
	size_t n, off = 0;
	char w[300];

	src = keysource_table(&n);
	res->state = RES_FAILED;
	res->fail = FAIL_KEY;
	for (size_t i = 0; i < n; i++) {
		char why[400] = "";
		struct ks_found found = { 0 };
		int r = src[i].open(ks, l, &found, why, sizeof(why));

		if (r >= 0) {
			res->found = found;
			res->state = RES_VERIFIED;
			res->fail = FAIL_NONE;
			res->keyslot = r;
			res->source = src[i].name;
			res->reason[0] = '\0';
			log_debug(ks->log, "%s: %s gave the key (keyslot %d)", unlock_who(s, w, sizeof(w)),
				  src[i].name, r);
			return;
		}
		log_debug(ks->log, "%s: %s: %s", unlock_who(s, w, sizeof(w)), src[i].name,
			  why[0] ? why : strerror(-r));
		if (r == -ENOENT && !why[0])
			continue;
		if (res->fail == FAIL_KEY)
			res->fail = source_fail_class(r);
		if (off < sizeof(res->reason))
			off += (size_t)snprintf(res->reason + off, sizeof(res->reason) - off, "%s%s",
						off ? "; " : "", why[0] ? why : strerror(-r));
	}
	if (!off)
		snprintf(res->reason, sizeof(res->reason),
			 "no key source for it (no TPM2 or usable token; give --key-file)");
}

/* Phase one: find a key; the volume key stays in res->held */
static void unseal_step(const struct plan_step *s, const struct unlock_opts *o,
			const struct keysource_ctx *ks, const struct logger *log,
			struct step_result *res)
{
	struct luks *l = NULL;
	char why[256];
	int r;

	memset(res, 0, sizeof(*res));
	res->keyslot = -1;
	if (s->action == STEP_SKIP_ACTIVE) {
		res->state = RES_SKIPPED;
		return;
	}
	if (s->action == STEP_REFUSE) {
		res->state = RES_FAILED;
		res->fail = s->fail;
		snprintf(res->reason, sizeof(res->reason), "%s", s->reason);
		return;
	}
	if (o->dry_run) {
		res->state = RES_PLANNED;
		return;
	}
	r = luks_load(s->vol->devnode, log, &l, why, sizeof(why));
	if (r < 0) {
		res->state = RES_FAILED;
		res->fail = load_fail_class(r);
		snprintf(res->reason, sizeof(res->reason), "%s", why);
		return;
	}
	res->degraded = luks_health(l) == HDR_DEGRADED;
	try_sources(s, ks, l, res);
	/* held with --test too: the volume set is judged by the volume keys */
	if (res->state == RES_VERIFIED)
		res->held = l;
	else
		luks_free(l);
}

/* Phase two: map the volume with the key found in phase one. */
static void activate_step(const struct plan_step *s, struct step_result *res)
{
	int r = luks_activate(res->held, s->mapper);

	if (r >= 0) {
		res->state = RES_OPENED;
		return;
	}
	res->state = RES_FAILED;
	res->fail = r == -ENOMEM ? FAIL_SYSTEM : FAIL_DEVICE;
	snprintf(res->reason, sizeof(res->reason), "the key is right but activation failed: %s",
		 r == -EEXIST ? "a device-mapper device of that name exists" : strerror(-r));
	luks_free(res->held);
	res->held = NULL;
}

static void report_step(const struct plan_step *s, const struct step_result *res,
			const struct logger *log)
{
	char w[300];

	unlock_who(s, w, sizeof(w));
	switch (res->state) {
	case RES_OPENED:
		log_info(log, "%s: opened as /dev/mapper/%s with %s (keyslot %d)", w, s->mapper,
			 res->source, res->keyslot);
		break;
	case RES_VERIFIED:
		log_info(log, "%s: key verified with %s (keyslot %d), not activated (--test)", w,
			 res->source, res->keyslot);
		break;
	case RES_SKIPPED:
		log_info(log, "%s: already open as /dev/mapper/%s", w, s->mapper);
		break;
	case RES_PLANNED:
		break;
	case RES_FAILED:
		/* an unexpected volume we cannot open is somebody else's business */
		if (!s->expected && res->fail == FAIL_NONE)
			log_info(log, "%s: not opened: %s", w, res->reason);
		else if (s->expected)
			log_err(log, "%s: cannot open: %s", w, res->reason);
		else
			log_warn(log, "%s: not opened: %s", w, res->reason);
		break;
	}
}

/* Every key is unsealed before any volume is activated, and so before any
 * volume key is measured into PCR 15: a policy that includes PCR 15 must
 * see it untouched for every volume (design note peers-and-security §C). */
void unlock_unseal(const struct plan *p, const struct unlock_opts *o,
		   const struct keysource_ctx *ks, const struct logger *log,
		   struct step_result *res)
{
	for (size_t i = 0; i < p->n; i++)
		unseal_step(&p->steps[i], o, ks, log, &res[i]);
}

void unlock_activate(const struct plan *p, const struct unlock_opts *o, const struct logger *log,
		     struct step_result *res)
{
	for (size_t i = 0; i < p->n; i++) {
		if (!o->test && res[i].held && res[i].state == RES_VERIFIED)
			activate_step(&p->steps[i], &res[i]);
		report_step(&p->steps[i], &res[i], log);
	}
}

void unlock_fail(struct step_result *res, enum fail_class f, const char *fmt, ...)
{
	va_list ap;

	res->state = RES_FAILED;
	res->fail = f;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	luks_free(res->held);
	res->held = NULL;
}

size_t unlock_close(const struct plan *p, struct step_result *res, const struct logger *log)
{
	size_t n = 0;
	char w[300];

	for (size_t i = 0; i < p->n; i++) {
		int r;

		if (res[i].state != RES_OPENED || !res[i].held)
			continue;
		r = luks_deactivate(res[i].held, p->steps[i].mapper);
		if (r < 0)
			log_err(log, "%s: cannot close /dev/mapper/%s: %s",
				unlock_who(&p->steps[i], w, sizeof(w)), p->steps[i].mapper, strerror(-r));
		else
			n++;
		unlock_fail(&res[i], FAIL_TRUST, "closed again: the run failed closed");
	}
	return n;
}

int unlock_measure(const struct plan *p, const struct step_result *res, unlock_measure_fn fn,
		   void *ctx, const struct logger *log)
{
	char w[300];
	int ret = 0;

	for (size_t i = 0; i < p->n; i++) {
		char why[256] = "";

		if (res[i].state != RES_OPENED || !res[i].held)
			continue;
		if (fn(ctx, p->steps[i].mapper, luks_uuid(res[i].held), luks_key(res[i].held), why,
		       sizeof(why)) < 0) {
			log_err(log, "%s: opened, but its volume key could not be measured: %s",
				unlock_who(&p->steps[i], w, sizeof(w)), why);
			ret = -EIO;
		}
	}
	return ret;
}

void unlock_release(struct step_result *res, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		luks_free(res[i].held);
		res[i].held = NULL;
	}
}
