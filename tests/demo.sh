#!/usr/bin/env bash
# The main job at this stage: build sample LUKS2 volumes the way a Kairos
# install lays them out, then let kcrypt find, identify and verify them.
# Re-running reuses the images. Usage: demo.sh /path/to/kcrypt
set -eu
KCRYPT=$(realpath "$1")
cd "$(dirname "$0")/.."
D=build/demo
mkdir -p "$D/oem-config"
umask 077

if [ ! -f "$D/key" ]; then
	head -c 32 /dev/urandom | base64 | tr -d '\n' >"$D/key"
fi
mk() {
	[ -f "$D/$1" ] && return 0
	truncate -s 20M "$D/$1.tmp"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$D/key" "${@:2}" "$D/$1.tmp"
	mv "$D/$1.tmp" "$D/$1"
}
echo "== building sample volumes in $D (reused when present)"
mk oem.img --label COS_OEM --uuid 8bfa06f9-ca4f-56dc-90c9-49cf20f4f45e
mk persistent.img --label COS_PERSISTENT_LUKS --uuid 85c39d0f-4867-5227-8334-f5eec606d9eb
mk data.img --label COS_DATA
# somebody's USB stick: LUKS too, but not ours and not opened by our key
if [ ! -f "$D/usb-stick.img" ]; then
	head -c 32 /dev/urandom >"$D/other-key"
	truncate -s 20M "$D/usb-stick.img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$D/other-key" "$D/usb-stick.img"
fi
[ -f "$D/plain.img" ] || { truncate -s 8M "$D/plain.img" && mkfs.ext4 -q -L COS_STATE "$D/plain.img"; }
cp config/examples/kairos-encrypted.yaml "$D/oem-config/90_custom.yaml"

ARGS=(--config-dir "$D/oem-config" --cmdline "")
for i in oem persistent data usb-stick plain; do ARGS+=(--device "$D/$i.img"); done

run() {
	echo
	printf '$ kcrypt'
	printf ' %q' "$@"
	printf '\n'
	"$KCRYPT" "$@" 2>&1
}
run status "${ARGS[@]}"
run unlock-all --dry-run "${ARGS[@]}"
rc=0
run unlock-all --test --key-file "$D/key" "${ARGS[@]}" || rc=$?
echo
if [ "$rc" -ne 0 ]; then
	echo "demo: kcrypt unlock-all exited $rc: an expected volume was not verified" >&2
	exit "$rc"
fi
echo "demo: every expected volume (COS_OEM, COS_PERSISTENT, COS_DATA) was found and its key"
echo "verified; the stranger's USB stick was left alone. Activation (device-mapper) is"
echo "exercised in the QEMU boot tests."
