#!/bin/sh
# dracut (shell initrd) sources this from /init just before switch-root. A
# leave-initrd that could not be measured stops the boot (the emergency
# path: rd.emergency=, a shell only where rd.shell allows one).
if ! /usr/libexec/kcrypt-leave-initrd; then
	warn "kcrypt: could not measure leave-initrd"
	emergency_shell -n kcrypt "kcrypt could not measure leave-initrd"
fi
