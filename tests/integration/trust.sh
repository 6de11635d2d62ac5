#!/usr/bin/env bash
# Is the disk this machine's own? The volume set and the plaintext-downgrade
# refusal (threat model: tests/THREAT-MODEL.md), against a real swtpm and
# real LUKS2 images. Every attacker artefact is made with host tools
# (cryptsetup, kcrypt enroll on the same TPM, as an attacker with the SRK's
# public part could seal offline), never through a switch in kcrypt.
# Keys are verified with --test (no device-mapper here). Usage: trust.sh KCRYPT
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

T=$(mktemp -d /tmp/kcrypt-trust.XXXXXX)
export T
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"
printf 'attacker-key' >key
mkdir cfg
printf '#cloud-config\ninstall:\n  encrypted_partitions:\n    - COS_DATA\n' >cfg/90_custom.yaml

swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:our-db"
fsimg() { rm -f "$1"; truncate -s 40M "$1"; mkfs.ext4 -q -L "$2" "$1"; }
uuid_of() { cryptsetup luksUUID "$1"; }
GENUINE=(oem.img per.img data.img)
dev_args() { local a=() i; for i in "$@"; do a+=(--device "$i"); done; echo "${a[@]}"; }
UA=(--cmdline "" --config-dir cfg --tpm-device "$TCTI")
ENC=(--tpm --tpm-device "$TCTI" --no-mkfs --tpm-pcrs 7 --public-key-pcrs "")

echo "== the installer: three encrypts, one volume set"
fsimg oem.img COS_OEM
fsimg per.img COS_PERSISTENT
fsimg data.img COS_DATA
# shellcheck disable=SC2046
run encrypt COS_OEM "${ENC[@]}" $(dev_args "${GENUINE[@]}")
check "encrypt COS_OEM: a new set" bash -c 'rc_is 0 && err_has "member of volume set"'
# shellcheck disable=SC2046
run encrypt COS_PERSISTENT "${ENC[@]}" $(dev_args "${GENUINE[@]}")
check "encrypt COS_PERSISTENT: joins the set of COS_OEM (its TPM token opened it)" bash -c 'rc_is 0 && err_has "joining the volume set of COS_OEM (oem.img)"'
# shellcheck disable=SC2046
run encrypt COS_DATA "${ENC[@]}" $(dev_args "${GENUINE[@]}")
check "encrypt COS_DATA: joins too" bash -c 'rc_is 0 && err_has "joining the volume set"'
tpm_flush
# shellcheck disable=SC2046
run status --json --cmdline "" --config-dir cfg $(dev_args "${GENUINE[@]}")
check "status: all three bound to one set" bash -c 'rc_is 0 && jq_is "[.volumes[].volume_set.state] | unique | join(\",\")" bound && jq_is "[.volumes[].volume_set.id] | unique | length" 1'
# shellcheck disable=SC2046
run status --cmdline "" --config-dir cfg $(dev_args "${GENUINE[@]}")
check "status (text): a SET column" bash -c 'out_has "SET" && [ "$(grep -c " bound:" "$T/out")" -eq 3 ]'
before=$(digest "${GENUINE[@]}")
# shellcheck disable=SC2046
run unlock-all --test --json "${UA[@]}" $(dev_args "${GENUINE[@]}")
check "unlock-all: the three prove their membership with their volume keys" bash -c 'rc_is 0 && err_has "3 volume(s) proved their membership of volume set" && jq_is "[.volumes[].result] | unique | join(\",\")" verified'
check "unlock-all: each TPM secret names the set (52 bytes: KCS1, id, random)" bash -c '! err_has "not bound"'
check "no transient objects or sessions left" no_handles

