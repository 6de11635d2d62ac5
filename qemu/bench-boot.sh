#!/usr/bin/env bash
# make bench-boot: what opening the disk costs the boot, kcrypt against
# dracut's own crypt + systemd-cryptsetup path and clevis-dracut, in the same
# QEMU guest, in one run. One disk layout (efi, oem, persistent, data, extra,
# root), three initrds of the same kernel and dracut; PCR 7 tokens for all
# three, signed PCR 11 tokens for the two that can. Per boot:
#   attach   the kernel's clock from the initrd's start ("Run /init") to the
#            last of the four dm devices going live (a udev rule that is the
#            same in every initrd, qemu/bench/99benchprobe)
#   commands what swtpm received, less a boot whose initrd opens nothing
#            (the firmware's, the kernel's and the root's own commands)
#   growth   the initrd's size over that boot's initrd
# Plus kcrypt's own breakdown (rd.kcrypt.debug: every line stamped with the
# kernel's clock), without and with the guest's virtio-rng.
# The tokens are enrolled on the host, against a copy of the machine's TPM
# with PCR 7 replayed from the firmware's event log.
# BENCH_BOOT_RUNS (default 3) boots each; results in build/bench/boot.md.
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"
RUNS=${BENCH_BOOT_RUNS:-3}
BB=$B/bench
OUT=$ROOT/build/bench
M=$BB/m
bash "$ROOT/qemu/build.sh"	# keys, kcrypt's install tree, the rootfs, the installed machine's firmware
# shellcheck source=qemu/build.sh
KCRYPT_BUILD_LIB=1 . "$ROOT/qemu/build.sh"
mkdir -p "$BB" "$OUT"

NAMES=(oem persistent data extra)
LABELS=(COS_OEM COS_PERSISTENT COS_DATA COS_EXTRA)
UUIDS=(6b637279-7074-4000-8000-00000000000{1,2,3,4})
# variant: tool, policy
VARIANTS=(kcrypt-signed kcrypt-pcr7 systemd-signed systemd-pcr7 clevis-pcr7)
SIG_UKI=(bench-kcrypt bench-kcrypt bench-sd bench-sd bench-clevis)
PW=$BB/pw
printf 'bench-pass' >"$PW"

# put FILE CONTENT: write only a change (an unchanged file must not rebuild)
put() { [ -e "$1" ] && [ "$(cat "$1")" = "$2" ] || printf '%s\n' "$2" >"$1"; }

tables() {
	local sd="" cl="" i
	for i in 0 1 2 3; do
		sd+="${NAMES[$i]} UUID=${UUIDS[$i]} none tpm2-device=auto,tpm2-signature=/.extra/tpm2-pcr-signature.json,headless"$'\n'
		# clevis answers systemd-cryptsetup's password request (ask-password)
		cl+="${NAMES[$i]} UUID=${UUIDS[$i]} none luks"$'\n'
	done
	put "$BB/crypttab-sd" "${sd%$'\n'}"
	put "$BB/crypttab-clevis" "${cl%$'\n'}"
	mkdir -p "$BB/oemcfg"
	put "$BB/oemcfg/90_bench.yaml" "#cloud-config
install:
  encrypted_partitions: [COS_OEM, COS_PERSISTENT, COS_DATA, COS_EXTRA]"
}

initrds_bench() {
	local sd="systemd systemd-initrd dracut-systemd base rootfs-block" m
	rm -rf "$B/dracut/modules.d/99benchprobe"
	cp -a "$ROOT/qemu/bench/99benchprobe" "$B/dracut/modules.d/"
	for m in /usr/lib/dracut/modules.d/60clevis*; do
		[ -d "$B/dracut/modules.d/${m##*/}" ] || cp -a "$m" "$B/dracut/modules.d/"
	done
	local deps="$ROOT/qemu/bench/99benchprobe/module-setup.sh $ROOT/qemu/bench/99benchprobe/99-benchprobe.rules"
	INITRD_DEPS=$deps initrd bench-base "$sd dm benchprobe"
	INITRD_DEPS=$deps initrd bench-kcrypt "$sd kcrypt benchprobe"
	INITRD_DEPS="$deps $BB/crypttab-sd" initrd bench-sd "$sd crypt dm tpm2-tss benchprobe" \
		--include "$BB/crypttab-sd" /etc/crypttab
	INITRD_DEPS="$deps $BB/crypttab-clevis" initrd bench-clevis "$sd crypt dm clevis clevis-pin-tpm2 benchprobe" \
		--include "$BB/crypttab-clevis" /etc/crypttab
}

