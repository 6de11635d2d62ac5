#!/usr/bin/env python3
"""luks_edit_json.py IMG PYTHON: change the primary LUKS2 header's JSON (as
`j`) with the statement PYTHON and recompute the header's checksum, as an
attacker with a hex editor and sha256sum would. Test tool only."""
import hashlib
import json
import struct
import sys

with open(sys.argv[1], 'r+b') as f:
    hdr = bytearray(f.read(16384))
    size = struct.unpack('>Q', hdr[8:16])[0]
    j = json.loads(hdr[4096:size].rstrip(b'\0'))
    exec(sys.argv[2])
    new = json.dumps(j, separators=(',', ':')).encode()
    hdr[4096:size] = new + b'\0' * (size - 4096 - len(new))
    hdr[448:512] = b'\0' * 64
    d = hashlib.sha256(hdr[:size]).digest()
    hdr[448:448 + len(d)] = d
    f.seek(0)
    f.write(hdr[:size])
