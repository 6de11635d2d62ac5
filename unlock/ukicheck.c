#include "ukicheck.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "pcrsig.h"
#include "policy.h"

/* PCRs that booting another UKI changes in ways kcrypt does not predict:
 * 4 (the firmware's Authenticode hash of the image), 9 (the kernel's
 * measurement of the initrd it is handed), 12 and 13 (what systemd-stub
 * measures at boot: the command line unless the UKI's own is used,
 * credentials, system extensions). PCR 11 is predicted. */
#define UNPREDICTED ((1u << 4) | (1u << 9) | (1u << 12) | (1u << 13))

/* Where a missing enter-initrd signature is explained: the stub alone and
 * systemd-measure's default phase paths after it. */
static const char *const other_phases[] = {
	"",
	"enter-initrd:leave-initrd",
	"enter-initrd:leave-initrd:sysinit",
	"enter-initrd:leave-initrd:sysinit:ready",
};

const char *ck_verdict_name(enum ck_verdict v)
{
	return v == CK_OPENS ? "opens" : v == CK_UNKNOWN ? "unknown" : "refused";
}

int ck_pcr11(struct ck_uki *c, const char *bank, const char *phase, struct uki_pcr *out)
{
	size_t i;
	int r;

	for (i = 0; i < c->nbase; i++)
		if (!strcmp(c->base[i].bank, bank))
			return uki_pcr11_phase(&c->base[i], phase, out);
	if (c->nbase == CK_MAX_BANKS)
		return -EOPNOTSUPP;
	/* hashing a UKI of tens of MB once per bank, not once per question */
	r = uki_pcr11_sections(c->uki, bank, &c->base[i]);
	if (r < 0)
		return r;
	c->nbase++;
	return uki_pcr11_phase(&c->base[i], phase, out);
}

static uint16_t bank_alg(const struct token_tpm2 *t)
{
	return t->bank ? t->bank : TPM2_ALG_SHA256;
}

/* The mask's PCRs, ascending, as the initrd will see them after booting
 * this UKI: 11 predicted for phase, 15 still zero (kcrypt measures volume
 * keys only after it unsealed), the others as the TPM holds them now. */
static int initrd_values(struct ck_uki *c, const struct token_tpm2 *t, uint32_t mask,
			 const char *phase, unsigned char *out, size_t *len, char *why, size_t whylen)
{
	struct uki_pcr p;
	int r = ck_pcr11(c, token_bank_name(t->bank), phase, &p);

	*len = 0;
	if (r < 0) {
		snprintf(why, whylen, "cannot compute PCR 11 in the %s bank", token_bank_name(t->bank));
		return r;
	}
	for (int i = 0; i < 24; i++) {
		size_t n = p.len;

		if (!(mask & (1u << i)))
			continue;
		if (i == 11) {
			memcpy(out + *len, p.value, p.len);
		} else if (i == 15) {
			memset(out + *len, 0, p.len);
		} else if (!c->read_pcr) {
			snprintf(why, whylen, "PCR %d is read from the TPM, and there is none", i);
			return -ENODEV;
		} else {
			r = c->read_pcr(c->read_ctx, bank_alg(t), i, out + *len, &n, why, whylen);
			if (r < 0)
				return r;
		}
		*len += n;
	}
	return 0;
}

/* The PolicyPCR digest a signature must be for: what PolicyGetDigest
 * returns in the initrd after the signed PCRs' PolicyPCR. */
static int signed_pol(struct ck_uki *c, const struct token_tpm2 *t, const char *phase,
		      unsigned char pol[32], char *why, size_t whylen)
{
	unsigned char v[24 * UKI_DIGEST_MAX];
	size_t len;
	int r = initrd_values(c, t, t->pubkey_pcr_mask, phase, v, &len, why, whylen);

	memset(pol, 0, 32);
	return r < 0 ? r : policy_pcr(pol, bank_alg(t), t->pubkey_pcr_mask, v, len);
}

/* No signature for enter-initrd: say which phases the .pcrsig does sign
 * for this UKI, since a UKI signed with the wrong --phase is the usual case. */
