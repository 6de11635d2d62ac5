#!/usr/bin/env bash
# Integration tests of kcrypt on real LUKS2 images (no device-mapper here:
# keys are verified with --test). Usage: run.sh /path/to/kcrypt
# Checks run as `bash -c '...' _ ARGS`: the single quotes are deliberate.
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"

T=$(mktemp -d /tmp/kcrypt-it.XXXXXX)
export T
LOOPS=()
cleanup() {
	for l in "${LOOPS[@]:-}"; do
		if [ -n "$l" ]; then losetup -d "$l" 2>/dev/null || true; fi
	done
	keyctl purge user kcrypt-it-token >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
cd "$T"

PASS='correct horse battery staple'
printf '%s' "$PASS" >key
printf 'wrong' >wrongkey
: >emptykey
mkdir keydir cfg nocfg

mkluks oem.img COS_OEM --uuid 8bfa06f9-ca4f-56dc-90c9-49cf20f4f45e
mkluks pers.img COS_PERSISTENT_LUKS
mkluks data.img COS_DATA
mkluks other.img ""
truncate -s 8M plain.img && mkfs.ext4 -q -L COS_PLAIN plain.img
truncate -s 20M luks1.img
cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 --key-file key luks1.img
chmod 644 ./*.img

cat >cfg/90_custom.yaml <<'Y'
#cloud-config
install:
  encrypted_partitions:
  - COS_PERSISTENT
  - COS_DATA
  extra-partitions:
  - name: data
    label: COS_DATA
    size: 10
kcrypt:
  mapper_names:
    COS_PERSISTENT: persistent
Y
printf 'install:\n  encrypted_partitions: [IGNORED_NO_HEADER]\n' >cfg/10_noheader.yaml

ALL=(--device oem.img --device pers.img --device data.img --device other.img --device plain.img)
BASE=(--cmdline "" --config-dir cfg)
IMAGES=(oem.img pers.img data.img other.img luks1.img)
before=$(digest "${IMAGES[@]}")

echo "== status"
run status "${BASE[@]}" "${ALL[@]}"
check "status lists the four LUKS volumes, not the ext4 one" \
	bash -c '[ "$(grep -c "\.img" "$1")" -eq 4 ] && ! grep -q plain.img "$1"' _ "$T/out"
check "status exits 0" rc_is 0
check "status text shows identity and role" grep -q 'pers.img .*COS_PERSISTENT .*persistent .*yes' "$T/out"

cryptsetup token import --json-file - --token-id 3 data.img <<<'{"type":"kcrypt-test","keyslots":["0"]}'
run status --json "${BASE[@]}" "${ALL[@]}"
check "status --json exits 0" rc_is 0
check "json: four volumes" jq_is '.volumes | length' 4
check "json: OEM first, by label" jq_is '.volumes[0].label' COS_OEM
check "json: OEM device" jq_is '.volumes[0].device' oem.img
check "json: OEM uuid is the Kairos v5 uuid" jq_is '.volumes[0].uuid' 8bfa06f9-ca4f-56dc-90c9-49cf20f4f45e
check "json: OEM role" jq_is '.volumes[0].role' oem
check "json: OEM expected" jq_is '.volumes[0].expected' true
check "json: OEM not active" jq_is '.volumes[0].active' false
check "json: OEM luks_version" jq_is '.volumes[0].luks_version' 2
check "json: OEM mapper from label" jq_is '.volumes[0].mapper' COS_OEM
check "json: OEM keyslots" jq_is '.volumes[0].keyslots | join(",")' 0
check "json: OEM no tokens" jq_is '.volumes[0].tokens | length' 0
check "json: OEM header ok" jq_is '.volumes[0].header' ok
check "json: OEM no partname" jq_is '.volumes[0].partname' null
check "json: persistent identity strips _LUKS" jq_is '.volumes[1].label' COS_PERSISTENT
check "json: persistent LUKS2 label kept" jq_is '.volumes[1].luks_label' COS_PERSISTENT_LUKS
check "json: persistent mapper from config" jq_is '.volumes[1].mapper' persistent
check "json: listed extra volume" jq_is '.volumes[] | select(.device=="data.img") | .role' listed
check "json: listed volume expected" jq_is '.volumes[] | select(.device=="data.img") | .expected' true
check "json: token id" jq_is '.volumes[] | select(.device=="data.img") | .tokens[0].id' 3
check "json: token type" jq_is '.volumes[] | select(.device=="data.img") | .tokens[0].type' kcrypt-test
check "json: token keyslots" jq_is '.volumes[] | select(.device=="data.img") | .tokens[0].keyslots | join(",")' 0
check "json: unlisted volume" jq_is '.volumes[] | select(.device=="other.img") | .role' unlisted
check "json: unlisted not expected" jq_is '.volumes[] | select(.device=="other.img") | .expected' false
check "json: unlisted has no label" jq_is '.volumes[] | select(.device=="other.img") | .label' null
check "json: unlisted mapper from kernel name" jq_is '.volumes[] | select(.device=="other.img") | .mapper' other.img
check "json: header-less yaml not merged" bash -c '! grep -q IGNORED_NO_HEADER "$1"' _ "$T/out"
cryptsetup token remove --token-id 3 data.img
before=$(digest "${IMAGES[@]}")

echo "== unlock-all --test"
run unlock-all --test --key-file key "${BASE[@]}" "${ALL[@]}"
check "unlock-all --test exits 0" rc_is 0
check "unlock-all --test verifies all four" bash -c '[ "$(grep -c "key verified" "$1")" -eq 4 ]' _ "$T/err"
run unlock-all --test --json --key-file key "${BASE[@]}" "${ALL[@]}"
check "json: mode test" jq_is '.mode' test
check "json: all verified" jq_is '[.volumes[].result] | unique | join(",")' verified
check "json: source key-file" jq_is '.volumes[0].source' key-file
check "json: keyslot 0" jq_is '.volumes[0].keyslot' 0
check "json: expected_open" jq_is '.expected_open' true
run unlock-all --test --key-file key "${BASE[@]}" "${ALL[@]}"
check "unlock-all twice: same result" rc_is 0
check "key file via stdin" bash -c '"$1" unlock-all --test --key-file - --cmdline "" --config-dir nocfg --device oem.img <key 2>/dev/null' _ "$KCRYPT"

head -c 100000 /dev/urandom >binkey
cp oem.img binkey.img
cryptsetup luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file key binkey.img binkey
check "binary 100 kB key through a pipe" bash -c 'cat binkey | "$1" unlock --test --key-file - --cmdline "" --config-dir nocfg binkey.img 2>/dev/null' _ "$KCRYPT"

echo "== already active volumes are skipped"
uuid=$(cryptsetup luksUUID pers.img | tr -d -)
mkdir -p sys/block/dm-0/dm
echo "CRYPT-LUKS2-$uuid-persistent" >sys/block/dm-0/dm/uuid
echo persistent >sys/block/dm-0/dm/name
run unlock-all --test --json --key-file key --sysfs sys "${BASE[@]}" "${ALL[@]}"
check "active: exits 0" rc_is 0
check "active: persistent skipped" jq_is '.volumes[1].result' skipped
check "active: reports its mapper" jq_is '.volumes[1].mapper' persistent
check "active: others still verified" jq_is '.volumes[0].result' verified
run unlock-all --test --key-file key --sysfs sys "${BASE[@]}" "${ALL[@]}"
check "active: second run is the same" bash -c 'rc_is 0 && grep -q "already open as /dev/mapper/persistent" "$1"' _ "$T/err"

echo "== dry run"
run unlock-all --dry-run "${BASE[@]}" "${ALL[@]}"
check "dry-run exits 0 without a key" rc_is 0
check "dry-run prints the plan" out_has 'open COS_PERSISTENT (pers.img) as /dev/mapper/persistent'
check "dry-run marks unexpected" out_has 'open other.img as /dev/mapper/other.img (not expected)'
run unlock --dry-run --json oem.img myname "${BASE[@]}"
check "unlock NAME dry-run" jq_is '.volumes[0].mapper' myname

echo "== unlock DEVICE"
run unlock --test --key-file key data.img "${BASE[@]}"
check "unlock one: exit 0" rc_is 0
check "unlock one: verified" err_has 'COS_DATA (data.img): key verified with key-file (keyslot 0)'
run unlock --test --key-file key other.img "${BASE[@]}"
check "unlock unlisted one: exit 0" rc_is 0

echo "== tokens libcryptsetup can use (kernel keyring token)"
cp data.img tok.img
cryptsetup token add --key-description kcrypt-it-token tok.img
keyctl padd user kcrypt-it-token @u <key >/dev/null
run unlock --test --json tok.img "${BASE[@]}"
check "token: opened without key file" jq_is '.volumes[0].source' token
check "token: exit 0" rc_is 0
run unlock --test --no-tokens tok.img "${BASE[@]}"
check "token: --no-tokens leaves no key source" bash -c 'rc_is 4 && err_has "no key source"'
keyctl purge user kcrypt-it-token >/dev/null

echo "== bad input"
expect "unknown command" 2 "unknown command 'frobnicate'" frobnicate
expect "unknown flag" 2 "unknown option '--frob'" unlock-all --frob
expect "flag of another command" 2 "option --key-file does not apply" status --key-file key
expect "missing argument" 2 "wrong number of arguments" unlock
expect "too many arguments" 2 "wrong number of arguments" unlock a b c
expect "--test with --dry-run" 2 "exclude each other" unlock-all --test --dry-run
expect "missing device" 3 "/nonexistent.img: no such device" unlock --test --key-file key /nonexistent.img "${BASE[@]}"
expect "device is a directory" 3 "keydir: is a directory" unlock --test --key-file key keydir "${BASE[@]}"
expect "not LUKS" 3 "plain.img: not a LUKS volume" unlock --test --key-file key plain.img "${BASE[@]}"
expect "LUKS1" 3 "only LUKS2 is supported" unlock --test --key-file key luks1.img "${BASE[@]}"
expect "wrong key file" 4 "COS_OEM (oem.img): cannot open: key file wrongkey opens no keyslot$" unlock --test --no-tokens --key-file wrongkey oem.img "${BASE[@]}"
expect "empty key file" 4 "emptykey: key file is empty" unlock --test --key-file emptykey oem.img "${BASE[@]}"
expect "key file is a directory" 4 "keydir: key file is a directory" unlock --test --key-file keydir oem.img "${BASE[@]}"
head -c 9000000 /dev/zero >hugekey
expect "key file over 8 MiB" 4 "hugekey: key file is larger than 8388608 bytes" unlock --test --key-file hugekey oem.img "${BASE[@]}"
expect "key file missing" 4 "nokey: cannot read key file: No such file" unlock --test --key-file nokey oem.img "${BASE[@]}"
expect "missing --device in a scan" 3 "gone.img: no such device" status --device gone.img "${BASE[@]}"
expect "bad mapper name" 3 "not a valid mapper name" unlock --test --key-file key oem.img bad/name "${BASE[@]}"

run unlock-all --test --key-file wrongkey --no-tokens "${BASE[@]}" "${ALL[@]}"
check "unlock-all wrong key: exit 1" rc_is 1
check "unlock-all wrong key: error per expected volume" bash -c '[ "$(grep -c "cannot open: key file wrongkey opens no keyslot" "$1")" -eq 3 ]' _ "$T/err"
check "unlock-all wrong key: unlisted is only a warning" err_has 'warning: other.img: not opened: key file wrongkey opens no keyslot$'

# an old Kairos OEM: LUKS1, known by its v5 UUID only
truncate -s 20M luks1-oem.img
cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 --key-file key \
	--uuid 8bfa06f9-ca4f-56dc-90c9-49cf20f4f45e luks1-oem.img
run unlock-all --test --key-file key --cmdline "" --config-dir nocfg --device luks1-oem.img --device pers.img
check "unlock-all with an expected LUKS1 volume: exit 1" rc_is 1
check "unlock-all LUKS1: names it" err_has "COS_OEM (luks1-oem.img): cannot open: LUKS1 volume: only LUKS2 is supported"
check "unlock-all LUKS1: goes on with the others" err_has "COS_PERSISTENT (pers.img): key verified"

echo "== damaged headers"
cp oem.img both.img
cp oem.img one.img
cp oem.img sec.img
printf 'XXXXXXXXXXXXXXXX' | dd of=both.img bs=1 seek=4200 conv=notrunc status=none
printf 'XXXXXXXXXXXXXXXX' | dd of=both.img bs=1 seek=$((16384 + 4200)) conv=notrunc status=none
printf 'XXXXXXXXXXXXXXXX' | dd of=one.img bs=1 seek=4200 conv=notrunc status=none
printf 'XXXXXXXXXXXXXXXX' | dd of=sec.img bs=1 seek=$((16384 + 4200)) conv=notrunc status=none
dmg=$(digest both.img one.img sec.img)
expect "both header copies damaged" 3 "LUKS2 header is damaged: no valid copy" unlock --test --key-file key both.img "${BASE[@]}"
run unlock --test --key-file key one.img "${BASE[@]}"
check "primary damaged: still opens from the secondary" bash -c 'rc_is 0 && err_has "key verified"'
check "primary damaged: says so" err_has "primary LUKS2 header copy is damaged or stale; using the secondary copy without repairing"
run unlock --test --json --key-file key sec.img "${BASE[@]}"
check "secondary damaged: opens, flagged degraded" bash -c 'rc_is 0 && jq_is ".volumes[0].header_degraded" true'
run status --json "${BASE[@]}" --device one.img --device both.img
check "status: degraded header shown" jq_is '.volumes[] | select(.device=="one.img") | .header' degraded
check "status: damaged header shown" jq_is '.volumes[] | select(.device=="both.img") | .error | test("damaged")' true
check "damaged headers are never written (repair is the user's call)" [ "$dmg" = "$(digest both.img one.img sec.img)" ]

echo "== duplicate labels"
cp pers.img dup.img
cryptsetup luksUUID -q --uuid "$(cat /proc/sys/kernel/random/uuid)" dup.img
run unlock-all --test --key-file key "${BASE[@]}" --device pers.img --device dup.img --device oem.img
check "duplicate labels: exit 1" rc_is 1
check "duplicate labels: names both" err_has 'label COS_PERSISTENT is on both pers.img and dup.img: refusing to guess'
check "duplicate labels: OEM still verified" err_has 'COS_OEM (oem.img): key verified'
run unlock --test --key-file key dup.img "${BASE[@]}"
check "explicit unlock of one of them works" rc_is 0

echo "== configuration problems never stop unlocking"
mkdir badcfg
printf '#cloud-config\ninstall:\n  encrypted_partitions: [COS_DATA\n  oops: : :\n' >badcfg/50_broken.yaml
run unlock-all --test --key-file key --cmdline "" --config-dir badcfg "${ALL[@]}"
check "malformed YAML: exit 6 (done, config ignored)" rc_is 6
check "malformed YAML: path and line" err_has 'badcfg/50_broken.yaml:[0-9]*: malformed YAML'
check "malformed YAML: volumes still verified" bash -c '[ "$(grep -c "key verified" "$1")" -eq 4 ]' _ "$T/err"

mkdir typecfg
printf '#cloud-config\ninstall:\n  encrypted_partitions: 5\n' >typecfg/a.yaml
run unlock-all --test --key-file key --cmdline "" --config-dir typecfg "${ALL[@]}"
check "wrong types: exit 6" rc_is 6
check "wrong types: names key, file and line" err_has 'typecfg/a.yaml:3: install.encrypted_partitions: expected a list of labels, got a scalar'

mkdir hugecfg
{ echo '#cloud-config'; head -c 10485760 /dev/zero | tr '\0' 'a'; } >hugecfg/huge.yaml
start=$(date +%s%N)
run unlock-all --test --key-file key --cmdline "" --config-dir hugecfg "${ALL[@]}"
ms=$((($(date +%s%N) - start) / 1000000))
check "huge YAML (10 MB): exit 6" rc_is 6
check "huge YAML: refused unread" err_has 'huge.yaml: file is larger than 1048576 bytes, skipped'
echo "     (huge YAML run took ${ms} ms)"

printf 'not a dir' >cfgfile
run unlock-all --test --key-file key --cmdline "" --config-dir cfgfile "${ALL[@]}"
check "config dir is a file: exit 6" bash -c 'rc_is 6 && err_has "cfgfile: cannot read config directory: Not a directory"'

mkdir lockedcfg && cp cfg/90_custom.yaml lockedcfg/ && chmod 000 lockedcfg
# the checkout may sit in a 0700 directory: give nobody its own copy
install -m 0755 "$KCRYPT" "$T/kcrypt-for-nobody"
run_as_nobody() {
	set +e
	# shellcheck disable=SC2086
	setpriv --reuid=65534 --regid=65534 --clear-groups ${KCRYPT_WRAP:-} "$T/kcrypt-for-nobody" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	export RC
}
run_as_nobody unlock-all --dry-run --cmdline "" --config-dir lockedcfg --device oem.img
check "unreadable config dir: exit 6 with a clear line" bash -c 'rc_is 6 && err_has "lockedcfg: cannot read config directory: Permission denied"'

printf 'quiet rd.kcrypt.debug rd.kcrypt.timeout=nope kcrypt.encrypted_partitions=COS_MISSING\n' >cmdline
run unlock-all --test --key-file key --cmdline cmdline --config-dir nocfg "${ALL[@]}"
check "command line: debug turned on" err_has 'kcrypt: debug:'
check "command line: bad value is reported" err_has 'kernel command line: kcrypt.timeout:'
check "listed but missing volume: exit 1 naming it" bash -c 'rc_is 1 && err_has "no LUKS volume with label COS_MISSING was found"'
printf 'rd.kcrypt=0\n' >cmdline-off
run unlock-all --test --key-file key --cmdline cmdline-off --config-dir nocfg "${ALL[@]}"
check "rd.kcrypt=0 disables" bash -c 'rc_is 0 && err_has "disabled by rd.kcrypt=0"'

echo "== discovery through libblkid's device scan (loop devices)"
if losetup -f >/dev/null 2>&1; then
	for img in oem.img pers.img; do
		cp "$img" "loop-$img"
		LOOPS+=("$(losetup -f --show "loop-$img")")
	done
	run status --json "${BASE[@]}"
	check "scan finds the loop-backed OEM" jq_is "[.volumes[] | select(.device==\"${LOOPS[0]}\") | .label] | join(\",\")" COS_OEM
	check "scan finds the loop-backed PERSISTENT" jq_is "[.volumes[] | select(.device==\"${LOOPS[1]}\") | .label] | join(\",\")" COS_PERSISTENT
	run unlock-all --test --key-file key "${BASE[@]}"
	# shellcheck disable=SC2016
	check "unlock-all over the scan verifies them" bash -c 'err_has "COS_OEM (${1}): key verified" && err_has "COS_PERSISTENT (${2}): key verified"' _ "${LOOPS[0]}" "${LOOPS[1]}"
else
	bad "loop devices unavailable: the scan path was not tested"
fi

echo "== in an initrd (as a child of PID 1), messages also go to /dev/kmsg"
# a private mount and PID namespace: /etc/initrd-release exists only there,
# and the shell is PID 1 so kcrypt's parent is PID 1, as under dracut
marker=kmsg-$RANDOM$RANDOM
cp oem.img "$marker.img"
mkdir -p ovl/u ovl/w
unshare -m -p -f --mount-proc sh -c '
	mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/ovl/u,workdir=$1/ovl/w" /etc &&
	touch /etc/initrd-release &&
	$2 "$3" unlock --test --key-file key "$4.img" --cmdline "" --config-dir nocfg 2>/dev/null
	echo "rc=$?"' _ "$T" "${KCRYPT_WRAP:-}" "$KCRYPT" "$marker" >kmsg-run.out 2>&1 || true
check "initrd: kcrypt still succeeds" grep -q 'rc=0' kmsg-run.out
check "initrd: the line reached the kernel log" bash -c 'dmesg | grep -q "kcrypt: COS_OEM ($1.img): key verified"' _ "$marker"
cp oem.img "$marker-host.img"
run unlock --test --key-file key "$marker-host.img" --cmdline "" --config-dir nocfg
check "outside an initrd: nothing goes to the kernel log" bash -c '! dmesg | grep -q "$1-host.img"' _ "$marker"

echo "== nothing we did changed a header; the key never appeared in output"
check "headers unchanged (sha256 of every image)" [ "$before" = "$(digest "${IMAGES[@]}")" ]
check "passphrase never printed" bash -c '! grep -qF "$1" "$2"' _ "$PASS" "$T/all-output"

summary integration
