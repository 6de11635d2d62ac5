#!/bin/sh
# Builds the static archives Debian does not ship (libdevmapper,
# libcryptsetup, tpm2-tss) from Debian's own source packages, once, into a
# cache: OUT/prefix/{include,lib}. The versions come from
# initrd/static/versions; the cache is rebuilt when that file or this
# script changes. Sources come through apt from the Debian archive (a
# private apt configuration under OUT/apt: the host's own sources are not
# touched), so the checksums are the ones apt checks against the archive's
# signed Release files; nothing is fetched any other way.
#   usage: deps.sh [OUT]          (default build/static)
# Needs: dpkg-dev, autoconf, automake, autopoint, libtool, libltdl-dev,
# autoconf-archive, libpopt-dev and the -dev packages of tests/setup.sh.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/initrd/static
OUT=${1:-$ROOT/build/static}
MIRROR=${KCRYPT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${KCRYPT_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
P=$OUT/prefix
JOBS=$(nproc 2>/dev/null || echo 2)

log() { echo "static: $*" >&2; }
die() { echo "static: $*" >&2; exit 1; }

stamp=$(cat "$HERE/versions" "$HERE/deps.sh" | sha256sum | cut -c1-16)
if [ -f "$P/.stamp" ] && [ "$(cat "$P/.stamp")" = "$stamp" ]; then
	touch "$P/.stamp"
	exit 0
fi
for t in dpkg-source apt-get autoreconf libtoolize; do
	command -v "$t" >/dev/null || die "$t is missing: sh tests/setup.sh installs it"
done

# --- sources through a private apt configuration -----------------------------
A=$OUT/apt
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$OUT/src" "$OUT/logs"
kr=/usr/share/keyrings/debian-archive-keyring.gpg
suites=$(awk '!/^#/ && NF == 3 { print $2 }' "$HERE/versions" | sort -u)
: >"$A/sources.list"
for s in $suites; do
	echo "deb-src [signed-by=$kr] $MIRROR $s main" >>"$A/sources.list"
	echo "deb-src [signed-by=$kr] $SECURITY $s-security main" >>"$A/sources.list"
done
apt_() {
	apt-get -q -o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache" -o Debug::NoLocking=1 \
		-o APT::Sandbox::User=root "$@"
}
log "apt: the Sources lists of $(echo "$suites" | tr '\n' ' ')"
apt_ update >"$OUT/logs/apt.log" 2>&1 || die "apt-get update failed: $OUT/logs/apt.log"

rm -rf "$P" "$OUT/work"
mkdir -p "$P" "$OUT/work"
failed_log=''
trap '[ -z "$failed_log" ] || echo "static: the build failed: $failed_log" >&2' EXIT
: >"$OUT/times"

# fetch NAME VERSION: the source package, unpacked with Debian's patches
fetch() {
	(cd "$OUT/src" && apt_ source --download-only "$1=$2") >>"$OUT/logs/apt.log" 2>&1 ||
		die "apt-get source $1=$2 failed: $OUT/logs/apt.log"
	up=${2#*:}
	dsc=$OUT/src/${1}_$up.dsc
	[ -f "$dsc" ] || die "no $dsc after apt-get source"
	dir=$OUT/work/$1
	dpkg-source --no-check -x "$dsc" "$dir" >>"$OUT/logs/$1.log" 2>&1 ||
		die "dpkg-source -x $dsc failed: $OUT/logs/$1.log"
}

# build NAME VERSION: fetch, configure, make, install into the prefix, timed
build() {
	name=$1
	t0=$(date +%s)
	log "$name $2"
	: >"$OUT/logs/$name.log"
	fetch "$1" "$2"
	# set -e holds inside (no || here, which would switch it off)
	failed_log=$OUT/logs/$name.log
	cd "$OUT/work/$name"
	"build_$(echo "$name" | tr -- - _)" >>"$OUT/logs/$name.log" 2>&1
	cd "$ROOT"
	failed_log=''
	echo "$name $2 $(($(date +%s) - t0))" >>"$OUT/times"
	log "$name: $(($(date +%s) - t0)) s"
}

export PKG_CONFIG_PATH="$P/lib/pkgconfig"
export CFLAGS="-O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -ffunction-sections -fdata-sections"

# device-mapper only; no udev sync (Debian has no static libudev): libdm
# makes the /dev/mapper nodes itself
build_lvm2() {
	./configure --prefix="$P" --libdir="$P/lib" --enable-static_link --disable-udev_sync \
		--disable-udev-systemd-background-jobs --disable-selinux --disable-blkid_wiping \
		--disable-readline --disable-dmeventd --disable-cmdlib --disable-lvmpolld \
		--with-thin=none --with-cache=none --with-vdo=none --with-writecache=none \
		--with-integrity=none
	make -j"$JOBS" -C libdm
	make -C libdm install_static install_include install_pkgconfig
}

# the OpenSSL backend (the one Debian builds), libargon2, no token plugins
# (nothing to dlopen), no ssh token, no NLS, no tools
build_cryptsetup() {
	autoreconf -fi
	./configure --prefix="$P" --libdir="$P/lib" --enable-static --disable-shared \
		--with-crypto_backend=openssl --enable-libargon2 --disable-external-tokens \
		--disable-ssh-token --disable-nls --disable-asciidoc --disable-selinux --disable-udev \
		--disable-cryptsetup --disable-veritysetup --disable-integritysetup \
		--with-tmpfilesdir="$P/lib/tmpfiles.d"
	make -j"$JOBS" libcryptsetup.la
	make install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA
}

# --enable-nodl: the TCTIs are linked, never dlopened; esys, mu, rc, sys
# and the device, swtpm and mssim TCTIs; no FAPI, no policy library
build_tpm2_tss() {
	./bootstrap
	./configure --prefix="$P" --libdir="$P/lib" --enable-static --disable-shared --enable-nodl \
		--disable-fapi --disable-policy --disable-doxygen-doc --disable-unit \
		--disable-integration --disable-tcti-cmd --disable-tcti-pcap --disable-tcti-libtpms \
		--disable-tcti-spi-helper --disable-tcti-spi-ltt2go --disable-tcti-spidev \
		--disable-tcti-spi-ftdi --disable-tcti-i2c-helper --disable-tcti-i2c-ftdi \
		--disable-vendor --with-crypto=ossl --with-udevrulesdir="$P/lib/udev" \
		--with-runstatedir="$P/run" --with-sysusersdir="$P/lib/sysusers.d" \
		--with-tmpfilesdir="$P/lib/tmpfiles.d"
	make -j"$JOBS"
	make install
	# every TCTI module (and the loader compiled into esys) defines the
	# Tss2_Tcti_Info entry point that dlopen callers look up by name; linked
	# statically the definitions collide. Nothing calls it by symbol once
	# nothing is dlopened: make it local to each archive member.
	for a in "$P"/lib/libtss2-*.a; do
		objcopy --localize-symbol=Tss2_Tcti_Info "$a"
	done
}

while read -r name suite version; do
	case $name in '' | '#'*) continue ;; esac
	: "$suite"
	build "$name" "$version"
done <"$HERE/versions"

rm -rf "$OUT/work"
echo "$stamp" >"$P/.stamp"
log "dependencies in $P ($(awk '{ s += $3 } END { print s }' "$OUT/times") s)"
