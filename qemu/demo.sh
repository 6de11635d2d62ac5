#!/usr/bin/env bash
# The README's main command: build the test machine if needed (Secure Boot
# keys, dracut initrd with kcrypt, signed UKI, GPT disk encrypted by the
# installer boot), boot it once under Secure Boot with a software TPM, and
# show what happened: kcrypt in the initrd, then the booted system.
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

M=$B/demo
machine_copy "$M"
esp_put "$M/disk.img" "$B/uki/v1/uki.signed.efi" /EFI/Linux/kcrypt.efi
log "booting: OVMF Secure Boot + swtpm (tpm-tis), signed UKI via systemd-boot, TCG (about 25 s)"
secs=$(qemu_boot "$M" "$M/console.log") || die "the boot failed: $M/console.log"
echo
echo "--- the initrd (kcrypt, from the serial console) ---"
tr -d '\r' <"$M/console.log" | grep -a -E 'kcrypt(-unlock|-leave-initrd)?\[[0-9]+\]: kcrypt:|^kcrypt:' |
	sed -E 's/^\[ *[0-9.]+\] //'
echo
echo "--- the booted system ---"
tr -d '\r' <"$M/console.log" | sed -n 's/^E2E //p' | grep -v '^poweroff$'
echo
echo "boot: ${secs}s wall; full console: $M/console.log"
tr -d '\r' <"$M/console.log" | grep -q '^E2E mapper=data oem persistent' ||
	die "not every volume was unlocked"
