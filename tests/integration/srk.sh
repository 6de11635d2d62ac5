#!/usr/bin/env bash
# The SRK profile (--tpm2-srk): tokens sealed under the persistent SRK at
# 0x81000001, as systemd >= 254 writes them, against a real swtpm; the
# default on a host with systemd < 254 (the legacy primary, which systemd
# 252's own token plugin opens); an SRK replaced as an attacker would; the
# TPM commands an unlock sends either way. Keys verified with --test.
# Usage: srk.sh /path/to/kcrypt
# Checks run as `bash -c '...' _ ARGS`: the single quotes are deliberate.
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

T=$(mktemp -d /tmp/kcrypt-srk.XXXXXX)
export T
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"
SD="$HERE/../../build/sd_tpm2_open"
SRK=0x81000001

printf 'enroll-pass' >pw
printf '4711-secret\n' >pin
mkdir nocfg
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pcr-priv.pem 2>/dev/null
openssl pkey -in pcr-priv.pem -pubout -out pcr-pub.pem
uki_sections uki1 pcr-pub.pem "console=ttyS0 rd.immucore.uki"

# boot [swtpm args]: a power cycle, firmware PCR 7 and the UKI's PCR 11
boot() {
	swtpm_start "$@"
	pcr_extend 7 "secure-boot-policy:our-db"
	measure_uki uki1
}
newimg() { truncate -s 20M "$1" && cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --key-file pw "$1"; }
token() { cryptsetup token export --token-id "${2:-0}" "$1"; }
keys_are() { [ "$(token "$1" | jq -c 'keys_unsorted')" = "$2" ]; }
persistent() { tpm2_getcap handles-persistent | grep -c "$SRK" || true; }
# the SRK as tpm2-tools serializes its ESYS_TR (Esys_TR_Serialize), base64
srk_tr() { tpm2_readpublic -c "$SRK" -t "$T/srk.tr" >/dev/null && base64 -w0 "$T/srk.tr"; }
# systemd 252's own token plugin opens IMG (sd_tpm2_open prints the keyslot)
sd_opens() { "$SD" "$@" >/dev/null; }
export -f token keys_are

boot
sign_uki uki1 pcr-priv.pem pcr-pub.pem >sig1.json
EN=(--tpm --unlock-key-file pw --tpm-device "$TCTI")
TPMARGS=(--cmdline "" --config-dir nocfg --tpm-device "$TCTI")
for v in s-pcr7 s-signed s-pin s-again; do newimg "$v.img"; done

echo "== --tpm2-srk=yes: the persistent SRK, created when missing"
check "a fresh TPM has no SRK" [ "$(persistent)" = 0 ]
run enroll s-pcr7.img "${EN[@]}" --tpm-pcrs 7 --tpm2-srk=yes
check "enroll --tpm2-srk=yes: exit 0, says which parent and why" \
	bash -c 'rc_is 0 && err_has "parent key of a new token: the persistent SRK at 0x81000001 (--tpm2-srk=yes)$"'
check "...created the SRK and persisted it" err_has "created the SRK (ECC NIST P-256) and persisted it at 0x81000001"
check "tpm2_getcap handles-persistent shows 0x81000001" [ "$(persistent)" = 1 ]
# systemd's template, made by tpm2-tools: the same seed and template give the same key
tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -c tmpl.ctx \
	-a 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda'
check "the SRK is systemd's template (ECC P-256, AES-128-CFB, sha256, noDA: 0x30472): the same name" bash -c \
	'[ "$(tpm2_readpublic -c "$1" | grep "^name:")" = "$(tpm2_readpublic -c tmpl.ctx | grep "^name:")" ] &&
	 tpm2_readpublic -c "$1" | grep -q "raw: 0x30472"' _ "$SRK"
tpm_flush
check "the token has tpm2_srk: the SRK's Esys_TR_Serialize, as tpm2-tools gives it" \
	bash -c '[ "$(token s-pcr7.img | jq -r ".\"tpm2_srk\"")" = "$1" ]' _ "$(srk_tr)"
check "...and systemd 255's fields, in its order" keys_are s-pcr7.img \
	'["type","keyslots","tpm2-blob","tpm2-pcrs","tpm2-pcr-bank","tpm2-primary-alg","tpm2-policy-hash","tpm2-pin","tpm2_pcrlock","tpm2_srk"]'
check "...tpm2-primary-alg is the SRK's type, tpm2_pcrlock false" \
	bash -c '[ "$(token s-pcr7.img | jq -r "[.\"tpm2-primary-alg\", .tpm2_pcrlock] | join(\",\")")" = ecc,false ]'
