/* kcrypt reseal: every volume of this machine, its TPM tokens made current. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "discover.h"
#include "exitcode.h"
#include "plan.h"
#include "reseal.h"
#include "runall.h"

int cli_reseal(struct env *e)
{
	struct volume_list vols = { 0 };
	struct plan p = { 0 };
	struct secret *key = NULL, *pin = NULL;
	struct discover_opts d = { .devices = e->a->devices.n ? &e->a->devices : NULL,
				   .sysfs = e->a->sysfs ? e->a->sysfs : "/sys" };
	size_t errors = 0, failed = 0, done = 0;
	int code, r;

	d.errors = &errors;
	cli_load_config(e);
	code = cli_read_key_and_pin(e, e->a->unlock_key_file, &key, &pin);
	if (code != EXIT_OK)
		goto out;
	code = EXIT_FAIL;
	r = discover_scan(&d, &e->log, &vols);
	if (r < 0) {
		log_err(&e->log, "device scan failed: %s", strerror(-r));
		goto out;
	}
	if (plan_build(&vols, &e->cfg, &p) < 0)
		goto out;
	for (size_t i = 0; i < p.n; i++) {
		const struct plan_step *s = &p.steps[i];
		struct reseal_opts o = { .unlock_key = key, .pin = pin,
					 .tpm_device = cli_tpm_device(e),
					 .sig_path = e->a->tpm2_signature };
		struct reseal_result res;
		char why[400] = "";

		if (!s->vol) {
			if (s->expected) {
				log_err(&e->log, "%s: expected, not found", s->label);
				failed++;
			}
			continue;
		}
		if (s->vol->luks_version != 2)
			continue;
		o.device = s->vol->devnode;
		o.active_name = s->vol->active ? s->vol->active_name : NULL;
		r = reseal_volume(&o, &e->log, &res, why, sizeof(why));
		if (r < 0) {
			log_err(&e->log, "%s: cannot reseal: %s", o.device, why);
			failed++;
			continue;
		}
		done++;
		if (res.skipped)
			failed++;
	}
	if (!done && !failed)
		log_err(&e->log, "reseal: no LUKS2 volume found");
	code = failed || !done ? EXIT_KEY : EXIT_OK;
	if (code == EXIT_OK && unlink(KCRYPT_RUN_DIR "/recovery-used") == 0)
		log_info(&e->log, "resealed: the next boot no longer needs the recovery key");
out:
	plan_free(&p);
	volume_list_free(&vols);
	secret_free(key);
	secret_free(pin);
	return cli_finish(e, code);
}
