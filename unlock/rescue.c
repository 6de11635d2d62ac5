#include "rescue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luks.h"
#include "recovery.h"
#include "token.h"
#include "tpm2.h"

static bool closed(const struct plan_step *s, const struct step_result *r)
{
	return s->expected && s->vol && s->vol->luks_version == 2 && r->state == RES_FAILED &&
	       r->fail == FAIL_KEY;
}

static bool needs_pin(const struct plan_step *s, const struct logger *log)
{
	struct luks *l = NULL;
	char why[128];
	bool pin = false;

	if (luks_load(s->vol->devnode, log, &l, why, sizeof(why)) < 0)
		return false;
	for (int i = 0; i < LUKS_MAX_TOKENS && !pin; i++) {
		const char *json;
		struct token_tpm2 t;

		if (luks_token_json(l, i, &json) < 0 || !token_is_tpm2(json) ||
		    token_parse(json, &t, why, sizeof(why)) < 0)
			continue;
		pin = t.pin;
		token_free(&t);
	}
	luks_free(l);
	return pin;
}

/* The TPM's dictionary-attack state, in words; false when it is locked out
 * (then no PIN is asked for: every try would count and fail). */
static bool pin_allowed(struct run *run, const struct logger *log, char *left, size_t size)
{
	struct tpm2_da da;
	struct tpm2 *tpm;
	char why[256];

	left[0] = '\0';
	if (keysource_tpm2_get(&run->tpm, log, &tpm, why, sizeof(why)) < 0 ||
	    tpm2_da_info(tpm, &da, why, sizeof(why)) < 0)
		return true;
	if (da.in_lockout || (da.max_failures && da.failures >= da.max_failures)) {
		log_err(log, "the TPM is in dictionary-attack lockout (%u failed authorizations; one "
			     "is forgotten every %u s): not asking for the PIN", da.failures, da.interval);
		return false;
	}
	if (da.max_failures)
		snprintf(left, size, ", %u tries left before the TPM locks out",
			 da.max_failures - da.failures);
	return true;
}

static void pin_step(const struct prompt *pr, struct run *run, const struct plan_step *s,
		     struct step_result *res, const struct logger *log)
{
	struct plan one = { .steps = (struct plan_step *)s, .n = 1 };
	const struct secret *saved = run->tpm.pin;
	char who[200], msg[400], left[96];

	unlock_who(s, who, sizeof(who));
	for (int k = 0; k < RESCUE_TRIES && closed(s, res); k++) {
		struct secret *pin = NULL;
		int r;

		if (!pin_allowed(run, log, left, sizeof(left)))
			break;
		snprintf(msg, sizeof(msg), "TPM PIN for %s%s", who, left);
		r = prompt_ask(pr, msg, "kcrypt-pin", &pin);
		if (r < 0) {
			if (r == -ETIMEDOUT)
				log_err(log, "%s: nobody typed the PIN", who);
			break;
		}
		run->tpm.pin = pin;
		unlock_unseal(&one, &run->uo, &run->ks, log, res);
		run->tpm.pin = saved;
		secret_free(pin);
		if (closed(s, res))
			log_err(log, "%s: the TPM refused the PIN (%s)", who, res->reason);
	}
}

/* Open l with what was typed: the canonical recovery key first. */
static int try_key(struct luks *l, const struct secret *typed, const char **source)
{
	struct secret *canon = NULL;
	int r = -EPERM;

	if (recovery_normalize(typed->buf, typed->len, &canon) == 0) {
		r = luks_open_passphrase(l, canon->buf, canon->len);
		secret_free(canon);
		*source = RESCUE_SOURCE_KEY;
	}
	if (r < 0) {
		r = luks_open_passphrase(l, typed->buf, typed->len);
		*source = RESCUE_SOURCE_PASS;
	}
	return r;
}

