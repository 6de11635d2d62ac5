#!/usr/bin/env bash
# The attack matrix of "trust the disk", as boot scenarios: an attacker who
# has the machine while it is off rewrites partitions and GPT entries with
# host tools (qemu/attack.sh), then boots it under Secure Boot. Each scenario
# is one boot of a fresh copy of the installed machine (build/qemu/attack-NAME/,
# console in console.log there):
#   unsigned-uki          an unsigned UKI on the ESP: the firmware refuses it
#   plaintext-oem         OEM replaced by a plaintext ext4 labelled COS_OEM
#   plaintext-persistent  PERSISTENT replaced by a plaintext ext4 COS_PERSISTENT
#   stick-oem             a plaintext COS_OEM on a second disk, beside the genuine one
#   swap-oem              OEM replaced by the attacker's LUKS2 volume: genuine
#   swap-persistent       label and UUID, a token sealed to the vendor's signed
#   swap-data             policy (DATA: PCR 7) on a copy of this TPM, their ext4
#                         (OEM, PERSISTENT: with the genuine kcrypt-set token copied)
#   strip-set             every kcrypt-set token removed from the genuine headers,
#                         then PERSISTENT swapped as above (no token at all)
#   genuine               the untouched machine still boots, data intact
# Asserted: kcrypt names the device or volume it refuses ("not LUKS2 but
# bears the protected name", "does not belong to the volume set") and never
# activates the attacker's volume, the emergency path powers off, the root
# never runs, no attacker file shows. --vulnerable asserts what a kcrypt that
# trusts the disk does (commit 9e35dc1, before the volume set): the boot goes
# on and the attacker's files show, which proves the attack artefacts right
# (plaintext-persistent was refused even then: the OEM's config lists it).
# Usage: qemu/e2e-attacks.sh [--vulnerable] [--list] [SCENARIO...]  (default: all)
# Prints "e2e-attacks: N passed, N failed".
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=qemu/attack.sh
. "$(dirname "$0")/attack.sh"

ALL=(unsigned-uki plaintext-oem plaintext-persistent stick-oem swap-oem swap-persistent swap-data strip-set
	genuine)
EXPECT=fixed
RUN=()
for a in "$@"; do
	case "$a" in
	--vulnerable) EXPECT=vulnerable ;;
	--list) printf '%s\n' "${ALL[@]}"; exit 0 ;;
	-*) die "usage: $0 [--vulnerable] [--list] [SCENARIO...]" ;;
	*) printf '%s\n' "${ALL[@]}" | grep -qx -- "$a" || die "no scenario $a (--list)"; RUN+=("$a") ;;
	esac
