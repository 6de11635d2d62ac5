#!/bin/sh
# dracut (shell initrd) sources this from /init just before switch-root.
/usr/libexec/kcrypt-leave-initrd || warn "kcrypt: could not measure leave-initrd"
