/* What the verbs share: the parsed command line, the run's environment
 * and the helpers that turn argv's files into secrets. cli.c owns argv and
 * the verb table; cli_unlock.c and cli_enroll.c hold the verbs. */
#ifndef KCRYPT_CLI_H
#define KCRYPT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "plan.h"
#include "secret.h"
#include "strv.h"

#define KEYFILE_MAX (8u * 1024 * 1024)	/* cryptsetup's default key file limit */

struct args {
	const char *verb;
	char **pos;
	int npos;
	int verbose;
	bool quiet, json, test, dry_run, no_tokens, no_tpm;
	const char *key_file;
	const char *tpm_device;
	const char *tpm2_signature;
	const char *pin_file;
	bool tpm, pin, no_mkfs, no_pcr15, recovery_key, prompt;
	const char *recovery_key_file;
	const char *tpm_pcrs, *public_key, *public_key_pcrs, *unlock_key_file;
	const char *tpm2_srk;		/* --tpm2-srk[=auto|yes|no]; NULL: not given */
	const char *cmdline;
	const char *sysfs;
	struct strv devices;
	struct strv config_dirs;
	bool config_dirs_set;
	struct strv extra_dirs;
};

struct env {
	struct args *a;
	struct logger log;
	struct config cfg;
	struct diags diags;
};


/* Configuration from the config dirs and the kernel command line. */
void cli_load_config(struct env *e);
/* EXIT_CONFIG instead of EXIT_OK when configuration was ignored. */
int cli_finish(struct env *e, int code);
/* A key file (key_path may be NULL) and --tpm2-pin-file, into locked memory. */
int cli_read_key_and_pin(struct env *e, const char *key_path, struct secret **key,
			 struct secret **pin);
/* --tpm-device, else KCRYPT_TPM2_DEVICE, else kcrypt.tpm_device; NULL: auto */
const char *cli_tpm_device(const struct env *e);
int cli_fail_code(enum fail_class f);
/* --recovery-key(-file): the key to enroll (NULL when neither was given),
 * read from or written to the file, or new. EXIT_OK or an exit code. */
int cli_recovery_key(struct env *e, struct secret **key, bool *is_new);
/* After the key is enrolled: a new key without a file is shown once. */
int cli_recovery_done(struct env *e, const struct secret *key, bool is_new, const char *what);

int cli_status(struct env *e);
int cli_unlock_all(struct env *e);
int cli_unlock(struct env *e);
int cli_bind(struct env *e);
int cli_enroll(struct env *e);
int cli_encrypt(struct env *e);
int cli_pcrphase(struct env *e);
int cli_check_uki(struct env *e);
int cli_reseal(struct env *e);

/* kcrypt --version; verbose: the linked libraries' versions */
void cli_version(FILE *f, int verbose);

#endif
