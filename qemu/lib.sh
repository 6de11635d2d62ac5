# shellcheck shell=bash
# The QEMU trusted-boot test bed: paths and the few things every step does.
# Recipe and pitfalls: ../shared/design/qemu-trusted-boot.md.
# The variables are for the scripts that source this file.
# shellcheck disable=SC2034

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${KCRYPT_QEMU_DIR:-$ROOT/build/qemu}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
SDBOOT=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
MEASURE=/usr/lib/systemd/systemd-measure
# the newest installed Debian kernel
KVER=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
VMLINUZ=/boot/vmlinuz-$KVER
# console=ttyS0: the tests read the serial console; rd.emergency=poweroff:
# a failed boot ends instead of waiting at a shell nobody can reach
# rd.kcrypt.prompt=0: a boot the TPM refuses fails at once, not after the
# prompt's wait; the rescue UKIs turn the prompt on (RESCUE_WORDS)
CMDLINE="console=ttyS0 root=LABEL=ROOT ro rd.shell=0 rd.emergency=poweroff panic=-1 rd.kcrypt.timeout=10 rd.kcrypt.prompt=0"
RESCUE_WORDS="rd.kcrypt.prompt=1 rd.kcrypt.prompt_timeout=45"

# partition layout (MiB): efi, oem, persistent, data, root
ESP_MB=100

log() { printf 'qemu: %s\n' "$*" >&2; }
die() { printf 'qemu: error: %s\n' "$*" >&2; exit 1; }

# swtpm_up DIR: a software TPM for one QEMU run on DIR/sock (state in DIR);
# SWTPM_LOG_LEVEL=20 logs every command and response byte (the bus)
swtpm_up() {
	mkdir -p "$1"
	rm -f "$1/sock"
	swtpm socket --tpm2 --tpmstate "dir=$1" --ctrl "type=unixio,path=$1/sock" \
		--daemon --pid "file=$1/pid" --log "file=$1/log,level=${SWTPM_LOG_LEVEL:-1}"
	for _ in $(seq 50); do [ -S "$1/sock" ] && return 0; sleep 0.05; done
	die "swtpm did not start ($1)"
}

