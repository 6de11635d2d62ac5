#!/usr/bin/env bash
# Two scenarios of the attack/trust matrix as real boots (QEMU TCG + OVMF
# Secure Boot + swtpm), each on its own copy of the installed machine
# (build/qemu/matrix-NAME/, consoles NAME.log there):
#   interop   (matrix 8) in an installer-UKI boot (rd.kcrypt=0, PCR 15 still
#             zero) systemd-cryptsetup opens the three volumes kcrypt made; DATA
#             is then made anew with cryptsetup + systemd-cryptenroll (PCR 7)
#             and bound with `kcrypt bind`; the next normal boot opens it with
#             the TPM and the set is proven
#   db-update (matrix 5) a db update signed with the KEK (one more certificate)
#             applied on the running system (SetVariable via efivarfs, what
#             efi-updatevar -a does): the next boot refuses the PCR 7 volume,
#             names the PCR, still opens the signed ones, and the emergency
#             path powers off
#   powercut  (matrix 7) in installer-UKI boots, kcrypt encrypt of a fresh
#             ext4 is killed at its Nth pwrite64, then Nth fsync, to the
#             device, and the power is cut at once (sysrq b, nothing synced);
#             the next boot finds either the old ext4 intact or a volume the
#             new token opens
# Usage: qemu/e2e-matrix.sh [interop|db-update|powercut]...  (default: all)
# Prints "e2e-matrix: N passed, N failed".
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

RUN=("$@")
[ ${#RUN[@]} -gt 0 ] || RUN=(interop db-update powercut)
for s in "${RUN[@]}"; do
	case "$s" in interop|db-update|powercut) ;; *) die "usage: $0 [interop|db-update|powercut]..." ;; esac
done

bash "$ROOT/qemu/build.sh"
MARKER=$(installer_marker)
[ -n "$MARKER" ] || die "the installer wrote no marker: $B/console-install.log"
TIMES=()
M='' L=''

interop() {
	M=$B/matrix-interop
	machine_clone "$M"
	boot 1-interop installer --mode interop
	check "8 interop: the installer UKI booted (rd.kcrypt=0)" "$L" 'Command line: .*rd\.kcrypt=0'
	check "8 interop: ...PCR 15 still zero, no volume open before the root" "$L" '^E2E root-init mode=interop$'
	check "8 interop: systemd-cryptsetup opens kcrypt's PCR 7 volume (DATA) with the TPM" "$L" \
		'^E2E sd-attached sddata /dev/vda4 rc=0$'
	check "8 interop: ...and the signed-policy OEM (signature from /run/systemd/tpm2-pcr-signature.json)" "$L" \
		'^E2E sd-attached sdoem /dev/vda2 rc=0$'
	check "8 interop: ...and the signed-policy PERSISTENT" "$L" '^E2E sd-attached sdpersistent /dev/vda3 rc=0$'
	check "8 interop: cryptsetup luksFormat a new DATA" "$L" '^E2E sd-format rc=0$'
	check "8 interop: systemd-cryptenroll --tpm2-pcrs=7 enrolls it" "$L" '^E2E sd-enroll rc=0$'
	check "8 interop: ...an ext4 inside" "$L" '^E2E sd-mkfs done$'
	check "8 interop: kcrypt bind binds it to the set" "$L" '^E2E sd-bind: .*COS_DATA.*bound to volume set'
	check "8 interop: kcrypt bind exit 0" "$L" '^E2E sd-bind rc=0$'
	if [ -n "$(val "$L" sd-data-set)" ] && [ "$(val "$L" sd-data-set)" = "$(val "$L" sd-oem-set)" ]; then
		ok "8 interop: kcrypt status: the systemd-made DATA is in the OEM's set ($(val "$L" sd-oem-set | cut -c1-8))"
	else
		bad "8 interop: set of DATA '$(val "$L" sd-data-set)' != OEM's '$(val "$L" sd-oem-set)'"
	fi

	boot 2-sd-data v1
	check "8 interop: kcrypt opens the systemd-enrolled DATA at boot with the TPM" "$L" \
		'opened as /dev/mapper/data with tpm2'
	check "8 interop: ...the set was proven" "$L" 'proved their membership'
	check_not "8 interop: ...no unbound-set warning" "$L" 'not bound|unbound'
	good_boot "$L" "8 interop: the boot after"
}

