#!/usr/bin/env bash
# The static binary (make static): statically linked, and it never loads a
# shared object at run time, not even the OpenSSL "legacy" provider
# libcryptsetup asks for, nor an openssl.cnf that could name one. Watched
# with strace while it does real work: encrypt-free enrolment into a swtpm,
# a signed-policy unseal, a passphrase keyslot (argon2), check-uki.
# Ends "static: N passed, N failed".
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

T=$(mktemp -d /tmp/kcrypt-static.XXXXXX)
export T
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"

check "file says statically linked" bash -c "file -L '$KCRYPT' | grep -q 'statically linked'"
check "ldd says not a dynamic executable" bash -c "! ldd '$KCRYPT' >/dev/null 2>&1"
check "no PT_INTERP, no DT_NEEDED" bash -c "! readelf -lW '$KCRYPT' | grep -q INTERP && ! readelf -dW '$KCRYPT' 2>/dev/null | grep -q NEEDED"

printf 'enroll-pass' >pw
printf 'a typed passphrase' >pass2
mkdir nocfg
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pcr-priv.pem 2>/dev/null
openssl pkey -in pcr-priv.pem -pubout -out pcr-pub.pem
uki_sections uki1 pcr-pub.pem "console=ttyS0"
swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:our-db"
measure_uki uki1
sign_uki uki1 pcr-priv.pem pcr-pub.pem >sig1.json
for v in pcr7 signed; do
	truncate -s 20M "$v.img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file pw "$v.img"
done
TPMARGS=(--cmdline "" --config-dir nocfg --tpm-device "$TCTI")

# traced NAME ARGS...: run kcrypt under strace (every file and exec call of
# every thread), rc and output as run() leaves them, the trace in $T/trace
traced() {
	local name=$1
	shift
	set +e
	strace -f -qq -o "$T/trace" -e trace=%file,execve "$KCRYPT" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	export RC
	check "$name: exit 0" rc_is 0
	# any open of a shared object, found or not, counts: the attempt is the bug
	if grep -E '"[^"]*\.so(\.[0-9]+)*"' "$T/trace" >"$T/so"; then
		bad "$name: looked for a shared object: $(head -c 300 "$T/so")"
	else
		ok "$name: no shared object opened or looked for"
	fi
	if grep -E 'ossl-modules|openssl\.cnf|engines-3' "$T/trace" >"$T/so"; then
		bad "$name: OpenSSL looked for its modules or config: $(head -c 300 "$T/so")"
	else
		ok "$name: no OpenSSL module, engine or config"
	fi
	if [ "$(grep -c 'execve(' "$T/trace")" -eq 1 ]; then
		ok "$name: nothing else executed"
	else
		bad "$name: ran another program: $(grep 'execve(' "$T/trace" | sed -n 2p)"
	fi
}

traced "enroll PCR 7" enroll pcr7.img --tpm --unlock-key-file pw --tpm-device "$TCTI"
traced "enroll signed PCR 11" enroll signed.img --tpm --unlock-key-file pw --tpm-device "$TCTI" \
	--public-key pcr-pub.pem --tpm2-signature sig1.json
tpm_flush
traced "unlock --test (PCR 7)" unlock --test pcr7.img "${TPMARGS[@]}"
traced "unlock --test (signed policy)" unlock --test signed.img "${TPMARGS[@]}" --tpm2-signature sig1.json
check "...the key verified with the TPM" err_has "key verified with tpm2"
traced "status --json" status --json --device pcr7.img --device signed.img --cmdline "" --config-dir nocfg
check "...and the JSON reads" bash -c "jq -e '.volumes | length == 2' '$T/out' >/dev/null"

# a TCP swtpm by name: glibc's static lookup reads /etc/hosts, no NSS module
port=$((20000 + RANDOM % 20000))
mkdir -p tcp
swtpm socket --tpm2 --tpmstate dir="$T/tcp" --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear \
	--daemon --pid "file=$T/tcp/pid"
truncate -s 20M tcp.img
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file pw tcp.img
traced "enroll over swtpm:host=localhost" enroll tcp.img --tpm --unlock-key-file pw \
	--tpm-device "swtpm:host=localhost,port=$port"
kill "$(cat "$T/tcp/pid")" 2>/dev/null || true

# the version line names what is linked in
run --version -v
check "--version -v: says static, names the tpm2-tss built from source" \
	bash -c 'rc_is 0 && out_has "(static)" && out_has "tss2-esys 4\.1\.3"'
summary static
