/* A discovered LUKS volume: what libblkid and sysfs said about one device. */
#ifndef KCRYPT_VOLUME_H
#define KCRYPT_VOLUME_H

#include <stdbool.h>
#include <stddef.h>

struct volume {
	char *devnode;		/* /dev/vda2, or an image file path */
	char *kname;		/* vda2, or the image file's base name */
	char *uuid;		/* LUKS UUID */
	char *label;		/* LUKS2 label, NULL when none */
	char *partname;		/* GPT PART_ENTRY_NAME, NULL when none */
	int luks_version;	/* 1 or 2 */
	bool active;		/* a dm-crypt mapping of this UUID exists */
	char *active_name;	/* its dm name when active */
};

struct volume_list {
	struct volume *v;
	size_t n;
};

void volume_clear(struct volume *v);	/* frees the fields, not v */
void volume_list_free(struct volume_list *l);

#endif
