#include "tpm2.h"
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
#include <tss2/tss2_rc.h>

#include "pcrsig.h"
#include "policy.h"

#define PCR_CHANGED_RETRIES 10

/* A TPM-verified PCR signature: the ticket is not bound to a session, so
 * one VerifySignature serves every volume sealed to the same key and state. */
struct verified {
	bool valid;
	unsigned char pkfp[32];
	uint32_t exponent;
	TPM2B_DIGEST approved;
	TPM2B_NAME name;
	TPMT_TK_VERIFIED ticket;
};

struct tpm2 {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR primary[2];	/* legacy transient parents by enum token_alg */
	struct verified verified;
	uint16_t banks[8];	/* active PCR banks, read once */
	int nbanks;		/* -1 until read */
	const struct logger *log;
};

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
	r = tcti_from_spec(spec, &t->tcti, why, whylen);
	if (r < 0)
		goto fail;
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(why, whylen, "no TPM: %s", Tss2_RC_Decode(rc));
		r = -ENODEV;
		goto fail;
	}
	/* firmware normally did this; a fresh simulator may not have */
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE)
		log_debug(log, "tpm2: Startup: %s", Tss2_RC_Decode(rc));
	*out = t;
	return 0;
fail:
	tpm2_close(t);
	return r;
}

void tpm2_close(struct tpm2 *t)
{
	if (!t)
		return;
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

/* The parent systemd <= 253 recreates for every unseal (design note §3.4). */
static TSS2_RC legacy_primary(struct tpm2 *t, enum token_alg alg, ESYS_TR *out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	TPM2B_PUBLIC tmpl = { 0 };
	TPMT_PUBLIC *p = &tmpl.publicArea;
	const TPMT_SYM_DEF_OBJECT aes = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
					  .mode.aes = TPM2_ALG_CFB };
	TSS2_RC rc;

	if (t->primary[alg] != ESYS_TR_NONE) {
		*out = t->primary[alg];
		return TSS2_RC_SUCCESS;
	}
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
			      TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH;
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
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &tmpl, &outside, &none, out, NULL, NULL, NULL,
				NULL);
	if (rc == TSS2_RC_SUCCESS)
		t->primary[alg] = *out;
	return rc;
}

/* Everything one unseal holds; released on every path. */
struct op {
	struct tpm2 *t;
	ESYS_TR parent, object, hmac, policy, ext;
	bool parent_is_srk;
	char *why;
	size_t whylen;
};

static void op_flush(ESYS_CONTEXT *esys, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE)
		Esys_FlushContext(esys, *h);
	*h = ESYS_TR_NONE;
}

static void op_release(struct op *o)
{
	op_flush(o->t->esys, &o->ext);
	op_flush(o->t->esys, &o->policy);
	op_flush(o->t->esys, &o->hmac);
	op_flush(o->t->esys, &o->object);
	if (o->parent_is_srk && o->parent != ESYS_TR_NONE)
		Esys_TR_Close(o->t->esys, &o->parent);	/* persistent: forget, never flush */
	o->parent = ESYS_TR_NONE;
}

static uint32_t tpm_property(struct tpm2 *t, TPM2_PT prop)
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
static int tpm_fail(struct op *o, const char *step, TSS2_RC rc)
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

static int get_parent(struct op *o, const struct token_tpm2 *tok)
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

static int load_shard(struct op *o, const struct token_blob *b)
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
			return tpm_fail(o, "Import", rc);
		imported_priv = *out;
		Esys_Free(out);
		priv = imported_priv;
	}
	rc = Esys_Load(o->t->esys, o->parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv,
		       &pub, &o->object);
	return rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "Load", rc);
}

static const TPMT_SYM_DEF session_sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
					  .mode.aes = TPM2_ALG_CFB };

/* HMAC session salted with the parent and bound to the sealed object: it
 * encrypts the policy session's nonce and the unsealed secret on the bus. */
static int start_hmac(struct op *o, const struct tpm2_unseal_in *in)
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
	rc = Esys_StartAuthSession(o->t->esys, o->parent, o->object, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &session_sym, TPM2_ALG_SHA256,
				   &o->hmac);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "StartAuthSession (HMAC)", rc);
	rc = Esys_TRSess_SetAttributes(o->t->esys, o->hmac,
				       TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT |
					       TPMA_SESSION_CONTINUESESSION, 0xff);
	return rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "session attributes", rc);
}

