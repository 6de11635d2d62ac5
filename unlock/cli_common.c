/* What the verbs share: configuration, exit codes, argv's files read into
 * locked memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exitcode.h"
#include "recovery.h"
#include "secret.h"

void cli_load_config(struct env *e)
{
	static const char *const defaults[] = { "/oem", "/sysroot/oem", "/run/cos/oem" };
	struct strv dirs = { 0 };
	const char *cmdline = e->a->cmdline ? e->a->cmdline : "/proc/cmdline";

	if (e->a->config_dirs_set)
		for (size_t i = 0; i < e->a->config_dirs.n; i++)
			strv_add(&dirs, e->a->config_dirs.v[i]);
	else
		for (size_t i = 0; i < 3; i++)
			strv_add(&dirs, defaults[i]);
	for (size_t i = 0; i < e->a->extra_dirs.n; i++)
		strv_add(&dirs, e->a->extra_dirs.v[i]);

	config_load_dirs(&e->cfg, &dirs, &e->diags);
	if (*cmdline)
		config_load_cmdline_file(&e->cfg, cmdline, &e->diags);
	strv_free(&dirs);

	if (e->cfg.debug)
		e->log.max = LOG_DEBUG;
	for (size_t i = 0; i < e->diags.n; i++) {
		const struct diag *d = &e->diags.v[i];
		if (d->line)
			log_warn(&e->log, "%s:%d: %s", d->path, d->line, d->msg);
		else
			log_warn(&e->log, "%s: %s", d->path, d->msg);
	}
}

int cli_finish(struct env *e, int code)
{
	return code == EXIT_OK && e->diags.n ? EXIT_CONFIG : code;
}

/* what: "key file" or "PIN file" */
static int read_secret(struct env *e, const char *path, const char *what, size_t max,
		       struct secret **key)
{
	int r;

	*key = NULL;
	if (!path)
		return EXIT_OK;
	r = secret_read_file(path, max, key);
	if (r == 0)
		return EXIT_OK;
	switch (r) {
	case -ENODATA:
		log_err(&e->log, "%s: %s is empty", path, what);
		break;
	case -EISDIR:
		log_err(&e->log, "%s: %s is a directory", path, what);
		break;
	case -EFBIG:
		log_err(&e->log, "%s: %s is larger than %zu bytes", path, what, max);
		break;
	case -EPERM:
	case -ENOMEM:
	case -EAGAIN:
		log_err(&e->log, "cannot lock memory for the key: %s", strerror(-r));
		return EXIT_FAIL;
	default:
		log_err(&e->log, "%s: cannot read %s: %s", path, what, strerror(-r));
	}
	return EXIT_KEY;
}

/* A PIN typed into a file or a pipe ends with a newline that is not part of it. */
static void chomp(struct secret *s)
{
	while (s && s->len && (s->buf[s->len - 1] == '\n' || s->buf[s->len - 1] == '\r'))
		s->buf[--s->len] = 0;
}

/* --tpm-device, else KCRYPT_TPM2_DEVICE, else kcrypt.tpm_device; NULL: auto */
const char *cli_tpm_device(const struct env *e)
{
	const char *env = getenv("KCRYPT_TPM2_DEVICE");

	if (e->a->tpm_device)
		return e->a->tpm_device;
	if (env && *env)
		return env;
	return e->cfg.tpm_device;
}

/* A key file (key_path may be NULL) and --tpm2-pin-file, into locked memory. */
int cli_read_key_and_pin(struct env *e, const char *key_path, struct secret **key,
			 struct secret **pin)
{
	int code = read_secret(e, key_path, "key file", KEYFILE_MAX, key);

	*pin = NULL;
	if (code == EXIT_OK)
		code = read_secret(e, e->a->pin_file, "PIN file", 1024, pin);
	if (code == EXIT_OK)
		chomp(*pin);
	return code;
}

int cli_fail_code(enum fail_class f)
{
	switch (f) {
	case FAIL_NONE:
		return EXIT_OK;
	case FAIL_DEVICE:
		return EXIT_DEVICE;
	case FAIL_KEY:
		return EXIT_KEY;
	case FAIL_AMBIGUOUS:
		return EXIT_AMBIGUOUS;
	case FAIL_TRUST:
		return EXIT_TRUST;
	default:
		return EXIT_FAIL;
	}
}


int cli_recovery_key(struct env *e, struct secret **key, bool *is_new)
{
	const struct args *a = e->a;
	char why[300] = "";
	bool created = false;
	int r;

	*key = NULL;
	*is_new = false;
	if (a->recovery_key && a->recovery_key_file) {
		log_err(&e->log, "%s: --recovery-key and --recovery-key-file exclude each other",
			a->verb);
		return EXIT_USAGE;
	}
	if (a->recovery_key) {
		/* refuse before anything is written: the key must reach a person */
		int tty = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);

		if (tty < 0) {
			log_err(&e->log, "%s: --recovery-key: no terminal to show the key on "
					 "(use --recovery-key-file)", a->verb);
			return EXIT_USAGE;
		}
		close(tty);
		r = recovery_new(key);
		if (r < 0) {
			log_err(&e->log, "%s: cannot make a recovery key: %s", a->verb, strerror(-r));
			return EXIT_FAIL;
		}
		*is_new = true;
		return EXIT_OK;
	}
	if (!a->recovery_key_file)
		return EXIT_OK;
	r = recovery_file(a->recovery_key_file, key, &created, why, sizeof(why));
	if (r < 0) {
		log_err(&e->log, "%s: %s", a->verb, why);
		return r == -EINVAL ? EXIT_KEY : EXIT_FAIL;
	}
	if (created)
		log_info(&e->log, "a new recovery key was written to %s", a->recovery_key_file);
	return EXIT_OK;
}

int cli_recovery_done(struct env *e, const struct secret *key, bool is_new, const char *what)
{
	if (!key || !is_new)
		return EXIT_OK;
	if (recovery_show(key, what) < 0) {
		/* enrolled and not shown: the slot is useless, but harmless */
		log_err(&e->log, "%s: the terminal went away before the recovery key was shown: "
				 "remove its keyslot with systemd-cryptenroll --wipe-slot=recovery",
			what);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