static enum ck_verdict missing_phase(struct ck_uki *c, const struct token_tpm2 *t,
				     const struct pubkey *key, char *why, size_t whylen)
{
	const char *bank = token_bank_name(t->bank);
	char list[160] = "", w[200];
	size_t off = 0;

	for (size_t i = 0; i < sizeof(other_phases) / sizeof(other_phases[0]); i++) {
		const char *ph = other_phases[i];
		struct pcrsig_match m;
		unsigned char pol[32];

		if (signed_pol(c, t, ph, pol, w, sizeof(w)) < 0 ||
		    pcrsig_find(c->pcrsig, bank, t->pubkey_pcr_mask, key->pkfp, pol, &m, w,
				sizeof(w)) < 0 || off >= sizeof(list))
			continue;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "",
					*ph ? ph : "the stub's measurements alone");
	}
	if (list[0])
		snprintf(why, whylen, "no signature by the token's key for phase %s: the .pcrsig signs "
				      "this UKI only for %s", UKICHECK_PHASE, list);
	else
		snprintf(why, whylen, "no signature by the token's key for phase %s: its signatures "
				      "are for other sections or PCR values", UKICHECK_PHASE);
	return CK_REFUSED;
}

static enum ck_verdict check_signed(struct ck_uki *c, const struct token_tpm2 *t,
				    const struct pubkey *key, char *why, size_t whylen)
{
	const char *bank = token_bank_name(t->bank);
	struct pcrsig_match m;
	unsigned char pol[32];
	char masks[64], w[200];
	int r;

	token_mask_str(t->pubkey_pcr_mask, masks, sizeof(masks));
	if (!c->pcrsig) {
		snprintf(why, whylen, "signed PCR %s policy, but the UKI has no .pcrsig section", masks);
		return CK_REFUSED;
	}
	if (t->pubkey_pcr_mask & UNPREDICTED) {
		snprintf(why, whylen, "the signed policy covers PCR %s: the UKI changes some of them "
				      "in ways kcrypt does not predict", masks);
		return CK_UNKNOWN;
	}
	r = signed_pol(c, t, UKICHECK_PHASE, pol, w, sizeof(w));
	if (r < 0) {
		snprintf(why, whylen, "signed PCR %s policy: %s", masks, w);
		return CK_UNKNOWN;
	}
	r = pcrsig_find(c->pcrsig, bank, t->pubkey_pcr_mask, key->pkfp, pol, &m, w, sizeof(w));
	if (r == -ENOENT)
		return missing_phase(c, t, key, why, whylen);
	if (r < 0) {
		snprintf(why, whylen, ".pcrsig: %s", w);
		return CK_REFUSED;
	}
	if (uki_verify_signature(t->pubkey_pem, pol, m.sig, m.siglen) < 0) {
		/* 252..259 sign other banks with their own hash; unsealers verify SHA-256 */
		snprintf(why, whylen, "the .pcrsig signature for phase %s does not verify with the "
				      "token's key (RSA, SHA-256)%s", UKICHECK_PHASE,
			 strcmp(bank, "sha256") ? ": only sha256 policies unseal" : "");
		return CK_REFUSED;
	}
	snprintf(why, whylen, "signed PCR %s: phase %s signed by the token's key", masks,
		 UKICHECK_PHASE);
	return CK_OPENS;
}

/* 1 when the token's whole policy digest is the one the initrd will
 * compute after booting this UKI, 0 when not, -errno when unknown. */
static int policy_matches(struct ck_uki *c, const struct token_tpm2 *t, const struct pubkey *key,
			  char *why, size_t whylen)
{
	unsigned char v[24 * UKI_DIGEST_MAX], d[32], name[34];
	size_t len;
	int r = initrd_values(c, t, t->pcr_mask, UKICHECK_PHASE, v, &len, why, whylen);

	/* the RSA exponent as 65537, then as 0 (systemd 255.0-255.2) */
	for (int attempt = 0; r == 0 && attempt < (key ? 2 : 1); attempt++) {
		memset(d, 0, sizeof(d));
		if (key) {
			r = policy_key_name(key, attempt ? 0 : key->e, name);
			if (r == 0)
				r = policy_authorize(d, name);
		}
		if (r == 0)
			r = policy_pcr(d, bank_alg(t), t->pcr_mask, v, len);
		if (r == 0 && t->pin)
			r = policy_authvalue(d);
		if (r == 0 && !memcmp(d, t->shard[0].policy_hash, 32))
			return 1;
	}
	if (r < 0 && !why[0])
		snprintf(why, whylen, "cannot compute the policy digest");
	return r < 0 ? r : 0;
}

/* What a boot of this UKI does to a PCR the token is sealed to by value */
static enum ck_verdict pcr_effect(int pcr, const char **what)
{
	switch (pcr) {
	case 4:
		*what = "the firmware measures the booted UKI's Authenticode hash into it";
		return CK_REFUSED;
	case 9:
		*what = "the kernel measures the UKI's initrd into it";
		return CK_REFUSED;
	case 11:
		*what = "binds the UKI the key was sealed to (systemd-stub measures the UKI's "
			"sections into it)";
		return CK_REFUSED;
	case 12:
		*what = "systemd-stub measures the command line and credentials it boots with into it";
		return CK_UNKNOWN;
	case 13:
		*what = "systemd-stub measures the system extensions it boots with into it";
		return CK_UNKNOWN;
	default:
		*what = "unaffected by the UKI";
		return CK_OPENS;
	}
}

