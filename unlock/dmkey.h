/* The volume key of an active dm-crypt mapping, read back from the kernel
 * (root only; kcrypt activates with the key in the table, not the keyring).
 * The only file that includes libdevmapper.h. For a volume that joins the
 * volume set on the running system, where no member's TPM token unseals
 * any more: the open member's key unwraps the set key. */
#ifndef KCRYPT_DMKEY_H
#define KCRYPT_DMKEY_H

#include "secret.h"

/* Returns 0 with the key in locked memory; -ENOENT no such mapping or not
 * crypt; -ENOKEY its key is in the kernel keyring (not readable). */
int dmkey_read(const char *name, struct secret **key);

#endif