echo "== attacker: a LUKS2 volume of their own, genuine label and UUID, a token this TPM unseals"
# evil LABEL UUID IMG: what an attacker with the disk and the SRK public part makes
evil() {
	rm -f "$3"
	mkluks "$3" "$1" --uuid "$2"
	"$KCRYPT" enroll "$3" --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device "$TCTI" >/dev/null 2>&1
	tpm_flush
}
evil COS_PERSISTENT "$(uuid_of per.img)" evil-per.img
evil COS_OEM "$(uuid_of oem.img)" evil-oem.img
evil COS_DATA "$(uuid_of data.img)" evil-data.img
check "the attacker's tokens really unseal on this TPM" bash -c '"$1" unlock --test evil-per.img --cmdline "" --config-dir cfg --tpm-device "$2" 2>/dev/null' _ "$KCRYPT" "$TCTI"
for swap in oem per data; do
	set -- oem.img per.img data.img
	imgs=()
	for i in "$@"; do if [ "$i" = "$swap.img" ]; then imgs+=("evil-$swap.img"); else imgs+=("$i"); fi; done
	b=$(digest "${imgs[@]}")
	# shellcheck disable=SC2046
	run unlock-all --test --json "${UA[@]}" $(dev_args "${imgs[@]}")
	check "swap $swap: refused, exit 7, the swapped volume named" bash -c 'rc_is 7 && err_has "(evil-'"$swap"'.img): does not belong to the volume set" && err_has "refusing the whole volume set"'
	check "swap $swap: no volume verified (all or nothing)" bash -c 'jq_is "[.volumes[] | select(.result == \"verified\")] | length" 0 && jq_is ".expected_open" false'
	check "swap $swap: headers untouched" test "$(digest "${imgs[@]}")" = "$b"
done

echo "== attacker: the genuine binding token copied onto their volume"
cp evil-oem.img copy-oem.img
cryptsetup token export --token-id 1 oem.img >set-token.json
cryptsetup token import --json-file set-token.json copy-oem.img
run unlock-all --test "${UA[@]}" --device copy-oem.img --device per.img --device data.img
check "copied binding: does not verify with their volume key" bash -c 'rc_is 7 && err_has "COS_OEM (copy-oem.img): does not belong.*was not made with its volume key"'

echo "== attacker: the binding stripped from a genuine member, OEM replaced by an unbound one"
cp per.img strip-per.img
cryptsetup token remove --token-id 1 strip-per.img
run unlock-all --test "${UA[@]}" --device evil-oem.img --device strip-per.img
check "stripped binding: the TPM secret still names the set" bash -c 'rc_is 7 && err_has "strip-per.img): does not belong.*TPM secret names volume set .* no kcrypt-set token (removed?)"'

echo "== attacker: a byte copy of a genuine volume posing as another (same UUID)"
cp per.img dup.img
run unlock-all --test "${UA[@]}" --device oem.img --device per.img --device dup.img
check "duplicate UUID: both refused" bash -c '! rc_is 0 && err_has "LUKS UUID .* is on both"'

echo "== attacker: nothing changed by any refusal"
check "genuine headers untouched by all of the above" test "$(digest "${GENUINE[@]}")" = "$before"

echo "== volumes from before the set (or systemd's): open, loudly; kcrypt bind binds them"
rm -f old-oem.img old-per.img
mkluks old-oem.img COS_OEM
mkluks old-per.img COS_PERSISTENT
run unlock-all --test --key-file key --cmdline "" --config-dir nocfg-missing --tpm-device "$TCTI" --device old-oem.img --device old-per.img
check "unbound set: opens, with a warning naming the command" bash -c 'rc_is 0 && err_has "warning: 2 volumes are NOT BOUND to a volume set" && err_has "kcrypt bind"'
printf 'kcrypt.volume_set=required\n' >strict
run unlock-all --test --key-file key --cmdline strict --config-dir nocfg-missing --tpm-device "$TCTI" --device old-oem.img --device old-per.img
check "kcrypt.volume_set=required: an unbound set is refused" bash -c 'rc_is 7 && err_has "not bound and kcrypt.volume_set=required"'
run bind --key-file key --cmdline "" --config-dir nocfg-missing --tpm-device "$TCTI" --device old-oem.img --device old-per.img
check "bind: both bound" bash -c 'rc_is 0 && [ "$(grep -c "bound to volume set" "$T/err")" -eq 2 ]'
run bind --key-file key --cmdline "" --config-dir nocfg-missing --tpm-device "$TCTI" --device old-oem.img --device old-per.img
check "bind again: nothing to do" bash -c 'rc_is 0 && err_has "nothing to bind"'
rm -f old-data.img && mkluks old-data.img COS_DATA
run bind --key-file key "${UA[@]}" --device old-oem.img --device old-per.img --device old-data.img
check "bind: a later volume joins the same set" bash -c 'rc_is 0 && [ "$(grep -c "bound to volume set" "$T/err")" -eq 1 ]'
run bind --key-file key "${UA[@]}" --device old-oem.img --device per.img
check "bind: volumes of two sets are not merged" bash -c '! rc_is 0 && err_has "bound to another volume set"'
run enroll old-per.img --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device "$TCTI"
check "enroll on a member" rc_is 0
tpm_flush
cryptsetup luksKillSlot -q old-per.img 0 </dev/null 2>/dev/null
run unlock-all --test --json "${UA[@]}" --key-file key --device old-oem.img --device old-per.img --device old-data.img
check "...its new token's secret names the set: all three proved" bash -c 'rc_is 0 && err_has "3 volume(s) proved their membership" && jq_is ".volumes[1].source" tpm2'
cp old-per.img strip2.img
tok=$(cryptsetup luksDump --dump-json-metadata strip2.img | jq -r '.tokens | to_entries[] | select(.value.type == "kcrypt-set") | .key')
cryptsetup token remove --token-id "$tok" strip2.img
run unlock --test strip2.img --cmdline "" --config-dir cfg --tpm-device "$TCTI"
check "...so stripping that member's binding is noticed, even alone" bash -c 'rc_is 7 && err_has "no kcrypt-set token (removed?)"'

