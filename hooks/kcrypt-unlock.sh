#!/bin/sh
# Boot phase: wait (bounded) for the TPM the firmware announced, then let
# kcrypt open every volume. The logic is in kcrypt; this only waits.
timeout=30
read -r cmdline </proc/cmdline || cmdline=
for w in $cmdline; do
	case "$w" in
	rd.kcrypt=0) exit 0 ;;
	rd.kcrypt.timeout=*) timeout=${w#rd.kcrypt.timeout=} ;;
	esac
done
# the firmware tells us whether a TPM exists: only then is waiting worth it
if [ -e /sys/firmware/acpi/tables/TPM2 ] || [ -e /sys/kernel/security/tpm0 ]; then
	i=0
	while [ ! -e /dev/tpmrm0 ] && [ ! -e /dev/tpm0 ] && [ "$i" -lt "$((timeout * 10))" ]; do
		sleep 0.1
		i=$((i + 1))
	done
fi
kcrypt unlock-all
rc=$?
# 6: every volume open, some configuration ignored (warned already)
[ "$rc" -eq 6 ] && rc=0
exit "$rc"
