#!/bin/bash
# dracut module of the boot bench (qemu/bench-boot.sh), the same in every
# initrd it compares: the kernel log says when each device-mapper device went
# live, so "attached" is read off one clock whichever tool attached it.
# dracut provides initdir, udevrulesdir and the inst_* helpers.
# shellcheck disable=SC2154

check() { return 255; }
depends() { echo udev-rules; return 0; }
install() {
	inst_simple "$moddir/99-benchprobe.rules" "$udevrulesdir/99-benchprobe.rules"
	inst_multiple sh
}
