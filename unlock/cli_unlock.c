/* The unlock verbs: status, unlock-all, unlock, bind. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "cli.h"
#include "discover.h"
#include "exitcode.h"
#include "measure.h"
#include "prompt.h"
#include "rescue.h"
#include "report.h"
#include "runall.h"
#include "trust.h"
#include "unlock.h"

static int discover(struct env *e, struct volume_list *vols, size_t *errors)
{
	struct discover_opts o = {
		.devices = e->a->devices.n ? &e->a->devices : NULL,
		.sysfs = e->a->sysfs ? e->a->sysfs : "/sys",
		.errors = errors,
	};
	int r = discover_scan(&o, &e->log, vols);

	if (r < 0)
		log_err(&e->log, "device scan failed: %s", strerror(-r));
	return r;
}

/* The marker a boot that needed a typed key leaves (rescue.h). */
static void rescued_read(struct strv *out)
{
	char line[512];
	FILE *f = fopen(RESCUE_MARKER, "re");

	if (!f)
		return;
	while (out->n < 64 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			strv_add_unique(out, line);
	}
	fclose(f);
}

int cli_status(struct env *e)
{
	struct volume_list vols = { 0 };
	struct plan p = { 0 };
	struct status_entry *ent = NULL;
	struct strv rescued = { 0 };
	size_t errors = 0;
	int code = EXIT_FAIL;

	cli_load_config(e);
	if (discover(e, &vols, &errors) < 0 || plan_build(&vols, &e->cfg, &p) < 0)
		goto out;
	ent = calloc(p.n ? p.n : 1, sizeof(*ent));
	if (!ent)
		goto out;
	status_gather(&p, &e->log, ent);
	rescued_read(&rescued);
	if (e->a->json)
		report_status_json(stdout, ent, p.n, &rescued);
	else
		report_status_text(stdout, ent, p.n, &rescued);
	code = errors ? EXIT_DEVICE : EXIT_OK;
	/* a header that cannot be loaded is a device problem, even here */
	for (size_t i = 0; i < p.n; i++)
		if (ent[i].step->vol && (ent[i].health == HDR_DAMAGED || ent[i].health == HDR_LUKS1))
			code = EXIT_DEVICE;
out:
	free(ent);
	strv_free(&rescued);
	plan_free(&p);
	volume_list_free(&vols);
	return cli_finish(e, code);
}

/* The key file and PIN of a run: read from argv's files, owned here. */
struct run_secrets {
	struct secret *key, *pin;
};

static int run_begin(struct env *e, struct run *r, struct run_secrets *sec)
{
	int code;

	memset(r, 0, sizeof(*r));
	r->uo.test = e->a->test;
	r->uo.dry_run = e->a->dry_run;
	r->ks.keyfile_path = e->a->key_file;
	r->ks.tokens = !e->a->no_tokens;
	r->ks.log = &e->log;
	code = cli_read_key_and_pin(e, e->a->key_file, &sec->key, &sec->pin);
	if (code != EXIT_OK)
		return code;
	r->ks.keyfile = sec->key;
	/* the TPM also takes the PCR 15 measurements, even with --no-tpm; the
	 * device string is the first pass's and does not change after it */
	r->tpm.device = cli_tpm_device(e);
	r->tpm.sig_path = e->a->tpm2_signature;
	r->tpm.pin = sec->pin;
	if (!e->a->no_tpm)
		r->ks.tpm = &r->tpm;
	return EXIT_OK;
}

static void run_end(struct run *r, struct run_secrets *sec)
{
	keysource_tpm2_release(&r->tpm);
	secret_free(r->typed);
	secret_free(sec->key);
	secret_free(sec->pin);
}

static void report_run(struct env *e, const struct plan *p, const struct step_result *res)
{
	if (e->a->dry_run && !e->a->json)
		report_plan_text(stdout, p);
	if (e->a->json)
		report_unlock_json(stdout, p, res,
				   e->a->dry_run ? "dry-run" : e->a->test ? "test" : "activate");
}

static void runall_env_of(struct env *e, struct runall_env *re, struct prompt *pr)
{
	memset(re, 0, sizeof(*re));
	re->cfg = &e->cfg;
	re->diags = &e->diags;
	re->log = &e->log;
	re->devices = e->a->devices.n ? &e->a->devices : NULL;
	re->sysfs = e->a->sysfs;
	re->initrd = access("/etc/initrd-release", F_OK) == 0;
	re->measured = measure_is_measured_uki(NULL);
	/* in the initrd by default, by hand with --prompt; kcrypt.prompt=0 never */
	if (pr && (re->initrd || e->a->prompt) && e->cfg.prompt && !e->a->dry_run) {
		prompt_init(pr, re->initrd, e->cfg.prompt_timeout, &e->log);
		re->prompt = pr;
	}
}

