#!/bin/sh
# Runs cmocka programs; prints "unit: N passed, N failed". KCRYPT_WRAP may
# name a wrapper (valgrind ...). Exit 1 if any test failed.
set -eu
passed=0
failed=0
for t in "$@"; do
	out=$(CMOCKA_MESSAGE_OUTPUT=stdout ${KCRYPT_WRAP:-} "$t" 2>&1) && rc=0 || rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	# a crash or a valgrind error counts even when cmocka's tally looks clean
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "$t: exited $rc" >&2
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
