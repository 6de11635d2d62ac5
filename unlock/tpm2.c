/* TPM context, parents and loading of sealed objects. */
#include "tcti.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_rc.h>

#include "pcrsig.h"
#include "policy.h"
#include "tpm2_int.h"

int tpm2_open(const char *spec, const struct logger *log, struct tpm2 **out, char *why,
	      size_t whylen)
{
	struct tpm2 *t = calloc(1, sizeof(*t));
	TSS2_RC rc;
	int r;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->log = log;
	t->nbanks = -1;
	t->primary[0] = t->primary[1] = ESYS_TR_NONE;
	t->hmac = t->policy = ESYS_TR_NONE;
	r = tcti_from_spec(spec, &t->tcti, why, whylen);
	if (r < 0)
		goto fail;
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(why, whylen, "no TPM: %s", Tss2_RC_Decode(rc));
		r = -ENODEV;
		goto fail;
	}
	*out = t;
	return 0;
fail:
	tpm2_close(t);
	return r;
}

/* Firmware starts the TPM before the OS runs; a bare simulator may not have
 * been. Startup only when a command says so, not one command every run.
 * True (once a run): Startup sent, send the command again. */
bool tpm2_need_startup(struct tpm2 *t, TSS2_RC rc)
{
	if (rc != TPM2_RC_INITIALIZE || t->started)
		return false;
	t->started = true;
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS)
		log_debug(t->log, "tpm2: Startup: %s", Tss2_RC_Decode(rc));
	return true;
}

/* ESYS decrypts a response in place, in the buffer of its SAPI context, and
 * frees that buffer unwiped at Esys_Finalize: an Unseal's plaintext would
 * outlive us in the heap. Wiped where it lies, right after each Unseal. */
void tpm2_wipe_response(struct tpm2 *t)
{
	TSS2_SYS_CONTEXT *sys = NULL;
	const uint8_t *rp = NULL;
	size_t n = 0;

	if (Esys_GetSysContext(t->esys, &sys) == TSS2_RC_SUCCESS && sys &&
	    Tss2_Sys_GetRpBuffer(sys, &n, &rp) == TSS2_RC_SUCCESS && rp)
		explicit_bzero((uint8_t *)rp, n);
}

void tpm2_close(struct tpm2 *t)
{
	if (!t)
		return;
	if (t->esys) {
		op_flush(t->esys, &t->policy);
		op_flush(t->esys, &t->hmac);
	}
	for (int i = 0; i < 2; i++)
		if (t->primary[i] != ESYS_TR_NONE)
			Esys_FlushContext(t->esys, t->primary[i]);
	if (t->esys)
		Esys_Finalize(&t->esys);
	if (t->tcti) {
		Tss2_Tcti_Finalize(t->tcti);
		free(t->tcti);
	}
	free(t);
}

/* The owner-hierarchy storage key template both parents share (design
 * note §3.4, §3.5): the legacy primary systemd <= 253 recreates for every
 * unseal, and with noDA the SRK of the TCG provisioning guidance (EK
 * credential profile L-2 for ECC, L-1 for RSA) that systemd >= 254
 * persists. Empty unique: the same seed and template give the same key. */
void primary_template(enum token_alg alg, bool noda, TPM2B_PUBLIC *tmpl)
{
	TPMT_PUBLIC *p = &tmpl->publicArea;
	const TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
					  .mode.aes = TPM2_ALG_CFB };

	memset(tmpl, 0, sizeof(*tmpl));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
			      TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH | (noda ? TPMA_OBJECT_NODA : 0);
	if (alg == TOKEN_ALG_ECC) {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric = aes;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	} else {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric = aes;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
	}
}

