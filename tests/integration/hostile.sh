#!/usr/bin/env bash
# Hostile input and careless operators: one regression test per defect the
# adversarial review found (issue 9), each named after it, on real LUKS2
# images (and a real swtpm where a TPM is involved). Every refusal must be
# one clear line, a non-zero exit, and an unchanged image.
# Usage: hostile.sh KCRYPT
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=$HERE/../tools
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

T=$(mktemp -d /tmp/kcrypt-hostile.XXXXXX)
export T
LOOP=
trap '[ -n "$LOOP" ] && losetup -d "$LOOP"; swtpm_stop; rm -rf "$T"' EXIT
cd "$T"
printf 'hostile-key' >key
mkdir nocfg
NC=(--cmdline "" --config-dir nocfg)

# edit_json IMG PYTHON: change the primary header's JSON (j), checksum redone
edit_json() {
	python3 "$TOOLS/luks_edit_json.py" "$1" "$2"
}

echo "== 9.5 status_never_repairs_an_inconsistent_header"
mkluks incons.img COS_OEM
edit_json incons.img "j['config']['json_size'] = str(int(j['config']['json_size']) - 4096)"
b=$(digest incons.img)
run status --device incons.img "${NC[@]}"
check "status on a header libcryptsetup would repair: the image is unchanged" test "$(digest incons.img)" = "$b"
run unlock --test incons.img --key-file key "${NC[@]}"
check "unlock --test on it: opens" rc_is 0
check "...image unchanged" test "$(digest incons.img)" = "$b"

echo "== 9.9 keyslots_size_is_bounded"
mkluks huge.img COS_OEM
edit_json huge.img "j['config']['keyslots_size'] = str(1 << 40)"
b=$(digest huge.img)
run unlock --test huge.img --key-file key "${NC[@]}"
# behaviour, not time: the copy is capped at the device size (20 MiB here)
check "a keyslots_size of 1 TiB: the header is read within the device's bounds" bash -c 'rc_is 0 || rc_is 3'
check "...the image is unchanged" test "$(digest huge.img)" = "$b"

echo "== 9.11 public_key_fifo_does_not_hang"
mkluks fifo.img COS_DATA
mkfifo pub.fifo
set +e
timeout 10 "$KCRYPT" enroll fifo.img --tpm --public-key pub.fifo --unlock-key-file key >"$T/out" 2>"$T/err"
RC=$?
set -e
check "enroll --public-key FIFO: refused at once (not a regular file), no hang" bash -c 'rc_is 4 && err_has "not a regular file"'

echo "== 9.11 label_lists_are_linear"
mkdir big && { printf '#cloud-config\ninstall:\n  encrypted_partitions:\n'; seq -f '    - L%g' 1 40000; } >big/1.yaml
run unlock-all --dry-run --cmdline "" --config-dir big --device fifo.img
check "40000 labels in a cloud-config: capped at 256 (so the scan stays small), one warning" bash -c 'rc_is 1 && [ "$(grep -c "more than 256 labels" "$T/err")" -eq 1 ]'

echo "== 9.11 terminal_escapes_in_labels_are_escaped"
mkluks esc.img "$(printf 'COS_\033[2J\033]0;x\007')"
run unlock --test esc.img --key-file key "${NC[@]}"
check "a label with escape sequences: logged as \\x1b, never raw" bash -c '! grep -q "$(printf "\033")" "$T/err" && grep -qF "\\x1b" "$T/err"'

echo "== 9.11 oem_config_warnings_are_reported (the warnings of every config read)"
mkdir badcfg && printf '#cloud-config\ninstall: [1\n' >badcfg/1.yaml
run unlock-all --test --key-file key --cmdline "" --config-dir badcfg --device fifo.img
check "a malformed cloud-config: exit 6 with its warning" bash -c 'rc_is 6 && err_has "badcfg/1.yaml"'

