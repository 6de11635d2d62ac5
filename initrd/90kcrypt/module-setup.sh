#!/bin/bash
# dracut module: kcrypt unlocks the LUKS2 volumes before the root is mounted.
# Works in systemd and in shell (non-systemd) initrds.
# dracut provides moddir, initdir, systemdsystemunitdir, SYSTEMCTL and the inst_* helpers.
# shellcheck disable=SC2154

check() {
	require_binaries kcrypt || return 1
	return 255	# only when asked for (dracut -a kcrypt / add_dracutmodules+=" kcrypt ")
}

depends() {
	echo dm
	return 0
}

installkernel() {
	# TPM drivers (whichever the machine has), dm-crypt and efivarfs for
	# the measured-boot checks
	hostonly='' instmods tpm_tis tpm_crb tpm_tis_spi dm_crypt efivarfs
	# dm-crypt finds its cipher (aes-xts-plain64: xts, ecb, aesni) as modules;
	# without them the table load fails with ENOENT
	hostonly='' instmods xts ecb aesni_intel crypto-xts crypto-ecb drbg
}

install() {
	# wherever kcrypt was found (a build tree, /usr/local), it lives in /usr/bin here
	inst_binary "$(find_binary kcrypt)" /usr/bin/kcrypt
	# the boot-phase scripts come from hooks/ (make install puts them here)
	inst_script "$moddir/kcrypt-unlock.sh" /usr/libexec/kcrypt-unlock
	inst_script "$moddir/kcrypt-leave-initrd.sh" /usr/libexec/kcrypt-leave-initrd
	inst_hook cmdline 30 "$moddir/kcrypt-cmdline.sh"
	# what the boot-phase scripts call
	inst_multiple cp mkdir grep mount modprobe sleep
	if dracut_module_included systemd; then
		inst_simple "$moddir/kcrypt.service" "$systemdsystemunitdir/kcrypt.service"
		# only dracut's crypt module puts cryptsetup.target into the boot
		# transaction; without it, nothing would want kcrypt.service
		$SYSTEMCTL -q --root "$initdir" add-wants sysinit.target cryptsetup.target
		$SYSTEMCTL -q --root "$initdir" add-wants cryptsetup.target kcrypt.service
	else
		inst_hook pre-mount 10 "$moddir/kcrypt-pre-mount.sh"
		inst_hook pre-pivot 90 "$moddir/kcrypt-pre-pivot.sh"
	fi
}