static size_t try_all(const struct plan *sub, struct step_result *res, const struct secret *typed,
		      const struct logger *log)
{
	size_t opened = 0;

	for (size_t i = 0; i < sub->n; i++) {
		const struct plan_step *s = &sub->steps[i];
		struct luks *l = NULL;
		const char *source = NULL;
		char why[256];
		int r;

		if (!closed(s, &res[i]) || luks_load(s->vol->devnode, log, &l, why, sizeof(why)) < 0)
			continue;
		r = try_key(l, typed, &source);
		if (r < 0) {
			luks_free(l);
			continue;
		}
		res[i].state = RES_VERIFIED;
		res[i].fail = FAIL_NONE;
		res[i].keyslot = r;
		res[i].source = source;
		res[i].reason[0] = '\0';
		res[i].held = l;
		opened++;
	}
	return opened;
}

static size_t count_closed(const struct plan *sub, const struct step_result *res)
{
	size_t n = 0;

	for (size_t i = 0; i < sub->n; i++)
		n += closed(&sub->steps[i], &res[i]);
	return n;
}

bool rescue_opened(const struct step_result *r)
{
	return r->source && (!strcmp(r->source, RESCUE_SOURCE_KEY) ||
			     !strcmp(r->source, RESCUE_SOURCE_PASS));
}

void rescue_mark(const struct plan *sub, const struct step_result *res)
{
	size_t any = 0;
	FILE *f;
	int fd;

	for (size_t i = 0; i < sub->n; i++)
		any += res[i].state == RES_OPENED && rescue_opened(&res[i]);
	if (!any)
		return;
	(void)mkdir(KCRYPT_RUN_DIR, 0700);
	fd = open(RESCUE_MARKER, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "a"))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (size_t i = 0; i < sub->n; i++)
		if (res[i].state == RES_OPENED && rescue_opened(&res[i]))
			fprintf(f, "%s %s\n", sub->steps[i].label[0] ? sub->steps[i].label : "-",
				sub->steps[i].vol->devnode);
	fclose(f);
}

size_t rescue_pass(const struct prompt *pr, struct run *run, const struct plan *sub,
		   struct step_result *res, const struct logger *log)
{
	size_t opened = 0, n;
	char msg[300], who[200];

	if (!count_closed(sub, res))
		return 0;
	if (run->typed && (opened = try_all(sub, res, run->typed, log)))
		log_info(log, "the key typed before opens %zu more volume(s)", opened);
	for (size_t i = 0; i < sub->n; i++) {
		if (closed(&sub->steps[i], &res[i]) && run->ks.tpm && needs_pin(&sub->steps[i], log)) {
			pin_step(pr, run, &sub->steps[i], &res[i], log);
			opened += res[i].state == RES_VERIFIED;
		}
	}
	for (int k = 0; k < RESCUE_TRIES && (n = count_closed(sub, res)) > 0; k++) {
		struct secret *key = NULL;
		size_t got;
		int r;

		const char *why = "";

		for (size_t i = 0; i < sub->n; i++)
			if (closed(&sub->steps[i], &res[i])) {
				unlock_who(&sub->steps[i], who, sizeof(who));
				why = res[i].reason;
				break;
			}
		if (n > 1)
			snprintf(msg, sizeof(msg), "Recovery key or passphrase for %s and %zu more "
						   "volume(s)", who, n - 1);
		else
			snprintf(msg, sizeof(msg), "Recovery key or passphrase for %s", who);
		log_info(log, "%s: not opened (%s): asking on %s (for %d s)", who, why,
			 prompt_how_name(pr->how), pr->timeout);
		r = prompt_ask(pr, msg, "kcrypt-recovery", &key);
		if (r == -ETIMEDOUT) {
			log_err(log, "nobody gave a recovery key within %d s", pr->timeout);
			break;
		}
		if (r < 0) {
			log_err(log, "no recovery key: %s", r == -ECANCELED ? "cancelled" :
							    r == -ENOTTY ? "nobody to ask" : strerror(-r));
			break;
		}
		got = try_all(sub, res, key, log);
		opened += got;
		if (got) {
			secret_free(run->typed);
			run->typed = key;
		} else {
			secret_free(key);
		}
		if (!got)
			log_err(log, "that key opens none of the closed volumes (%d of %d tries)", k + 1,
				RESCUE_TRIES);
	}
	return opened;
}
