#!/bin/sh
# Every static archive the linker took a member from for OUT/obj/kcrypt
# (read from the link map), with the Debian package and version it comes
# from: the list to hold against Debian's security announcements. The
# archives built from source name their source package and the version in
# initrd/static/versions.
#   usage: linked.sh [OUT]       (default build/static)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build/static}
MAP=$OUT/obj/kcrypt.map
[ -f "$MAP" ] || { echo "static-versions: no link map $MAP: make static first" >&2; exit 1; }
P=$(cd "$OUT/prefix" && pwd)

# the source package an archive of the prefix was built from
from_source() {
	case $(basename "$1") in
	libdevmapper.a) src=lvm2 ;;
	libcryptsetup.a) src=cryptsetup ;;
	libtss2-*) src=tpm2-tss ;;
	*) src=? ;;
	esac
	awk -v p="$src" '$1 == p { print p, $3, "(built from source, " $2 ")" }' "$ROOT/initrd/static/versions"
}

printf '%-34s %s\n' "archive" "package version"
sed -n 's/^\([^ (][^ (]*\.a\)(.*/\1/p' "$MAP" | sort -u | while read -r a; do
	f=$(realpath "$a")
	case $f in
	"$P"/*) printf '%-34s %s\n' "$(basename "$f")" "$(from_source "$f")" ;;
	*)
		pkg=$(dpkg-query -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
		if [ -n "$pkg" ]; then
			printf '%-34s %s %s (source %s)\n' "$(basename "$f")" "$pkg" \
				"$(dpkg-query -W -f '${Version}' "$pkg")" \
				"$(dpkg-query -W -f '${source:Package}' "$pkg")"
		else
			printf '%-34s %s\n' "$(basename "$f")" "not from a Debian package: $f"
		fi
		;;
	esac
done
