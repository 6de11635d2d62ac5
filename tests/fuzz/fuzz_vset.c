/* libFuzzer target: kcrypt-set token JSON (read from every LUKS2 header
 * unlock-all opens) and the unwrap that follows it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char vk[64] = { 1 };
	struct secret *key = NULL;
	struct vset_token t;
	char why[256];
	char *json = malloc(size + 1);

	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	(void)vset_token_is(json);
	if (vset_token_parse(json, &t, why, sizeof(why)) == 0 &&
	    vset_unwrap(&t, vk, sizeof(vk), "uuid", "COS_OEM", &key) == 0)
		secret_free(key);
	(void)vset_claim_parse(data, size, t.id);
	free(json);
	return 0;
}