echo "== 9.12 exit codes and messages"
mkluks full.img COS_DATA
for i in $(seq 1 31); do
	printf 'k%s' "$i" >k.tmp
	cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file key full.img k.tmp
done
b=$(digest full.img)
expect "enroll with no free keyslot: exit 3, the reason" 3 "no free keyslot" \
	enroll full.img --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device swtpm:path=/nonexistent
check "...image unchanged" test "$(digest full.img)" = "$b"
if LOOP=$(losetup -r -f --show fifo.img 2>/dev/null); then
	expect "enroll on a read-only device: exit 3, the reason" 3 "read-only" \
		enroll "$LOOP" --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device swtpm:path=/nonexistent
	losetup -d "$LOOP"
	LOOP=
else
	bad "no loop device: the read-only case was not tested"
fi
run unlock-all --test "${NC[@]}" --device "$T/nocfg"
check "unlock-all --device DIR: exit 3, says so" bash -c 'rc_is 3 && err_has "nocfg: is a directory, not a device"'
expect "enroll --public-key-pcrs \"\": says why" 2 "signs nothing" \
	enroll fifo.img --tpm --public-key pub.fifo --public-key-pcrs "" --unlock-key-file key
expect "enroll --tpm-pcrs \"\" without a key: refused, not bound to nothing" 2 "bound to nothing" \
	enroll fifo.img --tpm --tpm-pcrs "" --unlock-key-file key
cp fifo.img broken.img
dd if=/dev/zero of=broken.img bs=4096 count=1 conv=notrunc status=none
dd if=/dev/zero of=broken.img bs=4096 seek=4 count=1 conv=notrunc status=none
printf 'LUKS\272\276' | dd of=broken.img conv=notrunc status=none
run status --device broken.img "${NC[@]}"
check "status with a header that cannot be loaded: exit 3" rc_is 3
printf 'kcrypt.mapper_names.COS_DATA=a/b\n' >badname
run unlock-all --test --key-file key --cmdline badname --config-dir nocfg --device fifo.img
check "a bad kcrypt.mapper_names value: reported (exit 6), not dropped silently" bash -c 'rc_is 6 && err_has "is not a valid device-mapper name"'

echo "== 9.12 no_tpm_means_no_tpm (systemd's plugin is not handed the token)"
swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:our-db"
mkluks tpm.img COS_DATA
"$KCRYPT" enroll tpm.img --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device "$TCTI" >/dev/null 2>&1
tpm_flush
run unlock --test tpm.img "${NC[@]}" --tpm-device "$TCTI"
check "control: the token opens it with the TPM" rc_is 0
run unlock --test --no-tpm tpm.img "${NC[@]}" --tpm-device "$TCTI"
check "--no-tpm: the systemd-tpm2 token is not used by anyone" bash -c 'rc_is 4 && ! err_has "verified"'

echo "== 9.7 reenroll_after_tpm_clear_enrolls"
run enroll tpm.img --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device "$TCTI"
check "control: the same policy again is a no-op" bash -c 'rc_is 0 && err_has "already enrolled"'
tpm2_clear >/dev/null	# a new storage seed; the PCRs are as they were
run unlock --test tpm.img "${NC[@]}" --tpm-device "$TCTI"
check "after tpm2_clear the old token no longer opens it" bash -c '! rc_is 0'
run enroll tpm.img --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device "$TCTI"
check "re-enroll after the clear: a new token (the old one does not load here)" bash -c 'rc_is 0 && err_has "does not load on this TPM" && err_has "enrolled systemd-tpm2 token"'
tpm_flush
run unlock --test tpm.img "${NC[@]}" --tpm-device "$TCTI"
check "...and the TPM opens the volume again" rc_is 0

