#!/bin/sh
# Boot phase, before anything mounts the volumes: hand the booted UKI's PCR
# signature to the running system, measure enter-initrd (when systemd-pcrphase
# does not), wait (bounded) for the TPM the firmware announced, then let
# kcrypt open every volume. The logic is in kcrypt; this only prepares.
timeout=30
debug=
disabled=
read -r cmdline </proc/cmdline || cmdline=
for w in $cmdline; do
	case "$w" in
	rd.kcrypt=0) disabled=1 ;;
	rd.kcrypt.timeout=*) timeout=${w#rd.kcrypt.timeout=} ;;
	rd.kcrypt.debug | rd.kcrypt.debug=1) debug=-v ;;
	esac
done
# with rd.kcrypt.debug, the boot's time as kcrypt's own debug lines show it
stamp() { [ -z "$debug" ] || { read -r up _ </proc/uptime; echo "kcrypt-unlock: [$up] $*" >&2; }; }
stamp "started"

# systemd-stub put the UKI's .pcrsig/.pcrpkey in /.extra, which dies with the
# initrd; /run/systemd is where systemd and kcrypt look after switch-root
mkdir -p /run/systemd
for f in tpm2-pcr-signature.json tpm2-pcr-public-key.pem; do
	if [ -e "/.extra/$f" ] && [ ! -e "/run/systemd/$f" ]; then
		cp "/.extra/$f" "/run/systemd/$f" && echo "kcrypt: /.extra/$f -> /run/systemd/$f" >&2
	fi
done
[ -n "$disabled" ] && exit 0
# what opening and reading the volumes will need, loaded while the TPM
# works (each is a request_module wait in the kernel otherwise: dm-crypt,
# its cipher, the OEM volume's ext4)
modprobe -a -q -b dm_crypt xts ext4 2>/dev/null &

# the EFI variables say whether systemd-stub measured this UKI
if [ -d /sys/firmware/efi ] && ! grep -q ' /sys/firmware/efi/efivars ' /proc/mounts; then
	modprobe -q efivarfs 2>/dev/null
	mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
fi

# the firmware tells us whether a TPM exists: only then is waiting worth it
if [ -e /sys/firmware/acpi/tables/TPM2 ] || [ -e /sys/kernel/security/tpm0 ]; then
	i=0
	while [ ! -e /dev/tpmrm0 ] && [ ! -e /dev/tpm0 ] && [ "$i" -lt "$((timeout * 10))" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	stamp "TPM device after $((i / 10)).$((i % 10)) s of waiting"
fi

# systemd-pcrphase-initrd.service does it in a systemd initrd that has it
if [ ! -e /usr/lib/systemd/system/systemd-pcrphase-initrd.service ]; then
	kcrypt pcrphase enter-initrd $debug || exit 1
fi
kcrypt unlock-all $debug
rc=$?
# 6: every volume open, some configuration ignored (warned already)
[ "$rc" -eq 6 ] && rc=0
exit "$rc"
