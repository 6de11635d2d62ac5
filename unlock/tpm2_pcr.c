/* PCR read, banks, extend. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "pcrsig.h"
#include "policy.h"
#include "tpm2_int.h"

int tpm2_pcr_read(struct tpm2 *t, uint16_t bank, uint32_t mask, unsigned char *out, size_t *len,
		  char *why, size_t whylen)
{
	*len = 0;
	/* one PCR per command: a TPM returns at most 8 digests per PCR_Read */
	for (int i = 0; i < 24; i++) {
		TPML_PCR_SELECTION sel = selection(bank, 1u << i), *selout = NULL;
		TPML_DIGEST *values = NULL;
		UINT32 counter;
		TSS2_RC rc;

		if (!(mask & (1u << i)))
			continue;
		do
			rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
					   &counter, &selout, &values);
		while (tpm2_need_startup(t, rc));
		if (rc != TSS2_RC_SUCCESS || values->count != 1) {
			snprintf(why, whylen, "cannot read PCR %d (%s): %s", i, token_bank_name(bank),
				 rc ? Tss2_RC_Decode(rc) : "bank not active");
			Esys_Free(selout);
			Esys_Free(values);
			return -EIO;
		}
		memcpy(out + *len, values->digests[0].buffer, values->digests[0].size);
		*len += values->digests[0].size;
		Esys_Free(selout);
		Esys_Free(values);
	}
	return 0;
}

/* The banks do not change while the TPM runs: one GetCapability per run. */
int tpm2_pcr_banks(struct tpm2 *t, uint16_t *algs, size_t max, char *why, size_t whylen)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPML_PCR_SELECTION *sel;
	TSS2_RC rc;

	if (t->nbanks < 0) {
		do
			rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						TPM2_CAP_PCRS, 0, 1, NULL, &cap);
		while (tpm2_need_startup(t, rc));
		if (rc != TSS2_RC_SUCCESS) {
			snprintf(why, whylen, "cannot list the PCR banks: %s", Tss2_RC_Decode(rc));
			return -EIO;
		}
		sel = &cap->data.assignedPCR;
		t->nbanks = 0;
		for (UINT32 i = 0; i < sel->count && t->nbanks < 8; i++) {
			bool any = false;

			/* allocated banks with no PCR selected are not active */
			for (int b = 0; b < sel->pcrSelections[i].sizeofSelect; b++)
				any |= sel->pcrSelections[i].pcrSelect[b] != 0;
			if (any)
				t->banks[t->nbanks++] = sel->pcrSelections[i].hash;
		}
		Esys_Free(cap);
	}
	if ((size_t)t->nbanks < max)
		max = (size_t)t->nbanks;
	memcpy(algs, t->banks, max * sizeof(*algs));
	return (int)max;
}

int tpm2_pcr_extend(struct tpm2 *t, int pcr, const uint16_t *algs,
		    const unsigned char (*digest)[64], size_t n, char *why, size_t whylen)
{
	TPML_DIGEST_VALUES v = { 0 };
	TSS2_RC rc;

	if (pcr < 0 || pcr > 23 || n > TPM2_NUM_PCR_BANKS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		v.digests[i].hashAlg = algs[i];
		/* the union's members all start at the same address */
		_Static_assert(sizeof(v.digests[i].digest) == 64, "TPMU_HA is 64 bytes");
		memcpy(&v.digests[i].digest, digest[i], 64);
	}
	v.count = (UINT32)n;
	do
		rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + (ESYS_TR)pcr, ESYS_TR_PASSWORD,
				     ESYS_TR_NONE, ESYS_TR_NONE, &v);
	while (tpm2_need_startup(t, rc));
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(why, whylen, "cannot extend PCR %d: %s", pcr, Tss2_RC_Decode(rc));
		return -EIO;
	}
	return 0;
}


int tpm2_da_info(struct tpm2 *t, struct tpm2_da *da, char *why, size_t whylen)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC rc;

	memset(da, 0, sizeof(*da));
	do
		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT, 20, NULL, &cap);
	while (tpm2_need_startup(t, rc));
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(why, whylen, "cannot read the dictionary-attack state: %s",
			 Tss2_RC_Decode(rc));
		return -EIO;
	}
	for (UINT32 i = 0; i < cap->data.tpmProperties.count; i++) {
		const TPMS_TAGGED_PROPERTY *p = &cap->data.tpmProperties.tpmProperty[i];

		switch (p->property) {
		case TPM2_PT_PERMANENT:
			da->in_lockout = (p->value & TPMA_PERMANENT_INLOCKOUT) != 0;
			break;
		case TPM2_PT_LOCKOUT_COUNTER:
			da->failures = p->value;
			break;
		case TPM2_PT_MAX_AUTH_FAIL:
			da->max_failures = p->value;
			break;
		case TPM2_PT_LOCKOUT_INTERVAL:
			da->interval = p->value;
			break;
		default:
			break;
		}
	}
	Esys_Free(cap);
	return 0;
}
