#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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
