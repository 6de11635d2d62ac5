#!/bin/sh
# Bounded libFuzzer pass: run.sh FUZZER SECONDS. Seeds come from tests/data;
# the growing corpus lives under build/ (never committed). Exit 1 on a finding.
set -eu
fuzzer=$1
secs=$2
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(dirname "$fuzzer")
corpus=$dir/corpus-$(basename "$fuzzer")
log=$dir/$(basename "$fuzzer").log
mkdir -p "$corpus"
cp "$here"/data/config/* "$corpus"/
# -rss_limit_mb: a parser that balloons on some input is a finding
rc=0
"$fuzzer" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=512 -timeout=10 \
	-artifact_prefix="$dir/" -print_final_stats=1 "$corpus" >"$log" 2>&1 || rc=$?
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
if [ "$rc" -ne 0 ]; then
	tail -n 40 "$log"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
echo "fuzz: 1 passed, 0 failed"
