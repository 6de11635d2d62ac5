#include "runall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "discover.h"
#include "exitcode.h"
#include "measure.h"
#include "rescue.h"
#include "trust.h"


int runall_discover(const struct runall_env *env, struct volume_list *vols, size_t *errors)
{
	struct discover_opts o = {
		.devices = env->devices,
		.sysfs = env->sysfs ? env->sysfs : "/sys",
		.errors = errors,
	};
	int r = discover_scan(&o, env->log, vols);

	if (r < 0)
		log_err(env->log, "device scan failed: %s", strerror(-r));
	return r;
}

struct measure_ctx {
	struct run *run;
	const struct logger *log;
};

static int measure_one(void *ctx, const char *name, const char *uuid, const struct secret *vk,
		       char *why, size_t whylen)
{
	struct measure_ctx *m = ctx;
	struct tpm2 *tpm;
	int r = keysource_tpm2_get(&m->run->tpm, m->log, &tpm, why, whylen);

	if (r == 0)
		r = measure_volume_key(tpm, name, uuid, vk->buf, vk->len, why, whylen);
	if (r == 0)
		log_info(m->log, "measured the volume key of /dev/mapper/%s into PCR 15", name);
	return r;
}

/* Only a measured UKI boot has a PCR 11 worth protecting (as systemd). A
 * volume whose key is not in PCR 15 could be opened again by anything that
 * runs later: fail closed, as systemd v258 does. */
int runall_measure(const struct runall_env *env, struct run *run, const struct plan *p,
		   struct step_result *res)
{
	struct measure_ctx m = { .run = run, .log = env->log };

	if (run->uo.test || run->uo.dry_run || !env->measured)
		return EXIT_OK;
	if (unlock_measure(p, res, measure_one, &m, env->log) == 0)
		return EXIT_OK;
	log_err(env->log, "a volume key could not be measured into PCR 15: closed %zu volume(s)",
		unlock_close(p, res, env->log));
	return EXIT_TRUST;
}

int runall_code(const struct plan *p, const struct step_result *res)
{
	for (size_t i = 0; i < p->n; i++)
		if (res[i].state == RES_FAILED && res[i].fail == FAIL_TRUST)
			return EXIT_TRUST;
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].expected && res[i].state == RES_FAILED)
			return EXIT_FAIL;
	return EXIT_OK;
}

static bool mounted(const char *dev)
{
	struct stat st;
	char line[4096], want[32];
	bool found = false;
	FILE *f;

	if (stat(dev, &st) < 0)
		return false;
	snprintf(want, sizeof(want), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mm[32];

		/* "36 35 98:0 / /mnt ..." : the third field is major:minor */
		found = sscanf(line, "%*s %*s %31s", mm) == 1 && !strcmp(mm, want);
	}
	fclose(f);
	return found;
}

static const char *oem_mapper(const struct plan *p, const struct step_result *res)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];

		if (s->role != ROLE_OEM)
			continue;
		if (res[i].state == RES_OPENED)
			return s->mapper;
		if (res[i].state == RES_SKIPPED && s->vol)
			return s->vol->active_name;
	}
	return NULL;
}

/* The encrypted OEM holds the cloud-config that lists the extra volumes:
 * mount it read-only in a private directory, read it, unmount. Only its
 * labels are taken: the TPM, names and trust settings stay as pass 1 had
 * them. Returns true when it listed labels not known before. */
static bool read_oem_config(const struct runall_env *env, const struct plan *p,
			    const struct step_result *res)
{
	char dev[160], dir[] = KCRYPT_RUN_DIR "/oem.XXXXXX";
	struct strv dirs = { 0 };
	struct config oem;
	size_t before = env->cfg->encrypted.n, ndiag = env->diags->n;
	const char *name = oem_mapper(p, res);

	if (!name)
		return false;
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	if (mounted(dev))
		return false;	/* mounted: its config was read where it is mounted */
	(void)mkdir(KCRYPT_RUN_DIR, 0700);
	if (!mkdtemp(dir)) {
		log_warn(env->log, "cannot read the OEM config: %s: %s", dir, strerror(errno));
		return false;
	}
	if (mount(dev, dir, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		log_warn(env->log, "cannot mount %s to read its config: %s", dev, strerror(errno));
		rmdir(dir);
		return false;
	}
	config_init(&oem);
	strv_add(&dirs, dir);
	config_load_dirs(&oem, &dirs, env->diags);
	strv_free(&dirs);
	if (umount2(dir, 0) < 0 && umount2(dir, MNT_DETACH) < 0)
		log_warn(env->log, "cannot unmount %s: %s", dir, strerror(errno));
	rmdir(dir);
	for (size_t i = 0; i < oem.encrypted.n; i++)
		strv_add_unique(&env->cfg->encrypted, oem.encrypted.v[i]);
	config_free(&oem);
	for (size_t i = ndiag; i < env->diags->n; i++)
		log_warn(env->log, "OEM config: %s:%d: %s", env->diags->v[i].path,
			 env->diags->v[i].line, env->diags->v[i].msg);
	log_info(env->log, "read the cloud-config of the OEM volume (%zu more labels)",
		 env->cfg->encrypted.n - before);
	return env->cfg->encrypted.n > before;
}

static bool missing_expected(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].expected && !p->steps[i].vol)
			return true;
	return false;
}

