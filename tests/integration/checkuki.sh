#!/usr/bin/env bash
# kcrypt check-uki: UKIs built on the host the way qemu/build.sh builds them
# (objcopy onto Debian's systemd-stub 252, .pcrsig from systemd-measure
# sign), volumes enrolled by kcrypt and by systemd 252's systemd-cryptenroll
# on a real swtpm. PCR 11 must equal systemd-measure calculate on the same
# section files; each verdict must be what unlocking after that boot gives.
# Usage: checkuki.sh KCRYPT
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
MEASURE=/usr/lib/systemd/systemd-measure
T=$(mktemp -d /tmp/kcrypt-checkuki.XXXXXX)
export T
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"
printf 'enroll-pass' >key
export PASSWORD=enroll-pass	# systemd-cryptenroll's test-only way to take the old passphrase
printf '4711-secret\n' >pin
mkdir nocfg
NC=(--cmdline "" --config-dir nocfg)

for k in a b; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k-priv.pem" 2>/dev/null
	openssl pkey -in "$k-priv.pem" -pubout -out "$k-pub.pem"
done

# section files: linux osrel cmdline initrd pcrpkey (tpm-lib), + splash dtb
uki_sections s1 a-pub.pem "console=ttyS0 rd.immucore.uki"
uki_sections s2 a-pub.pem "console=ttyS0 rd.immucore.uki quiet"
uki_sections s3 a-pub.pem "console=ttyS0" 70000
head -c 1500 /dev/urandom >s3/splash
head -c 700 /dev/urandom >s3/dtb

# section_args DIR: systemd-measure's --linux=... for the files in DIR
section_args() {
	local s
	for s in linux osrel cmdline initrd splash dtb pcrpkey; do
		[ -f "$1/$s" ] && printf -- '--%s=%s\n' "$s" "$1/$s"
	done
}

# sign DIR PRIVKEY PUBKEY PHASE > json
sign() {
	local args
	mapfile -t args < <(section_args "$1")
	"$MEASURE" sign "${args[@]}" --bank=sha256 --private-key="$2" --public-key="$3" \
		--tpm2-device="$TCTI" --phase="$4"
	tpm_flush
}

# mkuki OUT DIR [SIGJSON]: the sections of DIR (and a .pcrsig) onto the stub
mkuki() {
	local s vma=2 args=()
	for s in osrel cmdline splash dtb pcrpkey linux initrd; do
		[ -f "$2/$s" ] || continue
		args+=(--add-section ".$s=$2/$s" --change-section-vma ".$s=$((vma * 0x1000000))")
		vma=$((vma + 1))
	done
	[ -n "${3:-}" ] && args+=(--add-section ".pcrsig=$3" --change-section-vma ".pcrsig=0x10000000")
	objcopy "${args[@]}" "$STUB" "$1"
}

# the machine booted s1: PCR 7 from the firmware, PCR 11 from the stub + enter-initrd
# shellcheck disable=SC2119
swtpm_start
pcr_extend 7 "secure-boot-policy:our-db"
measure_uki s1
sign s1 a-priv.pem a-pub.pem enter-initrd >sig-a.json
sign s1 a-priv.pem a-pub.pem enter-initrd:leave-initrd >sig-late.json
sign s1 b-priv.pem b-pub.pem enter-initrd >sig-b.json
sign s2 a-priv.pem a-pub.pem enter-initrd >sig-new.json
mkuki uki-a.efi s1 sig-a.json
mkuki uki-late.efi s1 sig-late.json
mkuki uki-b.efi s1 sig-b.json
mkuki uki-nosig.efi s1
mkuki uki-new.efi s2 sig-new.json
mkuki uki-full.efi s3

echo "== PCR 11 as systemd-measure calculates it"
mkluks other.img ""
for u in a new full; do
	case $u in a) d=s1 ;; new) d=s2 ;; full) d=s3 ;; esac
	mapfile -t args < <(section_args "$d")
	"$MEASURE" calculate "${args[@]}" --bank=sha256 --phase=enter-initrd \
		--phase=enter-initrd:leave-initrd 2>/dev/null | cut -d= -f2 >"calc-$u"
	run check-uki "uki-$u.efi" --json "${NC[@]}" --device other.img
	check "uki-$u: enter-initrd as systemd-measure" jq_is '.pcr11["enter-initrd"]' "$(sed -n 1p "calc-$u")"
	check "uki-$u: enter-initrd:leave-initrd as systemd-measure" jq_is '.pcr11["leave-initrd"]' "$(sed -n 2p "calc-$u")"
done
check "uki-full measures .splash and .dtb too" jq_is '.sections | join(" ")' ".linux .osrel .cmdline .initrd .splash .dtb .pcrpkey"
run check-uki uki-a.efi "${NC[@]}" --device other.img
check "text output: the two PCR 11 values" bash -c 'out_has "^PCR 11 sha256 enter-initrd $(sed -n 1p calc-a)$" && out_has "^PCR 11 sha256 leave-initrd $(sed -n 2p calc-a)$"'
check "the booted machine's PCR 11 is the predicted enter-initrd value" \
	bash -c 'tpm2_pcrread sha256:11 -o pcr11.bin >/dev/null && [ "$(xxd -p -c 64 pcr11.bin)" = "$(sed -n 1p calc-a)" ]'

