#!/usr/bin/env bash
# Builds the trusted-boot test machine, reusing what is already built:
#   keys      Secure Boot PK/KEK/db and the PCR signing key (openssl)
#   initrds   dracut initrds (systemd and shell flavour) with the kcrypt module
#   rootfs    a small unencrypted root: busybox, kcrypt, cryptsetup, qemu/guest/init
#   ukis      UKIs from systemd's stub, PCR-signed (systemd-measure), db-signed (sbsign)
#   disk      GPT: efi (signed systemd-boot), oem, persistent, data, root
#   installed the machine after sd-boot enrolled our keys (setup mode) and the
#             installer UKI ran `kcrypt encrypt` for oem, persistent and data
# Usage: qemu/build.sh [installed]   (default: everything)
set -eu
# shellcheck source=qemu/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$B"
newer() {	# newer TARGET DEPS...: TARGET missing or older than a dep
	local t=$1 dep
	shift
	[ -e "$t" ] || return 0
	for dep in "$@"; do [ "$dep" -nt "$t" ] && return 0; done
	return 1
}

keys() {
	local k=$B/keys guid
	[ -e "$k/db.auth" ] && [ -e "$k/pcr-pub.pem" ] && return 0
	log "keys: Secure Boot PK, KEK, db and the PCR signing key"
	rm -rf "$k" && mkdir -p "$k"
	guid=$(cat /proc/sys/kernel/random/uuid)
	for n in PK KEK db; do
		openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=kcrypt test $n/" \
			-keyout "$k/$n.key" -out "$k/$n.crt" 2>/dev/null
		cert-to-efi-sig-list -g "$guid" "$k/$n.crt" "$k/$n.esl"
	done
	sign-efi-sig-list -g "$guid" -k "$k/PK.key" -c "$k/PK.crt" PK "$k/PK.esl" "$k/PK.auth" >/dev/null
	sign-efi-sig-list -g "$guid" -k "$k/PK.key" -c "$k/PK.crt" KEK "$k/KEK.esl" "$k/KEK.auth" >/dev/null
	sign-efi-sig-list -g "$guid" -k "$k/KEK.key" -c "$k/KEK.crt" db "$k/db.esl" "$k/db.auth" >/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/pcr-priv.pem" 2>/dev/null
	openssl pkey -in "$k/pcr-priv.pem" -pubout -out "$k/pcr-pub.pem"
}

