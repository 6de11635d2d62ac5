#!/usr/bin/env bash
# The prompt when the TPM cannot open an expected volume: unlock-all
# --prompt on a terminal of its own (tests/tools/pty_answer.py types as a
# person would), against a real swtpm and real LUKS2 images; keys verified
# with --test. The initrd flavours (ask-password agents, the console) are
# booted in qemu/e2e.sh. Usage: prompt.sh KCRYPT
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
PTY="$HERE/../tools/pty_answer.py"
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

T=$(mktemp -d /tmp/kcrypt-prompt.XXXXXX)
export T
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"
mkdir nocfg
fsimg() { rm -f "$1"; truncate -s 40M "$1"; mkfs.ext4 -q -L "$2" "$1"; }
# answer NAME TIMEOUT [REGEX FILE]... -- ARGS: unlock-all on a terminal
answer() {
	local pairs=()
	while [ "$1" != -- ]; do pairs+=("$1"); shift; done
	shift
	set +e
	# shellcheck disable=SC2086
	python3 "$PTY" "$T/tty" 120 "${pairs[@]}" -- ${KCRYPT_WRAP:-} "$KCRYPT" "$@" \
		--tpm-device "$TCTI" --cmdline "$T/cmdline" --config-dir "$T/nocfg" >/dev/null 2>&1
	RC=$?
	set -e
	export RC
	tr -d '\r' <"$T/tty" >"$T/err"
	: >"$T/out"
}
printf '' >cmdline
DEVS=(--device oem.img --device per.img)

swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:db-1"
fsimg oem.img COS_OEM
fsimg per.img COS_PERSISTENT
ENC=(--tpm --tpm-device "$TCTI" --no-mkfs --tpm-pcrs 7 --public-key-pcrs "" --recovery-key-file rk)
"$KCRYPT" encrypt COS_OEM "${ENC[@]}" "${DEVS[@]}" >/dev/null 2>&1
"$KCRYPT" encrypt COS_PERSISTENT "${ENC[@]}" "${DEVS[@]}" >/dev/null 2>&1
tr '[:lower:]' '[:upper:]' <rk | tr -d '-' >rk-typed
printf 'wrong-key' >wrong

echo "== the TPM opens them: nobody is asked"
answer -- unlock-all --prompt --test "${DEVS[@]}"
check "no prompt while the TPM opens every volume" bash -c 'rc_is 0 && ! err_has "Recovery key"'

echo "== PCR 7 moved: the recovery key at the prompt"
swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:db-2"
answer "Recovery key or passphrase for COS_OEM \\(oem.img\\) and 1 more" rk-typed -- \
	unlock-all --prompt --test "${DEVS[@]}"
check "one key, typed once (capitals, no dashes), opens both" bash -c \
	'rc_is 0 && [ "$(grep -c "key verified with recovery key" err)" = 2 ]'
check "the typed key is not echoed" bash -c '! grep -qiF "$(cat rk-typed)" tty'
check "the volume-set proof covers keys typed at the prompt" bash -c \
	'err_has "2 volume(s) proved their membership"'
answer "Recovery key" wrong "that key opens none" wrong "that key opens none" wrong -- \
	unlock-all --prompt --test "${DEVS[@]}"
check "three wrong keys, then it gives up" bash -c \
	'rc_is 1 && [ "$(grep -c "opens none of the closed volumes" err)" = 3 ]'
answer "Recovery key" - -- unlock-all --prompt --test "${DEVS[@]}"
check "an empty answer cancels" bash -c 'rc_is 1 && err_has "no recovery key: cancelled"'
printf 'kcrypt.prompt_timeout=2' >cmdline
answer -- unlock-all --prompt --test "${DEVS[@]}"
check "nobody answers: the bounded wait ends (kcrypt.prompt_timeout=2)" bash -c \
	'rc_is 1 && err_has "nobody gave a recovery key within 2 s"'
printf 'kcrypt.prompt=0' >cmdline
answer -- unlock-all --prompt --test "${DEVS[@]}"
check "kcrypt.prompt=0: no prompt" bash -c 'rc_is 1 && ! err_has "Recovery key"'
printf '' >cmdline
answer -- unlock-all --test "${DEVS[@]}"
check "by hand without --prompt: no prompt" bash -c 'rc_is 1 && ! err_has "Recovery key"'

echo "== a volume that is not the machine's own is refused, typed key or not"
fsimg evil.img COS_PERSISTENT
printf 'attacker' >evilpass
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--label COS_PERSISTENT evil.img evilpass
answer "Recovery key or passphrase for COS_OEM \\(oem.img\\) and 1 more" rk \
	"Recovery key or passphrase for COS_PERSISTENT" evilpass -- \
	unlock-all --prompt --test --device oem.img --device evil.img
check "the attacker's passphrase opens their volume, and the set proof refuses it" bash -c \
	'rc_is 7 && err_has "COS_PERSISTENT (evil.img)" && err_has "not trusted"'

echo "== a PIN-bound token: a wrong PIN, then the right one"
swtpm_start --log level=0
printf '1234' >pin
printf '9999' >badpin
printf 'pass' >key
mkluks pin.img COS_OEM
"$KCRYPT" enroll pin.img --tpm --tpm-pcrs 7 --pin --tpm2-pin-file pin --unlock-key-file key \
	--tpm-device "$TCTI" >/dev/null 2>&1
answer "TPM PIN for COS_OEM \\(pin.img\\), [0-9]+ tries left" badpin \
	"TPM PIN for COS_OEM \\(pin.img\\), [0-9]+ tries left" pin -- \
	unlock-all --prompt --test --device pin.img
check "the wrong PIN is named, with the tries left; the right one opens" bash -c \
	'rc_is 0 && err_has "refused the PIN" && err_has "key verified with tpm2"'
n1=$(sed -nE 's/.*PIN for COS_OEM \(pin.img\), ([0-9]+) tries left.*/\1/p' err | head -1)
n2=$(sed -nE 's/.*PIN for COS_OEM \(pin.img\), ([0-9]+) tries left.*/\1/p' err | sed -n 2p)
check "the second prompt counts the wrong try ($n1, then $n2 tries left)" test "$n2" -lt "$n1"
tpm2_dictionarylockout -s -n 2 -t 600 -l 600 >/dev/null
tpm2_dictionarylockout -c >/dev/null
answer "TPM PIN" badpin "TPM PIN" badpin "Recovery key" - -- unlock-all --prompt --test --device pin.img
check "at lockout the TPM is named and not asked again" bash -c \
	'err_has "dictionary-attack lockout" && [ "$(grep -c "TPM PIN for" err)" = 2 ] && err_has "Recovery key or passphrase for COS_OEM"'
answer "Recovery key" key -- unlock-all --prompt --test --device pin.img
check "locked out: a passphrase at the prompt still opens it" bash -c \
	'rc_is 0 && err_has "key verified with passphrase"'

summary prompt
