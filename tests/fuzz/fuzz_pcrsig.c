/* libFuzzer target: signature JSON (tpm2-pcr-signature.json) parser. The
 * first 64 bytes pick the pkfp and pol to look for, the rest is the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcrsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char pkfp[32] = { 0 }, pol[32] = { 0 };
	struct pcrsig_match m;
	char why[256], *json;

	if (size >= 64) {
		memcpy(pkfp, data, 32);
		memcpy(pol, data + 32, 32);
		data += 64;
		size -= 64;
	}
	json = malloc(size + 1);
	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	(void)pcrsig_find(json, "sha256", 1u << 11, pkfp, pol, &m, why, sizeof(why));
	(void)pcrsig_find(json, "sha1", 1u << 11, pkfp, pol, &m, why, sizeof(why));
	free(json);
	return 0;
}
