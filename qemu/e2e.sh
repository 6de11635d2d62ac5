#!/usr/bin/env bash
# The boot scenarios of the trusted-boot chain, each a real UEFI boot under
# QEMU (TCG) + OVMF Secure Boot + swtpm, asserted on the serial console.
# Runs on a copy of the installed machine (qemu/build.sh), in this order:
#   1 happy path (systemd initrd)   2 upgrade (new UKI, same keys)
#   3 tampered UKI, then a good boot   4 no TPM   5 shell initrd
#   5b the static kcrypt in a hand-made busybox initramfs (not dracut's)
#   6 kcrypt unlock-all by hand in the booted system: a second unseal is refused
#     (and boot 1's TPM bus, logged on the swtpm side, holds no secret)
#   7 the running system: encrypt refuses an ambiguous LUKS volume; a volume
#     encrypted there joins the set through an open member
#   8 (run before 7) the TPM dies mid-boot: the failed measurement closes all
# Prints "e2e: N passed, N failed"; consoles in build/qemu/run/*.log.
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

M=$B/run
machine_copy "$M"
MARKER=$(installer_marker)
[ -n "$MARKER" ] || die "the installer wrote no marker: $B/console-install.log"
TIMES=()

# boot NAME UKI [qemu_boot args]: put the UKI on the ESP, boot, keep the console
boot() {
	local name=$1 uki=$2 secs
	shift 2
	esp_put "$M/disk.img" "$B/uki/$uki/uki.signed.efi" /EFI/Linux/kcrypt.efi
	secs=$(qemu_boot "$M" "$M/$name.log" "$@") || true
	TIMES+=("$name ${secs}s")
	echo "== $name ($uki): ${secs}s"
}

# PCR 11 after leave-initrd, as systemd-measure computes it for this UKI
pcr11_after() {
	"$MEASURE" calculate --linux="$VMLINUZ" --osrel="$B/uki/$1/os-release" \
		--cmdline="$B/uki/$1/cmdline" --initrd="$B/initrd-$2.img" --pcrpkey="$B/keys/pcr-pub.pem" \
		--bank=sha256 --phase=enter-initrd:leave-initrd --json=short |
		jq -r '.sha256[0].pcr, .sha256[0].hash' | tail -n 1 | tr 'A-F' 'a-f'
}

echo "== installed machine: $(tr -d '\r' <"$B/console-install.log" | grep '^E2E installed')"

# boot 1 with the TPM bus logged on the swtpm side (every byte both ways)
rm -f "$M/tpm/log"
SWTPM_LOG_LEVEL=20 boot 1-happy v1
L=$M/1-happy.log
good_boot "$L" "1 happy"
check "1 happy: enter-initrd measured by kcrypt" "$L" 'measured enter-initrd into PCR 11'
check "1 happy: leave-initrd measured before switch-root" "$L" 'measured leave-initrd into PCR 11'
if [ "$(val "$L" pcr11)" = "$(pcr11_after v1 systemd)" ]; then
	ok "1 happy: PCR 11 = systemd-measure's enter-initrd:leave-initrd value"
else
	bad "1 happy: PCR 11 $(val "$L" pcr11) != $(pcr11_after v1 systemd)"
fi

# the secrets kcrypt sealed start with "KCS1" and the set id (public, in
# every header): in the clear on the bus they would show, three times
# shellcheck source=qemu/attack.sh
. "$ROOT/qemu/attack.sh"
part_get "$M/disk.img" 2 "$M/oem.part"
SETID=$(cryptsetup luksDump --dump-json-metadata "$M/oem.part" |
	jq -r '[.tokens[] | select(.type == "kcrypt-set")][0].kcrypt_set')
rm -f "$M/oem.part"
BUS=$(grep -E '^( [0-9A-F]{2})+ ?$' "$M/tpm/log" | tr -d ' \n')
CLAIM=$(printf '4B435331%s' "$SETID" | tr 'a-f' 'A-F')
if [ "${#BUS}" -gt 20000 ] && [ "${#SETID}" -eq 32 ]; then
	ok "6 bus: the whole boot's TPM traffic was captured ($((${#BUS} / 2)) bytes)"
else
	bad "6 bus: no traffic captured (${#BUS} hex digits) or no set id ($SETID)"
fi
if [[ "$BUS" == *"$CLAIM"* ]]; then
	bad "6 bus: an unsealed secret (KCS1 + set ${SETID:0:8}) crossed the bus in the clear"
else
	ok "6 bus: none of the three unsealed secrets (KCS1 + set ${SETID:0:8}...) crossed it in the clear"
fi
rm -f "$M/tpm/log"

boot 2-upgrade v2
good_boot "$M/2-upgrade.log" "2 upgrade"
check "2 upgrade: a new cmdline (so a new PCR 11) booted" "$M/2-upgrade.log" 'Command line: .*kcrypt.release=2'

boot 3-tampered tampered
L=$M/3-tampered.log
check "3 tampered: kcrypt refuses: no signature matches" "$L" 'no signature matches the current PCR 11'
check "3 tampered: the emergency path powered off" "$L" 'Powering off|reboot: Power down'
check_not "3 tampered: the root never ran" "$L" '^E2E root-init'
boot 3-after v1
good_boot "$M/3-after.log" "3 good boot after the tampered one"

