#include "tcti.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <tss2/tss2_tcti_device.h>
#include <tss2/tss2_tcti_mssim.h>
#include <tss2/tss2_tcti_swtpm.h>

int tcti_is_tpm_device(const char *path)
{
	char link[128], target[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n;

	if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
		return -ENOTTY;
	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u/subsystem", major(st.st_rdev),
		 minor(st.st_rdev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return -ENOTTY;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return !strcmp(base, "tpm") || !strcmp(base, "tpmrm") ? 0 : -ENOTTY;
}

typedef TSS2_RC (*tcti_init_fn)(TSS2_TCTI_CONTEXT *, size_t *, const char *);

static int tcti_new(tcti_init_fn init, const char *conf, TSS2_TCTI_CONTEXT **out)
{
	size_t size = 0;
	TSS2_TCTI_CONTEXT *ctx;

	if (init(NULL, &size, conf) != TSS2_RC_SUCCESS)
		return -EINVAL;
	ctx = calloc(1, size);
	if (!ctx)
		return -ENOMEM;
	if (init(ctx, &size, conf) != TSS2_RC_SUCCESS) {
		free(ctx);
		return -ENODEV;
	}
	*out = ctx;
	return 0;
}

int tcti_from_spec(const char *spec, TSS2_TCTI_CONTEXT **out, char *why, size_t whylen)
{
	static const struct { const char *prefix; tcti_init_fn init; } kinds[] = {
		{ "swtpm:", Tss2_Tcti_Swtpm_Init },
		{ "mssim:", Tss2_Tcti_Mssim_Init },
	};
	const char *dev = NULL;
	int r;

	if (!spec || !*spec || !strcmp(spec, "auto")) {
		/* the raw device while nobody holds it: through /dev/tpmrm0 the
		 * kernel's resource manager wraps each command in a ContextLoad
		 * and a ContextSave of every session and object it names (four
		 * volumes: about 380 commands more at boot). kcrypt flushes what
		 * it loads, so it needs no manager; /dev/tpm0 opens once, so a
		 * second user (tpm2-abrmd) makes us take the manager's device. */
		if (tcti_is_tpm_device("/dev/tpm0") == 0 &&
		    tcti_new(Tss2_Tcti_Device_Init, "/dev/tpm0", out) == 0)
			return 0;
		dev = access("/dev/tpmrm0", F_OK) == 0 ? "/dev/tpmrm0" :
		      access("/dev/tpm0", F_OK) == 0	? "/dev/tpm0" : NULL;
		if (!dev) {
			snprintf(why, whylen, "no TPM: neither /dev/tpmrm0 nor /dev/tpm0 exists");
			return -ENODEV;
		}
	} else if (spec[0] == '/') {
		dev = spec;
	} else if (!strncmp(spec, "device:", 7)) {
		dev = spec + 7;
	}
	if (dev) {
		if (access(dev, R_OK | W_OK) < 0) {
			snprintf(why, whylen, "no TPM: %s: %s", dev, strerror(errno));
			return -ENODEV;
		}
		r = tcti_is_tpm_device(dev);
		if (r < 0) {
			snprintf(why, whylen, "no TPM: %s is not a TPM character device (tpm or tpmrm "
					      "class): refusing to write TPM commands to it", dev);
			return -ENODEV;
		}
		r = tcti_new(Tss2_Tcti_Device_Init, dev, out);
		if (r < 0)
			snprintf(why, whylen, "no TPM: cannot open %s", dev);
		return r;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t pl = strlen(kinds[i].prefix);
		if (strncmp(spec, kinds[i].prefix, pl) != 0)
			continue;
		r = tcti_new(kinds[i].init, spec + pl, out);
		if (r < 0)
			snprintf(why, whylen, "no TPM: cannot connect to %s", spec);
		return r == -EINVAL ? -ENODEV : r;
	}
	snprintf(why, whylen, "unsupported TPM device '%s' (use auto, a path, device:, swtpm: or mssim:)",
		 spec);
	return -EINVAL;
}

