#include "plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void plan_free(struct plan *p)
{
	free(p->steps);
	p->steps = NULL;
	p->n = 0;
}

void plan_refuse(struct plan_step *s, enum fail_class f, const char *fmt, ...)
{
	va_list ap;

	s->action = STEP_REFUSE;
	s->fail = f;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

static void describe(const struct volume *v, const struct config *c, const char *name,
		     struct plan_step *s)
{
	memset(s, 0, sizeof(*s));
	s->vol = v;
	if (!identity_label(v, c, s->label, sizeof(s->label)))
		s->label[0] = '\0';
	s->role = identity_role(s->label, c);
	s->expected = s->role != ROLE_UNLISTED;

	if (v->active) {
		s->action = STEP_SKIP_ACTIVE;
		snprintf(s->mapper, sizeof(s->mapper), "%s", v->active_name ? v->active_name : "");
		return;
	}
	if (name) {
		if (!identity_valid_dm_name(name)) {
			plan_refuse(s, FAIL_DEVICE, "'%s' is not a valid mapper name", name);
			return;
		}
		snprintf(s->mapper, sizeof(s->mapper), "%s", name);
	} else if (identity_mapper_name(v, s->label[0] ? s->label : NULL, c, s->mapper,
					sizeof(s->mapper)) < 0) {
		plan_refuse(s, FAIL_DEVICE, "no valid mapper name for %s", v->devnode);
		return;
	}
	if (v->luks_version != 2)
		plan_refuse(s, FAIL_DEVICE,
		       "LUKS%s volume: only LUKS2 is supported (convert with 'cryptsetup convert --type luks2 %s')",
		       v->luks_version == 1 ? "1" : "?", v->devnode);
	else
		s->action = STEP_OPEN;
}

static int order_key(const struct plan_step *s)
{
	return s->role == ROLE_OEM ? 0 : s->role == ROLE_PERSISTENT ? 1 : 2;
}

/* Two volumes that claim the same identity, or would get the same dm name,
 * are both refused: opening either could mount the wrong data. */
static void refuse_duplicates(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		for (size_t j = i + 1; j < p->n; j++) {
			struct plan_step *a = &p->steps[i], *b = &p->steps[j];
			if (a->vol->uuid && b->vol->uuid && !strcasecmp(a->vol->uuid, b->vol->uuid)) {
				/* a copy of a volume posing as another: open neither */
				const char *fmt = "LUKS UUID %s is on both %s and %s: refusing to guess";
				plan_refuse(a, FAIL_AMBIGUOUS, fmt, a->vol->uuid, a->vol->devnode,
					    b->vol->devnode);
				plan_refuse(b, FAIL_AMBIGUOUS, fmt, a->vol->uuid, a->vol->devnode,
					    b->vol->devnode);
			} else if (a->label[0] && !strcmp(a->label, b->label)) {
				plan_refuse(a, FAIL_AMBIGUOUS, "label %s is on both %s and %s: refusing to guess",
				       a->label, a->vol->devnode, b->vol->devnode);
				plan_refuse(b, FAIL_AMBIGUOUS, "label %s is on both %s and %s: refusing to guess",
				       b->label, a->vol->devnode, b->vol->devnode);
			} else if (a->mapper[0] && !strcmp(a->mapper, b->mapper) &&
				   (a->action != STEP_SKIP_ACTIVE || b->action != STEP_SKIP_ACTIVE)) {
				const char *fmt = "mapper name %s would be used by both %s and %s";
				if (a->action != STEP_SKIP_ACTIVE)
					plan_refuse(a, FAIL_AMBIGUOUS, fmt, a->mapper, a->vol->devnode,
					       b->vol->devnode);
				if (b->action != STEP_SKIP_ACTIVE)
					plan_refuse(b, FAIL_AMBIGUOUS, fmt, b->mapper, a->vol->devnode,
					       b->vol->devnode);
			}
		}
	}
}

static bool label_found(const struct plan *p, const char *label)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].vol && !strcmp(p->steps[i].label, label))
			return true;
	return false;
}

static int add_missing(struct plan *p, const struct config *c)
{
	for (size_t i = 0; i < c->encrypted.n; i++) {
		const char *label = c->encrypted.v[i];
		struct plan_step *steps, *s;

		if (label_found(p, label))
			continue;
		steps = realloc(p->steps, (p->n + 1) * sizeof(*steps));
		if (!steps)
			return -ENOMEM;
		p->steps = steps;
		s = &p->steps[p->n++];
		memset(s, 0, sizeof(*s));
		snprintf(s->label, sizeof(s->label), "%s", label);
		s->role = identity_role(label, c);
		s->expected = true;
		plan_refuse(s, FAIL_DEVICE, "no LUKS volume with label %s was found", label);
	}
	return 0;
}

int plan_build(const struct volume_list *vols, const struct config *c, struct plan *out)
{
	size_t k = 0;

	memset(out, 0, sizeof(*out));
	if (vols->n) {
		out->steps = calloc(vols->n, sizeof(*out->steps));
		if (!out->steps)
			return -ENOMEM;
	}
	/* stable order: OEM (its config may name more volumes), PERSISTENT, rest */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < vols->n; i++) {
			struct plan_step s;
			describe(&vols->v[i], c, NULL, &s);
			if (order_key(&s) == pass)
				out->steps[k++] = s;
		}
	}
	out->n = k;
	refuse_duplicates(out);
	if (add_missing(out, c) < 0) {
		plan_free(out);
		return -ENOMEM;
	}
	return 0;
}

int plan_build_one(const struct volume *vol, const struct config *c, const char *name,
		   struct plan *out)
{
	memset(out, 0, sizeof(*out));
	out->steps = calloc(1, sizeof(*out->steps));
	if (!out->steps)
		return -ENOMEM;
	describe(vol, c, name, &out->steps[0]);
	out->n = 1;
	return 0;
}
