/* Seal a secret under the legacy primary or the SRK (enroll, encrypt). */
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

static int marshal_blob(const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
			struct tpm2_seal_out *out)
{
	size_t cap = sizeof(*priv) + sizeof(*pub), off = 0;
	unsigned char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	if (Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, cap, &off) ||
	    Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, cap, &off)) {
		free(buf);
		return -EIO;
	}
	out->blob = buf;
	out->len = off;
	return 0;
}

void tpm2_seal_out_free(struct tpm2_seal_out *out)
{
	free(out->blob);
	free(out->srk);
	memset(out, 0, sizeof(*out));
}

/* o->parent: the legacy primary (cached in t, flushed at close) or the SRK */
static int seal_parent(struct op *o, bool srk, struct tpm2_seal_out *out)
{
	TSS2_RC rc;

	if (srk)
		return srk_get(o, &out->alg, &out->srk_created);
	/* ECC as systemd prefers; RSA where the TPM has no ECC (as 252 falls back) */
	out->alg = TOKEN_ALG_ECC;
	rc = legacy_primary(o->t, TOKEN_ALG_ECC, &o->parent);
	if (rc != TSS2_RC_SUCCESS) {
		out->alg = TOKEN_ALG_RSA;
		rc = legacy_primary(o->t, TOKEN_ALG_RSA, &o->parent);
	}
	return rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "CreatePrimary", rc);
}

int tpm2_seal(struct tpm2 *t, const unsigned char policy[32], const unsigned char *auth,
	      size_t authlen, const struct secret *secret, bool srk, struct tpm2_seal_out *out,
	      char *why, size_t whylen)
{
	struct op o = { .t = t, .parent = ESYS_TR_NONE, .object = ESYS_TR_NONE, .hmac = ESYS_TR_NONE,
			.ext = ESYS_TR_NONE, .why = why, .whylen = whylen };
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC tmpl = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc;
	int r;

	memset(out, 0, sizeof(*out));
	if (secret->len > sizeof(sens.sensitive.data.buffer) || authlen > sizeof(sens.sensitive.userAuth.buffer))
		return -EINVAL;
	r = seal_parent(&o, srk, out);
	if (r < 0)
		goto out;

	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   (authlen ? 0 : TPMA_OBJECT_NODA);
	tmpl.publicArea.authPolicy.size = 32;
	memcpy(tmpl.publicArea.authPolicy.buffer, policy, 32);
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	tmpl.publicArea.unique.keyedHash.size = 32;
	sens.sensitive.data.size = (UINT16)secret->len;
	memcpy(sens.sensitive.data.buffer, secret->buf, secret->len);
	if (authlen) {
		sens.sensitive.userAuth.size = (UINT16)authlen;
		memcpy(sens.sensitive.userAuth.buffer, auth, authlen);
	}

	/* the secret and the PIN digest travel encrypted to the TPM, in a
	 * session salted with the parent: only this TPM's key opens the salt */
	rc = Esys_StartAuthSession(t->esys, o.parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &tpm2_session_sym,
				   TPM2_ALG_SHA256, &o.hmac);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TRSess_SetAttributes(t->esys, o.hmac,
					       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
						       TPMA_SESSION_CONTINUESESSION, 0xff);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Create(t->esys, o.parent, o.hmac, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
				 &outside, &none, &priv, &pub, NULL, NULL, NULL);
	explicit_bzero(&sens, sizeof(sens));
	if (rc != TSS2_RC_SUCCESS)
		r = tpm_fail(&o, "Create", rc);
	else
		r = marshal_blob(priv, pub, out);
	if (r == 0 && srk)
		r = srk_serialize(&o, &out->srk, &out->srk_len);
	Esys_Free(priv);
	Esys_Free(pub);
out:
	if (!o.parent_is_srk)
		o.parent = ESYS_TR_NONE;	/* cached in t, flushed at close */
	op_release(&o);
	if (r < 0)
		tpm2_seal_out_free(out);
	return r;
}

