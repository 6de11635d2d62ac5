/* base64 and hex, strict: used for token, signature and passphrase bytes. */
#ifndef KCRYPT_CODEC_H
#define KCRYPT_CODEC_H

#include <stddef.h>

/* Decode standard base64 (with '=' padding). Returns a malloc'd buffer and
 * its length, or NULL on malformed input. */
unsigned char *codec_b64_decode(const char *in, size_t *outlen);
/* Encode into out (needs 4 * ceil(n / 3) + 1 bytes); returns the length. */
size_t codec_b64_encode(const unsigned char *in, size_t n, char *out);
/* Decode exactly n bytes of hex (either case); -1 on anything else. */
int codec_hex_decode(const char *in, unsigned char *out, size_t n);

#endif
