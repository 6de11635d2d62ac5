/* Test tool: verify a LUKS2 volume's systemd-tpm2 token with systemd's own
 * libcryptsetup token plugin (libcryptsetup-token-systemd-tpm2.so), as
 * systemd-cryptsetup would, without device-mapper (name NULL).
 * Usage: sd_tpm2_open IMAGE TCTI [SIGNATURE_JSON|-] [PIN_FILE]
 * Exit 0 and the keyslot on stdout when the plugin opened it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcryptsetup.h>

/* systemd 252's systemd_tpm2_plugin_params (cryptsetup-token-systemd-tpm2) */
struct systemd_tpm2_plugin_params {
	uint32_t search_pcr_mask;
	const char *device;
	const char *signature_path;
};

static void quiet(int level, const char *msg, void *usrptr)
{
	(void)usrptr;
	if (getenv("SD_TPM2_OPEN_DEBUG"))
		fprintf(stderr, "[%d] %s", level, msg);
}

int main(int argc, char **argv)
{
	struct systemd_tpm2_plugin_params params = { .search_pcr_mask = UINT32_MAX };
	struct crypt_device *cd = NULL;
	char pin[256] = "";
	size_t pinlen = 0;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: %s IMAGE TCTI [SIGNATURE|-] [PIN_FILE]\n", argv[0]);
		return 2;
	}
	params.device = argv[2];
	if (argc > 3 && strcmp(argv[3], "-") != 0)
		params.signature_path = argv[3];
	if (argc > 4) {
		FILE *f = fopen(argv[4], "r");
		if (!f || !fgets(pin, sizeof(pin), f)) {
			fprintf(stderr, "cannot read %s\n", argv[4]);
			return 2;
		}
		fclose(f);
		pinlen = strcspn(pin, "\n");
	}
	crypt_set_log_callback(NULL, quiet, NULL);
	r = crypt_init(&cd, argv[1]);
	if (r == 0)
		r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r == 0)
		r = crypt_activate_by_token_pin(cd, NULL, "systemd-tpm2", CRYPT_ANY_TOKEN,
						pinlen ? pin : NULL, pinlen, &params, 0);
	crypt_free(cd);
	if (r < 0) {
		fprintf(stderr, "systemd-tpm2 plugin: %s\n", strerror(-r));
		return 1;
	}
	printf("%d\n", r);
	return 0;
}
