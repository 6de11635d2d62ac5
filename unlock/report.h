/* Output for people (text tables) and programs (--json). Writes stdout only. */
#ifndef KCRYPT_REPORT_H
#define KCRYPT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "luks.h"
#include "plan.h"
#include "strv.h"
#include "unlock.h"

/* What a systemd-tpm2 token asks of the TPM (status output). */
struct token_policy {
	bool tpm2;		/* the token is systemd-tpm2 */
	bool parsed;		/* and well-formed; else error says why */
	uint32_t pcrs;		/* literal PCRs */
	uint32_t signed_pcrs;	/* PCRs under the signed policy */
	bool pin;
	const char *parent;	/* "ecc", "rsa" (legacy transient) or "srk" */
	const char *bank;
	char error[200];
};

/* Volume set membership as the header shows it (proof needs the keys:
 * unlock-all --test). */
enum set_view { SET_NOT_BOUND = 0, SET_BOUND, SET_NO_MATCH, SET_MALFORMED };

struct status_entry {
	const struct plan_step *step;
	enum set_view set;
	char set_id[33];
	bool have_info;
	struct luks_info info;
	struct token_policy policy[LUKS_MAX_TOKENS];	/* parallel to info.tokens */
	enum hdr_health health;
	char error[600];
};

/* Load each planned volume's header (read-only) for its keyslots/tokens. */
void status_gather(const struct plan *p, const struct logger *log, struct status_entry *out);

/* rescued: the volumes this boot opened with a typed key ("LABEL DEVICE"
 * lines of /run/kcrypt/recovery-used), NULL or empty when none */
void report_status_text(FILE *f, const struct status_entry *e, size_t n,
			const struct strv *rescued);
int report_status_json(FILE *f, const struct status_entry *e, size_t n,
		       const struct strv *rescued);

void report_plan_text(FILE *f, const struct plan *p);
int report_unlock_json(FILE *f, const struct plan *p, const struct step_result *res,
		       const char *mode);

#endif
