#!/usr/bin/env python3
"""tpmlog.py LOG: the commands a TPM received, from swtpm's --log level=20
(each "SWTPM_IO_Read" is one command; its code is bytes 6..9), as
"NAME COUNT" lines and a closing "total N"."""
import collections
import sys

NAMES = {
    0x120: "EvictControl", 0x131: "CreatePrimary", 0x13C: "PCR_Event",
    0x13E: "SequenceComplete", 0x143: "SelfTest", 0x144: "Startup",
    0x145: "Shutdown", 0x153: "Create", 0x156: "Import", 0x157: "Load",
    0x15C: "SequenceUpdate", 0x15E: "Unseal", 0x161: "ContextLoad",
    0x162: "ContextSave", 0x165: "FlushContext", 0x167: "LoadExternal",
    0x16A: "PolicyAuthorize", 0x16B: "PolicyAuthValue", 0x171: "PolicyOR",
    0x173: "ReadPublic", 0x176: "StartAuthSession", 0x177: "VerifySignature",
    0x17A: "GetCapability", 0x17B: "GetRandom", 0x17C: "GetTestResult",
    0x17D: "Hash", 0x17E: "PCR_Read", 0x17F: "PolicyPCR",
    0x180: "PolicyRestart", 0x182: "PCR_Extend", 0x185: "EventSequenceComplete",
    0x186: "HashSequenceStart", 0x189: "PolicyGetDigest", 0x18A: "TestParms",
    0x18C: "PolicyPassword",
}


def main():
    counts = collections.Counter()
    want = False
    with open(sys.argv[1], errors="replace") as f:
        for line in f:
            if "SWTPM_IO_Read:" in line:
                want = True
                continue
            if want:
                want = False
                b = line.split()
                if len(b) >= 10:
                    code = int("".join(b[6:10]), 16)
                    counts[NAMES.get(code, "0x%x" % code)] += 1
    for name, n in sorted(counts.items()):
        print(name, n)
    print("total", sum(counts.values()))


if __name__ == "__main__":
    main()