echo "== a second unseal after the initrd: PCR 15 is bound to zero"
run status --json --cmdline "" --config-dir cfg --device data.img
check "kcrypt's tokens bind PCR 15 (to zero) beside PCR 7" jq_is '.volumes[0].tokens[] | select(.type == "systemd-tpm2") | .tpm2.pcrs | join(",")' "7,15"
rm -f nopcr15.img && mkluks nopcr15.img COS_DATA
"$KCRYPT" enroll nopcr15.img --tpm --tpm-pcrs 7 --no-pcr15 --unlock-key-file key --tpm-device "$TCTI" >/dev/null 2>&1
tpm_flush
pcr_extend 15 "cryptsetup:data:a-volume-key-hmac"	# what the initrd does after its unseals
run unlock --test data.img --cmdline "" --config-dir cfg --tpm-device "$TCTI"
check "after a PCR 15 measurement, root cannot unseal again (named)" bash -c 'rc_is 4 && err_has "PCR 15 is no longer zero"'
run unlock --test nopcr15.img --cmdline "" --config-dir cfg --tpm-device "$TCTI"
check "--no-pcr15: the PCR 7-only token still unseals (the operator's choice)" rc_is 0
swtpm_start --log level=0	# a new boot: PCRs reset
pcr_extend 7 "secure-boot-policy:our-db"

echo "== the TPM device must be a TPM (a LUKS partition named as the TPM would be overwritten)"
b=$(digest per.img)
for spec in "$T/per.img" "device:$T/per.img" /dev/null; do
	run unlock --test oem.img --cmdline "" --config-dir cfg --tpm-device "$spec"
	check "tpm device $spec: refused, not written" bash -c 'rc_is 4 && err_has "is not a TPM character device"'
done
check "...the image named as the TPM is untouched" test "$(digest per.img)" = "$b"
mkdir tpmcfg && printf '#cloud-config\nkcrypt:\n  tpm_device: %s\n' "$T/per.img" >tpmcfg/1.yaml
run unlock-all --test --cmdline "" --config-dir tpmcfg --device oem.img --device per.img
check "kcrypt.tpm_device from a cloud-config: ignored, with a warning" bash -c 'err_has "kcrypt.tpm_device is ignored here" && ! err_has "is not a TPM character device"'

