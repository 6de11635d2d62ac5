#!/usr/bin/env bash
# Never locked out: recovery keys in systemd's format (both ways against
# systemd-cryptenroll 252), and kcrypt reseal after PCR 7 moved or the TPM
# was cleared, killed at every write it makes. Real swtpm, real LUKS2
# images; keys verified with --test. Usage: recovery.sh KCRYPT
# shellcheck disable=SC2016
set -eu
KCRYPT=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/integration/tpm-lib.sh
. "$HERE/tpm-lib.sh"

T=$(mktemp -d /tmp/kcrypt-recovery.XXXXXX)
export T
trap 'swtpm_stop; rm -rf "$T"' EXIT
cd "$T"
printf 'installer-pass' >key
NOCFG=(--cmdline "" --config-dir "$T/nocfg")
MODHEX='^[cbdefghijklnrtuv]{8}(-[cbdefghijklnrtuv]{8}){7}$'
fsimg() { rm -f "$1"; truncate -s 40M "$1"; mkfs.ext4 -q -L "$2" "$1"; }
opens_with() { cryptsetup luksOpen --test-passphrase --key-file "$2" "$1" 2>/dev/null; }
slots() { cryptsetup luksDump "$1" | grep -cE '^  [0-9]+: luks2'; }
token_types() { cryptsetup luksDump "$1" | sed -n '/^Tokens:/,/^Digests:/p' | sed -nE 's/^  [0-9]+: (.*)$/\1/p' | sort | tr '\n' ' '; }
export -f opens_with slots token_types digest

echo "== recovery key: systemd's format, one file for the installation"
mkluks a.img COS_OEM
mkluks b.img COS_PERSISTENT
run enroll a.img --unlock-key-file key --recovery-key-file rk
check "enroll --recovery-key-file: a new key written" bash -c 'rc_is 0 && err_has "new recovery key was written to rk" && err_has "keyslot 1"'
check "the file is 0600, 71 characters of modhex groups" bash -c \
	'[ "$(stat -c %a rk)" = 600 ] && [ "$(wc -c <rk)" = 71 ] && grep -qE "'"$MODHEX"'" rk'
check "the key never reaches the log" bash -c '! grep -qF "$(cat rk)" all-output'
check "cryptsetup opens it with the key" opens_with a.img rk
check "its token is systemd's: {type: systemd-recovery, keyslots: [\"1\"]}" bash -c \
	'[ "$(cryptsetup token export --token-id 0 a.img)" = "{\"type\":\"systemd-recovery\",\"keyslots\":[\"1\"]}" ]'
check "systemd-cryptenroll 252 lists it as recovery" bash -c 'systemd-cryptenroll a.img | grep -qE "^ +1 recovery$"'
run enroll b.img --unlock-key-file key --recovery-key-file rk
check "a second volume gets the same key from the file" bash -c 'rc_is 0 && ! err_has "new recovery key" && opens_with b.img rk'
before=$(digest a.img)
run enroll a.img --unlock-key-file key --recovery-key-file rk
check "enrolling it again writes nothing" bash -c 'rc_is 0 && err_has "enrolled already" && [ "$(digest a.img)" = "'"$before"'" ]'
printf 'not-a-recovery-key' >bogus
expect "a file without a recovery key is refused" 4 "does not hold a recovery key" \
	enroll a.img --unlock-key-file key --recovery-key-file bogus
check "... and the volume is as it was" bash -c '[ "$(digest a.img)" = "'"$before"'" ]'
expect "--recovery-key without a terminal is refused before any write" 2 "no terminal" \
	enroll a.img --unlock-key-file key --recovery-key
printf 'wrong' >wrongkey
expect "a wrong unlock key adds nothing" 4 "opens no keyslot" \
	enroll a.img --unlock-key-file wrongkey --recovery-key-file rk
run enroll a.img --unlock-key-file key
check "enroll with nothing to enroll is a usage error" bash -c 'rc_is 2 && err_has "say what to enroll: --tpm or --recovery-key"'
PASSWORD=installer-pass systemd-cryptenroll --wipe-slot=recovery a.img >/dev/null 2>&1
check "systemd-cryptenroll --wipe-slot=recovery removes kcrypt's key and token" bash -c \
	'! opens_with a.img rk && [ "$(slots a.img)" = 1 ] && [ -z "$(token_types a.img)" ]'
mkluks c.img COS_DATA
PASSWORD=installer-pass systemd-cryptenroll --recovery-key c.img >sdrk 2>/dev/null
check "systemd-cryptenroll's key has the same shape" bash -c 'grep -qE "'"$MODHEX"'" sdrk'
tr -d '\n-' <sdrk | tr '[:lower:]' '[:upper:]' >sdrk-typed
run enroll c.img --unlock-key-file key --recovery-key-file sdrk-typed
check "kcrypt reads systemd's key typed in capitals without dashes (and knows it is there)" \
	bash -c 'rc_is 0 && err_has "enrolled already"'

echo "== encrypt: the installer's volumes share one recovery key"
swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:db-1"
fsimg oem.img COS_OEM
fsimg per.img COS_PERSISTENT
ENC=(--tpm --tpm-device "$TCTI" --no-mkfs --tpm-pcrs 7 --public-key-pcrs "" --recovery-key-file inst.key)
run encrypt COS_OEM "${ENC[@]}" --device oem.img --device per.img
check "encrypt --recovery-key-file: the TPM token and the recovery key" bash -c \
	'rc_is 0 && out_has "^COS_OEM:oem.img:" && [ "$(token_types oem.img)" = "kcrypt-set systemd-recovery systemd-tpm2 " ]'