static enum ck_verdict check_literal(struct ck_uki *c, const struct token_tpm2 *t,
				     const struct pubkey *key, char *why, size_t whylen)
{
	enum ck_verdict worst = CK_OPENS;
	const char *what = "", *w;
	uint32_t bad = 0;
	char masks[64], cw[200] = "";
	int which = -1, r;

	token_mask_str(t->pcr_mask, masks, sizeof(masks));
	for (int i = 0; i < 24; i++) {
		enum ck_verdict v;

		if (!(t->pcr_mask & (1u << i)))
			continue;
		v = pcr_effect(i, &w);
		bad |= v != CK_OPENS ? 1u << i : 0;
		if (v > worst) {
			worst = v;
			which = i;
			what = w;
		}
	}
	if (!t->pcr_mask)
		return CK_OPENS;
	if (worst == CK_OPENS) {
		snprintf(why, whylen, "literal PCR %s: unaffected by the UKI", masks);
		return CK_OPENS;
	}
	if (bad != 1u << 11) {
		snprintf(why, whylen, "literal PCR %d: %s", which, what);
		return worst;
	}
	/* PCR 11 alone: the key may have been sealed to this very UKI */
	r = policy_matches(c, t, key, cw, sizeof(cw));
	if (r == 1) {
		snprintf(why, whylen, "literal PCR %s: the values this UKI gives in the initrd", masks);
		return CK_OPENS;
	}
	snprintf(why, whylen, "literal PCR 11 %s%s%s", what,
		 r == 0 ? ": this UKI gives it another value" : ": cannot compare: ", r == 0 ? "" : cw);
	return CK_REFUSED;
}

static bool other_pcrpkey(const struct ck_uki *c, const struct pubkey *key)
{
	struct pubkey uk;
	char w[200];

	if (!c->pcrpkey)
		return false;
	return policy_pubkey_from_pem(c->pcrpkey, &uk, w, sizeof(w)) < 0 ||
	       memcmp(uk.pkfp, key->pkfp, 32) != 0;
}

static void compose(struct ck_result *res, enum ck_verdict vs, const char *sw,
		    enum ck_verdict vl, const char *lw)
{
	size_t off;

	res->verdict = vs > vl ? vs : vl;
	if (res->verdict != CK_OPENS)
		off = (size_t)snprintf(res->reason, sizeof(res->reason), "%s%s%s",
				       vs == res->verdict ? sw : "",
				       vs == res->verdict && vl == res->verdict ? "; " : "",
				       vl == res->verdict ? lw : "");
	else
		off = (size_t)snprintf(res->reason, sizeof(res->reason), "%s%s%s",
				       sw[0] || lw[0] ? sw : "no PCRs bound",
				       sw[0] && lw[0] ? "; " : "", lw);
	if (res->pin && off < sizeof(res->reason))
		off += (size_t)snprintf(res->reason + off, sizeof(res->reason) - off,
					"; needs the PIN");
	if (res->other_pcrpkey && off < sizeof(res->reason))
		snprintf(res->reason + off, sizeof(res->reason) - off,
			 "; warning: the UKI's .pcrpkey is not the token's key");
}

void ck_token(struct ck_uki *c, const struct token_tpm2 *t, struct ck_result *res)
{
	enum ck_verdict vs = CK_OPENS, vl;
	struct pubkey key, *kp = NULL;
	char sw[512] = "", lw[512] = "", w[200];

	memset(res, 0, sizeof(*res));
	res->pin = t->pin;
	if (t->pcrlock || t->nshards != 1) {
		res->verdict = CK_REFUSED;
		snprintf(res->reason, sizeof(res->reason),
			 "pcrlock policies (systemd 255+) are not supported");
		return;
	}
	if (t->pubkey_pcr_mask) {
		if (policy_pubkey_from_pem(t->pubkey_pem, &key, w, sizeof(w)) < 0) {
			res->verdict = CK_REFUSED;
			snprintf(res->reason, sizeof(res->reason), "the token's %s", w);
			return;
		}
		kp = &key;
		vs = check_signed(c, t, kp, sw, sizeof(sw));
		res->other_pcrpkey = other_pcrpkey(c, kp);
	}
	vl = check_literal(c, t, kp, lw, sizeof(lw));
	compose(res, vs, sw, vl, lw);
}