/* In the initrd, a disk may show up after we start: scan again until every
 * expected volume is there or the timeout (rd.kcrypt.timeout) runs out. */
static int wait_for_devices(const struct runall_env *env, struct volume_list *vols,
			    struct plan *p, size_t *errors)
{
	struct timespec t0, now, nap = { 0, 100 * 1000 * 1000 };

	if (env->devices || !env->initrd || !missing_expected(p))
		return 0;
	log_info(env->log, "waiting up to %d s for the expected volumes to appear",
		 env->cfg->timeout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		nanosleep(&nap, NULL);
		plan_free(p);
		volume_list_free(vols);
		*errors = 0;
		if (runall_discover(env, vols, errors) < 0 || plan_build(vols, env->cfg, p) < 0)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (missing_expected(p) && now.tv_sec - t0.tv_sec < env->cfg->timeout);
	return 0;
}

/* In the initrd the TPM opens only what the machine expects: a stick whose
 * token this TPM would unseal is reported, never opened. */
static void only_expected(const struct runall_env *env, struct plan *p)
{
	if (!env->initrd)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (!p->steps[i].expected && p->steps[i].action == STEP_OPEN)
			plan_refuse(&p->steps[i], FAIL_NONE,
				    "not expected by this machine (the initrd opens only OEM, "
				    "PERSISTENT and the volumes the configuration lists)");
}

/* Unseal, prove the set, activate: one pass over the steps of sub. */
static int pass(const struct runall_env *env, struct run *run, const struct plan *sub,
		struct step_result *res, struct trust_anchor *anchor)
{
	int r;

	unlock_unseal(sub, &run->uo, &run->ks, env->log, res);
	if (env->prompt && !run->uo.dry_run)
		rescue_pass(env->prompt, run, sub, res, env->log);
	r = run->uo.dry_run ? 0 : trust_volume_set(sub, res, env->cfg->set_required, anchor, env->log);
	unlock_activate(sub, &run->uo, env->log, res);
	if (env->prompt)
		rescue_mark(sub, res);
	return r;
}

static ssize_t find_step(const struct plan *p, const struct plan_step *s)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *o = &p->steps[i];

		if (s->vol && o->vol && !strcmp(s->vol->devnode, o->vol->devnode))
			return (ssize_t)i;
		if (!o->vol && !strcmp(s->label, o->label))
			return (ssize_t)i;
	}
	return -1;
}

/* Fold the pass-2 plan into p. A step new to p, or one pass 1 did not open
 * that is expected now (it was unlisted then), runs in pass 2; sel gets
 * their indices. Steps pass 1 handled keep their result but take the new
 * expectation, so that a listed volume's failure counts. */
static int merge(struct runall_result *out, const struct plan *p2, size_t **sel, size_t *nsel)
{
	struct plan *p = &out->plan;
	struct plan_step *steps = realloc(p->steps, (p->n + p2->n + 1) * sizeof(*steps));
	struct step_result *res;

	if (!steps)
		return -ENOMEM;
	p->steps = steps;
	res = realloc(out->res, (p->n + p2->n + 1) * sizeof(*res));
	if (!res)
		return -ENOMEM;
	out->res = res;
	*sel = calloc(p2->n + 1, sizeof(**sel));
	if (!*sel)
		return -ENOMEM;
	*nsel = 0;
	for (size_t k = 0; k < p2->n; k++) {
		const struct plan_step *s = &p2->steps[k];
		ssize_t i = find_step(p, s);

		if (i < 0) {
			memset(&res[p->n], 0, sizeof(res[0]));
			p->steps[p->n] = *s;
			(*sel)[(*nsel)++] = p->n++;
		} else if (res[i].state == RES_FAILED && s->expected &&
			   (!p->steps[i].expected || !p->steps[i].vol)) {
			luks_free(res[i].held);
			memset(&res[i], 0, sizeof(res[0]));
			p->steps[i] = *s;
			(*sel)[(*nsel)++] = (size_t)i;
		} else if (s->expected && !p->steps[i].expected) {
			p->steps[i].expected = true;
			p->steps[i].role = s->role;
			memcpy(p->steps[i].label, s->label, sizeof(s->label));
		}
	}
	return 0;
}

/* The volumes the OEM's config lists: the same checks, against the set
 * pass 1 proved. */
