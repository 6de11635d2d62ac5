#!/usr/bin/env bash
# Rebuilds tests/data/token/252-*.json and tests/data/pcrsig/* with systemd
# 252's own systemd-cryptenroll and systemd-measure against a fresh swtpm.
# Not run by the tests (the fixtures are committed); run it to refresh them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'swtpm_stop; rm -rf "$T"' EXIT
# shellcheck source=tests/integration/tpm-lib.sh
. "$here/../integration/tpm-lib.sh"
cd "$T"
# shellcheck disable=SC2119
swtpm_start
pcr_extend 7 fw
printf 'pw' >pw
export PASSWORD=pw
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out priv.pem 2>/dev/null
openssl pkey -in priv.pem -pubout -out pub.pem
uki_sections u pub.pem "console=ttyS0"
measure_uki u
sign_uki u priv.pem pub.pem >sig.json
mk() {
	local name=$1
	shift
	truncate -s 20M "$name.img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file pw "$name.img"
	systemd-cryptenroll --tpm2-device="$TCTI" "$@" "$name.img" >/dev/null 2>&1
	tpm_flush
	cryptsetup token export --token-id 0 "$name.img" >"$here/token/252-$name.json"
}
mk pcr7 --tpm2-pcrs=7
mk signed --tpm2-pcrs= --tpm2-public-key=pub.pem --tpm2-public-key-pcrs=11 --tpm2-signature=sig.json
mk signed-pcr7 --tpm2-pcrs=7 --tpm2-public-key=pub.pem --tpm2-public-key-pcrs=11 --tpm2-signature=sig.json
NEWPIN=1234 mk pin --tpm2-pcrs=7 --tpm2-with-pin=yes
cp sig.json "$here/pcrsig/252-sha256.json"
cp pub.pem "$here/pcrsig/pub.pem"
openssl rsa -pubin -in pub.pem -RSAPublicKey_out -outform DER 2>/dev/null | sha256sum | cut -c1-64 >"$here/pcrsig/pub.pkfp"
