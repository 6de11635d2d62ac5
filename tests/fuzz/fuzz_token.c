/* libFuzzer target: systemd-tpm2 token JSON parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_tpm2 t;
	char why[256];
	char *json = malloc(size + 1);

	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	(void)token_is_tpm2(json);
	if (token_parse(json, &t, why, sizeof(why)) == 0) {
		token_mask_str(t.pcr_mask, why, sizeof(why));
		token_free(&t);
	}
	free(json);
	return 0;
}