swtpm_down() {
	local pid
	[ -f "$1/pid" ] || return 0
	pid=$(cat "$1/pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	rm -f "$1/pid"
}

# qemu_boot MACHINE_DIR LOG [--no-tpm] [--mode MODE] [--extra-disk IMG]...
# [--until ERE] [--kill-tpm-at ERE] [--fw-file NAME FILE] [--type ERE FILE]...
# [--rng]:
# one UEFI boot of the machine (disk.img, vars.fd, tpm/) until
# it powers off; console to LOG. --extra-disk attaches IMG as one more virtio
# disk (vdb, ...), like a USB stick beside the machine's disk. --until stops
# QEMU once the console has a line matching ERE (a boot that never powers off,
# e.g. the firmware waiting for a boot option). --kill-tpm-at kills the
# swtpm process once the console matches ERE (a TPM that fails mid-boot).
# --fw-file hands FILE to the guest as fw_cfg opt/kcrypt/NAME. --type: a
# person at the serial console, who types FILE's content and Enter once the
# console shows ERE (in order, each after the previous one). --rng (or
# KCRYPT_QEMU_RNG=yes): a virtio-rng device, as real machines have a hardware
# RNG (qemu/bench-boot.sh); without it the guest's pool seeds slowly.
# Prints the wall time in
# seconds; returns QEMU's exit code.
qemu_boot() {
	local m=$1 out=$2 tpm=yes rng=${KCRYPT_QEMU_RNG:-no} mode="" until="" killtpm="" t0 rc pid disks=() fw=() typing=()
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--no-tpm) tpm=no ;;
		--mode) mode=$2; shift ;;
		--extra-disk) disks+=(-drive "file=$2,format=raw,if=virtio"); shift ;;
		--until) until=$2; shift ;;
		--kill-tpm-at) killtpm=$2; shift ;;
		--fw-file) fw+=(-fw_cfg "name=opt/kcrypt/$2,file=$3"); shift 2 ;;
		--type) typing+=("$2" "$3"); shift 2 ;;
		--rng) rng=yes ;;
		*) die "qemu_boot: unknown option $1" ;;
		esac
		shift
	done
	# shellcheck disable=SC2054	# commas belong to QEMU's option syntax
	local args=(-accel tcg -m 1024 -machine q35,smm=on
		-global driver=cfi.pflash01,property=secure,value=on
		-nographic -no-reboot -nic none -monitor none "${fw[@]}"
		-drive "if=pflash,format=raw,unit=0,file=$OVMF_CODE,readonly=on"
		-drive "if=pflash,format=raw,unit=1,file=$m/vars.fd"
		-drive "file=$m/disk.img,format=raw,if=virtio" "${disks[@]}")
	if [ "$tpm" = yes ]; then
		swtpm_up "$m/tpm"
		# shellcheck disable=SC2054
		args+=(-chardev "socket,id=chrtpm,path=$m/tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm
			-device tpm-tis,tpmdev=tpm0)
	fi
	[ "$rng" = yes ] && args+=(-device virtio-rng-pci)
	[ -n "$mode" ] && args+=(-fw_cfg "name=opt/kcrypt/mode,string=$mode")
	if [ ${#typing[@]} -gt 0 ]; then
		# a socket to type into; the console still goes to $out
		rm -f "$out" "$m/serial.sock"
		args+=(-chardev "socket,id=ser0,path=$m/serial.sock,server=on,wait=off,logfile=$out"
			-serial chardev:ser0)
		python3 "$ROOT/qemu/type.py" "$m/serial.sock" "$out" "${QEMU_TIMEOUT:-240}" "${typing[@]}" &
	else
		args+=(-serial "file:$out")
	fi
	t0=$(date +%s.%N)
	rc=0
	if [ -n "$killtpm" ]; then
		rm -f "$out"
		timeout "${QEMU_TIMEOUT:-240}" qemu-system-x86_64 "${args[@]}" </dev/null >"$out.qemu" 2>&1 &
		pid=$!
		# the TPM dies (the swtpm process is killed) once the console says so
		while kill -0 "$pid" 2>/dev/null; do
			if [ -f "$out" ] && tr -d '\r' <"$out" | grep -Eq -- "$killtpm"; then
				kill -9 "$(cat "$m/tpm/pid")" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
		wait "$pid" || rc=$?
	elif [ -z "$until" ]; then
		timeout "${QEMU_TIMEOUT:-240}" qemu-system-x86_64 "${args[@]}" </dev/null >"$out.qemu" 2>&1 || rc=$?
	else
		rm -f "$out"
		timeout "${QEMU_TIMEOUT:-240}" qemu-system-x86_64 "${args[@]}" </dev/null >"$out.qemu" 2>&1 &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			if [ -f "$out" ] && tr -d '\r' <"$out" | grep -Eq -- "$until"; then
				kill "$pid" 2>/dev/null || true	# timeout(1) hands SIGTERM on to QEMU
				break
			fi
			sleep 0.5
		done
		wait "$pid" || rc=$?
	fi
	[ "$tpm" = yes ] && swtpm_down "$m/tpm"
	echo "$(date +%s.%N) $t0" | awk '{printf "%.1f\n", $1 - $2}'
	return "$rc"
}

# db_update_tar M: M/upd.tar with a db update (one more certificate, an
# append signed with the KEK) for the guest's dbupdate mode: PCR 7 moves
db_update_tar() {
	local k=$B/keys u=$1/upd guid
	mkdir -p "$u"
	guid=$(cat /proc/sys/kernel/random/uuid)
	openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=kcrypt test db update/" \
		-keyout "$u/new.key" -out "$u/new.crt" 2>/dev/null
	cert-to-efi-sig-list -g "$guid" "$u/new.crt" "$u/new.esl"
	sign-efi-sig-list -a -g "$guid" -k "$k/KEK.key" -c "$k/KEK.crt" db "$u/new.esl" "$u/db-append.auth" >/dev/null
	tar -cf "$1/upd.tar" -C "$u" db-append.auth
}

# esp_put DISK FILE PATH: replace one file on the disk's ESP (partition 1 at 1 MiB)
esp_put() {
	mcopy -o -i "$1@@1M" "$2" "::$3"
}

# machine_copy DIR: build what is missing, then a fresh copy of the installed
# machine (disk, firmware variables, TPM state) in DIR for one run
machine_copy() {
	bash "$ROOT/qemu/build.sh"
	machine_clone "$1"
}

# machine_clone DIR: the copy alone (the caller ran build.sh once already)
machine_clone() {
	rm -rf "$1" && mkdir -p "$1"
	cp -a --sparse=always "$B/installed/." "$1/"
}

# boot NAME UKI [qemu_boot args]: put the UKI on $M's ESP, boot, console in
# $L, wall time added to TIMES (e2e-matrix.sh, e2e-recovery.sh)
boot() {
	local name=$1 uki=$2 secs
	shift 2
	L=$M/$name.log
	esp_put "$M/disk.img" "$B/uki/$uki/uki.signed.efi" /EFI/Linux/kcrypt.efi
	secs=$(qemu_boot "$M" "$L" "$@") || true
	TIMES+=("$name ${secs}s")
	echo "== $name ($uki): ${secs}s, console $L"
}

# --- console assertions, shared by e2e.sh and e2e-attacks.sh ---------------
PASSED=0 FAILED=0
ok() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
bad() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"; }
# has LOG PATTERN: the console printed a line matching PATTERN (ERE)
has() { tr -d '\r' <"$1" | grep -Eq -- "$2"; }
check() {	# check NAME LOG PATTERN
	if has "$2" "$3"; then ok "$1"; else bad "$1 (/$3/ not in $2)"; fi
}
check_not() {
	if has "$2" "$3"; then bad "$1 (/$3/ in $2)"; else ok "$1"; fi
}
val() { tr -d '\r' <"$1" | sed -n "s/^E2E $2=//p" | head -n 1; }

# the marker the installer wrote into PERSISTENT (good_boot looks for it)
installer_marker() {
	sed -n 's/^E2E marker=\([0-9a-f]*\).*/\1/p' "$B/console-install.log" | tr -d '\r'
}

# good_boot LOG WHAT: the checks every good boot passes ($MARKER: installer_marker)
good_boot() {
	local log=$1 what=$2
	check "$what: Secure Boot on" "$log" '^E2E secureboot=01$'
	check "$what: kcrypt opened oem, persistent and data before switch-root" "$log" 'opened as /dev/mapper/data'
	check "$what: mapper oem persistent data" "$log" '^E2E mapper=data oem persistent $'
	check "$what: /oem and /usr/local mounted" "$log" '^E2E mounted /usr/local$'
	check "$what: kcrypt read the cloud-config inside the encrypted OEM" "$log" 'read the cloud-config of the OEM volume \([1-9] more labels\)'
	check "$what: ...and left no mount behind" "$log" '^E2E kcrypt-mounts-left=0$'
	check "$what: data intact (marker written by the installer)" "$log" "^E2E marker=$MARKER\$"
	if [ -n "$(val "$log" pcr15)" ] && [ "$(val "$log" pcr15)" = "$(val "$log" pcr15-expected)" ] &&
		[ "$(val "$log" pcr15)" != "$(printf '0%.0s' $(seq 64))" ]; then
		ok "$what: PCR 15 = the value recomputed from the volume keys ($(val "$log" pcr15 | cut -c1-16)...)"
	else
		bad "$what: PCR 15 $(val "$log" pcr15) != recomputed $(val "$log" pcr15-expected)"
	fi
}
