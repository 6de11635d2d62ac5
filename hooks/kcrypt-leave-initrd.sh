#!/bin/sh
# Before switch-root: measure leave-initrd into PCR 11 (when kcrypt measured
# enter-initrd), so the running system can no longer unseal what only the
# initrd was signed for.
[ -e /run/kcrypt/pcrphase-enter-initrd ] || exit 0
kcrypt pcrphase leave-initrd