# Another vendor's PCR signing key (a UKI the machine's tokens do not trust),
# and the installation's recovery key, made the way systemd formats one:
# the installer gets it through fw_cfg and gives it to kcrypt encrypt
more_keys() {
	local k=$B/keys
	if [ ! -e "$k/pcr2-pub.pem" ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/pcr2-priv.pem" 2>/dev/null
		openssl pkey -in "$k/pcr2-priv.pem" -pubout -out "$k/pcr2-pub.pem"
	fi
	if [ ! -e "$k/recovery.key" ]; then
		head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' | tr '0-9a-f' 'cbdefghijklnrtuv' |
			sed 's/.\{8\}/&-/g; s/-$//' | tr -d '\n' >"$k/recovery.key"
		chmod 600 "$k/recovery.key"
	fi
}

# kcrypt as `make install` lays it out, and a private dracut that has its module
# (the static binary; KCRYPT_QEMU_DYNAMIC=1: the development build)
install_tree() {
	local dyn=${KCRYPT_QEMU_DYNAMIC:-0}
	if [ "$dyn" = 1 ]; then make -s -C "$ROOT" kcrypt >/dev/null; else make -s -C "$ROOT" static >/dev/null; fi
	rm -rf "$B/inst.new"
	make -s -C "$ROOT" install INSTALL_DYNAMIC="$dyn" DESTDIR="$B/inst.new" PREFIX=/usr \
		DRACUTDIR=/usr/lib/dracut/modules.d >/dev/null
	# only changed files get a new time: unchanged ones must not rebuild the initrds
	(cd "$B/inst.new" && find . -type f) | while read -r f; do
		if ! cmp -s "$B/inst.new/$f" "$B/inst/$f"; then
			install -D -m "$(stat -c %a "$B/inst.new/$f")" "$B/inst.new/$f" "$B/inst/$f"
		fi
	done
	rm -rf "$B/inst.new"
	if [ ! -d "$B/dracut" ]; then
		cp -a /usr/lib/dracut "$B/dracut"
	fi
	rm -rf "$B/dracut/modules.d/90kcrypt"
	cp -a "$B/inst/usr/lib/dracut/modules.d/90kcrypt" "$B/dracut/modules.d/90kcrypt"
}

# initrd FLAVOUR MODULES [DRACUT_ARGS...]: dracut for the Debian kernel, host
# config ignored; INITRD_DEPS: more files whose change rebuilds it
initrd() {
	local out=$B/initrd-$1.img name=$1 mods=$2 t0
	shift 2
	# shellcheck disable=SC2086 # a list of paths
	newer "$out" "$B/inst/usr/bin/kcrypt" "$B"/inst/usr/lib/dracut/modules.d/90kcrypt/* "$ROOT/qemu/build.sh" \
		${INITRD_DEPS:-} || return 0
	log "initrd ($name): dracut -m \"$mods\" for $KVER"
	mkdir -p "$B/empty"
	t0=$(date +%s)
	dracutbasedir="$B/dracut" DRACUT_PATH="$B/inst/usr/bin /usr/sbin /usr/bin /sbin /bin" \
		dracut --quiet --force --no-hostonly --conf /dev/null --confdir "$B/empty" --kver "$KVER" \
		-m "$mods" --add-drivers "virtio_blk virtio_pci ext4 tpm_tis tpm_crb dm_crypt efivarfs qemu_fw_cfg virtio_rng" \
		--tmpdir "$B" "$@" "$out.new" 2>"$B/dracut-$name.log" || { cat "$B/dracut-$name.log"; die "dracut failed"; }
	mv "$out.new" "$out"
	log "initrd ($name): $(du -h "$out" | cut -f1) in $(($(date +%s) - t0)) s"
}

# initrd_busybox: not dracut's, to show the static kcrypt needs no initrd
# generator: busybox, the static kcrypt, the module's boot-phase scripts,
# qemu/guest/bb-init and the kernel modules the machine needs (with what
# they depend on, from modprobe's own resolution)
BB_MODULES="virtio_pci virtio_blk virtio_rng ext4 tpm_tis tpm_crb dm_mod dm_crypt xts ecb aesni_intel efivarfs qemu_fw_cfg"
initrd_busybox() {
	local out=$B/initrd-busybox.img r=$B/bbroot m t0
	newer "$out" "$B/inst/usr/bin/kcrypt" "$ROOT/qemu/guest/bb-init" "$ROOT/hooks/kcrypt-unlock.sh" \
		"$ROOT/hooks/kcrypt-leave-initrd.sh" "$ROOT/qemu/build.sh" || return 0
	file -L "$B/inst/usr/bin/kcrypt" | grep -q 'statically linked' ||
		die "the busybox initramfs takes the static kcrypt only (KCRYPT_QEMU_DYNAMIC is set?)"
	log "initrd (busybox): busybox, static kcrypt, qemu/guest/bb-init, $BB_MODULES"
	t0=$(date +%s)
	rm -rf "$r" && mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/libexec,proc,sys,dev,run,tmp,sysroot,etc}
	install -m 0755 /bin/busybox "$r/bin/busybox"
	file -L /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not static (busybox-static)"
	for a in $(busybox --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
	ln -s ../bin/busybox "$r/sbin/modprobe"	# the kernel's request_module runs /sbin/modprobe
	install -m 0755 "$ROOT/qemu/guest/bb-init" "$r/init"
	install -m 0755 "$B/inst/usr/bin/kcrypt" "$r/usr/bin/kcrypt"
	install -m 0755 "$ROOT/hooks/kcrypt-unlock.sh" "$r/usr/libexec/kcrypt-unlock"
	install -m 0755 "$ROOT/hooks/kcrypt-leave-initrd.sh" "$r/usr/libexec/kcrypt-leave-initrd"
	for m in $BB_MODULES; do
		modprobe -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
	done | sort -u | while read -r ko; do
		install -D -m 0644 "$ko" "$r$ko"
	done
	cp /lib/modules/"$KVER"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$KVER/" 2>/dev/null || true
	depmod -b "$r" "$KVER"
	# shellcheck disable=SC2086 # one module a line
	printf '%s\n' $BB_MODULES >"$r/etc/modules"
	(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n) >"$out.new"
	mv "$out.new" "$out"
	log "initrd (busybox): $(du -h "$out" | cut -f1) in $(($(date +%s) - t0)) s"
}

initrds() {
	install_tree
	initrd systemd "systemd systemd-initrd dracut-systemd base rootfs-block kcrypt"
	initrd shell "base rootfs-block kcrypt"
	[ "${KCRYPT_QEMU_DYNAMIC:-0}" = 1 ] || initrd_busybox
	# the same initrds without kcrypt, for the size figure of the closing note
	if [ "${KCRYPT_QEMU_BASELINE:-0}" = 1 ]; then
		initrd systemd-nokcrypt "systemd systemd-initrd dracut-systemd base rootfs-block dm"
		initrd shell-nokcrypt "base rootfs-block dm"
	fi
}

# copy_bin FILE [NAME]: a binary and the libraries it loads, into the rootfs
copy_bin() {
	local r=$B/rootfs dest=${2:-$1}
	install -D -m 0755 "$1" "$r$dest"
	ldd "$1" 2>/dev/null | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
		[ -e "$r$lib" ] || install -D -m 0755 "$lib" "$r$lib"	# the ELF interpreter needs x
	done
}

rootfs() {
	local r=$B/rootfs img=$B/root.img
	newer "$img" "$B/inst/usr/bin/kcrypt" "$ROOT/qemu/guest/init" "$ROOT/qemu/build.sh" || return 0
	log "rootfs: busybox, kcrypt, cryptsetup, dmsetup, openssl, mkfs.ext4"
	rm -rf "$r" && mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,run,tmp,oem,usr/local,mnt,etc}
	ln -s usr/lib "$r/lib" && ln -s usr/lib64 "$r/lib64"
	install -m 0755 /bin/busybox "$r/bin/busybox"
	for a in $(busybox --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
	ln -s ../bin/busybox "$r/sbin/modprobe"	# the kernel's request_module runs /sbin/modprobe
	install -m 0755 "$ROOT/qemu/guest/init" "$r/sbin/init"
	copy_bin "$B/inst/usr/bin/kcrypt" /usr/bin/kcrypt
	for b in /usr/sbin/cryptsetup /usr/sbin/dmsetup /usr/bin/openssl /usr/sbin/blkid; do copy_bin "$b"; done
	copy_bin /usr/sbin/mke2fs /usr/sbin/mkfs.ext4
	# systemd's own tools (qemu/e2e-matrix.sh, interop) with what they dlopen();
	# chattr for a db update on the running system (efivarfs files are immutable)
	local l=/usr/lib/x86_64-linux-gnu
	for b in /usr/lib/systemd/systemd-cryptsetup /usr/bin/systemd-cryptenroll \
		/usr/bin/chattr "$l"/libtss2-{esys.so.0,mu.so.0,rc.so.0,tcti-device.so.0} \
		"$l/cryptsetup/libcryptsetup-token-systemd-tpm2.so"; do
		copy_bin "$b"
	done
	# tpm2-tools, as root on the booted system would try a second unseal
	copy_bin /usr/bin/tpm2
	for t in createprimary load startauthsession policypcr unseal flushcontext; do
		ln -sf tpm2 "$r/usr/bin/tpm2_$t"
	done
	copy_bin /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0
	copy_bin /usr/bin/strace	# qemu/e2e-matrix.sh powercut: kill encrypt at each write
	# the running system loads dm-crypt itself (installer, kcrypt unlock-all)
	for mod in dm_crypt xts ecb aesni_intel efivarfs qemu_fw_cfg; do
		modprobe --show-depends -S "$KVER" "$mod" | awk '$1 == "insmod" {print $2}'
	done | sort -u | while read -r ko; do install -D -m 0644 "$ko" "$r$ko"; done
	cp /lib/modules/"$KVER"/modules.order /lib/modules/"$KVER"/modules.builtin* "$r/lib/modules/$KVER/"
	depmod -b "$r" "$KVER"
	# systemd's switch-root wants an OS tree
	printf 'NAME="kcrypt e2e"\nID=kcrypt-e2e\n' >"$r/etc/os-release"
	rm -f "$img" && truncate -s 96M "$img"
	mkfs.ext4 -q -L ROOT -d "$r" "$img"
}

# uki NAME FLAVOUR PHASE [EXTRA_CMDLINE] [SIGNATURE_OF] [PCRKEY]: a signed UKI.
# PHASE is the phase path systemd-measure signs ("" = the stub's measurements
# only); SIGNATURE_OF reuses another UKI's .pcrsig (a tampered image); PCRKEY
# names the PCR signing key (default pcr; pcr2: another vendor's).
uki() {
	local name=$1 flavour=$2 phase=$3 extra=${4:-} sigof=${5:-} pk=${6:-pcr} d=$B/uki/$1 k=$B/keys
	local initrd=$B/initrd-$flavour.img
	newer "$d/uki.signed.efi" "$initrd" "$k/db.crt" ${sigof:+"$B/uki/$sigof/pcrsig.json"} || return 0
	log "uki $name: $flavour initrd, phase '$phase'${extra:+, cmdline +\"$extra\"}${sigof:+, signature of $sigof}"
	mkdir -p "$d"
	printf '%s' "$CMDLINE${extra:+ $extra}" >"$d/cmdline"
	printf 'NAME="kcrypt e2e"\nID=kcrypt-e2e\nVERSION_ID=%s\n' "$name" >"$d/os-release"
	if [ -n "$sigof" ]; then
		cp "$B/uki/$sigof/pcrsig.json" "$d/pcrsig.json"
	else
		swtpm_sign_up
		"$MEASURE" sign --linux="$VMLINUZ" --osrel="$d/os-release" --cmdline="$d/cmdline" \
			--initrd="$initrd" --pcrpkey="$k/$pk-pub.pem" --bank=sha256 \
			--private-key="$k/$pk-priv.pem" --public-key="$k/$pk-pub.pem" \
			--tpm2-device="swtpm:path=$B/signtpm/sock" --phase="$phase" >"$d/pcrsig.json"
	fi
	objcopy \
		--add-section .osrel="$d/os-release" --change-section-vma .osrel=0x20000 \
		--add-section .cmdline="$d/cmdline" --change-section-vma .cmdline=0x30000 \
		--add-section .pcrsig="$d/pcrsig.json" --change-section-vma .pcrsig=0x40000 \
		--add-section .pcrpkey="$k/$pk-pub.pem" --change-section-vma .pcrpkey=0x50000 \
		--add-section .linux="$VMLINUZ" --change-section-vma .linux=0x2000000 \
		--add-section .initrd="$initrd" --change-section-vma .initrd=0x3000000 \
		"$STUB" "$d/uki.efi"
	sbsign --key "$k/db.key" --cert "$k/db.crt" --output "$d/uki.signed.efi" "$d/uki.efi" 2>/dev/null
	rm -f "$d/uki.efi"
}

# systemd-measure 252 needs a TPM for the policy math: a throw-away swtpm
swtpm_sign_up() {
	[ -S "$B/signtpm/sock" ] && kill -0 "$(cat "$B/signtpm/pid" 2>/dev/null)" 2>/dev/null && return 0
	mkdir -p "$B/signtpm"
	rm -f "$B/signtpm/sock" "$B/signtpm/sock.ctrl"
	swtpm socket --tpm2 --tpmstate "dir=$B/signtpm" --server "type=unixio,path=$B/signtpm/sock" \
		--ctrl "type=unixio,path=$B/signtpm/sock.ctrl" --flags not-need-init,startup-clear \
		--daemon --pid "file=$B/signtpm/pid"
	for _ in $(seq 50); do [ -S "$B/signtpm/sock" ] && break; sleep 0.05; done
}
swtpm_sign_down() { swtpm_down "$B/signtpm"; }

ukis() {
	trap swtpm_sign_down EXIT
	uki installer systemd "" "rd.kcrypt=0"
	uki v1 systemd enter-initrd
	uki v2 systemd enter-initrd "kcrypt.release=2"
	uki tampered systemd enter-initrd "kcrypt.release=2 systemd.debug_shell" v1
	uki shell shell enter-initrd
	# qemu/e2e.sh: the static kcrypt in an initramfs dracut did not make
	[ ! -e "$B/initrd-busybox.img" ] || uki busybox busybox enter-initrd
	# qemu/e2e-recovery.sh: the prompt on (the test bed turns it off), in both
	# flavours; a signature without enter-initrd; another vendor's key
	uki rescue systemd enter-initrd "$RESCUE_WORDS"
	uki rescue-shell shell enter-initrd "$RESCUE_WORDS"
	uki nophase systemd "" "kcrypt.release=3"
	uki otherkey systemd enter-initrd "kcrypt.release=4" "" pcr2
	swtpm_sign_down
	trap - EXIT
}

# dd_part DISK N IMAGE: write IMAGE at partition N's offset
dd_part() {
	local start
	start=$(sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].start")
	dd if="$3" of="$1" bs=512 seek="$start" conv=notrunc,sparse status=none
}

mkfs_img() {	# mkfs_img NAME LABEL MIB [mkfs args]
	local name=$1 label=$2 size=$3
	shift 3
	rm -f "$B/$name.img" && truncate -s "${size}M" "$B/$name.img"
	mkfs.ext4 -q -L "$label" "$@" "$B/$name.img"
}

disk() {
	local d=$B/disk.img k=$B/keys e=$B/esp
	newer "$d" "$B/root.img" "$B/uki/installer/uki.signed.efi" "$SDBOOT" || return 0
	log "disk: GPT efi/oem/persistent/data/root, signed systemd-boot, installer UKI"
	rm -f "$d" && truncate -s 400M "$d"
	sfdisk -q "$d" <<-PARTS
	label: gpt
	first-lba: 2048
	start=2048, size=${ESP_MB}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="efi"
	size=64MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="oem"
	size=64MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="persistent"
	size=48MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
	type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
	PARTS
	rm -rf "$e" && mkdir -p "$e/EFI/BOOT" "$e/EFI/Linux" "$e/loader/keys/auto"
	sbsign --key "$k/db.key" --cert "$k/db.crt" --output "$e/EFI/BOOT/BOOTX64.EFI" "$SDBOOT" 2>/dev/null
	cp "$B/uki/installer/uki.signed.efi" "$e/EFI/Linux/kcrypt.efi"
	cp "$k/PK.auth" "$k/KEK.auth" "$k/db.auth" "$e/loader/keys/auto/"
	printf 'timeout 0\nsecure-boot-enroll force\n' >"$e/loader/loader.conf"
	rm -f "$B/esp.img" && truncate -s "${ESP_MB}M" "$B/esp.img"
	mkfs.vfat -F 32 -n EFI "$B/esp.img" >/dev/null
	mcopy -s -i "$B/esp.img" "$e"/* ::/
	mkdir -p "$B/oemdir"
	printf '#cloud-config\ninstall:\n  encrypted_partitions:\n    - COS_OEM\n    - COS_PERSISTENT\n    - COS_DATA\n' \
		>"$B/oemdir/90_kcrypt.yaml"
	mkfs_img oem COS_OEM 64 -d "$B/oemdir"
	mkfs_img persistent COS_PERSISTENT 64
	mkfs_img data COS_DATA 48
	dd_part "$d" 1 "$B/esp.img"
	dd_part "$d" 2 "$B/oem.img"
	dd_part "$d" 3 "$B/persistent.img"
	dd_part "$d" 4 "$B/data.img"
	dd_part "$d" 5 "$B/root.img"
	rm -f "$B/esp.img" "$B/oem.img" "$B/persistent.img" "$B/data.img"
}

# The machine after its first two boots: key enrollment, then the installer.
installed() {
	local m=$B/installed secs
	newer "$m/.done" "$B/disk.img" || return 0
	rm -rf "$m" && mkdir -p "$m/tpm"
	cp --sparse=always "$B/disk.img" "$m/disk.img"
	cp "$OVMF_VARS" "$m/vars.fd"
	log "boot 1: firmware in setup mode, systemd-boot enrolls our PK/KEK/db"
	secs=$(qemu_boot "$m" "$B/console-enroll.log") || die "enroll boot failed: $B/console-enroll.log"
	grep -q 'Enrolling secure boot keys' "$B/console-enroll.log" || die "keys not enrolled: $B/console-enroll.log"
	log "boot 1: done in ${secs}s"
	log "boot 2: Secure Boot on, installer UKI: kcrypt encrypt oem, persistent, data"
	secs=$(qemu_boot "$m" "$B/console-install.log" --mode install \
		--fw-file recovery "$B/keys/recovery.key") || true
	grep -q '^E2E installed' "$B/console-install.log" || die "installer did not finish: $B/console-install.log"
	log "boot 2: done in ${secs}s"
	echo "$secs" >"$m/install-secs"
	cp "$B/keys/recovery.key" "$m/recovery.key"
	touch "$m/.done"
}

# KCRYPT_BUILD_LIB=1: only the functions (qemu/bench-boot.sh builds with them)
if [ "${KCRYPT_BUILD_LIB:-0}" != 1 ]; then
	keys
	more_keys
	initrds
	rootfs
	ukis
	disk
	[ "${1:-}" = disk ] || installed
fi