run encrypt COS_PERSISTENT "${ENC[@]}" --device oem.img --device per.img
check "the second encrypt reuses the key" bash -c 'rc_is 0 && ! err_has "new recovery key"'
check "one recovery key opens both" bash -c 'opens_with oem.img inst.key && opens_with per.img inst.key'
run unlock-all --test --device oem.img --device per.img --tpm-device "$TCTI" "${NOCFG[@]}"
check "and the TPM opens both" bash -c 'rc_is 0 && err_has "2 volume(s) proved their membership"'

echo "== reseal: PCR 7 moved (a db update)"
swtpm_start --log level=0
pcr_extend 7 "secure-boot-policy:db-2"
run unlock-all --test --device oem.img --device per.img --tpm-device "$TCTI" "${NOCFG[@]}"
check "the TPM refuses after the db update" bash -c 'rc_is 1 && err_has "PCR 7+15"'
cp per.img per.before
run reseal --device oem.img --device per.img --tpm-device "$TCTI" "${NOCFG[@]}"
check "reseal of a closed volume without a key says what it needs" bash -c \
	'rc_is 4 && err_has "give the recovery key with --unlock-key-file" && [ "$(digest per.img)" = "$(digest per.before)" ]'
run reseal --device oem.img --device per.img --unlock-key-file inst.key --tpm-device "$TCTI" "${NOCFG[@]}"
check "reseal with the recovery key replaces both tokens" bash -c \
	'rc_is 0 && [ "$(grep -c "resealed as token" err)" = 2 ]'
check "one TPM token each, no keyslot left behind" bash -c \
	'[ "$(token_types per.img)" = "kcrypt-set systemd-recovery systemd-tpm2 " ] && [ "$(slots per.img)" = 2 ]'
run unlock-all --test --device oem.img --device per.img --tpm-device "$TCTI" "${NOCFG[@]}"
check "the TPM opens both again, and they are still one volume set" bash -c \
	'rc_is 0 && err_has "2 volume(s) proved their membership"'
cp per.img per.current
run reseal --device per.img --unlock-key-file inst.key --tpm-device "$TCTI" "${NOCFG[@]}"
check "reseal when nothing moved writes nothing" bash -c \
	'rc_is 0 && err_has "is current: left alone" && [ "$(digest per.img)" = "$(digest per.current)" ]'

echo "== reseal: the TPM was cleared"
tpm2_clear
run unlock-all --test --device per.img --tpm-device "$TCTI" "${NOCFG[@]}"
check "the cleared TPM opens nothing" bash -c '! rc_is 0'
tr 'a-v' 'A-V' <inst.key | tr -d '-' >typed.key
run reseal --device per.img --unlock-key-file typed.key --tpm-device "$TCTI" "${NOCFG[@]}"
check "reseal to the new TPM (the key as typed: capitals, no dashes)" bash -c \
	'rc_is 0 && err_has "does not load on this TPM" && err_has "resealed as token"'
run unlock-all --test --device per.img --tpm-device "$TCTI" "${NOCFG[@]}"
check "the new TPM opens it" bash -c 'rc_is 0 && err_has "key verified with tpm2"'

echo "== reseal killed at every write: the volume opens with the old token or the new one"
# the old state: PCR 7 at db-2 (per.img's token); the new one: db-3
# a TPM reset (as a reboot), faster than a new swtpm
pcr_state() {
	tpm2_shutdown -c >/dev/null 2>&1 || true
	swtpm_ioctl --unix "$SWTPM_DIR/sock.ctrl" -i >/dev/null
	tpm2_startup -c >/dev/null
	pcr_extend 7 "secure-boot-policy:$1"
}
tpm_opens() { "$KCRYPT" unlock per.k --test --tpm-device "$TCTI" "${NOCFG[@]}" >/dev/null 2>&1; }
pcr_state db-3
cp per.img per.k
# libcryptsetup writes headers with write(2); a kill before a write is a
# kill after the one before it (a process death: the page cache stays)
# (LeakSanitizer cannot run under ptrace: no leak check in this part)
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
strace -f -qq -e trace=write -o writes.txt "$KCRYPT" reseal --device per.k \
	--unlock-key-file inst.key --tpm-device "$TCTI" "${NOCFG[@]}" >/dev/null 2>&1
nwrites=$(grep -cE '^[0-9]+ +write\(' writes.txt)
lost=0 torn=0 both=0
killed_at() {
	strace -f -qq -o /dev/null -e trace=write -e inject=write:signal=KILL:when="$1" \
		"$KCRYPT" reseal --device per.k --unlock-key-file inst.key --tpm-device "$TCTI" "${NOCFG[@]}" \
		>/dev/null 2>&1
}
for n in $(seq 1 "$nwrites"); do
	cp per.img per.k
	(killed_at "$n") 2>/dev/null || true
	tpm_flush	# what the killed process left loaded
	cryptsetup isLuks per.k || torn=$((torn + 1))
	opens_with per.k inst.key || lost=$((lost + 1))
	if tpm_opens; then continue; fi
	pcr_state db-2
	tpm_opens || both=$((both + 1))
	pcr_state db-3
done
echo "     $nwrites kill points"
check "killed at each of the $nwrites writes: a valid LUKS2 header every time" test "$torn" = 0
check "... the recovery key opens it every time" test "$lost" = 0
check "... and the old token or the new one opens it every time" test "$both" = 0
pcr_state db-3
run reseal --device per.k --unlock-key-file inst.key --tpm-device "$TCTI" "${NOCFG[@]}"
check "a reseal after the last kill completes" bash -c 'rc_is 0 && [ "$(slots per.k)" = 2 ]'

summary recovery