boot 4-no-tpm v1 --no-tpm
L=$M/4-no-tpm.log
check "4 no TPM: clear error" "$L" 'cannot open: .*no TPM'
check "4 no TPM: the emergency path powered off" "$L" 'Powering off|reboot: Power down'
check_not "4 no TPM: the root never ran" "$L" '^E2E root-init'

boot 5-shell shell
good_boot "$M/5-shell.log" "5 shell initrd"
check "5 shell initrd: it is the non-systemd initrd" "$M/5-shell.log" 'dracut-pre-mount|kcrypt: measured enter-initrd'

# the static kcrypt in an initramfs that is not dracut's: busybox, no udev,
# no systemd; the module's own boot-phase scripts (qemu/guest/bb-init)
if [ -e "$B/uki/busybox/uki.signed.efi" ]; then
	boot 5-busybox busybox
	L=$M/5-busybox.log
	good_boot "$L" "5b busybox initramfs"
	check "5b busybox initramfs: not dracut's (qemu/guest/bb-init ran kcrypt)" "$L" \
		'^kcrypt-busybox: unlocked: data oem persistent at '
	check "5b busybox initramfs: enter-initrd and leave-initrd measured by kcrypt" "$L" \
		'measured leave-initrd into PCR 11'
	if [ "$(val "$L" pcr11)" = "$(pcr11_after busybox busybox)" ]; then
		ok "5b busybox initramfs: PCR 11 = systemd-measure's enter-initrd:leave-initrd value"
	else
		bad "5b busybox initramfs: PCR 11 $(val "$L" pcr11) != $(pcr11_after busybox busybox)"
	fi
else
	bad "5b busybox initramfs: no busybox UKI (qemu/build.sh builds it with the static kcrypt)"
fi

boot 6-manual v1 --mode manual
L=$M/6-manual.log
check "6 manual: two volumes closed by hand" "$L" '^E2E closed persistent data$'
# a second unseal by root in the booted system: refused for both kinds of token
check "6 manual: the PCR 7 volume is refused: PCR 15 moved when the initrd measured the keys" "$L" '^E2E manual: .*COS_DATA.*PCR 15 is no longer zero'
check "6 manual: ...the signed one too: leave-initrd moved PCR 11" "$L" '^E2E manual: .*COS_PERSISTENT.*no signature matches the current PCR 11'
check "6 manual: exit status 1 (an expected volume is not open)" "$L" '^E2E manual-unlock rc=1$'
check "6 manual: both stay closed" "$L" '^E2E mapper-after=oem $'
check "6 manual: tpm2-tools as root: the sealed object loads..." "$L" "^E2E tpm2-tools: loaded the token's sealed object"
check "6 manual: ...but the unseal is refused (PCR 15 moved)" "$L" '^E2E tpm2-tools unseal rc=[1-9]'
check_not "6 manual: ...and no secret came out" "$L" '^E2E tpm2-tools: GOT A SECRET'

# the TPM dies once pass 1 has proven its volumes (the swtpm process killed):
# pass 2 cannot unseal, the PCR 15 measurements fail, kcrypt closes OEM and
# PERSISTENT again and the boot stops there
rm -rf "$M/tpm.keep" && cp -a "$M/tpm" "$M/tpm.keep"
boot 8-tpm-dies v1 --kill-tpm-at 'proved their membership'
rm -rf "$M/tpm" && mv "$M/tpm.keep" "$M/tpm"	# a killed swtpm may leave its state half written
L=$M/8-tpm-dies.log
check "8 measurement failure: PCR 15 cannot be extended, what was opened is closed again" "$L" 'could not be measured into PCR 15: closed 2 volume\(s\)'
check "8 measurement failure: the emergency path" "$L" 'emergency\.target'
check_not "8 measurement failure: the root never ran" "$L" '^E2E root-init'

# last: it turns DATA into a new volume
boot 7-running v1 --mode running
L=$M/7-running.log
check "7 running: encrypt refuses a LUKS volume libblkid cannot tell (LUKS magic beside a swap signature)" "$L" '^E2E hostile-encrypt rc=3 .*is a LUKS volume already'
check "7 running: ...and its header is untouched" "$L" '^E2E hostile-after untouched=yes$'
check "7 running: a volume encrypted on the running system joins the set through an open member" "$L" '^E2E join: .*joining the volume set of COS_OEM \(/dev/vda2\)'
if [ -n "$(val "$L" join-set)" ] && [ "$(val "$L" join-set)" = "$(val "$L" oem-set)" ]; then
	ok "7 running: ...kcrypt status shows it bound to the OEM's set ($(val "$L" oem-set | cut -c1-8))"
else
	bad "7 running: set of the new volume '$(val "$L" join-set)' != OEM's '$(val "$L" oem-set)'"
fi

echo "== boot wall times: ${TIMES[*]}"
printf '%s\n' "${TIMES[@]}" >"$M/times.txt"
echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
