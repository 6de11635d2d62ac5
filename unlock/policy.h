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

#endif
