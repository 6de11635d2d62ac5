#!/usr/bin/env bash
# make bench: TPM unlock cost of kcrypt against systemd 252's token plugin
# and clevis, on the same swtpm, in one run. Reports TPM commands and wall
# time per unlock (1 and 8 volumes), and the keyslot KDF cost, as ratios.
# Usage: bench.sh /path/to/kcrypt /path/to/sd_tpm2_open
set -eu
KCRYPT=$(realpath "$1")
SD=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath "$HERE/../..")/build/bench
RUNS=${BENCH_RUNS:-15}
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/../integration/tpm-lib.sh"

# only this bench's own files: boot.md (make bench-boot) stays for make bench's summary
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT/results.md"
T=$(mktemp -d /tmp/kcrypt-bench.XXXXXX)
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"

printf 'bench-pass' >pw
export PASSWORD=bench-pass
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out priv.pem 2>/dev/null
openssl pkey -in priv.pem -pubout -out pub.pem
uki_sections uki pub.pem "console=ttyS0" 65536

boot() {
	swtpm_start "$@"
	pcr_extend 7 "secure-boot-policy"
	measure_uki uki
}
img() {
	truncate -s 20M "$1"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file pw "$1"
}

echo "bench: enrolling 8 volumes per tool and policy (systemd 252, clevis)..."
boot
sign_uki uki priv.pem pub.pem >sig.json
for i in 1 2 3 4 5 6 7 8; do
	img "p$i.img"	# PCR 7, systemd-cryptenroll: unlocked by kcrypt and by systemd's plugin
	systemd-cryptenroll --tpm2-device="$TCTI" --tpm2-pcrs=7 "p$i.img" >/dev/null 2>&1
	tpm_flush
	img "s$i.img"	# signed PCR 11, systemd-cryptenroll
	systemd-cryptenroll --tpm2-device="$TCTI" --tpm2-pcrs= --tpm2-public-key=pub.pem \
		--tpm2-public-key-pcrs=11 --tpm2-signature=sig.json "s$i.img" >/dev/null 2>&1
	tpm_flush
	img "c$i.img"	# PCR 7, clevis
	clevis luks bind -y -k pw -d "c$i.img" tpm2 '{"pcr_ids":"7","pcr_bank":"sha256"}' >/dev/null 2>&1
	tpm_flush
done

# the volume set (issue 8): three volumes kcrypt encrypted (bound) against
# three with the same token policy and no binding, opened by one unlock-all
mkdir -p setcfg
printf '#cloud-config\ninstall:\n  encrypted_partitions: [COS_DATA]\n' >setcfg/1.yaml
for l in COS_OEM COS_PERSISTENT COS_DATA; do
	truncate -s 40M "b-$l.img" && mkfs.ext4 -q -L "$l" "b-$l.img"
done
for l in COS_OEM COS_PERSISTENT COS_DATA; do
	"$KCRYPT" encrypt "$l" --tpm --tpm-device "$TCTI" --no-mkfs --tpm-pcrs 7 --public-key-pcrs "" \
		--device b-COS_OEM.img --device b-COS_PERSISTENT.img --device b-COS_DATA.img >/dev/null 2>&1
	tpm_flush
	truncate -s 20M "u-$l.img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label "$l" \
		--key-file pw "u-$l.img"
	"$KCRYPT" enroll "u-$l.img" --tpm --tpm-pcrs 7 --unlock-key-file pw --tpm-device "$TCTI" >/dev/null 2>&1
	tpm_flush
done
S=(--test --cmdline /dev/null --config-dir "$T/setcfg" --tpm-device "$TCTI")

K=(--test --cmdline /dev/null --config-dir /nonexistent --tpm-device "$TCTI")
clevis_one() { printf 'clevis luks pass -d %s -s 1 | cryptsetup open --test-passphrase --key-slot 1 --key-file - %s' "$1" "$1"; }
# loop8 FMT: FMT (a printf format with the volume number twice) for volumes 1..8
# shellcheck disable=SC2059
loop8() { local s="" i; for i in 1 2 3 4 5 6 7 8; do s+="$(printf "$1" "$i" "$i"); "; done; printf '%s' "$s"; }
devs() { local s="" i; for i in 1 2 3 4 5 6 7 8; do s+=" --device $1$i.img"; done; printf '%s' "$s"; }

declare -A CMD
CMD[kcrypt-pcr7-1]="$KCRYPT unlock ${K[*]} p1.img"
CMD[systemd-pcr7-1]="$SD p1.img $TCTI"
CMD[clevis-pcr7-1]="$(clevis_one c1.img)"
CMD[kcrypt-pcr7-8]="$KCRYPT unlock-all ${K[*]}$(devs p)"
CMD[clevis-pcr7-8]="$(loop8 "clevis luks pass -d c%s.img -s 1 | cryptsetup open --test-passphrase --key-slot 1 --key-file - c%s.img")"
CMD[kcrypt-signed-1]="$KCRYPT unlock ${K[*]} --tpm2-signature $T/sig.json s1.img"
CMD[systemd-signed-1]="$SD s1.img $TCTI $T/sig.json"
CMD[kcrypt-signed-8]="$KCRYPT unlock-all ${K[*]} --tpm2-signature $T/sig.json$(devs s)"
CMD[kcrypt-bound-3]="$KCRYPT unlock-all ${S[*]} --device b-COS_OEM.img --device b-COS_PERSISTENT.img --device b-COS_DATA.img"
CMD[kcrypt-unbound-3]="$KCRYPT unlock-all ${S[*]} --device u-COS_OEM.img --device u-COS_PERSISTENT.img --device u-COS_DATA.img"
ORDER=(pcr7-1 pcr7-8 signed-1 signed-8)

