#!/bin/sh
# pe-seeds.sh DIR: UKIs for the PE fuzzer, made the way qemu/build.sh makes
# them (objcopy onto Debian's systemd-stub 252). libFuzzer reads at most
# 64 KiB of a seed and the stub alone is larger, so the real UKI is also
# compacted: its headers and section table as objcopy wrote them, the
# stub's own code left out (SizeOfRawData 0), the UKI sections packed
# behind the table.
set -eu
STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
out=$1
mkdir -p "$out"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c 3000 /dev/urandom >"$T/linux"
head -c 2000 /dev/urandom >"$T/initrd"
printf 'ID=seed\n' >"$T/osrel"
printf 'console=ttyS0' >"$T/cmdline"
printf '{"sha256":[{"pcrs":[11],"pkfp":"00","pol":"00","sig":"AA=="}]}' >"$T/pcrsig"
printf -- '-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n' >"$T/pcrpkey"
set --
vma=2
for s in osrel cmdline pcrsig pcrpkey linux initrd; do
	set -- "$@" --add-section ".$s=$T/$s" --change-section-vma ".$s=$((vma * 0x1000000))"
	vma=$((vma + 1))
done
objcopy "$@" "$STUB" "$T/uki.efi"
head -c 65536 "$T/uki.efi" >"$out/uki-head"
head -c 65536 "$STUB" >"$out/stub-head"
python3 - "$T/uki.efi" "$out/uki-compact" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
pe = struct.unpack_from("<I", b, 0x3c)[0]
n, = struct.unpack_from("<H", b, pe + 6)
opt, = struct.unpack_from("<H", b, pe + 20)
struct.pack_into("<II", b, pe + 12, 0, 0)  # no COFF symbol table
table = pe + 24 + opt
data = (table + 40 * n + 0x1ff) & ~0x1ff
body = bytearray()
for i in range(n):
    h = table + 40 * i
    name = bytes(b[h:h + 8]).rstrip(b"\0")
    rsize, roff = struct.unpack_from("<II", b, h + 16)
    if name in (b".linux", b".osrel", b".cmdline", b".initrd", b".pcrsig", b".pcrpkey"):
        struct.pack_into("<II", b, h + 16, rsize, data + len(body))
        body += b[roff:roff + rsize]
    else:
        struct.pack_into("<II", b, h + 16, 0, 0)
open(sys.argv[2], "wb").write(bytes(b[:data]) + bytes(body))
PY
