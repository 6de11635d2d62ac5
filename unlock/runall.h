/* unlock-all: the phases of a run and the fail-closed decisions.
 *
 *   discover, plan, wait for late disks
 *   refuse plaintext twins of protected names (measured boot)
 *   pass 1: unseal, prove the volume set, activate
 *   the OEM's cloud-config: only the labels it lists are taken from it
 *   pass 2: the same for the volumes it lists, against pass 1's set
 *   measure the volume keys into PCR 15 (measured boot)
 *
 * A refusal by the trust checks, or a failed measurement, closes every
 * volume the run opened: nothing of a disk that is not the machine's own
 * stays open beside the genuine volumes. */
#ifndef KCRYPT_RUNALL_H
#define KCRYPT_RUNALL_H

#include <stdbool.h>

#include "config.h"
#include "keysource.h"
#include "plan.h"
#include "unlock.h"
#include "volume.h"

struct prompt;

/* kcrypt's own runtime directory: phase markers, the OEM's private mount */
#define KCRYPT_RUN_DIR "/run/kcrypt"

/* What one unlock or unlock-all run shares: the key sources and the TPM. */
struct run {
	struct unlock_opts uo;
	struct keysource_ctx ks;
	struct tpm_state tpm;
	struct secret *typed;	/* the key a person typed that opened something:
				 * tried on pass 2's volumes before asking again */
};

struct runall_env {
	struct config *cfg;		/* pass 2 adds the OEM's labels, nothing else */
	struct diags *diags;
	const struct logger *log;
	const struct strv *devices;	/* --device; NULL: every block device */
	const char *sysfs;
	bool initrd;			/* wait for disks; only expected volumes */
	bool measured;			/* a measured UKI boot: downgrade checks, PCR 15 */
	const struct prompt *prompt;	/* ask a person when the TPM cannot; NULL: never */
};

struct runall_result {
	struct plan plan;
	struct step_result *res;	/* plan.n entries */
	struct volume_list vols, vols2;
	size_t errors;			/* --device paths that could not be probed */
};

/* Returns the exit code (exitcode.h); out is filled even on failure and
 * must be released with runall_free. */
int runall(const struct runall_env *env, struct run *run, struct runall_result *out);
void runall_free(struct runall_result *out);

/* Discover volumes as unlock-all does (also for status). */
int runall_discover(const struct runall_env *env, struct volume_list *vols, size_t *errors);

/* PCR 15 for each volume opened (measured boots only, not --test or
 * --dry-run); on a failure closes them all and returns EXIT_TRUST. */
int runall_measure(const struct runall_env *env, struct run *run, const struct plan *p,
		   struct step_result *res);

/* Exit code of a finished plan. */
int runall_code(const struct plan *p, const struct step_result *res);

#endif