check "enrollment left no transient object or session" no_handles
run enroll s-signed.img "${EN[@]}" --public-key pcr-pub.pem --tpm2-signature sig1.json --tpm2-srk
check "a second enroll (bare --tpm2-srk) reuses the SRK, creates none" \
	bash -c 'rc_is 0 && err_has "the persistent SRK" && ! err_has "created the SRK"'
check "...still one persistent SRK, the same key in both tokens" bash -c \
	'[ "$1" = 1 ] && [ "$(token s-pcr7.img | jq -r .tpm2_srk)" = "$(token s-signed.img | jq -r .tpm2_srk)" ]' _ "$(persistent)"
check "...signed token: the public key fields before tpm2_srk" keys_are s-signed.img \
	'["type","keyslots","tpm2-blob","tpm2-pcrs","tpm2-pcr-bank","tpm2-primary-alg","tpm2-policy-hash","tpm2-pin","tpm2_pcrlock","tpm2_pubkey_pcrs","tpm2_pubkey","tpm2_srk"]'
run enroll s-pin.img "${EN[@]}" --tpm-pcrs 7 --pin --tpm2-pin-file pin --tpm2-srk=yes
check "a PIN token under the SRK gets systemd 253+'s tpm2_salt" bash -c \
	'rc_is 0 && keys_are s-pin.img "[\"type\",\"keyslots\",\"tpm2-blob\",\"tpm2-pcrs\",\"tpm2-pcr-bank\",\"tpm2-primary-alg\",\"tpm2-policy-hash\",\"tpm2-pin\",\"tpm2_pcrlock\",\"tpm2_salt\",\"tpm2_srk\"]"'
run enroll s-pcr7.img "${EN[@]}" --tpm-pcrs 7 --tpm2-srk=yes
check "enroll again with the same policy and parent: no-op" bash -c 'rc_is 0 && err_has "already enrolled (token 0)"'

for v in s-pcr7 s-signed; do
	run unlock --test "$v.img" "${TPMARGS[@]}" --tpm2-signature sig1.json
	check "$v: kcrypt unlock --test opens it" bash -c 'rc_is 0 && err_has "key verified with tpm2"'
done
run unlock --test s-pin.img "${TPMARGS[@]}" --tpm2-pin-file pin
check "s-pin: opens with the (salted) PIN" bash -c 'rc_is 0 && err_has "key verified with tpm2"'
check "unlocks left nothing in the TPM" no_handles
run status --json --device s-pcr7.img --cmdline "" --config-dir nocfg
check "status names the parent: srk" jq_is '.volumes[0].tokens[0].tpm2.parent' srk
check "systemd 252's plugin cannot open an SRK token (why auto is legacy here)" \
	bash -c '! "$1" s-pcr7.img "$2" >/dev/null 2>&1' _ "$SD" "$TCTI"
tpm_flush

echo "== the default on this host"
SDLIB=
for f in /usr/lib/systemd/libsystemd-shared-*.so /lib/systemd/libsystemd-shared-*.so \
	/usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-*.so /usr/lib64/systemd/libsystemd-shared-*.so; do
	if [ -e "$f" ]; then SDLIB=$f; break; fi
done
SDV=$(basename "${SDLIB:-none}" | sed -nE 's/^libsystemd-shared-([0-9]+).*\.so$/\1/p')
echo "     (systemd here: ${SDV:-none}${SDLIB:+, $SDLIB})"
newimg d-auto.img
run enroll d-auto.img "${EN[@]}" --tpm-pcrs 7
if [ -n "$SDV" ] && [ "$SDV" -lt 254 ]; then
	check "auto with systemd $SDV: the legacy primary, and the log line says why" bash -c \
		'rc_is 0 && err_has "a transient primary made at each unseal, as systemd 252 (--tpm2-srk=auto: systemd $1 here (.*) cannot open tpm2_srk tokens, which need 254)$"' _ "$SDV"
	check "...no tpm2_srk in the token; 252's fields and order" keys_are d-auto.img \
		'["type","keyslots","tpm2-blob","tpm2-pcrs","tpm2-pcr-bank","tpm2-primary-alg","tpm2-policy-hash","tpm2-pin"]'
	check "...systemd $SDV's own token plugin opens it" sd_opens d-auto.img "$TCTI"
	tpm_flush
else
	check "auto with systemd ${SDV:-none}: the SRK" bash -c \
		'rc_is 0 && err_has "the persistent SRK at 0x81000001 (--tpm2-srk=auto" && token d-auto.img | jq -e .tpm2_srk >/dev/null'
