#!/bin/sh
# dracut (shell initrd) sources this from /init, PID 1: it must not exit.
# The work runs in a child; a failure takes the usual emergency path.
if ! /usr/libexec/kcrypt-unlock; then
	warn "kcrypt: an expected encrypted volume could not be opened"
	emergency_shell -n kcrypt "kcrypt could not open every expected volume"
fi