echo "== volumes: kcrypt's and systemd 252's tokens"
EN=(--tpm --unlock-key-file key --tpm-device "$TCTI")
# kenroll IMG ARGS...: a COS_PERSISTENT (or $LABEL) volume with a kcrypt token
kenroll() {
	local img=$1
	shift
	mkluks "$img" "${LABEL:-COS_PERSISTENT}"
	"$KCRYPT" enroll "$img" "${EN[@]}" "$@" >enroll.log 2>&1 || { cat enroll.log; exit 1; }
}
kenroll k-signed.img --public-key a-pub.pem --tpm2-signature sig-a.json
kenroll k-pin.img --public-key a-pub.pem --pin --tpm2-pin-file pin --tpm2-signature sig-a.json
kenroll k-pcr7.img --tpm-pcrs 7
kenroll k-pcr11.img --tpm-pcrs 11
kenroll k-pcr7-11.img --tpm-pcrs 7,11
LABEL=COS_OEM kenroll oem-pcr7.img --tpm-pcrs 7
mkluks sd-signed.img COS_PERSISTENT
systemd-cryptenroll --tpm2-device="$TCTI" --tpm2-pcrs= --tpm2-public-key=a-pub.pem \
	--tpm2-public-key-pcrs=11 --tpm2-signature=sig-a.json sd-signed.img >enroll.log 2>&1 ||
	{ cat enroll.log; exit 1; }
tpm_flush
mkluks sd-pcr7.img COS_PERSISTENT
systemd-cryptenroll --tpm2-device="$TCTI" --tpm2-pcrs=7 sd-pcr7.img >enroll.log 2>&1 ||
	{ cat enroll.log; exit 1; }
tpm_flush
mkluks plain.img COS_PERSISTENT
IMAGES=(k-signed.img k-pin.img k-pcr7.img k-pcr11.img k-pcr7-11.img oem-pcr7.img sd-signed.img
	sd-pcr7.img plain.img)
before=$(digest "${IMAGES[@]}")

# verdict NAME UKI IMG RC PATTERN [ARGS...]: one volume's verdict and the exit code
verdict() {
	local name=$1 uki=$2 img=$3 want=$4 pat=$5
	shift 5
	run check-uki "$uki" --json "${NC[@]}" --device "$img" "$@"
	if rc_is "$want" && jq -e --arg p "$pat" '.volumes[0].reason | test($p)' "$T/out" >/dev/null &&
		jq_is '.ok' "$([ "$want" -eq 0 ] && echo true || echo false)"; then
		ok "$name"
	else
		bad "$name (want rc=$want, /$pat/)"
	fi
}

for img in k-signed.img sd-signed.img; do
	verdict "$img: the UKI signed by its key for enter-initrd opens" uki-a.efi "$img" 0 \
		"phase enter-initrd signed by the token's key"
	verdict "$img: a new kernel signed by the same key opens" uki-new.efi "$img" 0 \
		"phase enter-initrd signed by the token's key"
	verdict "$img: signed by another key: refused" uki-b.efi "$img" 4 \
		"no sha256 signature in the file is by the token's public key"
	verdict "$img: signed without enter-initrd: refused, the phase named" uki-late.efi "$img" 4 \
		"no signature by the token's key for phase enter-initrd: the .pcrsig signs this UKI only for enter-initrd:leave-initrd"
	verdict "$img: no .pcrsig: refused" uki-nosig.efi "$img" 4 "the UKI has no .pcrsig section"
done
verdict "kcrypt's signed token: PCR 15 is no concern of the UKI" uki-a.efi k-signed.img 0 \
	"literal PCR 15: unaffected by the UKI"
run check-uki uki-late.efi "${NC[@]}" --device k-signed.img
refused_text() {
	rc_is 4 && one_line && out_has "^COS_PERSISTENT k-signed.img yes *refused" &&
		err_has "COS_PERSISTENT (k-signed.img): will not open after booting uki-late.efi: token 0: no signature"
}
check "refused: one error line on stderr naming the volume, table on stdout" refused_text
verdict "PIN token: opens, with the PIN" uki-a.efi k-pin.img 0 "needs the PIN"
for img in k-pcr7.img sd-pcr7.img; do
	verdict "$img: literal PCR 7 is unaffected by the UKI" uki-new.efi "$img" 0 \
		"literal PCR 7(\\+15)?: unaffected by the UKI"
done
verdict "literal PCR 11 token, another UKI: refused" uki-new.efi k-pcr11.img 4 \
	"literal PCR 11 binds the UKI the key was sealed to .*: this UKI gives it another value"
verdict "literal PCR 11 token, the UKI it was sealed under: opens" uki-a.efi k-pcr11.img 0 \
	"literal PCR 11\\+15: the values this UKI gives in the initrd"
