/* Which systemd this machine has, from the name of its private library
 * libsystemd-shared-NNN.so (Debian, Ubuntu: -252.so; Fedora, Arch: the
 * package release too, -255.4-1.fc40.so). kcrypt enroll's default token
 * profile follows it: systemd < 254 cannot open tokens with tpm2_srk. */
#ifndef KCRYPT_SDVER_H
#define KCRYPT_SDVER_H

#include <stdbool.h>
#include <stddef.h>

#define SDVER_SRK_MIN 254	/* the first systemd that reads tpm2_srk */

/* Where distributions put libsystemd-shared; NULL-terminated. */
extern const char *const sdver_dirs[];

/* Pure: the major version in a file name "libsystemd-shared-NNN[.-~...].so",
 * or -1 when the name is not one. */
int sdver_parse(const char *name);

/* The lowest version among the libsystemd-shared files in dirs
 * (NULL-terminated), its path into path; -ENOENT when there is none. */
int sdver_installed(const char *const *dirs, char *path, size_t pathlen);

/* Pure: can the systemd of version v (-1: none installed) open tokens
 * with tpm2_srk? No systemd: nothing but kcrypt reads the token. */
bool sdver_reads_srk(int v);

#endif