echo "bench: counting TPM commands (swtpm log)..."
declare -A NCMD
for case in "${!CMD[@]}"; do
	boot --log "file=$T/io.log,level=20"
	: >"$T/io.log"
	bash -c "${CMD[$case]}" >/dev/null 2>&1 || { echo "bench: $case failed" >&2; exit 1; }
	NCMD[$case]=$(grep -c 'SWTPM_IO_Read:' "$T/io.log")
	tpm_flush
	swtpm_stop
done

echo "bench: timing with hyperfine ($RUNS runs each)..."
boot
for case in "${!CMD[@]}"; do
	hyperfine -N --style none --warmup 2 --runs "$RUNS" --prepare 'tpm2_flushcontext -l' \
		--export-json "$OUT/$case.json" "bash -c '${CMD[$case]//\'/\'\\\'\'}'" >/dev/null 2>&1 \
		|| hyperfine --style none --warmup 2 --runs "$RUNS" --prepare 'tpm2_flushcontext -l' \
			--export-json "$OUT/$case.json" "${CMD[$case]}" >/dev/null
done
ms() { jq -r '.results[0].mean * 1000 | . * 10 | round / 10' "$OUT/$1.json"; }
# systemd's plugin leaks a session per unlock (design note §9): 8 in a row
# exhaust a raw swtpm. systemd-cryptsetup runs one service per volume, each
# on its own /dev/tpmrm0 connection, so 8 volumes cost 8 x one volume.
for o in pcr7 signed; do
	jq '.results[0].mean *= 8' "$OUT/systemd-$o-1.json" >"$OUT/systemd-$o-8.json"
	NCMD[systemd-$o-8]=$((NCMD[systemd-$o-1] * 8))
	CMD[systemd-$o-8]="(8 x 1)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "bench: keyslot KDF cost (cryptsetup open --test-passphrase)..."
img kdf-pbkdf2.img
truncate -s 20M kdf-argon.img
cryptsetup luksFormat -q --type luks2 --key-file pw kdf-argon.img	# cryptsetup's default: argon2id, benchmarked
hyperfine -N --style none --warmup 1 --runs 5 --export-json "$OUT/kdf-pbkdf2.json" \
	"cryptsetup open --test-passphrase --key-file pw kdf-pbkdf2.img" >/dev/null
hyperfine -N --style none --warmup 1 --runs 3 --export-json "$OUT/kdf-argon2id.json" \
	"cryptsetup open --test-passphrase --key-file pw kdf-argon.img" >/dev/null

{
	echo "## kcrypt TPM unlock benchmark"
	echo
	echo "$(date -u +%F), $(nproc) cores, swtpm $(swtpm --version 2>&1 | grep -o 'version [0-9.]*' | head -1 | cut -d' ' -f2) on a unix socket; systemd $(systemctl --version | awk 'NR==1{print $2}'), clevis $(dpkg-query -W -f='${Version}' clevis). Verify only (--test / NULL name), pbkdf2-1000 keyslots for all. Mean of $RUNS runs (hyperfine); 8 volumes: kcrypt in one process (one parent key, one signature file for all); clevis as 8 invocations; systemd as 8 x its 1-volume figures (one systemd-cryptsetup@ service per volume; run back to back its leaked sessions would exhaust a raw swtpm)."
	echo
	echo "| policy | volumes | tool | TPM commands | wall ms | kcrypt / tool (time) | kcrypt / tool (commands) |"
	echo "|---|---|---|---|---|---|---|"
	for o in "${ORDER[@]}"; do
		for tool in kcrypt systemd clevis; do
			c="$tool-$o"
			[ -n "${CMD[$c]:-}" ] || continue
			echo "| ${o%-*} | ${o##*-} | $tool | ${NCMD[$c]} | $(ms "$c") | $(ratio "$(ms "kcrypt-$o")" "$(ms "$c")") | $(ratio "${NCMD[kcrypt-$o]}" "${NCMD[$c]}") |"
		done
	done
	echo
	echo "Volume set (three volumes, PCR 7 + PCR 15 tokens, one unlock-all --test): bound by kcrypt encrypt against the same tokens unbound."
	echo
	echo "| volumes | TPM commands | wall ms | bound / unbound (time) | bound / unbound (commands) |"
	echo "|---|---|---|---|---|"
	echo "| 3 bound | ${NCMD[kcrypt-bound-3]} | $(ms kcrypt-bound-3) | $(ratio "$(ms kcrypt-bound-3)" "$(ms kcrypt-unbound-3)") | $(ratio "${NCMD[kcrypt-bound-3]}" "${NCMD[kcrypt-unbound-3]}") |"
	echo "| 3 unbound | ${NCMD[kcrypt-unbound-3]} | $(ms kcrypt-unbound-3) | 1.00 | 1.00 |"
	echo
	echo "| keyslot KDF | open ms | ratio to pbkdf2-1000 |"
	echo "|---|---|---|"
	echo "| pbkdf2, sha512/sha256, 1000 iterations (systemd's TPM slots) | $(ms kdf-pbkdf2) | 1.00 |"
	echo "| argon2id, cryptsetup default (benchmarked) | $(ms kdf-argon2id) | $(ratio "$(ms kdf-argon2id)" "$(ms kdf-pbkdf2)") |"
} | tee "$OUT/results.md"