static TPML_PCR_SELECTION selection(uint16_t bank, uint32_t mask)
{
	TPML_PCR_SELECTION s = { .count = 1 };

	s.pcrSelections[0].hash = bank;
	s.pcrSelections[0].sizeofSelect = 3;
	for (int i = 0; i < 24; i++)
		if (mask & (1u << i))
			s.pcrSelections[0].pcrSelect[i / 8] |= (BYTE)(1u << (i % 8));
	return s;
}

static int policy_digest(struct op *o, TPM2B_DIGEST **d)
{
	TSS2_RC rc = Esys_PolicyGetDigest(o->t->esys, o->policy, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, d);
	return rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "PolicyGetDigest", rc);
}

static bool verified_for(const struct tpm2 *t, const struct pubkey *key, uint32_t exponent,
			 const TPM2B_DIGEST *approved)
{
	const struct verified *v = &t->verified;

	return v->valid && v->exponent == exponent && !memcmp(v->pkfp, key->pkfp, 32) &&
	       v->approved.size == approved->size &&
	       !memcmp(v->approved.buffer, approved->buffer, approved->size);
}

/* Find the vendor's signature for approved and have the TPM verify it;
 * the ticket and key name land in t->verified. */
static int verify_signature(struct op *o, const struct tpm2_unseal_in *in, uint16_t bank,
			    const struct pubkey *key, uint32_t exponent, const TPM2B_DIGEST *approved)
{
	const struct token_tpm2 *tok = in->tok;
	struct verified *v = &o->t->verified;
	TPM2B_DIGEST signed_digest = { .size = 32 };
	TPM2B_PUBLIC ext = { 0 };
	TPM2B_NAME *name = NULL;
	TPMT_TK_VERIFIED *ticket = NULL;
	TPMT_SIGNATURE sig = { .sigAlg = TPM2_ALG_RSASSA };
	struct pcrsig_match m;
	unsigned int mdlen = 0;
	char masks[64];
	TSS2_RC rc;
	int r;

	v->valid = false;
	token_mask_str(tok->pubkey_pcr_mask, masks, sizeof(masks));
	if (!in->sigjson) {
		snprintf(o->why, o->whylen, "no PCR signature file found (signed PCR %s policy)", masks);
		return -ENOENT;
	}
	r = pcrsig_find(in->sigjson, token_bank_name(bank), tok->pubkey_pcr_mask, key->pkfp,
			approved->buffer, &m, o->why, o->whylen);
	if (r == -ENOENT)
		snprintf(o->why, o->whylen, "no signature matches the current PCR %s", masks);
	if (r == -ENOKEY)
		r = -ENOENT;	/* message from pcrsig: signed by somebody else */
	if (r < 0)
		return r;

	ext.publicArea.type = TPM2_ALG_RSA;
	ext.publicArea.nameAlg = TPM2_ALG_SHA256;
	ext.publicArea.objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_SIGN_ENCRYPT |
					  TPMA_OBJECT_USERWITHAUTH;
	ext.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	ext.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	ext.publicArea.parameters.rsaDetail.keyBits = (UINT16)(key->nlen * 8);
	ext.publicArea.parameters.rsaDetail.exponent = exponent;
	ext.publicArea.unique.rsa.size = (UINT16)key->nlen;
	memcpy(ext.publicArea.unique.rsa.buffer, key->n, key->nlen);
	rc = Esys_LoadExternal(o->t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, &ext,
			       ESYS_TR_RH_OWNER, &o->ext);
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(o, "LoadExternal (PCR public key)", rc);
		goto out;
	}
	EVP_Digest(approved->buffer, approved->size, signed_digest.buffer, &mdlen, EVP_sha256(), NULL);
	sig.signature.rsassa.hash = TPM2_ALG_SHA256;
	sig.signature.rsassa.sig.size = (UINT16)m.siglen;
	memcpy(sig.signature.rsassa.sig.buffer, m.sig, m.siglen);
	rc = Esys_VerifySignature(o->t->esys, o->ext, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &signed_digest, &sig, &ticket);
	if (rc != TSS2_RC_SUCCESS) {
		/* only TPM_RC_SIGNATURE says the signature is bad; the rest is the TPM */
		if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
		    (rc & 0xBF) == TPM2_RC_SIGNATURE) {
			snprintf(o->why, o->whylen,
				 "the PCR signature does not verify with the token's public key");
			r = -ENOENT;
		} else {
			r = tpm_fail(o, "VerifySignature", rc);
		}
		goto out;
	}
	rc = Esys_TR_GetName(o->t->esys, o->ext, &name);
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_fail(o, "reading the key name", rc);
		goto out;
	}
	memcpy(v->pkfp, key->pkfp, 32);
	v->exponent = exponent;
	v->approved = *approved;
	v->name = *name;
	v->ticket = *ticket;
	v->valid = true;
