/* libFuzzer target: cloud-config YAML and kernel command line parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct diags d = { 0 };
	char *str;

	config_init(&c);
	config_parse_yaml(&c, (const char *)data, size, "fuzz.yaml", &d);
	/* the same bytes as a command line (NUL-terminated copy) */
	str = malloc(size + 1);
	if (str) {
		memcpy(str, data, size);
		str[size] = '\0';
		config_parse_cmdline(&c, str, &d);
		free(str);
	}
	config_free(&c);
	diags_free(&d);
	return 0;
}