fi
run unlock --test d-auto.img "${TPMARGS[@]}"
check "...kcrypt opens it" rc_is 0
newimg d-no.img
run enroll d-no.img "${EN[@]}" --tpm-pcrs 7 --tpm2-srk=no
check "--tpm2-srk=no: the legacy primary, said so" bash -c \
	'rc_is 0 && err_has "as systemd 252 (--tpm2-srk=no)$" && ! token d-no.img | jq -e .tpm2_srk >/dev/null'
check "...systemd 252's plugin opens it" sd_opens d-no.img "$TCTI"
tpm_flush
truncate -s 40M enc.img && mkfs.ext4 -q -L COS_SRKDATA enc.img
run encrypt COS_SRKDATA --tpm --tpm-device "$TCTI" --no-mkfs --tpm-pcrs 7 --public-key-pcrs "" \
	--device enc.img --tpm2-srk=yes
check "encrypt --tpm2-srk=yes: a token under the SRK" bash -c \
	'rc_is 0 && err_has "enc.img: parent key of a new token: the persistent SRK" && token enc.img | jq -e .tpm2_srk >/dev/null'
run unlock --test enc.img "${TPMARGS[@]}"
check "...kcrypt opens it" rc_is 0

echo "== bad input"
newimg e.img
e_before=$(digest e.img)
expect "enroll --tpm2-srk=bogus: usage error" 2 "--tpm2-srk: 'bogus' is not auto, yes or no" \
	enroll e.img "${EN[@]}" --tpm2-srk=bogus
expect "encrypt --tpm2-srk=maybe: usage error" 2 "--tpm2-srk: 'maybe' is not auto, yes or no" \
	encrypt COS_SRKDATA --tpm --tpm-pcrs 7 --tpm2-srk=maybe --device e.img
expect "--tpm2-srk does not apply to unlock" 2 "option --tpm2-srk does not apply" \
	unlock --test e.img --tpm2-srk=yes
check "...nothing written" [ "$e_before" = "$(digest e.img)" ]

echo "== TPM commands of one unlock: SRK token vs legacy (swtpm's count)"
# ccount CODE: commands with this command code in the swtpm log
ccount() { awk '/SWTPM_IO_Read:/ { getline; print $7 $8 $9 $10 }' "$T/count.log" | grep -c "^$1$" || true; }
for p in yes no; do
	newimg "c-signed-$p.img"
	newimg "c-pcr7-$p.img"
	"$KCRYPT" enroll "c-signed-$p.img" "${EN[@]}" --public-key pcr-pub.pem --tpm2-signature sig1.json \
		--tpm2-srk=$p >/dev/null 2>&1
	"$KCRYPT" enroll "c-pcr7-$p.img" "${EN[@]}" --tpm-pcrs 7 --tpm2-srk=$p >/dev/null 2>&1
done
swtpm_stop
boot --log "file=$T/count.log,level=20"
# ncmds ARGS...: run kcrypt, NC = the TPM commands it sent, CP = its CreatePrimary count
ncmds() {
	: >"$T/count.log"
	run "$@"
	NC=$(grep -c 'SWTPM_IO_Read:' "$T/count.log")
	CP=$(ccount 00000131)
}
ncmds unlock --test c-signed-no.img "${TPMARGS[@]}" --tpm2-signature sig1.json
check "legacy token, signed PCR 11 + PCR 15: opens ($NC commands, CreatePrimary $CP)" bash -c 'rc_is 0 && [ "$1" = 1 ]' _ "$CP"
LEG_SIGNED=$NC
ncmds unlock --test c-signed-yes.img "${TPMARGS[@]}" --tpm2-signature sig1.json
check "SRK token, signed PCR 11 + PCR 15: opens ($NC commands), no CreatePrimary ($CP)" bash -c 'rc_is 0 && [ "$1" = 0 ]' _ "$CP"
check "...fewer commands than the legacy token ($NC < $LEG_SIGNED)" [ "$NC" -lt "$LEG_SIGNED" ]
check "...nothing left in the TPM" no_handles
ncmds unlock --test c-pcr7-no.img "${TPMARGS[@]}"
check "legacy token, PCR 7 + PCR 15: opens ($NC commands, CreatePrimary $CP)" bash -c 'rc_is 0 && [ "$1" = 1 ]' _ "$CP"
LEG_PCR7=$NC
ncmds unlock --test c-pcr7-yes.img "${TPMARGS[@]}"
check "SRK token, PCR 7 + PCR 15: opens ($NC commands), no CreatePrimary ($CP)" bash -c 'rc_is 0 && [ "$1" = 0 ]' _ "$CP"
check "...fewer commands than the legacy token ($NC < $LEG_PCR7)" [ "$NC" -lt "$LEG_PCR7" ]
swtpm_stop
boot

