/* Policy crypto in software (pure, OpenSSL): the PCR-signing public key as
 * the TPM sees it, PIN -> authValue, and policy digest math for enrollment. */
#ifndef KCRYPT_POLICY_H
#define KCRYPT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define RSA_MAX_BYTES 512

struct pubkey {
	unsigned char n[RSA_MAX_BYTES];	/* big-endian modulus */
	size_t nlen;
	uint32_t e;			/* public exponent (65537) */
	unsigned char pkfp[32];		/* SHA256 of the PKCS#1 RSAPublicKey DER */
};

/* PEM SubjectPublicKeyInfo -> pubkey. -EINVAL "not a PEM public key",
 * -EPROTONOSUPPORT "not RSA". */
int policy_pubkey_from_pem(const char *pem, struct pubkey *k, char *why, size_t whylen);

/* authValue from a PIN: SHA256(PIN) (systemd 251/252), or with a salt
 * SHA256(base64(PBKDF2-HMAC-SHA256(PIN, salt, 10000, 32))) (253+); trailing
 * zero bytes trimmed as the TPM does. Returns the length (<= 32) or -EIO. */
int policy_pin_auth(const unsigned char *pin, size_t len, const unsigned char *salt,
		    unsigned char out[32]);

/* Policy digests computed in software, as the TPM would (design note §4.2);
 * d is the running SHA-256 digest, starting from 32 zero bytes. */
int policy_key_name(const struct pubkey *k, uint32_t exponent, unsigned char name[34]);
int policy_authorize(unsigned char d[32], const unsigned char name[34]);
/* values: the selected PCRs' raw digests in ascending index order */
int policy_pcr(unsigned char d[32], uint16_t bank, uint32_t mask, const unsigned char *values,
	       size_t len);
int policy_authvalue(unsigned char d[32]);

#endif