out:
	op_flush(o->t->esys, &o->ext);
	Esys_Free(name);
	Esys_Free(ticket);
	return r;
}

/* PolicyPCR over the signed PCRs, then PolicyAuthorize with the vendor's
 * signature for the resulting digest (verified once per run and state). */
static int signed_policy(struct op *o, const struct tpm2_unseal_in *in, uint16_t bank,
			 const struct pubkey *key, uint32_t exponent)
{
	TPML_PCR_SELECTION sel = selection(bank, in->tok->pubkey_pcr_mask);
	TPM2B_DIGEST empty = { 0 }, *approved = NULL;
	TPM2B_NONCE noref = { 0 };
	struct verified *v = &o->t->verified;
	TSS2_RC rc;
	int r;

	rc = Esys_PolicyPCR(o->t->esys, o->policy, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
			    &sel);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "PolicyPCR", rc);
	r = policy_digest(o, &approved);
	if (r < 0)
		return r;
	if (!verified_for(o->t, key, exponent, approved))
		r = verify_signature(o, in, bank, key, exponent, approved);
	else
		log_debug(o->t->log, "tpm2: PCR signature already verified in this run");
	if (r == 0) {
		rc = Esys_PolicyAuthorize(o->t->esys, o->policy, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, approved, &noref, &v->name, &v->ticket);
		r = rc == TSS2_RC_SUCCESS ? 0 : tpm_fail(o, "PolicyAuthorize", rc);
	}
	Esys_Free(approved);
	return r;
}

/* Build the policy session's digest; 1 when it does not match the token. */
static int run_policy(struct op *o, const struct tpm2_unseal_in *in, const struct token_blob *b,
		      uint16_t bank, const struct pubkey *key, uint32_t exponent)
{
	const struct token_tpm2 *tok = in->tok;
	TPM2B_DIGEST *d = NULL;
	TSS2_RC rc;
	int r;

	rc = Esys_StartAuthSession(o->t->esys, o->parent, ESYS_TR_NONE, o->hmac, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &session_sym, TPM2_ALG_SHA256,
				   &o->policy);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "StartAuthSession (policy)", rc);
	if (tok->pubkey_pcr_mask) {
		r = signed_policy(o, in, bank, key, exponent);
		if (r < 0)
			return r;
	}
	if (tok->pcr_mask) {
		TPML_PCR_SELECTION sel = selection(bank, tok->pcr_mask);
		TPM2B_DIGEST empty = { 0 };
		rc = Esys_PolicyPCR(o->t->esys, o->policy, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    &empty, &sel);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(o, "PolicyPCR", rc);
	}
	if (tok->pin) {
		rc = Esys_PolicyAuthValue(o->t->esys, o->policy, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(o, "PolicyAuthValue", rc);
	}
	r = policy_digest(o, &d);
	if (r < 0)
		return r;
	r = d->size == 32 && memcmp(d->buffer, b->policy_hash, 32) == 0 ? 0 : 1;
	Esys_Free(d);
	return r;
}

static int mismatch(struct op *o, const struct token_tpm2 *tok, uint16_t bank)
{
	char m[64];

	token_mask_str(tok->pcr_mask, m, sizeof(m));
	if (tok->pcr_mask)
		snprintf(o->why, o->whylen, "PCR %s (%s) do not have the values the key was sealed to", m,
			 token_bank_name(bank));
	else
		snprintf(o->why, o->whylen, "the TPM policy does not match the token's policy hash");
	return -EPERM;
}

