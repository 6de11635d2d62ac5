#include "report.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "token.h"
#include "trust.h"

static const char *health_name(enum hdr_health h)
{
	switch (h) {
	case HDR_OK:
		return "ok";
	case HDR_DEGRADED:
		return "degraded";
	case HDR_DAMAGED:
		return "damaged";
	case HDR_LUKS1:
		return "luks1";
	default:
		return "not-luks";
	}
}

static void describe_policy(struct luks *l, int id, struct token_policy *tp)
{
	struct token_tpm2 t;
	const char *json = NULL;

	memset(tp, 0, sizeof(*tp));
	if (luks_token_json(l, id, &json) < 0 || !token_is_tpm2(json))
		return;
	tp->tpm2 = true;
	if (token_parse(json, &t, tp->error, sizeof(tp->error)) < 0)
		return;
	tp->parsed = true;
	tp->pcrs = t.pcr_mask;
	tp->signed_pcrs = t.pubkey_pcr_mask;
	tp->pin = t.pin;
	tp->parent = t.srk ? "srk" : t.primary_alg == TOKEN_ALG_RSA ? "rsa" : "ecc";
	tp->bank = token_bank_name(t.bank);
	token_free(&t);
}

static void membership(struct luks *l, struct status_entry *e)
{
	unsigned char id[VSET_ID_LEN];
	bool malformed;

	if (trust_header_set(l, id, &malformed)) {
		e->set = SET_BOUND;
		vset_id_hex(id, e->set_id);
	} else {
		e->set = malformed ? SET_MALFORMED : SET_NOT_BOUND;
	}
}

/* The set most bound volumes name (OEM first on a tie): the others do not
 * match it. */
static void mark_strangers(struct status_entry *e, size_t n)
{
	const char *set = NULL;
	size_t best = 0;

	for (size_t i = 0; i < n; i++) {
		size_t votes = 0;

		for (size_t j = 0; e[i].set == SET_BOUND && j < n; j++)
			votes += e[j].set == SET_BOUND && !strcmp(e[i].set_id, e[j].set_id);
		if (votes > best) {
			best = votes;
			set = e[i].set_id;
		}
	}
	for (size_t i = 0; set && i < n; i++)
		if (e[i].set == SET_BOUND && strcmp(e[i].set_id, set))
			e[i].set = SET_NO_MATCH;
}

static const char *set_name(enum set_view v)
{
	static const char *const names[] = { "not bound", "bound", "does not match", "malformed" };
	return names[v];
}

void status_gather(const struct plan *p, const struct logger *log, struct status_entry *out)
{
	for (size_t i = 0; i < p->n; i++) {
		struct status_entry *e = &out[i];
		struct luks *l = NULL;

		memset(e, 0, sizeof(*e));
		e->step = &p->steps[i];
		e->health = HDR_NOT_LUKS;
		if (!e->step->vol) {
			snprintf(e->error, sizeof(e->error), "%s", e->step->reason);
			continue;
		}
		if (luks_load(e->step->vol->devnode, log, &l, e->error, sizeof(e->error)) < 0) {
			e->health = e->step->vol->luks_version == 1 ? HDR_LUKS1 : HDR_DAMAGED;
			continue;
		}
		e->health = luks_health(l);
		membership(l, e);
		e->have_info = luks_info(l, &e->info) == 0;
		for (size_t t = 0; e->have_info && t < e->info.ntokens; t++)
			describe_policy(l, e->info.tokens[t].id, &e->policy[t]);
		e->error[0] = '\0';
		if (e->step->action == STEP_REFUSE)
			snprintf(e->error, sizeof(e->error), "%s", e->step->reason);
		luks_free(l);
	}
	mark_strangers(out, p->n);
}

static void tokens_text(const struct status_entry *e, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < e->info.ntokens && off < size; i++) {
		const struct luks_token *t = &e->info.tokens[i];
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "", t->type);
		const struct token_policy *tp = &e->policy[i];
		for (size_t k = 0; k < t->nkeyslots && off < size; k++)
			off += (size_t)snprintf(buf + off, size - off, "%c%d", k ? '+' : ':',
						t->keyslots[k]);
		if (tp->parsed && off < size) {
			char pcrs[64], signed_pcrs[64];
			token_mask_str(tp->pcrs, pcrs, sizeof(pcrs));
			token_mask_str(tp->signed_pcrs, signed_pcrs, sizeof(signed_pcrs));
			off += (size_t)snprintf(buf + off, size - off, "(pcrs %s, signed %s%s, %s)",
						pcrs, signed_pcrs, tp->pin ? ", pin" : "", tp->parent);
		}
		else if (tp->tpm2 && off < size)
			off += (size_t)snprintf(buf + off, size - off, "(malformed)");
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