verdict "literal PCR 7+11, the same UKI: PCR 7 read from the TPM, opens" uki-a.efi k-pcr7-11.img 0 \
	"literal PCR 7\\+11\\+15: the values this UKI gives" --tpm-device "$TCTI"
check "reading PCR 7 left nothing in the TPM" no_handles
verdict "literal PCR 7+11 without a TPM: cannot compare, refused" uki-a.efi k-pcr7-11.img 4 \
	"cannot compare: PCR 7 is read from the TPM" --no-tpm
verdict "no TPM token: refused" uki-a.efi plain.img 4 "no systemd-tpm2 token"
cp plain.img other-token.img
printf '{"type":"clevis","keyslots":["0"],"jwe":{}}' >clevis.json
cryptsetup token import --disable-external-tokens --json-file clevis.json other-token.img
verdict "another kind of token: cannot tell, not ok" uki-a.efi other-token.img 4 \
	"no systemd-tpm2 token; 1 other token\\(s\\), not judged"
run check-uki uki-new.efi --json "${NC[@]}" --device k-signed.img --device other.img
check "a volume nobody expects, refused, does not fail the check" bash -c \
	'rc_is 0 && jq_is "[.volumes[] | \"\(.expected):\(.verdict)\"] | join(\",\")" "true:opens,false:refused"'
run check-uki uki-b.efi --json "${NC[@]}" --device k-signed.img --device other.img
check "two volumes: the expected one refused fails the check, per volume" bash -c \
	'rc_is 4 && jq_is "[.volumes[].opens] | join(\",\")" "false,false" && jq_is ".volumes[0].tokens[0].verdict" refused'
check "check-uki changed no header" [ "$before" = "$(digest "${IMAGES[@]}")" ]

echo "== the verdicts hold: boot the UKI, then unlock"
UL=(--test "${NC[@]}" --tpm-device "$TCTI")
# shellcheck disable=SC2119
swtpm_start
pcr_extend 7 "secure-boot-policy:our-db"
measure_uki s2
for img in k-signed.img sd-signed.img; do
	run unlock "$img" "${UL[@]}" --tpm2-signature sig-new.json
	check "booted uki-new: $img opens, as check-uki said" rc_is 0
done
run unlock k-pcr11.img "${UL[@]}"
check "booted uki-new: the literal PCR 11 token is refused, as check-uki said" rc_is 4
# shellcheck disable=SC2119
swtpm_start
pcr_extend 7 "secure-boot-policy:our-db"
measure_uki s1
for sig in sig-late.json sig-b.json; do
	run unlock k-signed.img "${UL[@]}" --tpm2-signature "$sig"
	check "booted s1 with $sig: refused, as check-uki said" rc_is 4
done
run unlock k-pcr11.img "${UL[@]}"
check "booted uki-a: the literal PCR 11 token opens, as check-uki said" rc_is 0
check "no transient objects or sessions left" no_handles

echo "== files that are no UKI: one line, exit 2"
head -c 4096 /dev/urandom >garbage.efi
# cut inside .initrd (the file's last bytes are the stub's COFF symbols: not measured)
head -c "$((0x$(objdump -h uki-a.efi | awk '$2 == ".initrd" {print $6}') + 100))" uki-a.efi >truncated.efi
: >empty.efi
expect "garbage file" 2 "garbage.efi: not a PE image: no MZ header" check-uki garbage.efi "${NC[@]}"
expect "truncated PE" 2 "truncated.efi: truncated: section .initrd ends past the end of the file" \
	check-uki truncated.efi "${NC[@]}"
expect "PE without .linux (the bare stub)" 2 "linuxx64.efi.stub: not a UKI: no .linux section" \
	check-uki "$STUB" "${NC[@]}"
expect "empty file" 2 "empty.efi: not a regular file of 1 byte to 1 GiB" check-uki empty.efi "${NC[@]}"
expect "a directory" 2 "nocfg: not a regular file" check-uki nocfg "${NC[@]}"
expect "no such file" 2 "nosuch.efi: cannot open: No such file or directory" check-uki nosuch.efi "${NC[@]}"
expect "no file named" 2 "wrong number of arguments" check-uki "${NC[@]}"
expect "--tpm2-signature: the UKI's own .pcrsig is what counts" 2 "does not apply" \
	check-uki uki-a.efi --tpm2-signature sig-a.json "${NC[@]}"

echo "== --json is JSON"
run check-uki uki-new.efi --json "${NC[@]}" --device k-signed.img --device oem-pcr7.img
check "jq reads it: OEM first, both expected, both open" bash -c 'rc_is 0 && jq -e ".ok and ([.volumes[] | \"\(.label):\(.expected):\(.opens)\"] | join(\",\")) == \"COS_OEM:true:true,COS_PERSISTENT:true:true\"" "$T/out" >/dev/null'
check "python3 -m json.tool reads it" python3 -m json.tool "$T/out" /dev/null
check "PCR 11 values are 64 hex digits" bash -c 'jq -e ".pcr11 | [.[] | test(\"^[0-9a-f]{64}$\")] | all" "$T/out" >/dev/null'

summary checkuki
