#!/usr/bin/env bash
# Never locked out, in the guest: the recovery key typed on the serial
# console (qemu_boot --type) when the TPM refuses, kcrypt reseal in the
# booted system, the next boot unattended again; a PIN, lockout, a headless
# box; and kcrypt check-uki's predictions confirmed by booting each UKI.
#   1 PCR 7 moves (a db update): the shell initrd asks on /dev/console
#   2 the TPM is cleared: the systemd initrd asks through ask-password
#   3 check-uki: the next signed UKI, another vendor's key, no enter-initrd
#   4 a PIN-bound DATA (systemd-cryptenroll's): a wrong PIN, then lockout
#   5 headless: nobody types, the bounded wait ends at the emergency path
# The test bed boots with rd.kcrypt.prompt=0; the rescue UKIs turn it on.
# Reseal killed at each of its writes: tests/integration/recovery.sh.
# Ends "e2e-recovery: N passed, N failed".
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=qemu/attack.sh
. "$ROOT/qemu/attack.sh"

bash "$ROOT/qemu/build.sh"
MARKER=$(installer_marker)
[ -n "$MARKER" ] || die "the installer wrote no marker: $B/console-install.log"
KCRYPT=$ROOT/kcrypt
M=$B/recovery
machine_clone "$M"
KEY=$M/recovery.key
TIMES=()
L=''

# the key is typed, never shown: not in the console log
not_echoed() { check_not "$1: the typed key is not echoed" "$L" "$(cat "$KEY")"; }
ran() { check "$1: the root ran" "$L" '^E2E root-init'; }

echo "== 1 PCR 7 moves: a db update, then the recovery key on the console (shell initrd)"
db_update_tar "$M"
boot 1-dbupdate v1 --mode dbupdate --extra-disk "$M/upd.tar"
check "1 pcr7: the db update was applied" "$L" '^E2E db-update rc=0 '
boot 1-recovery rescue-shell --mode reseal --type 'Recovery key or passphrase for COS_DATA' "$KEY"
check "1 pcr7: the TPM refuses DATA and names PCR 7" "$L" 'COS_DATA.*PCR 7\+15 \(sha256\) do not have the values'
check "1 pcr7: the shell initrd asks on the console" "$L" 'asking on the console'
check "1 pcr7: the recovery key typed there opens DATA" "$L" 'opened as /dev/mapper/data with recovery key'
not_echoed "1 pcr7"
ran "1 pcr7"
check "1 pcr7: the booted system is told (/run/kcrypt/recovery-used)" "$L" '^E2E recovery-used=COS_DATA /dev/vda4,$'
check "1 pcr7: ...and kcrypt status says so" "$L" '^E2E status: This boot needed the recovery key'
check "1 pcr7: data intact" "$L" "^E2E marker=$MARKER\$"
check "1 pcr7: kcrypt reseal replaces DATA's token" "$L" '^E2E reseal: .*/dev/vda4: token [0-9]+ resealed as token'
check "1 pcr7: ...leaves the signed tokens alone" "$L" '^E2E reseal: .*/dev/vda2: token [0-9]+ is current'
check "1 pcr7: ...exit 0" "$L" '^E2E reseal rc=0$'
check "1 pcr7: ...and removes the marker" "$L" '^E2E recovery-used-after=no$'
boot 1-after rescue
good_boot "$L" "1 pcr7: the next boot"
check "1 pcr7: ...DATA opened by the TPM again" "$L" 'opened as /dev/mapper/data with tpm2'
check_not "1 pcr7: ...nobody was asked" "$L" 'Recovery key or passphrase'

echo "== 2 the TPM is cleared: ask-password in the systemd initrd, reseal to the new TPM"
atpm_up "$M"
tpm2_clear
atpm_down_keep "$M"
boot 2-recovery rescue --mode reseal --type 'Recovery key or passphrase for COS_OEM' "$KEY"
check "2 cleared: the TPM opens nothing" "$L" 'COS_OEM \(/dev/vda2\): not opened \('
check "2 cleared: the systemd initrd asks through the ask-password agents" "$L" \
	"asking on systemd's ask-password agents"
check "2 cleared: ...the console agent shows the prompt" "$L" 'Recovery key or passphrase for COS_OEM \(/dev/vda2\) and 1 more'
check "2 cleared: one key opens OEM and PERSISTENT" "$L" 'opened as /dev/mapper/persistent with recovery key'
check "2 cleared: ...and DATA, which the OEM's config lists, without asking again" "$L" \
	'the key typed before opens 1 more volume'
check "2 cleared: ...the typed keys passed the volume-set proof" "$L" 'proved their membership'
not_echoed "2 cleared"
ran "2 cleared"
check "2 cleared: data intact" "$L" "^E2E marker=$MARKER\$"
check "2 cleared: reseal: three tokens for the new TPM" "$L" '^E2E reseal: .*/dev/vda4: token [0-9]+ resealed'
check "2 cleared: ...OEM's signed token too" "$L" '^E2E reseal: .*/dev/vda2: token [0-9]+ resealed'
check "2 cleared: ...exit 0" "$L" '^E2E reseal rc=0$'
boot 2-after rescue
good_boot "$L" "2 cleared: the next boot"
check_not "2 cleared: ...nobody was asked" "$L" 'Recovery key or passphrase'

