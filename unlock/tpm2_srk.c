/* The persistent SRK (systemd >= 254's parent, design note §3.5): read it
 * at 0x81000001, create and persist it there when missing, serialize it
 * for the token's tpm2_srk, and say why a token no longer loads under it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "tpm2_int.h"

/* a format-one TPM response code (handle, parameter or session error) */
static bool rc_fmt1(TSS2_RC rc, TSS2_RC code)
{
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
	       (rc & 0xBF) == code;
}

/* TPM_RC_HANDLE: nothing is persisted at h */
static bool missing(TSS2_RC rc)
{
	return rc_fmt1(rc, TPM2_RC_HANDLE);
}

/* ReadPublic under the hood: with a persistent SRK, the first command of
 * an enroll run, so it is the one that may meet an unstarted TPM */
static TSS2_RC srk_read(struct tpm2 *t, TPM2_HANDLE h, ESYS_TR *out)
{
	TSS2_RC rc;

	*out = ESYS_TR_NONE;
	do
		rc = Esys_TR_FromTPMPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, out);
	while (tpm2_need_startup(t, rc));
	if (rc != TSS2_RC_SUCCESS)
		*out = ESYS_TR_NONE;
	return rc;
}

/* ECC when the TPM takes the ECC template's parameters, else RSA: what
 * systemd's tpm2_get_best_srk_template picks */
static enum token_alg srk_alg(struct tpm2 *t)
{
	TPMT_PUBLIC_PARMS parms = { .type = TPM2_ALG_ECC };
	TPM2B_PUBLIC tmpl;

	primary_template(TOKEN_ALG_ECC, true, &tmpl);
	parms.parameters.eccDetail = tmpl.publicArea.parameters.eccDetail;
	return Esys_TestParms(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &parms) ==
			       TSS2_RC_SUCCESS
		       ? TOKEN_ALG_ECC
		       : TOKEN_ALG_RSA;
}

/* CreatePrimary with the SRK template, EvictControl to 0x81000001. */
static int srk_create(struct op *o)
{
	struct tpm2 *t = o->t;
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	TPM2B_PUBLIC tmpl;
	ESYS_TR transient = ESYS_TR_NONE, persistent = ESYS_TR_NONE;
	TSS2_RC rc;
	int r = 0;

	primary_template(srk_alg(t), true, &tmpl);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &tmpl, &outside, &none, &transient, NULL, NULL,
				NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "CreatePrimary (SRK)", rc);
	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, transient, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, TPM2_SRK_HANDLE, &persistent);
	/* NV_DEFINED: another enroll (or systemd-tpm2-setup) persisted one
	 * since we looked; we use whatever is there, as systemd does */
	if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_NV_DEFINED)
		r = tpm_fail(o, "EvictControl (SRK)", rc);
	if (persistent != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &persistent);	/* read back below, as the TPM reports it */
	op_flush(t->esys, &transient);
	return r;
}

/* A key at 0x81000001 that another tool put there is used as it is, as
 * systemd does, but only if it can be a parent at all, and only if it was
 * born in this TPM: fixedTPM, which an imported key cannot have. One whose
 * private part lives outside would open the session's salt and every
 * blob sealed under it. */
static int storage_key(struct op *o, enum token_alg *alg)
{
	TPM2B_PUBLIC *pub = NULL;
	TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM;
	TSS2_RC rc = Esys_ReadPublic(o->t->esys, o->parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				     &pub, NULL, NULL);
	int r = 0;

	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "ReadPublic (SRK)", rc);
	if ((pub->publicArea.type != TPM2_ALG_ECC && pub->publicArea.type != TPM2_ALG_RSA) ||
	    (pub->publicArea.objectAttributes & need) != need) {
		snprintf(o->why, o->whylen, "the key at 0x%08x is not a storage key made in this TPM "
					    "(restricted, decrypt, fixedTPM; ECC or RSA): it cannot be "
					    "the SRK",
			 TPM2_SRK_HANDLE);
		r = -EINVAL;
	} else {
		*alg = pub->publicArea.type == TPM2_ALG_RSA ? TOKEN_ALG_RSA : TOKEN_ALG_ECC;
	}
	Esys_Free(pub);
	return r;
}

int srk_get(struct op *o, enum token_alg *alg, bool *created)
{
	TSS2_RC rc = srk_read(o->t, TPM2_SRK_HANDLE, &o->parent);
	int r;

	*created = false;
	if (missing(rc)) {
		r = srk_create(o);
		if (r < 0)
			return r;
		*created = true;
		rc = srk_read(o->t, TPM2_SRK_HANDLE, &o->parent);
	}
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "reading the SRK", rc);
	o->parent_is_srk = true;	/* op_release closes it, never flushes */
	return storage_key(o, alg);
}

int srk_serialize(struct op *o, unsigned char **buf, size_t *len)
{
	uint8_t *s = NULL;
	size_t n = 0;
	TSS2_RC rc = Esys_TR_Serialize(o->t->esys, o->parent, &s, &n);

	*buf = NULL;
	*len = 0;
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "serializing the SRK", rc);
	/* a copy: the token owns it and frees it with free() */
	*buf = malloc(n);
	if (*buf) {
		memcpy(*buf, s, n);
		*len = n;
	}
	Esys_Free(s);
	return *buf ? 0 : -ENOMEM;
}

/* Only after a failure, so an unseal that works costs no command more:
 * is the key at the token's handle still the one the token names? */
int srk_explain(struct op *o, const char *step, TSS2_RC rc)
{
	TPM2B_NAME *want = NULL, *have = NULL;
	ESYS_TR now = ESYS_TR_NONE;
	TPM2_HANDLE h = 0;
	TSS2_RC rc2;
	int r = -EIO;

	if (Esys_TR_GetTpmHandle(o->t->esys, o->parent, &h) != TSS2_RC_SUCCESS ||
	    Esys_TR_GetName(o->t->esys, o->parent, &want) != TSS2_RC_SUCCESS) {
		r = tpm_fail(o, step, rc);
		goto out;
	}
	/* ESYS refuses a second ESYS_TR for a TPM handle it holds one of */
	Esys_TR_Close(o->t->esys, &o->parent);
	rc2 = srk_read(o->t, h, &now);
	if (missing(rc2))
		snprintf(o->why, o->whylen, "no key at 0x%08x, the SRK this token was sealed under "
					    "(TPM cleared or key removed): open with the recovery key, "
					    "then kcrypt reseal", h);
	else if (rc2 == TSS2_RC_SUCCESS && Esys_TR_GetName(o->t->esys, now, &have) == TSS2_RC_SUCCESS &&
		 (have->size != want->size || memcmp(have->name, want->name, want->size)))
		snprintf(o->why, o->whylen, "the key at 0x%08x is not the SRK this token was sealed "
					    "under (TPM cleared or key replaced): open with the "
					    "recovery key, then kcrypt reseal", h);
	else
		r = tpm_fail(o, step, rc);
out:
	if (now != ESYS_TR_NONE)
		Esys_TR_Close(o->t->esys, &now);
	Esys_Free(want);
	Esys_Free(have);
	return r;
}