# the UKIs: quiet, as a production boot is; systemd-cryptsetup 252 has no
# enter-initrd measurement in this initrd (no systemd-pcrphase), kcrypt makes it
ukis_bench() {
	trap swtpm_sign_down EXIT
	uki bench-base bench-base "" quiet
	uki bench-kcrypt bench-kcrypt enter-initrd quiet
	uki bench-kcrypt-debug bench-kcrypt enter-initrd "quiet rd.kcrypt.debug"
	uki bench-sd bench-sd "" quiet
	uki bench-clevis bench-clevis "" quiet
	swtpm_sign_down
	trap - EXIT
}

# the layout with plain volumes and the installer UKI (rd.kcrypt=0)
plain_disk() {
	local d=$BB/plain.img e=$BB/esp k=$B/keys i
	newer "$d" "$B/root.img" "$B/uki/installer/uki.signed.efi" "$ROOT/qemu/bench-boot.sh" || return 0
	log "bench: disk layout efi/oem/persistent/data/extra/root"
	rm -f "$d" && truncate -s 420M "$d"
	sfdisk -q "$d" <<-PARTS
	label: gpt
	first-lba: 2048
	start=2048, size=${ESP_MB}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="efi"
	size=40MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="oem"
	size=40MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="persistent"
	size=40MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
	size=40MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="extra"
	type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
	PARTS
	rm -rf "$e" && mkdir -p "$e/EFI/BOOT" "$e/EFI/Linux" "$e/loader"
	sbsign --key "$k/db.key" --cert "$k/db.crt" --output "$e/EFI/BOOT/BOOTX64.EFI" "$SDBOOT" 2>/dev/null
	cp "$B/uki/installer/uki.signed.efi" "$e/EFI/Linux/kcrypt.efi"
	printf 'timeout 0\n' >"$e/loader/loader.conf"
	rm -f "$BB/esp.img" && truncate -s "${ESP_MB}M" "$BB/esp.img"
	mkfs.vfat -F 32 -n EFI "$BB/esp.img" >/dev/null
	mcopy -s -i "$BB/esp.img" "$e"/* ::/
	dd_part "$d" 1 "$BB/esp.img"
	for i in 0 1 2 3; do
		plain_vol "$BB/p.img" "${LABELS[$i]}"
		dd_part "$d" $((i + 2)) "$BB/p.img"
	done
	dd_part "$d" 6 "$B/root.img"
	rm -f "$BB/esp.img" "$BB/p.img"
}

# plain_vol IMG LABEL: 40 MiB, an 8 MiB ext4 at its start (room for a header)
plain_vol() {
	rm -f "$1" && truncate -s 40M "$1"
	if [ "$2" = COS_OEM ]; then
		mkfs.ext4 -q -L "$2" -d "$BB/oemcfg" "$1" 8M
	else
		mkfs.ext4 -q -L "$2" "$1" 8M
	fi
}

# the machine: the installed one's firmware (our keys, Secure Boot on) and TPM
machine() {
	[ -e "$M/.done" ] && return 0
	rm -rf "$M" && mkdir -p "$M"
	cp "$B/installed/vars.fd" "$M/vars.fd"
	cp -a "$B/installed/tpm" "$M/tpm"
	rm -f "$M/tpm/log"
	touch "$M/.done"
}

# one boot of the installer UKI that dumps the event log; PCR 7 replayed
# into the machine's TPM on the host, where the tools then enroll
HOST=$BB/host
host_tpm_up() {
	local l=$BB/console-eventlog.log size pcr7 got d
	cp "$BB/plain.img" "$M/disk.img"
	rm -f "$BB/evlog.img" && truncate -s 1M "$BB/evlog.img"
	log "bench: boot 0: the firmware's event log (installer UKI)"
	qemu_boot "$M" "$l" --mode bench-eventlog --extra-disk "$BB/evlog.img" >/dev/null || true
	size=$(val "$l" eventlog-size)
	pcr7=$(val "$l" pcr7)
	if [ -z "$size" ] || [ -z "$pcr7" ]; then die "no event log: $l"; fi
	mkdir -p "$HOST"
	rm -f "$HOST/sock" "$HOST/sock.ctrl"
	swtpm socket --tpm2 --tpmstate "dir=$M/tpm" --server "type=unixio,path=$HOST/sock" \
		--ctrl "type=unixio,path=$HOST/sock.ctrl" --flags not-need-init,startup-clear \
		--daemon --pid "file=$HOST/pid"
	for _ in $(seq 50); do [ -S "$HOST/sock" ] && break; sleep 0.05; done
	export TPM2TOOLS_TCTI=swtpm:path=$HOST/sock
	python3 "$ROOT/qemu/eventlog.py" "$BB/evlog.img" "$size" 7 | while read -r d; do
		tpm2_pcrextend "7:sha256=$d"
	done
	# every boot the bench's timeout or a test run cut short is an
	# unorderly shutdown, which counts as a failed authorization: without
	# this the legacy-primary tokens (no noDA) stop in lockout after a few
	# runs (swtpm allows 3)
	tpm2_dictionarylockout -Q -s -n 1000 -t 1 -l 1 && tpm2_dictionarylockout -Q -c
	got=$(tpm2_pcrread sha256:7 | sed -n 's/.*7 *: *0x//p' | tr 'A-F' 'a-f')
	[ "$got" = "$pcr7" ] || die "PCR 7 replay: $got, the machine has $pcr7"
	log "bench: PCR 7 replayed on the host: ${pcr7:0:16}..."
}
host_tpm_down() { tpm2_shutdown -c >/dev/null 2>&1 || true; swtpm_down "$HOST"; }
flush() { tpm2_flushcontext -t >/dev/null 2>&1 || true; tpm2_flushcontext -l >/dev/null 2>&1 || true; }

# dd_over DISK N IMG: IMG over partition N, zeros too (dd_part skips them,
# which over the plain volume leaves its ext4 superblock inside the LUKS2
# header's padding: a broken primary header that systemd-cryptsetup refuses)
dd_over() {
	local start
	start=$(sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].start")
	dd if="$3" of="$1" bs=1M oflag=seek_bytes seek=$((start * 512)) conv=notrunc status=none
}

# enroll VARIANT: the four volumes of VARIANT, as each tool's user makes them
enroll() {
	local v=$1 i img kc=$B/inst/usr/bin/kcrypt devs=()
	local tcti=swtpm:path=$HOST/sock
	for i in 0 1 2 3; do
		img=$BB/$v-${NAMES[$i]}.img
		plain_vol "$img" "${LABELS[$i]}"
		cryptsetup reencrypt -q --encrypt --type luks2 --reduce-device-size 32M --key-file "$PW" \
			--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label "${LABELS[$i]}" --uuid "${UUIDS[$i]}" \
			"$img" >/dev/null
		case "$v" in
		kcrypt-signed) "$kc" enroll "$img" --tpm --public-key "$B/keys/pcr-pub.pem" \
			--unlock-key-file "$PW" --tpm-device "$tcti" -q ;;
		kcrypt-pcr7) "$kc" enroll "$img" --tpm --tpm-pcrs 7 --unlock-key-file "$PW" --tpm-device "$tcti" -q ;;
		systemd-signed) PASSWORD=$(cat "$PW") systemd-cryptenroll --tpm2-device="$tcti" --tpm2-pcrs= \
			--tpm2-public-key="$B/keys/pcr-pub.pem" --tpm2-public-key-pcrs=11 "$img" >/dev/null 2>&1 ;;
		systemd-pcr7) PASSWORD=$(cat "$PW") systemd-cryptenroll --tpm2-device="$tcti" --tpm2-pcrs=7 \
			"$img" >/dev/null 2>&1 ;;
		clevis-pcr7) clevis luks bind -y -k "$PW" -d "$img" tpm2 '{"pcr_ids":"7","pcr_bank":"sha256"}' \
			>/dev/null 2>&1 ;;
		esac || die "enroll $v ${NAMES[$i]} failed"
		flush
		devs+=(--device "$img")
	done
	# kcrypt's volume set: the four prove they belong together at boot
	case "$v" in
	kcrypt-*) "$kc" bind --key-file "$PW" --tpm-device "$tcti" --cmdline "" --config-dir "$BB/oemcfg" \
		"${devs[@]}" -q || die "kcrypt bind $v failed" ;;
	esac
	flush
	cp "$BB/plain.img" "$BB/disk-$v.img"
	for i in 0 1 2 3; do
		dd_over "$BB/disk-$v.img" $((i + 2)) "$BB/$v-${NAMES[$i]}.img"
		rm -f "$BB/$v-${NAMES[$i]}.img"
	done
}

# t LOG PATTERN: the kernel's time of the first dmesg line matching PATTERN
t() { tr -d '\r' <"$1" | sed -n "s|^E2E dmesg: \[ *\([0-9.]*\)\] .*$2.*|\1|p" | head -n 1; }

# bench_boot NAME UKI [qemu_boot args]: one boot; "attach commands" on stdout
bench_boot() {
	local name=$1 uki=$2 l t0 tl n last="" c
	shift 2
	l=$BB/console-$name.log
	esp_put "$M/disk.img" "$B/uki/$uki/uki.signed.efi" /EFI/Linux/kcrypt.efi
	rm -f "$M/tpm/log"
	SWTPM_LOG_LEVEL=20 qemu_boot "$M" "$l" --mode bench "$@" >/dev/null || true
	c=$(python3 "$ROOT/qemu/tpmlog.py" "$M/tpm/log" | sed -n 's/^total //p')
	python3 "$ROOT/qemu/tpmlog.py" "$M/tpm/log" >"$BB/tpm-$name.txt"
	t0=$(t "$l" 'Run /init as init process')
	[ -n "$t0" ] || { echo "- $c"; return 0; }
	for n in "${NAMES[@]}"; do
		tl=$(tr -d '\r' <"$l" | sed -n "s/^E2E dmesg: \[ *\([0-9.]*\)\] bench: dm-live $n\$/\1/p" | head -n 1)
		if [ -z "$tl" ]; then
			[ "$uki" = bench-base ] || log "bench: $name: $n never went live ($l)"
			last=-
			break
		fi
		last=$(awk -v a="$tl" -v b="${last:-0}" 'BEGIN { print (a > b) ? a : b }')
	done
	if [ "$last" = - ]; then
		echo "- $c"
	else
		awk -v a="$last" -v b="$t0" 'BEGIN { printf "%.3f ", a - b }'
		echo "$c"
	fi
}

# stats VALUES...: "median min max" ("-" when a boot failed)
stats() {
	printf '%s\n' "$@" | grep -q '^-$' && { echo "- - -"; return; }
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

# breakdown LOG: kcrypt's debug lines, in seconds since the initrd's start
breakdown() {
	local t0
	t0=$(t "$1" 'Run /init as init process')
	# console lines: "[ kernel time] kcrypt-unlock[PID]: kcrypt: [debug: ][ stamp] text"
	tr -d '\r' <"$1" | sed -n 's/^.*kcrypt-unlock\[[0-9]*\]: \(kcrypt[a-z-]*\): \(debug: \|warning: \)*\[ *\([0-9.]*\)\] \(.*\)$/\3 \4/p' |
		awk -v t0="$t0" 'BEGIN { p = t0 } { t = $1; $1 = ""; printf "| %.3f | +%.3f |%s |\n", t - t0, t - p, $0; p = t }'
	tr -d '\r' <"$1" | sed -n 's/^E2E dmesg: \[ *\([0-9.]*\)\] \(random: crng init done\)/\1 \2/p' |
		awk -v t0="$t0" '{ printf "| %.3f | | kernel: %s %s %s |\n", $1 - t0, $2, $3, $4 }'
}

tables
initrds_bench
ukis_bench
plain_disk
machine
host_tpm_up
trap host_tpm_down EXIT
for v in "${VARIANTS[@]}"; do
	[ -e "$BB/disk-$v.img" ] && [ "$BB/disk-$v.img" -nt "$BB/plain.img" ] && continue
	log "bench: enrolling $v (4 volumes)"
	enroll "$v"
done
host_tpm_down
trap - EXIT

declare -A ATT CMDS
cp "$BB/plain.img" "$M/disk.img"
log "bench: the boot that opens nothing (bench-base, plain volumes)"
for r in $(seq "$RUNS"); do
	read -r _ c < <(bench_boot "base-$r" bench-base)
	CMDS[base]+="$c "
done
for k in "${!VARIANTS[@]}"; do
	v=${VARIANTS[$k]}
	cp "$BB/disk-$v.img" "$M/disk.img"
	for r in $(seq "$RUNS"); do
		read -r a c < <(bench_boot "$v-$r" "${SIG_UKI[$k]}" --rng)
		log "bench: $v boot $r: ${a} s to the last volume, $c TPM commands"
		ATT[$v]+="$a " CMDS[$v]+="$c "
	done
done
cp "$BB/disk-kcrypt-signed.img" "$M/disk.img"
log "bench: kcrypt's breakdown (rd.kcrypt.debug), without and with virtio-rng"
bench_boot kcrypt-debug-norng bench-kcrypt-debug >/dev/null
bench_boot kcrypt-debug-rng bench-kcrypt-debug --rng >/dev/null

# shellcheck disable=SC2086 # lists of numbers
base_cmds=$(stats ${CMDS[base]} | cut -d' ' -f1)
size() { stat -c %s "$B/initrd-$1.img"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
{
	echo "## kcrypt boot benchmark (QEMU guest)"
	echo
	echo "$(date -u +%F), $(nproc) cores, QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version \([0-9.]*\).*/\1/p') TCG, OVMF Secure Boot, swtpm tpm-tis, virtio-rng; kernel $KVER, dracut $(dpkg-query -W -f='${Version}' dracut), systemd $(dpkg-query -W -f='${Version}' systemd), clevis $(dpkg-query -W -f='${Version}' clevis). Four LUKS2 volumes (oem, persistent, data, extra; pbkdf2-1000 TPM keyslots for all three tools), systemd initrds. $RUNS boots each."
	echo
	echo "attach: kernel clock from \"Run /init\" to the last of the four dm devices live (udev, the same rule in every initrd). TPM commands: what swtpm received in the boot, less the $base_cmds of a boot whose initrd opens nothing. Growth: the initrd's size over that initrd ($(size bench-base) bytes)."
	echo
	echo "| tool | policy | volumes | attach median s | spread (min-max) s | TPM commands | initrd growth | attach / kcrypt | commands / kcrypt |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for k in "${!VARIANTS[@]}"; do
		v=${VARIANTS[$k]} tool=${VARIANTS[$k]%-*} pol=${VARIANTS[$k]#*-}
		# shellcheck disable=SC2086
		read -r med lo hi < <(stats ${ATT[$v]})
		# shellcheck disable=SC2086
		cm=$(( $(stats ${CMDS[$v]} | cut -d' ' -f1 | cut -d. -f1) - ${base_cmds%.*} ))
		# shellcheck disable=SC2086
		read -r kmed _ _ < <(stats ${ATT[kcrypt-$pol]})
		# shellcheck disable=SC2086
		kcm=$(( $(stats ${CMDS[kcrypt-$pol]} | cut -d' ' -f1 | cut -d. -f1) - ${base_cmds%.*} ))
		echo "| $tool | $pol | 4 | $med | $lo-$hi | $cm | +$(( $(size "${SIG_UKI[$k]}") - $(size bench-base) )) | $(ratio "$med" "$kmed") | $(ratio "$cm" "$kcm") |"
	done
	for n in norng rng; do
		echo
		echo "kcrypt's own breakdown, signed policy, $([ $n = rng ] && echo with || echo without) virtio-rng (rd.kcrypt.debug; s since the initrd's start):"
		echo
		echo "| t | step | event |"
		echo "|---|---|---|"
		breakdown "$BB/console-kcrypt-debug-$n.log"
	done
	echo
	echo "TPM commands by code, one boot each (build/qemu/bench/tpm-*.txt):"
	echo
	for f in base-1 kcrypt-signed-1 systemd-signed-1 kcrypt-pcr7-1 systemd-pcr7-1 clevis-pcr7-1; do
		echo "- $f: $(tr '\n' ' ' <"$BB/tpm-$f.txt")"
	done
} | tee "$OUT/boot.md"
