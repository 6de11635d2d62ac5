/* Pure naming rules: which Kairos identity a volume has, whether it is
 * expected, and which /dev/mapper name it gets. */
#ifndef KCRYPT_IDENTITY_H
#define KCRYPT_IDENTITY_H

#include <stdbool.h>

#include "config.h"
#include "volume.h"

#define LABEL_OEM "COS_OEM"
#define LABEL_PERSISTENT "COS_PERSISTENT"
#define UUID_STR_LEN 37

enum role { ROLE_UNLISTED = 0, ROLE_OEM, ROLE_PERSISTENT, ROLE_LISTED };

/* UUIDv5 in the URL namespace, as Kairos derives LUKS UUIDs from labels.
 * Returns 0 or -ENOMEM/-EIO (hash failure). */
int identity_uuid_v5(const char *name, char out[UUID_STR_LEN]);

/* The Kairos label this volume stands for (e.g. COS_PERSISTENT), written to
 * out; false when it has none. Order: LUKS2 label (minus "_LUKS"), GPT name
 * oem/persistent, legacy uuid_label_mappings, v5 UUID of a known label. */
bool identity_label(const struct volume *v, const struct config *c, char *out, size_t size);

/* "oem" for COS_OEM, "persistent" for COS_PERSISTENT, else NULL. */
const char *identity_gpt_name(const char *label);

enum role identity_role(const char *label, const struct config *c);
const char *identity_role_name(enum role r);

/* The protected name a filesystem that is not LUKS2 bears, if any: label
 * COS_OEM, COS_PERSISTENT or a listed label (each also with "_LUKS"), or
 * such a label or its Kairos GPT name (oem, persistent) as partition name.
 * The canonical label goes to out. A plaintext volume with such a name on a
 * measured boot is a downgrade unless kcrypt.allow_plaintext lets it be. */
bool identity_protected(const char *fslabel, const char *partname, const struct config *c,
			char *out, size_t size);
bool identity_plaintext_allowed(const char *label, const struct config *c);

/* dm name rules: config override, GPT name, LUKS2 label, kernel name. */
int identity_mapper_name(const struct volume *v, const char *label, const struct config *c,
			 char *out, size_t size);
bool identity_valid_dm_name(const char *name);

#endif
