#!/bin/sh
# Bounded libFuzzer pass: run.sh FUZZER SECONDS SEED_DIR... The growing corpus
# lives under build/ (never committed). Exit 1 on a finding.
set -eu
fuzzer=$1
secs=$2
shift 2
dir=$(dirname "$fuzzer")
name=$(basename "$fuzzer")
corpus=$dir/corpus-$name
log=$dir/$name.log
mkdir -p "$corpus"
for seeds in "$@"; do cp "$seeds"/* "$corpus"/; done
# -rss_limit_mb: a parser that balloons on some input is a finding
rc=0
"$fuzzer" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=512 -timeout=10 \
	-artifact_prefix="$dir/$name-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || rc=$?
echo "$name: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs in ${secs}s"
if [ "$rc" -ne 0 ]; then
	tail -n 40 "$log"
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
echo "fuzz: 1 passed, 0 failed"