echo "== 3 check-uki: predict, then boot each UKI"
mkdir -p "$M/cfg" "$M/hdr"
cp "$B/oemdir/90_kcrypt.yaml" "$M/cfg/"
for n in 2 3 4; do part_get "$M/disk.img" "$n" "$M/hdr/part$n.img"; done
cu() {	# cu UKI: kcrypt check-uki on the machine's headers
	set +e
	"$KCRYPT" check-uki "$B/uki/$1/uki.signed.efi" --no-tpm --cmdline "" --config-dir "$M/cfg" \
		--device "$M/hdr/part2.img" --device "$M/hdr/part3.img" --device "$M/hdr/part4.img" \
		>"$M/cu-$1.out" 2>"$M/cu-$1.err"
	echo $?
	set -e
}
rc=$(cu v2)
if [ "$rc" = 0 ]; then ok "3 check-uki: the next signed UKI (v2): every volume will open"; else bad "3 check-uki v2: rc=$rc $(head -3 "$M/cu-v2.err")"; fi
rc=$(cu otherkey)
if [ "$rc" = 4 ] && grep -q 'COS_OEM.*will not open' "$M/cu-otherkey.err"; then
	ok "3 check-uki: another vendor's key: refused, with the reason ($(grep -m1 'COS_OEM' "$M/cu-otherkey.err" | cut -c1-110))"
else
	bad "3 check-uki otherkey: rc=$rc $(head -3 "$M/cu-otherkey.err")"
fi
rc=$(cu nophase)
if [ "$rc" = 4 ] && grep -q 'COS_OEM.*enter-initrd' "$M/cu-nophase.err"; then
	ok "3 check-uki: a signature without enter-initrd: refused, naming the phase"
else
	bad "3 check-uki nophase: rc=$rc $(head -3 "$M/cu-nophase.err")"
fi
rm -rf "$M/hdr"
boot 3-v2 v2
good_boot "$L" "3 check-uki: booting v2 confirms it"
boot 3-otherkey otherkey
check "3 check-uki: booting otherkey confirms it: OEM refused" "$L" 'COS_OEM \(/dev/vda2\): cannot open'
check_not "3 check-uki: ...the root never ran" "$L" '^E2E root-init'
boot 3-nophase nophase
check "3 check-uki: booting nophase confirms it: OEM refused" "$L" 'COS_OEM \(/dev/vda2\): cannot open'
check_not "3 check-uki: ...the root never ran" "$L" '^E2E root-init'

echo "== 4 a PIN-bound DATA: a wrong PIN, the right one; then lockout"
boot 4-pinsetup v1 --mode pinsetup --fw-file recovery "$KEY"
check "4 pin: systemd-cryptsetup 252 opens DATA with kcrypt's recovery key" "$L" '^E2E sd-recovery-attach rc=0 mapped$'
check "4 pin: systemd-cryptenroll 252 made DATA's token PIN-bound (unlocked with the recovery key)" "$L" '^E2E pin-enroll rc=0$'
printf '4711' >"$M/pin"
printf '0000' >"$M/badpin"
atpm_up "$M"
tpm2_dictionarylockout -Q -s -n 5 -t 1000 -l 1000 && tpm2_dictionarylockout -Q -c
atpm_down_keep "$M"
boot 4-pin rescue --type 'TPM PIN for COS_DATA' "$M/badpin" --type 'TPM PIN for COS_DATA' "$M/pin"
check "4 pin: asked for the PIN, with the tries left" "$L" 'TPM PIN for COS_DATA \(/dev/vda4\), [0-9]+ tries left'
check "4 pin: the wrong PIN is named" "$L" 'COS_DATA \(/dev/vda4\): the TPM refused the PIN'
check "4 pin: the right one opens DATA" "$L" 'opened as /dev/mapper/data with tpm2'
good_boot "$L" "4 pin"
atpm_up "$M"
tpm2_dictionarylockout -Q -s -n 1 -t 1000 -l 1000 && tpm2_dictionarylockout -Q -c
atpm_down_keep "$M"
boot 4-lockout rescue --type 'TPM PIN for COS_DATA' "$M/badpin" \
	--type 'Recovery key or passphrase for COS_DATA' "$KEY"
check "4 lockout: the lockout is named" "$L" 'the TPM is in dictionary-attack lockout'
if [ "$(tr -d '\r' <"$L" | grep -c 'TPM PIN for COS_DATA')" -le 2 ]; then
	ok "4 lockout: ...and the PIN is not asked again"
else
	bad "4 lockout: the PIN was asked again after lockout"
fi
check "4 lockout: the recovery key opens DATA" "$L" 'opened as /dev/mapper/data with recovery key'
ran "4 lockout"

echo "== 5 headless: nobody types"
boot 5-headless rescue
# the lockout of 4 holds every DA-protected object, the legacy primary too:
# OEM and PERSISTENT are refused as well, and the prompt asks for all three
check "5 headless: the prompt was shown" "$L" 'Recovery key or passphrase for COS_OEM \(/dev/vda2\) and 1 more'

check "5 headless: the bounded wait ends (rd.kcrypt.prompt_timeout=45)" "$L" 'nobody gave a recovery key within 45 s'
check "5 headless: the emergency path" "$L" 'emergency\.target'
check_not "5 headless: the root never ran" "$L" '^E2E root-init'

echo "== boot wall times: ${TIMES[*]}"
echo "e2e-recovery: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
