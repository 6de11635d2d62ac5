/* kcrypt --version [-v]: with -v, every library linked in, as built against
 * (pkg-config, recorded by the Makefile) and, where the library can say,
 * as running. A static binary carries its libraries: these lines are what
 * to hold against a security announcement (make static-versions names the
 * Debian packages). */
#include <stdio.h>
#include <string.h>

#include <blkid.h>
#include <gnu/libc-version.h>
#include <json-c/json_c_version.h>
#include <libdevmapper.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "cli.h"

#ifndef KCRYPT_LINKED
#define KCRYPT_LINKED "unknown"
#endif
#ifndef KCRYPT_LINKAGE
#define KCRYPT_LINKAGE "dynamic"
#endif

void cli_version(FILE *f, int verbose)
{
	char dm[64] = "?";
	const char *blk = "?";

	fprintf(f, "kcrypt %s (%s)\n", KCRYPT_VERSION, KCRYPT_LINKAGE);
	if (!verbose)
		return;
	fprintf(f, "built against: %s\n", KCRYPT_LINKED);
	if (!dm_get_library_version(dm, sizeof(dm)))
		strcpy(dm, "?");
	blkid_get_library_version(&blk, NULL);
	fprintf(f, "running: glibc %s, %s, libdevmapper %s, libblkid %s, json-c %s, libyaml %s\n",
		gnu_get_libc_version(), OpenSSL_version(OPENSSL_VERSION), dm, blk, json_c_version(),
		yaml_get_version_string());
}
