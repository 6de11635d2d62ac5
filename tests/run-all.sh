#!/usr/bin/env bash
# Everything CI runs (`make test`). Each suite prints "NAME: N passed, N failed";
# this adds them up and ends with the one line a CI reader needs.
set -eu
cd "$(dirname "$0")/.."
log=build/test-logs
mkdir -p "$log"

total_pass=0
total_fail=0
summary=()

# suite NAME CMD...: run, keep its log, add its counts
suite() {
	local name=$1 rc=0 line p f
	shift
	echo "=== $name"
	"$@" >"$log/$name.log" 2>&1 || rc=$?
	# its own FAIL lines and the tail, so a red run explains itself
	grep -E '^(FAIL|\[  FAILED  \]|ERROR|==[0-9]+==)' "$log/$name.log" | head -n 40 || true
	line=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed$' "$log/$name.log" | tail -n 1 || true)
	if [ -z "$line" ]; then
		tail -n 30 "$log/$name.log"
		line="$name: 0 passed, 1 failed"
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")
	f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary+=("$(printf '%-18s %4d passed, %d failed' "$name" "$p" "$f")")
	echo "$name: $p passed, $f failed"
}

lint() {
	if make -s lint; then echo "lint: 1 passed, 0 failed"; else echo "lint: 0 passed, 1 failed"; fi
}

# unit and integration suites print their own tallies; several calls add up
sum_of() {
	local out p=0 f=0 rc=0
	out=$("$@" 2>&1) || rc=$?
	printf '%s\n' "$out"
	while read -r a b; do p=$((p + a)); f=$((f + b)); done < <(
		sed -nE 's/^(unit|integration|tpm|trust|hostile|recovery|prompt|checkuki|srk|static|fuzz): ([0-9]+) passed, ([0-9]+) failed$/\2 \3/p' <<<"$out")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	echo "sum: $p passed, $f failed"
}

make -s all
suite lint lint
suite unit make -s check-unit
suite integration sum_of make -s check-integration
suite static sum_of make -s check-static
suite asan-ubsan sum_of make -s check-asan
suite valgrind sum_of make -s check-valgrind
suite fuzz sum_of make -s fuzz-short
suite e2e make -s e2e
suite e2e-attacks make -s e2e-attacks
suite e2e-matrix make -s e2e-matrix
suite e2e-recovery make -s e2e-recovery

echo
echo "=== summary (logs in $log/)"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