echo "== dictionary-attack lockout: the SRK has noDA, the legacy primary has not"
printf 'not-the-pin' >badpin
tpm2_dictionarylockout -c >/dev/null
max=$(tpm2_getcap properties-variable | awk '/TPM2_PT_MAX_AUTH_FAIL/{getline; print $2}')
for _ in $(seq "${max:-3}"); do
	"$KCRYPT" unlock --test s-pin.img "${TPMARGS[@]}" --tpm2-pin-file badpin >/dev/null 2>&1 || true
done
expect "in lockout: the SRK PIN token says so" 4 "TPM is in dictionary-attack lockout" \
	unlock --test s-pin.img "${TPMARGS[@]}" --tpm2-pin-file pin
run unlock --test c-pcr7-yes.img "${TPMARGS[@]}"
check "in lockout: a PIN-less SRK token still opens" bash -c 'rc_is 0 && err_has "key verified with tpm2"'
expect "in lockout: a PIN-less legacy token is refused (its primary lacks noDA)" 4 \
	"TPM is in dictionary-attack lockout" unlock --test c-pcr7-no.img "${TPMARGS[@]}"
tpm2_dictionarylockout -c >/dev/null
check "lockout left nothing in the TPM" no_handles

echo "== the SRK replaced: refused with one line, the volume untouched"
cp s-pcr7.img v.img
v_before=$(digest v.img)
tpm2_evictcontrol -C o -c "$SRK" >/dev/null
expect "no key at 0x81000001: exit 4, one line" 4 "no key at 0x81000001, the SRK this token was sealed under" \
	unlock --test v.img "${TPMARGS[@]}"
# an attacker's key at the SRK's handle: a storage key of their choosing
tpm2_createprimary -Q -C o -g sha256 -G rsa2048:aes128cfb -c atk.ctx \
	-a 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda'
tpm2_evictcontrol -C o -c atk.ctx "$SRK" >/dev/null
tpm_flush
expect "another key at 0x81000001: exit 4, one line" 4 "the key at 0x81000001 is not the SRK this token was sealed under" \
	unlock --test v.img "${TPMARGS[@]}"
check "...nothing left in the TPM" no_handles
check "...the volume unchanged" [ "$v_before" = "$(digest v.img)" ]
tpm2_evictcontrol -C o -c "$SRK" >/dev/null

echo "== reseal keeps the token's profile"
newimg r-leg.img
run enroll r-leg.img "${EN[@]}" --tpm-pcrs 7 --tpm2-srk=no
run reseal --device v.img --device r-leg.img --unlock-key-file pw "${TPMARGS[@]}"
check "reseal after the SRK went: the SRK token replaced, the legacy one current" bash -c 'rc_is 0 && [ "$(grep -c "resealed as token" "$T/err")" = 1 ] && err_has "r-leg.img: token 0 is current"'
check "...the SRK token by an SRK token (the SRK created again), said why" bash -c \
	'err_has "v.img: parent key of a new token: the persistent SRK at 0x81000001 (as the SRK token it replaces)" && err_has "created the SRK" &&
	 [ "$(cryptsetup luksDump --dump-json-metadata v.img | jq "[.tokens[] | select(.type == \"systemd-tpm2\")] | length")" = 1 ] &&
	 cryptsetup luksDump --dump-json-metadata v.img | jq -e "[.tokens[] | select(.type == \"systemd-tpm2\")][0].tpm2_srk" >/dev/null'
run unlock --test v.img "${TPMARGS[@]}"
check "...which opens" rc_is 0
tpm2_clear
run reseal --device r-leg.img --device v.img --unlock-key-file pw "${TPMARGS[@]}"
check "after a TPM clear: the legacy token resealed as a legacy token" bash -c \
	'rc_is 0 && err_has "r-leg.img: parent key of a new token: a transient primary made at each unseal, as systemd 252 (as the legacy token it replaces)" &&
	 ! cryptsetup luksDump --dump-json-metadata r-leg.img | jq -e "[.tokens[] | select(.type == \"systemd-tpm2\")][0].tpm2_srk" >/dev/null'
check "...and the SRK token as an SRK token" bash -c \
	'err_has "v.img: parent key of a new token: the persistent SRK at 0x81000001 (as the SRK token it replaces)"'
check "...systemd 252's plugin opens the resealed legacy token" sd_opens r-leg.img "$TCTI"
tpm_flush
run unlock-all --test --device v.img --device r-leg.img "${TPMARGS[@]}"
check "...kcrypt opens both in one run" bash -c 'rc_is 0 && [ "$(grep -c "key verified with tpm2" "$T/err")" = 2 ]'
swtpm_stop

summary srk
