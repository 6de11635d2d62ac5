/* What luks.c and luks_write.c share: the handle behind struct luks. */
#ifndef KCRYPT_LUKS_INT_H
#define KCRYPT_LUKS_INT_H

#include <libcryptsetup.h>
#include <stdbool.h>

#include "log.h"
#include "luks.h"
#include "luks_hdr.h"
#include "secret.h"

struct luks {
	struct crypt_device *cd;
	int memfd;		/* in-memory header copy, -1 when unused */
	enum hdr_health health;
	const struct logger *log;
	bool fresh;		/* memfd holds a header being built, not a degraded copy */
	char *datadev;		/* its device, for luks_commit */
	struct secret *vk;	/* the volume key the last open found */
};

/* libcryptsetup's log callback: its messages become our debug lines */
void luks_cs_log(int level, const char *msg, void *usrptr);

#endif