static int unseal_shard(struct op *o, const struct tpm2_unseal_in *in, const struct token_blob *b,
			const struct pubkey *key, struct secret *out)
{
	const struct token_tpm2 *tok = in->tok;
	uint16_t bank = tok->bank ? tok->bank : TPM2_ALG_SHA256;
	TPM2B_SENSITIVE_DATA *data = NULL;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	int r;

	r = load_shard(o, b);
	if (r == 0)
		r = start_hmac(o, in);
	for (int attempt = 0; r == 0 && attempt < PCR_CHANGED_RETRIES; attempt++) {
		r = run_policy(o, in, b, bank, key, key ? key->e : 0);
		if (r == 1 && key) {
			/* systemd 255.0-255.2 sealed with the exponent encoded as 0 */
			op_flush(o->t->esys, &o->policy);
			r = run_policy(o, in, b, bank, key, 0);
		}
		if (r == 1)
			r = mismatch(o, tok, bank);
		if (r < 0)
			break;
		rc = Esys_Unseal(o->t->esys, o->object, o->policy, o->hmac, ESYS_TR_NONE, &data);
		/* ESYS starts sessions with continueSession: end it ourselves */
		op_flush(o->t->esys, &o->policy);
		if ((rc & 0xFFF) != TPM2_RC_PCR_CHANGED)
			break;
		log_debug(o->t->log, "tpm2: PCRs changed during unseal, retrying");
	}
	if (r < 0)
		return r;
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "Unseal", rc);
	if (out->len + data->size > out->cap) {
		r = -EBADMSG;
		snprintf(o->why, o->whylen, "token malformed: unsealed secret too large");
	} else {
		memcpy(out->buf + out->len, data->buffer, data->size);
		out->len += data->size;
	}
	explicit_bzero(data, sizeof(*data));
	Esys_Free(data);
	return r;
}

int tpm2_unseal(struct tpm2 *t, const struct tpm2_unseal_in *in, struct secret **out, char *why,
		size_t whylen)
{
	struct op o = { .t = t, .parent = ESYS_TR_NONE, .object = ESYS_TR_NONE, .hmac = ESYS_TR_NONE,
			.policy = ESYS_TR_NONE, .ext = ESYS_TR_NONE, .why = why, .whylen = whylen };
	struct pubkey key, *keyp = NULL;
	struct secret *s = NULL;
	int r = 0;

	*out = NULL;
	if (in->tok->pcrlock) {
		snprintf(why, whylen, "pcrlock policies (systemd 255+) are not supported");
		return -EOPNOTSUPP;
	}
	if (in->tok->pin && !in->pin) {
		snprintf(why, whylen, "the token needs a PIN (give --tpm2-pin-file)");
		return -ENOKEY;
	}
	if (in->tok->pubkey_pcr_mask) {
		r = policy_pubkey_from_pem(in->tok->pubkey_pem, &key, why, whylen);
		if (r < 0)
			return -EINVAL;
		keyp = &key;
	}
	s = secret_new(sizeof(((TPM2B_SENSITIVE_DATA *)0)->buffer) * TOKEN_MAX_SHARDS);
	if (!s)
		return -ENOMEM;
	r = get_parent(&o, in->tok);
	for (size_t i = 0; r == 0 && i < in->tok->nshards; i++) {
		r = unseal_shard(&o, in, &in->tok->shard[i], keyp, s);
		op_flush(t->esys, &o.policy);
		op_flush(t->esys, &o.hmac);
		op_flush(t->esys, &o.object);
	}
	op_release(&o);
	if (r < 0) {
		secret_free(s);
		return r;
	}
	*out = s;
	return 0;
}

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
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter,
				   &selout, &values);
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
		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_PCRS, 0, 1, NULL, &cap);
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
	rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + (ESYS_TR)pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			     ESYS_TR_NONE, &v);
	if (rc != TSS2_RC_SUCCESS) {
		snprintf(why, whylen, "cannot extend PCR %d: %s", pcr, Tss2_RC_Decode(rc));
		return -EIO;
	}
	return 0;
}

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

int tpm2_seal(struct tpm2 *t, const unsigned char policy[32], const unsigned char *auth,
	      size_t authlen, const struct secret *secret, struct tpm2_seal_out *out, char *why,
	      size_t whylen)
{
	struct op o = { .t = t, .parent = ESYS_TR_NONE, .object = ESYS_TR_NONE, .hmac = ESYS_TR_NONE,
			.policy = ESYS_TR_NONE, .ext = ESYS_TR_NONE, .why = why, .whylen = whylen };
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
	/* ECC as systemd prefers; RSA where the TPM has no ECC (as 252 falls back) */
	out->alg = TOKEN_ALG_ECC;
	rc = legacy_primary(t, TOKEN_ALG_ECC, &o.parent);
	if (rc != TSS2_RC_SUCCESS) {
		out->alg = TOKEN_ALG_RSA;
		rc = legacy_primary(t, TOKEN_ALG_RSA, &o.parent);
	}
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(&o, "CreatePrimary", rc);

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

	/* the secret and the PIN digest travel encrypted to the TPM */
	rc = Esys_StartAuthSession(t->esys, o.parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &session_sym, TPM2_ALG_SHA256,
				   &o.hmac);
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
	Esys_Free(priv);
	Esys_Free(pub);
	o.parent = ESYS_TR_NONE;	/* cached in t, flushed at close */
	op_release(&o);
	return r;
}
