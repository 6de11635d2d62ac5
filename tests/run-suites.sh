#!/bin/sh
# run-suites.sh KCRYPT SCRIPT...: every integration script against one
# binary; each prints its own "NAME: N passed, N failed". Fails if any did.
set -eu
bin=$1
shift
rc=0
for s in "$@"; do
	bash "$s" "$bin" || rc=1
done
exit "$rc"
