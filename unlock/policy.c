#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "codec.h"

int policy_pubkey_from_pem(const char *pem, struct pubkey *k, char *why, size_t whylen)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int derlen, r = -EINVAL;

	memset(k, 0, sizeof(*k));
	if (bio)
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!pkey) {
		snprintf(why, whylen, "public key is not a PEM SubjectPublicKeyInfo");
		goto out;
	}
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		snprintf(why, whylen, "public key is not RSA (%s); systemd signs PCR policies with RSA",
			 OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
		r = -EPROTONOSUPPORT;
		goto out;
	}
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    BN_num_bytes(n) > RSA_MAX_BYTES || BN_num_bits(e) > 32) {
		snprintf(why, whylen, "public key: unusable RSA parameters");
		goto out;
	}
	k->nlen = (size_t)BN_bn2bin(n, k->n);
	k->e = (uint32_t)BN_get_word(e);
	/* pkfp: hash of PKCS#1 RSAPublicKey, not of the SPKI (design note §4.4) */
	derlen = i2d_PublicKey(pkey, &der);
	if (derlen <= 0 || !EVP_Digest(der, (size_t)derlen, k->pkfp, &mdlen, EVP_sha256(), NULL)) {
		snprintf(why, whylen, "public key: cannot compute its fingerprint");
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(der);
	BN_free(n);
	BN_free(e);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return r;
}

int policy_pin_auth(const unsigned char *pin, size_t len, const unsigned char *salt,
		    unsigned char out[32])
{
	unsigned char k[32];
	char b64[45];
	unsigned int mdlen = 0;
	int ok, n = 32;

	if (salt) {
		ok = PKCS5_PBKDF2_HMAC((const char *)pin, (int)len, salt, 32, 10000, EVP_sha256(),
				       32, k);
		if (ok) {
			codec_b64_encode(k, 32, b64);
			ok = EVP_Digest(b64, 44, out, &mdlen, EVP_sha256(), NULL);
		}
		OPENSSL_cleanse(k, sizeof(k));
		OPENSSL_cleanse(b64, sizeof(b64));
	} else {
		ok = EVP_Digest(pin, len, out, &mdlen, EVP_sha256(), NULL);
	}
	if (!ok)
		return -EIO;
	/* the TPM trims trailing zeros of an authValue at Create */
	while (n > 0 && out[n - 1] == 0)
		n--;
	return n;
}

static int sha256_parts(unsigned char out[32], const void *a, size_t alen, const void *b,
			size_t blen, const void *c, size_t clen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, a, alen) &&
	     (!blen || EVP_DigestUpdate(ctx, b, blen)) && (!clen || EVP_DigestUpdate(ctx, c, clen)) &&
	     EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	return ok && n == 32 ? 0 : -EIO;
}

static void be32(unsigned char out[4], uint32_t v)
{
	out[0] = (unsigned char)(v >> 24);
	out[1] = (unsigned char)(v >> 16);
	out[2] = (unsigned char)(v >> 8);
	out[3] = (unsigned char)v;
}

int policy_key_name(const struct pubkey *k, uint32_t exponent, unsigned char name[34])
{
	TPMT_PUBLIC p = { 0 };
	unsigned char buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;

	p.type = TPM2_ALG_RSA;
	p.nameAlg = TPM2_ALG_SHA256;
	p.objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
	p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	p.parameters.rsaDetail.keyBits = (UINT16)(k->nlen * 8);
	p.parameters.rsaDetail.exponent = exponent;
	p.unique.rsa.size = (UINT16)k->nlen;
	memcpy(p.unique.rsa.buffer, k->n, k->nlen);
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&p, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return -EIO;
	name[0] = 0x00;
	name[1] = 0x0b;	/* TPM_ALG_SHA256 */
	return sha256_parts(name + 2, buf, off, NULL, 0, NULL, 0);
}

int policy_authorize(unsigned char d[32], const unsigned char name[34])
{
	unsigned char cc[4], zero[32] = { 0 }, tmp[32];
	int r;

	/* PolicyAuthorize replaces the digest: H(H(0 || CC || keyName) || policyRef="") */
	be32(cc, TPM2_CC_PolicyAuthorize);
	r = sha256_parts(tmp, zero, 32, cc, 4, name, 34);
	if (r == 0)
		r = sha256_parts(d, tmp, 32, NULL, 0, NULL, 0);
	return r;
}

int policy_pcr(unsigned char d[32], uint16_t bank, uint32_t mask, const unsigned char *values,
	       size_t len)
{
	unsigned char cc[4], sel[10], vd[32], tmp[32 + 4 + 10 + 32];
	int r;

	/* TPML_PCR_SELECTION: count 1, hash, sizeofSelect 3, three bitmap bytes */
	be32(sel, 1);
	sel[4] = (unsigned char)(bank >> 8);
	sel[5] = (unsigned char)bank;
	sel[6] = 3;
	sel[7] = (unsigned char)mask;
	sel[8] = (unsigned char)(mask >> 8);
	sel[9] = (unsigned char)(mask >> 16);
	r = sha256_parts(vd, values, len, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	be32(cc, TPM2_CC_PolicyPCR);
	memcpy(tmp, d, 32);
	memcpy(tmp + 32, cc, 4);
	memcpy(tmp + 36, sel, 10);
	memcpy(tmp + 46, vd, 32);
	return sha256_parts(d, tmp, sizeof(tmp), NULL, 0, NULL, 0);
}

int policy_authvalue(unsigned char d[32])
{
	unsigned char cc[4], tmp[32];

	be32(cc, TPM2_CC_PolicyAuthValue);
	memcpy(tmp, d, 32);
	return sha256_parts(d, tmp, 32, cc, 4, NULL, 0);
}