static int width(int w, const char *s)
{
	int n = s ? (int)strlen(s) : 1;
	return n > w ? n : w;
}

void report_status_text(FILE *f, const struct status_entry *e, size_t n,
			const struct strv *rescued)
{
	int wd = 6, wl = 5, wm = 6;

	for (size_t i = 0; i < n; i++) {
		const struct plan_step *s = e[i].step;
		wd = width(wd, s->vol ? s->vol->devnode : "(missing)");
		wl = width(wl, s->label);
		wm = width(wm, s->mapper);
	}
	fprintf(f, "%-*s %-*s %-36s %-10s %-8s %-6s %-*s %-16s %s\n", wd, "DEVICE", wl, "LABEL",
		"UUID", "ROLE", "EXPECTED", "ACTIVE", wm, "MAPPER", "SET", "TOKENS");
	for (size_t i = 0; i < n; i++) {
		const struct plan_step *s = e[i].step;
		char tokens[256], set[40];

		tokens_text(&e[i], tokens, sizeof(tokens));
		if (e[i].set == SET_BOUND)
			snprintf(set, sizeof(set), "bound:%.8s", e[i].set_id);
		else if (e[i].set == SET_NO_MATCH)
			snprintf(set, sizeof(set), "NO MATCH:%.8s", e[i].set_id);
		else
			snprintf(set, sizeof(set), "%s", !s->vol ? "-" : set_name(e[i].set));
		fprintf(f, "%-*s %-*s %-36s %-10s %-8s %-6s %-*s %-16s %s\n", wd,
			s->vol ? s->vol->devnode : "(missing)", wl, s->label[0] ? s->label : "-",
			s->vol && s->vol->uuid ? s->vol->uuid : "-", identity_role_name(s->role),
			s->expected ? "yes" : "no", s->vol && s->vol->active ? "yes" : "no", wm,
			s->mapper[0] ? s->mapper : "-", set, tokens);
		if (e[i].error[0])
			fprintf(f, "  ! %s\n", e[i].error);
		else if (e[i].health == HDR_DEGRADED)
			fprintf(f, "  ! one LUKS2 header copy is damaged: run 'cryptsetup repair'\n");
	}
	if (rescued && rescued->n) {
		fprintf(f, "\nThis boot needed the recovery key (or a passphrase) for:\n");
		for (size_t i = 0; i < rescued->n; i++)
			fprintf(f, "  %s\n", rescued->v[i]);
		fprintf(f, "Run 'kcrypt reseal' so that the next boot opens them unattended.\n");
	}
}

static struct json_object *jstr(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static struct json_object *int_array(const int *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int(v[i]));
	return a;
}

/* fields shared by status and unlock output */
static struct json_object *step_json(const struct plan_step *s)
{
	struct json_object *o = json_object_new_object();
	const struct volume *v = s->vol;

	json_object_object_add(o, "device", jstr(v ? v->devnode : NULL));
	json_object_object_add(o, "kname", jstr(v ? v->kname : NULL));
	json_object_object_add(o, "uuid", jstr(v ? v->uuid : NULL));
	json_object_object_add(o, "luks_label", jstr(v ? v->label : NULL));
	json_object_object_add(o, "partname", jstr(v ? v->partname : NULL));
	json_object_object_add(o, "luks_version", v ? json_object_new_int(v->luks_version) : NULL);
	json_object_object_add(o, "label", jstr(s->label));
	json_object_object_add(o, "role", json_object_new_string(identity_role_name(s->role)));
	json_object_object_add(o, "expected", json_object_new_boolean(s->expected));
	json_object_object_add(o, "active", json_object_new_boolean(v && v->active));
	json_object_object_add(o, "mapper", jstr(s->mapper));
	return o;
}

static int emit(FILE *f, struct json_object *root)
{
	const char *txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	int r = txt && fprintf(f, "%s\n", txt) > 0 ? 0 : -EIO;

	json_object_put(root);
	return r;
}

static struct json_object *mask_array(uint32_t mask)
{
	struct json_object *a = json_object_new_array();

	for (int i = 0; i < 24; i++)
		if (mask & (1u << i))
			json_object_array_add(a, json_object_new_int(i));
	return a;
}

