#!/bin/sh
# Before switch-root: measure leave-initrd into PCR 11 (when kcrypt measured
# enter-initrd), so the running system can no longer unseal what only the
# initrd was signed for. When that fails the boot must not go on (as
# systemd v258 does): the running system could unseal the initrd's keys.
[ -e /run/kcrypt/pcrphase-enter-initrd ] || exit 0
kcrypt pcrphase leave-initrd && exit 0
echo "kcrypt: leave-initrd could not be measured: refusing to switch to the root" >&2
[ -w /dev/kmsg ] && echo "<3>kcrypt: leave-initrd could not be measured: refusing to switch to the root" >/dev/kmsg
# a systemd initrd stops this unit on its way to switch-root; nothing else
# would stop the switch, so leave at once
if [ -d /run/systemd/system ]; then
	sync
	systemctl --force --force reboot
fi
exit 1
