/* libFuzzer target: the raw LUKS2 header check kcrypt runs on every device
 * before libcryptsetup sees it (magic, sizes, checksums, the JSON layout it
 * copies: keyslots_size, keyslot areas). */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luks_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdr_state st;
	int fd = memfd_create("fuzz-hdr", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size && luks_hdr_check(fd, &st) == 0) {
		/* what luks.c then copies must lie inside what the header claims */
		for (size_t i = 0; i < st.nareas; i++)
			if (st.areas[i].offset + st.areas[i].size > st.metadata_size)
				__builtin_trap();
	}
	close(fd);
	return 0;
}
