#!/usr/bin/env python3
"""eventlog.py LOG SIZE PCR: the sha256 digests the firmware extended into
PCR, in order, one hex digest a line, from a TCG2 crypto-agile event log
(binary_bios_measurements) of SIZE bytes. qemu/bench-boot.sh replays them
into a copy of the machine's TPM so that host tools enroll against the PCR
values the machine boots with."""
import struct
import sys

EV_NO_ACTION = 3
SHA256 = 0x000B


def main():
    data = open(sys.argv[1], "rb").read()[: int(sys.argv[2])]
    want = int(sys.argv[3])
    # the first event is in the old SHA-1 format and names the digest sizes
    _, _, _, size = struct.unpack_from("<II20sI", data, 0)
    spec = data[32 : 32 + size]
    if not spec.startswith(b"Spec ID Event03"):
        sys.exit("eventlog.py: not a crypto-agile event log")
    (nalg,) = struct.unpack_from("<I", spec, 24)
    sizes = dict(struct.unpack_from("<HH", spec, 28 + 4 * i) for i in range(nalg))
    off = 32 + size
    while off + 12 <= len(data):
        pcr, etype, count = struct.unpack_from("<III", data, off)
        if etype == 0 and count == 0:
            break  # the zero padding after the last event
        off += 12
        digest = None
        for _ in range(count):
            (alg,) = struct.unpack_from("<H", data, off)
            d = data[off + 2 : off + 2 + sizes[alg]]
            off += 2 + sizes[alg]
            if alg == SHA256:
                digest = d
        (esize,) = struct.unpack_from("<I", data, off)
        off += 4 + esize
        if pcr == want and etype != EV_NO_ACTION and digest is not None:
            print(digest.hex())


if __name__ == "__main__":
    main()
