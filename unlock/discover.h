/* libblkid scan -> LUKS volumes. The only file that includes blkid.h. */
#ifndef KCRYPT_DISCOVER_H
#define KCRYPT_DISCOVER_H

#include "log.h"
#include "strv.h"
#include "volume.h"

struct discover_opts {
	const struct strv *devices;	/* probe only these (files or block devices); NULL: all */
	const char *sysfs;		/* "/sys" normally */
	size_t *errors;			/* explicit devices that could not be probed */
};

/* Probe one device. Returns 0 and fills v for a LUKS volume, -ENOENT when
 * the device is missing, -EMEDIUMTYPE when it is not LUKS,
 * -EUCLEAN when its signatures are ambiguous, other -errno on I/O errors. */
int discover_probe(const char *path, const char *sysfs, struct volume *v);

/* Scan. Devices that are not LUKS are skipped (debug log); with explicit
 * devices, errors are logged per device. Returns 0 or -ENOMEM. */
int discover_scan(const struct discover_opts *o, const struct logger *log,
		  struct volume_list *out);

/* What a device holds, for the installer's search by label. */
struct fsinfo {
	char *devnode;
	char *type;		/* "ext4", "crypto_LUKS", NULL when nothing */
	char *label;		/* filesystem (or LUKS2) label */
	char *partname;		/* GPT partition name */
	bool ambiguous;		/* libblkid found several signatures */
	bool luks_magic;	/* a LUKS header magic (either copy) is there */
};

void fsinfo_clear(struct fsinfo *f);

/* Every block device (or only devices) with what it holds. */
int discover_filesystems(const struct strv *devices, struct fsinfo **out, size_t *n);

#endif
