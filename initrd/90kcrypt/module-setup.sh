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
}

install() {
	# wherever kcrypt was found (a build tree, /usr/local), it lives in /usr/bin here
	inst_binary "$(find_binary kcrypt)" /usr/bin/kcrypt
	# the boot-phase scripts come from hooks/ (make install puts them here)
	inst_script "$moddir/kcrypt-unlock.sh" /usr/libexec/kcrypt-unlock
	inst_hook cmdline 30 "$moddir/kcrypt-cmdline.sh"
	if dracut_module_included systemd; then
		inst_simple "$moddir/kcrypt.service" "$systemdsystemunitdir/kcrypt.service"
		$SYSTEMCTL -q --root "$initdir" add-wants cryptsetup.target kcrypt.service
	else
		inst_hook pre-mount 10 "$moddir/kcrypt-pre-mount.sh"
	fi
}