echo "== plaintext downgrade (a measured UKI boot, as the efivars say)"
# measured ARGS...: kcrypt where StubPcrKernelImage exists, as under systemd-stub
measured() {
	set +e
	# shellcheck disable=SC2086
	unshare -m sh -c 'mount -t tmpfs tmpfs /sys/firmware && mkdir -p /sys/firmware/efi/efivars &&
		touch /sys/firmware/efi/efivars/StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f &&
		exec "$@"' _ ${KCRYPT_WRAP:-} "$KCRYPT" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	export RC
}
fsimg plain-oem.img COS_OEM
fsimg plain-per.img COS_PERSISTENT
fsimg plain-oem2.img COS_OEM_LUKS
measured unlock-all --test --json "${UA[@]}" --device plain-oem.img --device per.img --device data.img
check "plaintext COS_OEM in place of the LUKS one: refused by name, exit 7" bash -c 'rc_is 7 && err_has "plain-oem.img: refused: ext4, not LUKS2 but bears the protected name COS_OEM" && jq_is "[.volumes[] | select(.result == \"verified\")] | length" 0'
measured unlock-all --test "${UA[@]}" --device oem.img --device plain-per.img --device data.img
check "plaintext COS_PERSISTENT: refused" bash -c 'rc_is 7 && err_has "protected name COS_PERSISTENT"'
measured unlock-all --test "${UA[@]}" --device plain-oem2.img --device per.img --device data.img
check "plaintext COS_OEM_LUKS (the _LUKS form): refused" bash -c 'rc_is 7 && err_has "protected name COS_OEM "'
measured unlock-all --test "${UA[@]}" --device oem.img --device per.img --device data.img --device plain-oem.img
check "a plaintext COS_OEM twin beside the genuine one: refused" bash -c 'rc_is 7 && err_has "plain-oem.img: refused"'
fsimg plain-data.img COS_DATA
measured unlock-all --test "${UA[@]}" --device oem.img --device per.img --device data.img --device plain-data.img
check "a listed label (install.encrypted_partitions) is protected too" bash -c 'rc_is 7 && err_has "protected name COS_DATA"'
printf 'kcrypt.allow_plaintext=COS_OEM\n' >allow
measured unlock-all --test --cmdline allow --config-dir cfg --tpm-device "$TCTI" --device plain-oem.img --device per.img --device data.img
check "kcrypt.allow_plaintext=COS_OEM on the command line: a plaintext OEM by design" bash -c 'rc_is 0 && ! err_has "refused"'
mkdir allowcfg && printf '#cloud-config\nkcrypt:\n  allow_plaintext: COS_OEM\n' >allowcfg/1.yaml
measured unlock-all --test --cmdline "" --config-dir allowcfg --tpm-device "$TCTI" --device plain-oem.img --device per.img
check "...but never from a cloud-config file" bash -c 'rc_is 7 && err_has "ignored here: only the kernel command line sets it"'
run unlock-all --test "${UA[@]}" --device plain-oem.img --device per.img --device data.img
check "not a measured boot: plaintext OEM allowed (non-UKI Kairos)" rc_is 0

echo "== a measurement that fails fails closed (the TPM refuses from the first command)"
# measured_hook SCRIPT: a boot-phase script with kcrypt on PATH, a private
# /run (marker of enter-initrd) and efivars saying "measured UKI"
mkdir -p bin && ln -sf "$KCRYPT" bin/kcrypt
run_phase() {
	set +e
	unshare -m sh -c 'mount -t tmpfs tmpfs /sys/firmware && mkdir -p /sys/firmware/efi/efivars &&
		touch /sys/firmware/efi/efivars/StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f &&
		mount -t tmpfs tmpfs /run && mkdir -p /run/kcrypt && { [ "$1" = pre ] || touch /run/kcrypt/pcrphase-enter-initrd; } &&
		shift && PATH="$PWD/bin:$PATH" exec "$@"' _ "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	export RC
}
export KCRYPT_TPM2_DEVICE=swtpm:path=$T/no-tpm.sock
run_phase pre kcrypt pcrphase enter-initrd
check "enter-initrd cannot be measured: exit 4, says so" bash -c 'rc_is 4 && err_has "pcrphase enter-initrd: no TPM"'
run_phase post sh "$HERE/../../hooks/kcrypt-leave-initrd.sh"
check "leave-initrd cannot be measured: the hook fails (the initrd then stops the boot)" bash -c '! rc_is 0 && err_has "refusing to switch to the root"'
unset KCRYPT_TPM2_DEVICE
run_phase post sh "$HERE/../../hooks/kcrypt-leave-initrd.sh"
check "the same with no TPM at all (auto finds none)" bash -c '! rc_is 0'

summary trust
