/* libFuzzer target: a UKI as kcrypt check-uki reads it (PE headers, the
 * section table, the sections systemd-stub 252 finds, their PCR 11
 * measurement and text). */
#include <stdint.h>
#include <stdlib.h>

#include "pe.h"
#include "uki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pe_image img;
	struct uki_pcr base, p;
	struct uki u;
	size_t total = 0;
	char why[256], *text = NULL;

	if (pe_parse(data, size, &img, why, sizeof(why)) < 0)
		return 0;
	/* what the parser promises: every section's file bytes are in the input */
	for (size_t i = 0; i < img.nsections; i++)
		if (img.sect[i].rawsize && (uint64_t)img.sect[i].rawoff + img.sect[i].rawsize > size)
			__builtin_trap();
	if (uki_find_sections(data, &img, &u, why, sizeof(why)) < 0)
		return 0;
	for (int s = 0; s < UKI_NSECTIONS; s++) {
		if (u.part[s].filelen > u.part[s].size ||
		    (u.part[s].filelen && (u.part[s].data < data ||
					   u.part[s].data + u.part[s].filelen > data + size)))
			__builtin_trap();
		total += u.part[s].size;
	}
	/* the zero fill up to VirtualSize is hashed too: keep runs short */
	if (total <= (1u << 20) && uki_pcr11_sections(&u, "sha256", &base) == 0)
		(void)uki_pcr11_phase(&base, "enter-initrd:leave-initrd", &p);
	if (uki_section_text(&u, UKI_PCRSIG, 1u << 20, &text) == 0)
		free(text);
	return 0;
}