/* The parent systemd <= 253 recreates for every unseal (design note §3.4). */
TSS2_RC legacy_primary(struct tpm2 *t, enum token_alg alg, ESYS_TR *out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	TPM2B_PUBLIC tmpl;
	TSS2_RC rc;

	if (t->primary[alg] != ESYS_TR_NONE) {
		*out = t->primary[alg];
		return TSS2_RC_SUCCESS;
	}
	primary_template(alg, false, &tmpl);
	do
		rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					ESYS_TR_NONE, &sens, &tmpl, &outside, &none, out, NULL, NULL,
					NULL, NULL);
	while (tpm2_need_startup(t, rc));
	if (rc == TSS2_RC_SUCCESS)
		t->primary[alg] = *out;
	return rc;
}

void op_flush(ESYS_CONTEXT *esys, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE)
		Esys_FlushContext(esys, *h);
	*h = ESYS_TR_NONE;
}

void op_release(struct op *o)
{
	op_flush(o->t->esys, &o->ext);
	op_flush(o->t->esys, &o->hmac);
	op_flush(o->t->esys, &o->object);
	if (o->parent_is_srk && o->parent != ESYS_TR_NONE)
		Esys_TR_Close(o->t->esys, &o->parent);	/* persistent: forget, never flush */
	o->parent = ESYS_TR_NONE;
}

uint32_t tpm_property(struct tpm2 *t, TPM2_PT prop)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	uint32_t v = 0;

	if (Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_TPM_PROPERTIES, prop, 1, NULL, &cap) == TSS2_RC_SUCCESS &&
	    cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == prop)
		v = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	return v;
}

/* Map a TPM error to -errno and one line. */
int tpm_fail(struct op *o, const char *step, TSS2_RC rc)
{
	bool tpm = (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
	/* format-one codes carry handle/session numbers in the upper bits */
	bool fmt1 = tpm && (rc & TPM2_RC_FMT1);

	if (tpm && !fmt1 && (rc & 0xFFF) == TPM2_RC_LOCKOUT) {
		snprintf(o->why, o->whylen, "TPM is in dictionary-attack lockout (%s refused)", step);
		return -ENOLCK;
	}
	if (fmt1 && ((rc & 0xBF) == TPM2_RC_AUTH_FAIL || (rc & 0xBF) == TPM2_RC_BAD_AUTH)) {
		snprintf(o->why, o->whylen, "wrong PIN (TPM lockout counter %u of %u)",
			 tpm_property(o->t, TPM2_PT_LOCKOUT_COUNTER),
			 tpm_property(o->t, TPM2_PT_MAX_AUTH_FAIL));
		return -EACCES;
	}
	snprintf(o->why, o->whylen, "TPM %s failed: %s", step, Tss2_RC_Decode(rc));
	return -EIO;
}

int get_parent(struct op *o, const struct token_tpm2 *tok)
{
	TSS2_RC rc;

	if (tok->srk) {
		rc = Esys_TR_Deserialize(o->t->esys, tok->srk, tok->srk_len, &o->parent);
		if (rc != TSS2_RC_SUCCESS) {
			snprintf(o->why, o->whylen, "token malformed: tpm2_srk does not deserialize");
			return -EBADMSG;
		}
		o->parent_is_srk = true;
		return 0;
	}
	rc = legacy_primary(o->t, tok->primary_alg, &o->parent);
	return rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "CreatePrimary", rc);
}