static struct json_object *policy_json(const struct token_policy *tp)
{
	struct json_object *o = json_object_new_object();

	if (!tp->parsed) {
		json_object_object_add(o, "error", json_object_new_string(tp->error));
		return o;
	}
	json_object_object_add(o, "pcrs", mask_array(tp->pcrs));
	json_object_object_add(o, "signed_pcrs", mask_array(tp->signed_pcrs));
	json_object_object_add(o, "pin", json_object_new_boolean(tp->pin));
	json_object_object_add(o, "parent", json_object_new_string(tp->parent));
	json_object_object_add(o, "bank", json_object_new_string(tp->bank));
	return o;
}

int report_status_json(FILE *f, const struct status_entry *e, size_t n,
		       const struct strv *rescued)
{
	struct json_object *root = json_object_new_object(), *vols = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = step_json(e[i].step), *toks = json_object_new_array();

		for (size_t t = 0; e[i].have_info && t < e[i].info.ntokens; t++) {
			const struct luks_token *tk = &e[i].info.tokens[t];
			struct json_object *jt = json_object_new_object();
			json_object_object_add(jt, "id", json_object_new_int(tk->id));
			json_object_object_add(jt, "type", json_object_new_string(tk->type));
			json_object_object_add(jt, "keyslots", int_array(tk->keyslots, tk->nkeyslots));
			if (e[i].policy[t].tpm2)
				json_object_object_add(jt, "tpm2", policy_json(&e[i].policy[t]));
			json_object_array_add(toks, jt);
		}
		json_object_object_add(o, "keyslots",
				       int_array(e[i].info.keyslots, e[i].have_info ? e[i].info.nkeyslots : 0));
		json_object_object_add(o, "tokens", toks);
		if (e[i].step->vol) {
			struct json_object *vs = json_object_new_object();

			json_object_object_add(vs, "state", json_object_new_string(set_name(e[i].set)));
			json_object_object_add(vs, "id", jstr(e[i].set_id));
			json_object_object_add(o, "volume_set", vs);
		}
		json_object_object_add(o, "header", e[i].step->vol ?
				       json_object_new_string(health_name(e[i].health)) : NULL);
		json_object_object_add(o, "error", jstr(e[i].error));
		json_object_array_add(vols, o);
	}
	json_object_object_add(root, "volumes", vols);
	vols = json_object_new_array();
	for (size_t i = 0; rescued && i < rescued->n; i++)
		json_object_array_add(vols, json_object_new_string(rescued->v[i]));
	json_object_object_add(root, "recovery_used", vols);
	return emit(f, root);
}

void report_plan_text(FILE *f, const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		const char *dev = s->vol ? s->vol->devnode : "(missing)";
		char who[300];

		if (s->label[0])
			snprintf(who, sizeof(who), "%s (%s)", s->label, dev);
		else
			snprintf(who, sizeof(who), "%s", dev);
		switch (s->action) {
		case STEP_OPEN:
			fprintf(f, "open %s as /dev/mapper/%s%s\n", who, s->mapper,
				s->expected ? "" : " (not expected)");
			break;
		case STEP_SKIP_ACTIVE:
			fprintf(f, "skip %s: already open as /dev/mapper/%s\n", who, s->mapper);
			break;
		case STEP_REFUSE:
			fprintf(f, "refuse %s: %s\n", who, s->reason);
			break;
		}
	}
}

int report_unlock_json(FILE *f, const struct plan *p, const struct step_result *res,
		       const char *mode)
{
	struct json_object *root = json_object_new_object(), *vols = json_object_new_array();
	bool all = true;

	for (size_t i = 0; i < p->n; i++) {
		struct json_object *o = step_json(&p->steps[i]);
		const struct step_result *r = &res[i];

		if (p->steps[i].expected && r->state == RES_FAILED)
			all = false;
		json_object_object_add(o, "result", json_object_new_string(unlock_state_name(r->state)));
		json_object_object_add(o, "source", jstr(r->source));
		json_object_object_add(o, "keyslot", r->keyslot >= 0 ? json_object_new_int(r->keyslot) : NULL);
		json_object_object_add(o, "header_degraded", json_object_new_boolean(r->degraded));
		json_object_object_add(o, "error", jstr(r->reason));
		json_object_array_add(vols, o);
	}
	json_object_object_add(root, "mode", json_object_new_string(mode));
	json_object_object_add(root, "volumes", vols);
	json_object_object_add(root, "expected_open", json_object_new_boolean(all));
	return emit(f, root);
}
