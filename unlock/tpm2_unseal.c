/* Unseal: policy sessions, signed PCR policies, the secret. */
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

static int policy_digest(struct op *o, TPM2B_DIGEST **d)
{
	TSS2_RC rc = Esys_PolicyGetDigest(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE,
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
	v->bank = bank;
	v->mask = tok->pubkey_pcr_mask;
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

	rc = Esys_PolicyPCR(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
			    &sel);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(o, "PolicyPCR", rc);
	/* same key, bank and PCRs as a volume before: its approved digest and
	 * ticket, no PolicyGetDigest; the TPM refuses if the PCRs moved since */
	if (v->valid && v->bank == bank && v->mask == in->tok->pubkey_pcr_mask &&
	    v->exponent == exponent && !memcmp(v->pkfp, key->pkfp, 32)) {
		rc = Esys_PolicyAuthorize(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, &v->approved, &noref, &v->name, &v->ticket);
		if (rc == TSS2_RC_SUCCESS) {
			log_debug(o->t->log, "tpm2: PCR signature already verified in this run");
			return 0;
		}
		log_debug(o->t->log, "tpm2: cached PCR approval refused, verifying again");
	}
	r = policy_digest(o, &approved);
	if (r < 0)
		return r;
	if (!verified_for(o->t, key, exponent, approved))
		r = verify_signature(o, in, bank, key, exponent, approved);
	else
		log_debug(o->t->log, "tpm2: PCR signature already verified in this run");
	if (r == 0) {
		rc = Esys_PolicyAuthorize(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE,
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

	if (o->t->policy != ESYS_TR_NONE) {
		rc = Esys_PolicyRestart(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE,
					ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS)
			op_flush(o->t->esys, &o->t->policy);	/* start a new one */
	}
	if (o->t->policy == ESYS_TR_NONE) {
		rc = Esys_StartAuthSession(o->t->esys, o->parent, ESYS_TR_NONE, o->t->hmac,
					   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY,
					   &tpm2_session_sym, TPM2_ALG_SHA256, &o->t->policy);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(o, "StartAuthSession (policy)", rc);
	}
	if (tok->pubkey_pcr_mask) {
		r = signed_policy(o, in, bank, key, exponent);
		if (r < 0)
			return r;
	}
	if (tok->pcr_mask) {
		TPML_PCR_SELECTION sel = selection(bank, tok->pcr_mask);
		TPM2B_DIGEST empty = { 0 };
		rc = Esys_PolicyPCR(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				    &empty, &sel);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(o, "PolicyPCR", rc);
	}
	if (tok->pin) {
		rc = Esys_PolicyAuthValue(o->t->esys, o->t->policy, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(o, "PolicyAuthValue", rc);
	}
	/* PIN-less: Unseal itself says TPM_RC_POLICY_FAIL; a PIN token is
	 * checked first, so that a PCR mismatch never reaches its authValue */
	if (!tok->pin)
		return 0;
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

	unsigned char v[64];
	size_t len = 0;
	char w[8];

	token_mask_str(tok->pcr_mask, m, sizeof(m));
	/* PCR 15 is bound to zero so that nothing after the initrd, which
	 * measures the volume keys into it, can unseal again: say so */
	if ((tok->pcr_mask & (1u << 15)) &&
	    tpm2_pcr_read(o->t, bank, 1u << 15, v, &len, w, sizeof(w)) == 0 && len &&
	    memcmp(v, (const unsigned char[64]){ 0 }, len)) {
		snprintf(o->why, o->whylen, "PCR %s (%s): PCR 15 is no longer zero (the volume keys "
					    "were measured): this token unseals only in the initrd, "
					    "before that", m, token_bank_name(bank));
		return -EPERM;
	}
	if (tok->pcr_mask)
		snprintf(o->why, o->whylen, "PCR %s (%s) do not have the values the key was sealed to", m,
			 token_bank_name(bank));
	else
		snprintf(o->why, o->whylen, "the TPM policy does not match the token's policy hash");
	return -EPERM;
}

static bool policy_failed(TSS2_RC rc)
{
	return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
	       (rc & 0xBF) == TPM2_RC_POLICY_FAIL;
}

/* 0 and *e when key's PolicyAuthorize digest (with e or with 0) is the
 * token's; 1 when neither is */
static int software_exponent(const struct pubkey *key, const unsigned char hash[32], uint32_t *e)
{
	const uint32_t cand[2] = { key->e, 0 };

	for (int i = 0; i < 2; i++) {
		unsigned char name[34], d[32];

		if (policy_key_name(key, cand[i], name) == 0 && policy_authorize(d, name) == 0 &&
		    !memcmp(d, hash, 32)) {
			*e = cand[i];
			return 0;
		}
	}
	return 1;
}

static int unseal_shard(struct op *o, const struct tpm2_unseal_in *in, const struct token_blob *b,
			const struct pubkey *key, struct secret *out)
{
	const struct token_tpm2 *tok = in->tok;
	uint16_t bank = tok->bank ? tok->bank : TPM2_ALG_SHA256;
	TPM2B_SENSITIVE_DATA *data = NULL;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	int r;

	uint32_t e = key ? key->e : 0;
	bool decided = !key;

	r = load_shard(o, b);
	if (r == 0)
		r = start_hmac(o, in);
	if (r == 0 && key && !tok->pcr_mask && !tok->pin) {
		/* signed only: the final digest is PolicyAuthorize's, known here */
		r = software_exponent(key, b->policy_hash, &e);
		if (r == 1)
			return mismatch(o, tok, bank);
		decided = true;
	}
	for (int attempt = 0; r == 0 && attempt < PCR_CHANGED_RETRIES; attempt++) {
		r = run_policy(o, in, b, bank, key, e);
		if (r == 1 && !decided) {
			/* systemd 255.0-255.2 sealed with the exponent encoded as 0 */
			e = 0;
			decided = true;
			r = run_policy(o, in, b, bank, key, 0);
		}
		if (r == 1)
			r = mismatch(o, tok, bank);
		if (r < 0)
			break;
		rc = Esys_Unseal(o->t->esys, o->object, o->t->policy, o->t->hmac, ESYS_TR_NONE, &data);
		tpm2_wipe_response(o->t);
		if (policy_failed(rc) && !decided) {
			e = 0;
			decided = true;
			attempt--;
			continue;
		}
		if (policy_failed(rc)) {
			r = mismatch(o, tok, bank);
			break;
		}
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
			.ext = ESYS_TR_NONE, .why = why, .whylen = whylen };
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