int load_shard(struct op *o, const struct token_blob *b)
{
	TPM2B_PRIVATE priv = { 0 }, imported_priv = { 0 };
	TPM2B_PUBLIC pub = { 0 };
	TPM2B_ENCRYPTED_SECRET seed = { 0 };
	size_t off = 0;
	TSS2_RC rc;

	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(b->data, b->len, &off, &priv) ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(b->data, b->len, &off, &pub)) {
		snprintf(o->why, o->whylen, "token malformed: tpm2-blob is not a TPM2B_PRIVATE + TPM2B_PUBLIC");
		return -EBADMSG;
	}
	if (pub.publicArea.type != TPM2_ALG_KEYEDHASH) {
		snprintf(o->why, o->whylen, "token malformed: tpm2-blob does not hold a sealed object");
		return -EBADMSG;
	}
	if (off < b->len) {
		/* sealed offline against the SRK public key (systemd 255+): import first */
		TPM2B_DATA nokey = { 0 };
		TPMT_SYM_DEF_OBJECT nullsym = { .algorithm = TPM2_ALG_NULL };
		TPM2B_PRIVATE *out = NULL;

		if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(b->data, b->len, &off, &seed) ||
		    off != b->len) {
			snprintf(o->why, o->whylen, "token malformed: trailing bytes in tpm2-blob");
			return -EBADMSG;
		}
		rc = Esys_Import(o->t->esys, o->parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				 &nokey, &pub, &priv, &seed, &nullsym, &out);
		if (rc != TSS2_RC_SUCCESS)
			return o->parent_is_srk ? srk_explain(o, "Import", rc) : tpm_fail(o, "Import", rc);
		imported_priv = *out;
		Esys_Free(out);
		priv = imported_priv;
	}
	do	/* with a persistent SRK, the first command of a run */
		rc = Esys_Load(o->t->esys, o->parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       &priv, &pub, &o->object);
	while (tpm2_need_startup(o->t, rc));
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	return o->parent_is_srk ? srk_explain(o, "Load", rc) : tpm_fail(o, "Load", rc);
}

const TPMT_SYM_DEF tpm2_session_sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
					  .mode.aes = TPM2_ALG_CFB };

/* One HMAC session for the whole run, salted with the first parent (a TPM
 * key: the salt, and so the session key, never crosses the bus in the
 * clear) and bound to nothing, so that every volume can use it: it
 * encrypts the policy session's nonce and each unsealed secret on the bus.
 * Not an authorization session, so its key is the salted session key alone;
 * a PIN still goes into the policy session's HMAC (PolicyAuthValue). */
int start_hmac(struct op *o, const struct tpm2_unseal_in *in)
{
	TSS2_RC rc;

	if (in->tok->pin) {
		TPM2B_AUTH auth = { 0 };
		int n = policy_pin_auth(in->pin->buf, in->pin->len,
					in->tok->has_salt ? in->tok->salt : NULL, auth.buffer);
		if (n < 0)
			return -EIO;
		auth.size = (UINT16)n;
		rc = Esys_TR_SetAuth(o->t->esys, o->object, &auth);
		explicit_bzero(&auth, sizeof(auth));
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(o, "SetAuth", rc);
	}
	if (o->t->hmac != ESYS_TR_NONE)
		return 0;
	rc = Esys_StartAuthSession(o->t->esys, o->parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &tpm2_session_sym, TPM2_ALG_SHA256,
				   &o->t->hmac);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "StartAuthSession (HMAC)", rc);
	rc = Esys_TRSess_SetAttributes(o->t->esys, o->t->hmac,
				       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
					       TPMA_SESSION_CONTINUESESSION, 0xff);
	return rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "session attributes", rc);
}

TPML_PCR_SELECTION selection(uint16_t bank, uint32_t mask)
{
	TPML_PCR_SELECTION s = { .count = 1 };

	s.pcrSelections[0].hash = bank;
	s.pcrSelections[0].sizeofSelect = 3;
	for (int i = 0; i < 24; i++)
		if (mask & (1u << i))
			s.pcrSelections[0].pcrSelect[i / 8] |= (BYTE)(1u << (i % 8));
	return s;
}


int tpm2_token_loads(struct tpm2 *t, const struct token_tpm2 *tok, char *why, size_t whylen)
{
	struct op o = { .t = t, .parent = ESYS_TR_NONE, .object = ESYS_TR_NONE, .hmac = ESYS_TR_NONE,
			.ext = ESYS_TR_NONE, .why = why, .whylen = whylen };
	int r = get_parent(&o, tok);

	for (size_t i = 0; r == 0 && i < tok->nshards; i++) {
		r = load_shard(&o, &tok->shard[i]);
		op_flush(t->esys, &o.object);
	}
	op_release(&o);
	/* a blob made under another TPM's seed fails its integrity check */
	return r == -EIO ? -ENOENT : r;
}