static int second_pass(const struct runall_env *env, struct run *run, struct runall_result *out,
		       struct trust_anchor *anchor)
{
	struct plan p2 = { 0 }, sub = { 0 };
	struct step_result *res = NULL;
	size_t *sel = NULL, nsel = 0;
	int r = -ENOMEM;

	/* a volume the OEM's config lists may be on a disk still appearing
	 * (kcrypt does not wait for udev to settle): the same bounded wait */
	if (runall_discover(env, &out->vols2, &out->errors) < 0 ||
	    plan_build(&out->vols2, env->cfg, &p2) < 0 ||
	    wait_for_devices(env, &out->vols2, &p2, &out->errors) < 0 ||
	    merge(out, &p2, &sel, &nsel) < 0)
		goto out;
	r = 0;
	if (!nsel)
		goto out;
	if (env->measured && trust_plaintext(env->devices, env->cfg, env->log) != 0) {
		r = -EPERM;
		goto out;
	}
	sub.steps = calloc(nsel, sizeof(*sub.steps));
	res = calloc(nsel, sizeof(*res));
	if (!sub.steps || !res) {
		r = -ENOMEM;
		goto out;
	}
	sub.n = nsel;
	for (size_t k = 0; k < nsel; k++)
		sub.steps[k] = out->plan.steps[sel[k]];
	only_expected(env, &sub);
	r = pass(env, run, &sub, res, anchor);
	for (size_t k = 0; k < nsel; k++) {
		out->plan.steps[sel[k]] = sub.steps[k];
		out->res[sel[k]] = res[k];
	}
out:
	free(res);
	plan_free(&sub);
	plan_free(&p2);
	free(sel);
	return r;
}

/* A refusal of the trust checks: close what was opened, fail every step
 * that is not failed already. */
static int fail_closed(const struct runall_env *env, struct runall_result *out)
{
	size_t n = unlock_close(&out->plan, out->res, env->log);

	for (size_t i = 0; i < out->plan.n; i++)
		if (out->res[i].state != RES_FAILED && out->res[i].state != RES_SKIPPED)
			unlock_fail(&out->res[i], FAIL_TRUST, "not opened: the disk is refused");
	log_err(env->log, "this disk is not trusted: failing closed (closed %zu volume(s) again)", n);
	return EXIT_TRUST;
}

/* The first TPM session's nonces and the set proof's challenge come from
 * the kernel's pool: before its first seeding they wait for it. Saying so
 * tells a slow boot's log where the time went (a machine without a
 * hardware RNG the kernel trusts). */
static void entropy_note(const struct logger *log)
{
	unsigned char b;

	if (getrandom(&b, 1, GRND_NONBLOCK) < 0 && errno == EAGAIN)
		log_debug(log, "the kernel's random pool is not seeded yet: the TPM session waits for it");
	explicit_bzero(&b, sizeof(b));
}

int runall(const struct runall_env *env, struct run *run, struct runall_result *out)
{
	struct trust_anchor anchor = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	if (runall_discover(env, &out->vols, &out->errors) < 0 ||
	    plan_build(&out->vols, env->cfg, &out->plan) < 0 ||
	    wait_for_devices(env, &out->vols, &out->plan, &out->errors) < 0)
		return EXIT_FAIL;
	if (out->plan.n == 0)
		log_info(env->log, "no LUKS volumes found");
	log_debug(env->log, "%zu volume(s) to open", out->plan.n);
	entropy_note(env->log);
	out->res = calloc(out->plan.n + 1, sizeof(*out->res));
	if (!out->res)
		return EXIT_FAIL;
	if (env->measured && trust_plaintext(env->devices, env->cfg, env->log) != 0) {
		for (size_t i = 0; i < out->plan.n; i++)
			unlock_fail(&out->res[i], FAIL_TRUST, "not opened: the disk is refused");
		return fail_closed(env, out);
	}
	only_expected(env, &out->plan);
	if (pass(env, run, &out->plan, out->res, &anchor) < 0)
		return fail_closed(env, out);
	if (!run->uo.test && !run->uo.dry_run && read_oem_config(env, &out->plan, out->res)) {
		r = second_pass(env, run, out, &anchor);
		if (r == -EPERM)
			return fail_closed(env, out);
		if (r < 0)
			return EXIT_FAIL;
	}
	r = runall_measure(env, run, &out->plan, out->res);
	if (r != EXIT_OK)
		return r;
	r = runall_code(&out->plan, out->res);
	return r == EXIT_OK && out->errors ? EXIT_DEVICE : r;
}

void runall_free(struct runall_result *out)
{
	if (out->res)
		unlock_release(out->res, out->plan.n);
	free(out->res);
	out->res = NULL;
	plan_free(&out->plan);
	volume_list_free(&out->vols);
	volume_list_free(&out->vols2);
}
