#!/bin/sh
# luks-seeds.sh DIR: hostile LUKS2 headers for the header fuzzer, made with
# cryptsetup and edited the way libcryptsetup's own header tests do
# (tests/generators in cryptsetup): a valid header, one with an inconsistent
# JSON and a recomputed checksum, a huge keyslots_size, a stale secondary,
# a zeroed primary. Only the first 64 KiB (both copies, the first keyslot's
# start) of each is kept.
set -eu
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
out=$1
mkdir -p "$out"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf 'k' >"$T/key"
truncate -s 20M "$T/a.img"
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$T/key" "$T/a.img"
# edit IMG PYTHON: change the primary JSON (j), recompute the checksum
edit() {
	python3 "$TOOLS/luks_edit_json.py" "$1" "$2"
}
seed() {	# seed NAME PYTHON-EDIT (empty: as made)
	cp "$T/a.img" "$T/$1.img"
	[ -z "$2" ] || edit "$T/$1.img" "$2"
	head -c 65536 "$T/$1.img" >"$out/luks2-$1"
}
seed valid ""
seed json-size "j['config']['json_size'] = str(int(j['config']['json_size']) - 4096)"
seed huge-keyslots "j['config']['keyslots_size'] = str(1 << 40)"
seed area-outside "j['keyslots']['0']['area']['offset'] = str(1 << 62)"
seed many-keyslots "j['keyslots'].update({str(i): j['keyslots']['0'] for i in range(1, 32)})"
seed stale-secondary "j['config']['flags'] = ['allow-discards']"
cp "$T/a.img" "$T/zero.img"
dd if=/dev/zero of="$T/zero.img" bs=4096 count=1 conv=notrunc status=none
head -c 65536 "$T/zero.img" >"$out/luks2-zeroed-primary"