int cli_unlock_all(struct env *e)
{
	struct runall_env re;
	struct runall_result out = { 0 };
	struct run_secrets sec = { 0 };
	struct prompt pr;
	struct run run;
	int code;

	cli_load_config(e);
	if (e->cfg.disabled) {
		log_info(&e->log, "disabled by rd.kcrypt=0 on the kernel command line");
		return EXIT_OK;
	}
	runall_env_of(e, &re, &pr);
	code = run_begin(e, &run, &sec);
	if (code == EXIT_OK) {
		code = runall(&re, &run, &out);
		if (out.res)
			report_run(e, &out.plan, out.res);
	}
	runall_free(&out);
	run_end(&run, &sec);
	return cli_finish(e, code);
}

int cli_unlock(struct env *e)
{
	const char *dev = e->a->pos[0], *name = e->a->npos > 1 ? e->a->pos[1] : NULL;
	struct step_result res[1];
	struct runall_env re;
	struct run_secrets sec = { 0 };
	struct trust_anchor anchor = { 0 };
	struct volume v;
	struct plan p = { 0 };
	struct run run;
	int r, code = EXIT_FAIL;

	cli_load_config(e);
	r = discover_probe(dev, e->a->sysfs ? e->a->sysfs : "/sys", &v);
	if (r < 0) {
		if (r == -ENOENT)
			log_err(&e->log, "%s: no such device", dev);
		else if (r == -EMEDIUMTYPE)
			log_err(&e->log, "%s: not a LUKS volume", dev);
		else if (r == -EISDIR)
			log_err(&e->log, "%s: is a directory, not a device", dev);
		else
			log_err(&e->log, "%s: cannot probe: %s", dev, strerror(-r));
		return r == -ENOMEM ? EXIT_FAIL : EXIT_DEVICE;
	}
	runall_env_of(e, &re, NULL);
	code = run_begin(e, &run, &sec);
	if (code == EXIT_OK && plan_build_one(&v, &e->cfg, name, &p) == 0 && p.n == 1) {
		unlock_unseal(&p, &run.uo, &run.ks, &e->log, res);
		/* one volume proves no set, but a bad binding is still refused */
		if (!run.uo.dry_run)
			(void)trust_volume_set(&p, res, false, &anchor, &e->log);
		unlock_activate(&p, &run.uo, &e->log, res);
		code = runall_measure(&re, &run, &p, res);
		report_run(e, &p, res);
		if (code == EXIT_OK)
			code = res[0].state == RES_FAILED ? cli_fail_code(res[0].fail) : EXIT_OK;
		unlock_release(res, 1);
	} else if (code == EXIT_OK) {
		code = EXIT_FAIL;
	}
	run_end(&run, &sec);
	plan_free(&p);
	volume_clear(&v);
	return cli_finish(e, code);
}


/* Open (verify) every expected volume, then bind those without a binding
 * to the set the others share. */
int cli_bind(struct env *e)
{
	struct runall_env re;
	struct run_secrets sec = { 0 };
	struct volume_list vols = { 0 };
	struct step_result *res = NULL;
	struct plan p = { 0 };
	struct run run;
	char why[400] = "", w[300];
	size_t errors = 0;
	int code, r;

	cli_load_config(e);
	runall_env_of(e, &re, NULL);
	code = run_begin(e, &run, &sec);
	if (code != EXIT_OK)
		goto out;
	run.uo.test = true;
	code = EXIT_FAIL;
	if (runall_discover(&re, &vols, &errors) < 0 || plan_build(&vols, &e->cfg, &p) < 0 ||
	    !(res = calloc(p.n + 1, sizeof(*res))))
		goto out;
	for (size_t i = 0; i < p.n; i++)
		if (!p.steps[i].expected && p.steps[i].action == STEP_OPEN)
			plan_refuse(&p.steps[i], FAIL_NONE, "not expected by this machine: not bound");
	unlock_unseal(&p, &run.uo, &run.ks, &e->log, res);
	code = EXIT_OK;
	for (size_t i = 0; i < p.n; i++) {
		if (!p.steps[i].expected || res[i].state != RES_FAILED)
			continue;
		log_err(&e->log, "%s: cannot bind: %s", unlock_who(&p.steps[i], w, sizeof(w)),
			res[i].reason);
		code = EXIT_FAIL;
	}
	r = bind_volumes(&p, res, &e->log, why, sizeof(why));
	if (r < 0) {
		log_err(&e->log, "bind: %s", why);
		code = r == -EPERM ? EXIT_TRUST : r == -EROFS ? EXIT_DEVICE : EXIT_FAIL;
	} else if (r == 0) {
		log_info(&e->log, "nothing to bind: every volume that opened is bound already");
	}
	if (code == EXIT_OK && errors)
		code = EXIT_DEVICE;
out:
	if (res)
		unlock_release(res, p.n);
	free(res);
	plan_free(&p);
	volume_list_free(&vols);
	run_end(&run, &sec);
	return cli_finish(e, code);
}