echo "== 9.11 a_keyslot_kdf_cost_cannot_stall_the_boot"
mkluks slow.img COS_DATA
"$KCRYPT" enroll slow.img --tpm --tpm-pcrs 7 --unlock-key-file key --tpm-device "$TCTI" >/dev/null 2>&1
tpm_flush
edit_json slow.img "j['keyslots']['1']['kdf']['iterations'] = 4294967295"
run unlock --test slow.img "${NC[@]}" --tpm-device "$TCTI"
check "a TPM token whose keyslot asks for 4294967295 iterations: refused, not run" bash -c 'rc_is 4 && err_has "refusing to stall on it"'
check "...and nothing was left in the TPM" no_handles

echo "== 9.10 no_unsealed_secret_left_in_memory_at_exit"
# kcrypt's secrets start with "KCS1" and the (public) set id: scan a core
# of the process taken at its exit_group for them, raw and base64. ASan's
# shadow memory makes a core of terabytes: the plain build only.
# count CORE HEX...: occurrences of each byte string (hex), summed
count() {
	python3 - "$@" <<-'PY'
	import mmap, sys
	with open(sys.argv[1], 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
	    n = 0
	    for h in sys.argv[2:]:
	        p, i = bytes.fromhex(h), 0
	        while (i := m.find(p, i)) >= 0:
	            n, i = n + 1, i + 1
	    print(n)
	PY
}
if ldd "$KCRYPT" 2>/dev/null | grep -q libasan; then
	echo "(the ASan build: no core scan)"
else
	truncate -s 40M scan.img && mkfs.ext4 -q -L COS_DATA scan.img
	"$KCRYPT" encrypt COS_DATA --tpm --tpm-device "$TCTI" --no-mkfs --tpm-pcrs 7 --public-key-pcrs "" \
		--device scan.img >/dev/null 2>&1
	tpm_flush
	id=$("$KCRYPT" status --json --device scan.img "${NC[@]}" | jq -r '.volumes[0].volume_set.id')
	gdb -q -batch -ex 'set pagination off' -ex 'catch syscall exit_group' -ex run -ex "gcore $T/core" \
		--args "$KCRYPT" unlock --test scan.img "${NC[@]}" --tpm-device "$TCTI" >gdb.log 2>&1 || true
	tpm_flush
	claim=4b435331$id
	b64=$(printf '%s' "$claim" | xxd -r -p | head -c 18 | base64 | od -An -tx1 | tr -d ' \n')
	n=missing ctl=0
	[ -s "$T/core" ] && n=$(count "$T/core" "$claim" "$b64") && ctl=$(count "$T/core" "$id")
	check "the unseal ran under gdb" grep -q "key verified with tpm2" gdb.log
	check "no copy of the unsealed secret (raw or base64) in the process at exit (found: $n)" test "$n" = 0
	check "control: the same scan finds the public set id ($ctl copies)" test "$ctl" -gt 0
	rm -f "$T/core"
fi

echo "== 9.8 the_initrd_opens_only_expected_volumes"
mkluks stick.img OTHER_STICK
mkdir datacfg && printf '#cloud-config\ninstall:\n  encrypted_partitions: [COS_DATA]\n' >datacfg/1.yaml
mkdir -p ovl/u ovl/w
unshare -m -p -f --mount-proc sh -c '
	mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/ovl/u,workdir=$1/ovl/w" /etc &&
	touch /etc/initrd-release &&
	$2 "$3" unlock-all --test --key-file key --device tpm.img --device stick.img --cmdline "" \
		--config-dir "$1/datacfg" --tpm-device "$4"
	echo "rc=$?"' _ "$T" "${KCRYPT_WRAP:-}" "$KCRYPT" "$TCTI" >initrd.out 2>&1 || true
check "in an initrd: an unexpected volume is reported, not opened" bash -c 'grep -q "stick.img): not opened: not expected by this machine" initrd.out && ! grep -q "stick.img).*verified" initrd.out && grep -q "rc=0" initrd.out'
run unlock-all --test --key-file key --device stick.img "${NC[@]}"
check "on the running system it is still tried" bash -c 'rc_is 0 && err_has "stick.img): key verified"'

summary hostile