done
[ ${#RUN[@]} -gt 0 ] || RUN=("${ALL[@]}")

bash "$ROOT/qemu/build.sh"
attack_tools
MARKER=$(installer_marker)
[ -n "$MARKER" ] || die "the installer wrote no marker: $B/console-install.log"
# PCR 7 of this machine's Secure Boot state: public (the firmware's event log
# recomputes it; the test root prints it on every boot's console)
PCR7=$(val "$B/console-install.log" pcr7)
[ ${#PCR7} -eq 64 ] || die "no PCR 7 value in $B/console-install.log"
TIMES=()
M='' L=''

# fresh NAME: a fresh copy of the installed machine in $B/attack-NAME with
# the vendor's signed UKI on its ESP (the installed one has the installer's)
fresh() {
	M=$B/attack-$1 L=$B/attack-$1/console.log
	machine_clone "$M"
	esp_put "$M/disk.img" "$B/uki/v1/uki.signed.efi" /EFI/Linux/kcrypt.efi
}

# boot [qemu_boot args]: boot $M, console to $L
boot() {
	local secs
	secs=$(qemu_boot "$M" "$L" "$@") || true
	TIMES+=("${M##*/attack-} ${secs}s")
	echo "== ${M##*/attack-}: ${secs}s, console $L"
}

# refused WHAT MESSAGE: kcrypt in the initrd refused with MESSAGE, and
# nothing of the attacker's was opened, mounted or run
refused() {
	check "$1: kcrypt refuses: $2" "$L" "$2"
	check "$1: the emergency path powered off" "$L" 'emergency\.target'
	check "$1: ...and powered off" "$L" 'Powering off|reboot: Power down'
	check_not "$1: the root never ran" "$L" '^E2E root-init'
	check_not "$1: no attacker file showed" "$L" '^E2E attacker-marker='
}

# went_on WHAT: a kcrypt that trusts the disk let the boot go on
went_on() {
	check_not "$1: (vulnerable) kcrypt did not fail" "$L" 'Failed to start .*kcrypt|emergency\.target'
	check "$1: (vulnerable) the root ran" "$L" '^E2E root-init'
}

attack() {
	local what=$1
	case "$what" in
	unsigned-uki)
		fresh "$what"
		attack_unsigned_uki "$M" "$B/uki/v1/uki.signed.efi"
		# refused, the firmware ends waiting for a key at its boot menu
		QEMU_TIMEOUT=90 boot --until 'No bootable option or device was found'
		check "$what: sd-boot cannot load it: Access Denied" "$L" 'Error loading .*kcrypt\.efi: Access Denied'
		check "$what: the firmware refuses it too" "$L" 'BdsDxe: failed to (start|load) Boot.*Access Denied'
		check_not "$what: the kernel never ran" "$L" 'Linux version [0-9]|EFI stub:'
		check_not "$what: the root never ran" "$L" '^E2E root-init'
		;;
	plaintext-oem)
		fresh "$what"
		attack_plaintext "$M" 2 COS_OEM "$what"
		boot
		if [ "$EXPECT" = fixed ]; then
			refused "$what" '/dev/vda2: refused: .*not LUKS2 but bears the protected name COS_OEM'
			check_not "$what: nothing was opened" "$L" 'opened as /dev/mapper/'
		else
			went_on "$what"
			check "$what: (vulnerable) the plaintext OEM mounted by label" "$L" '^E2E mounted /oem from /dev/vda2 by label COS_OEM$'
			check "$what: (vulnerable) the attacker's cloud-config in /oem" "$L" '^E2E oem-config=.*99_attacker\.yaml'
			check "$what: (vulnerable) the attacker's file in /oem" "$L" "^E2E attacker-marker=/oem/attacker:attacker:$what\$"
			check "$what: (vulnerable) ...next to the genuine data" "$L" "^E2E marker=$MARKER\$"
		fi
		;;
	plaintext-persistent)
		fresh "$what"
		attack_plaintext "$M" 3 COS_PERSISTENT "$what"
		boot
		if [ "$EXPECT" = fixed ]; then
			refused "$what" '/dev/vda3: refused: .*not LUKS2 but bears the protected name COS_PERSISTENT'
			check_not "$what: nothing was opened" "$L" 'opened as /dev/mapper/'
		else
			# not let through even today, but only because the genuine OEM's
			# cloud-config lists COS_PERSISTENT (install.encrypted_partitions),
			# and only after OEM and DATA were opened
			refused "$what" 'COS_PERSISTENT \(-\): cannot open: no LUKS volume with label COS_PERSISTENT was found'
		fi
		;;
	stick-oem)
		fresh "$what"
		attack_stick "$M" COS_OEM "$what"
		boot --extra-disk "$M/stick.img"
		if [ "$EXPECT" = fixed ]; then
			refused "$what" '/dev/vdb: refused: .*not LUKS2 but bears the protected name COS_OEM'
			check_not "$what: nothing was opened" "$L" 'opened as /dev/mapper/'
		else
			went_on "$what"
			check "$what: (vulnerable) the stick's COS_OEM is there, beside the genuine one" "$L" '^E2E label COS_OEM on=.*/dev/vdb'
			check "$what: (vulnerable) kcrypt opened the genuine volumes regardless" "$L" '^E2E mapper=data oem persistent $'
		fi
		;;
	swap-oem | swap-persistent | swap-data | strip-set)
		local n label map mnt policy=signed copy=copy-set why
		case "$what" in
		swap-oem) n=2 label=COS_OEM map=oem mnt=/oem ;;
		swap-persistent | strip-set) n=3 label=COS_PERSISTENT map=persistent mnt=/usr/local ;;
		swap-data) n=4 label=COS_DATA map=data mnt=/tmp/data policy=pcr7=$PCR7 copy= ;;
		esac
		# the volume named: the swapped one (strip-set: whichever kcrypt meets first)
		why="$label \\(/dev/vda$n\\): does not belong to the volume set"
		[ "$what" = strip-set ] && why='does not belong to the volume set'
		fresh "$what"
		if [ "$what" = strip-set ]; then
			attack_strip_sets "$M" 2 3 4
			copy=
		fi
		attack_swap "$M" "$n" "$what" "$policy" ${copy:+"$copy"}
		boot
		if [ "$EXPECT" = fixed ]; then
			refused "$what" "$why"
			check_not "$what: the attacker's volume was never activated" "$L" "opened as /dev/mapper/$map\$|opened as /dev/mapper/$map "
			if [ "$what" = swap-oem ]; then
				check_not "$what: kcrypt never read the attacker's cloud-config" "$L" 'read the cloud-config of the OEM volume'
			fi
		else
			went_on "$what"
			check "$what: (vulnerable) kcrypt opened all three" "$L" '^E2E mapper=data oem persistent $'
			check "$what: (vulnerable) the attacker's file in $mnt" "$L" "^E2E attacker-marker=$mnt/attacker:attacker:$what\$"
		fi
		;;
	genuine)
		fresh "$what"
		boot
		good_boot "$L" "$what"
		check_not "$what: no attacker file" "$L" '^E2E attacker-marker='
		;;
	esac
}

echo "== e2e-attacks ($EXPECT kcrypt): ${RUN[*]}"
for s in "${RUN[@]}"; do attack "$s"; done

echo "== boot wall times: ${TIMES[*]}"
echo "e2e-attacks: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
