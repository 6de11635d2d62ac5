# shellcheck shell=bash
# Helpers for the integration suites: run kcrypt, assert, count.
# Every image is a real LUKS2 header made by cryptsetup.

PASSED=0
FAILED=0

# run ARGS...: runs $KCRYPT (under $KCRYPT_WRAP) with the config and command
# line pinned to the test's own, so the host's /oem or /proc/cmdline never leak in.
run() {
	set +e
	# shellcheck disable=SC2086
	${KCRYPT_WRAP:-} "$KCRYPT" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	export RC
	cat "$T/out" "$T/err" >>"$T/all-output"
}

ok() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
bad() {
	FAILED=$((FAILED + 1))
	printf 'FAIL %s\n' "$1"
	printf '     rc=%s\n' "$RC"
	sed 's/^/     stderr: /' "$T/err" | head -n 20
	sed 's/^/     stdout: /' "$T/out" | head -n 20
}

# check NAME COND...: COND is a command; passes when it succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

rc_is() { [ "$RC" -eq "$1" ]; }
err_has() { grep -q -- "$1" "$T/err"; }
out_has() { grep -q -- "$1" "$T/out"; }
# errors are one line: exactly one non-debug line on stderr
one_line() { [ "$(grep -vc '^kcrypt: debug:' "$T/err")" -eq 1 ]; }
jq_is() { [ "$(jq -r "$1" "$T/out")" = "$2" ]; }

# expect NAME RC PATTERN ARGS...: exit code, one-line error matching PATTERN
expect() {
	local name=$1 want=$2 pat=$3
	shift 3
	run "$@"
	if rc_is "$want" && err_has "$pat" && one_line; then ok "$name"; else bad "$name (want rc=$want, /$pat/)"; fi
}

# checks may run in `bash -c` subshells
export -f rc_is err_has out_has jq_is

digest() { sha256sum "$@" | awk '{print $1}' | tr '\n' ' '; }

# mkluks IMG LABEL [cryptsetup args...]: a fast (pbkdf2, 1000 iterations) LUKS2 image
mkluks() {
	local img=$1 label=$2
	shift 2
	truncate -s 20M "$img"
	local args=(luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000
		--key-file "$T/key")
	[ -n "$label" ] && args+=(--label "$label")
	cryptsetup "${args[@]}" "$@" "$img"
}

summary() {
	echo "$1: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