db_update() {
	M=$B/matrix-db
	machine_clone "$M"
	# the update: one more db certificate, an append signed with the KEK
	db_update_tar "$M"

	boot 3-db-update v1 --mode dbupdate --extra-disk "$M/upd.tar"
	check "5 db update: the system booted normally first" "$L" '^E2E mapper=data oem persistent $'
	if [ "$(val "$L" pcr7)" = "$(val "$B/console-install.log" pcr7)" ]; then
		ok "5 db update: ...with the installer's PCR 7 ($(val "$L" pcr7 | cut -c1-16)...)"
	else
		bad "5 db update: PCR 7 $(val "$L" pcr7) before the update != the installer's"
	fi
	check "5 db update: the KEK-signed db append (SetVariable through efivarfs) was accepted" "$L" '^E2E db-update rc=0 '
	local sz
	sz=$(tr -d '\r' <"$L" | sed -n 's/^E2E db-update rc=0 size=\([0-9]*\)->\([0-9]*\)$/\1 \2/p')
	if [ -n "$sz" ] && [ "${sz#* }" -gt "${sz% *}" ]; then
		ok "5 db update: db grew (${sz% *} -> ${sz#* } bytes)"
	else
		bad "5 db update: db did not grow ('$(val "$L" db-update)')"
	fi

	boot 4-after-db v1
	check "5 db update: kcrypt refuses DATA and names PCR 7" "$L" 'COS_DATA.*PCR 7\+15 \(sha256\) do not have the values the key was sealed to'
	check "5 db update: the signed-only OEM still unseals" "$L" 'opened as /dev/mapper/oem'
	check "5 db update: ...and PERSISTENT" "$L" 'opened as /dev/mapper/persistent'
	check "5 db update: the emergency path" "$L" 'emergency\.target'
	check "5 db update: ...powered off" "$L" 'Powering off|reboot: Power down'
	check_not "5 db update: the root never ran" "$L" '^E2E root-init'
}

powercut() {
	local sc n spec state ran points=0 good=0
	M=$B/matrix-cut
	machine_clone "$M"
	# every cut skips TPM2_Shutdown, and the TPM counts that as a failed
	# authorization at its next startup (swtpm allows 3): this machine's
	# owner relaxes the DA parameters once, so that the series measures the
	# disk, not the lockout (which kcrypt names: "dictionary-attack lockout")
	# shellcheck source=qemu/attack.sh
	. "$ROOT/qemu/attack.sh"
	atpm_up "$M"
	tpm2_dictionarylockout -Q -s -n 1000 -t 1 -l 1 && tpm2_dictionarylockout -Q -c
	atpm_down_keep "$M"
	spec=""
	for sc in pwrite64 fsync; do
		for n in 1 2 3 4 5 6; do
			boot "cut-$sc-$n" installer --mode "cut:$sc:$n"
			state=$(val "$L" cut-state)
			if [ -n "$spec" ]; then
				points=$((points + 1))
				case "$state" in
				old-intact | luks-opens) good=$((good + 1)); echo "   after $spec: $state" ;;
				*) bad "7 power cut after $spec: the disk holds '$state'" ;;
				esac
			fi
			ran=$(val "$L" "cut-ran $sc:$n rc")
			spec="$sc:$n"
			# encrypt finished before the Nth call: no more points of this kind
			[ "$ran" = 0 ] && break
		done
	done
	boot cut-end installer --mode cut:end
	state=$(val "$L" cut-state)
	points=$((points + 1))
	case "$state" in
	old-intact | luks-opens) good=$((good + 1)); echo "   after $spec: $state" ;;
	*) bad "7 power cut after $spec: the disk holds '$state'" ;;
	esac
	if [ "$points" -ge 3 ] && [ "$good" -eq "$points" ]; then
		ok "7 power cut at each of $points write steps of encrypt: the old ext4 intact or the new token opens"
	else
		bad "7 power cut: $good of $points states good"
	fi
}

for s in "${RUN[@]}"; do
	case "$s" in
	interop) interop ;;
	db-update) db_update ;;
	powercut) powercut ;;
	esac
done

echo "== boot wall times: ${TIMES[*]}"
echo "e2e-matrix: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
