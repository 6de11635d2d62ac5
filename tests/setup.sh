#!/bin/sh
# Installs every Debian package the build, the tests and the demo need.
# Idempotent: packages already present are skipped by apt.
set -eu

PKGS="build-essential pkg-config clang llvm libclang-rt-14-dev \
libcryptsetup-dev libblkid-dev libyaml-dev libjson-c-dev libssl-dev \
libtss2-dev libcmocka-dev cryptsetup-bin valgrind shellcheck jq \
swtpm swtpm-tools tpm2-tools keyutils util-linux e2fsprogs \
systemd openssl python3 strace gdb xxd \
clevis clevis-tpm2 clevis-luks clevis-dracut hyperfine \
dracut qemu-system-x86 ovmf systemd-boot-efi sbsigntool efitools \
linux-image-amd64 mtools dosfstools fdisk busybox-static kmod binutils \
dpkg-dev autoconf automake autopoint libtool libltdl-dev autoconf-archive libpopt-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
