#!/usr/bin/env bash
# make fuzz: a short run of every fuzz target in the module, one after another (Go fuzzes
# one target per run). FUZZTIME per target, default 5s. A failure leaves its input under
# the package's testdata/fuzz/<Target>/, which then runs as a regular test case.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
FUZZTIME=${FUZZTIME:-5s}
# Fuzzing runs on Go 1.27.3 (the rest of the module stays on 1.26.8): before 1.27 the fuzz
# coordinator can report its own -fuzztime deadline as a failure ("context deadline
# exceeded", no input written) when a worker is busy at the moment time runs out
# (go.dev/issue/75804). It failed CI once on a loaded machine. The go command fetches this
# exact toolchain from the module proxy (about 76 MB, once per machine).
FUZZ_TOOLCHAIN=go1.27.3
targets=$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort -u)
[ -n "$targets" ] || { echo "fuzz: no targets found" >&2; exit 1; }
n=0
for t in $targets; do
	dir=$(dirname "${t%%:*}")
	name=${t##*:}
	echo "== fuzz $dir $name ($FUZZTIME)"
	GOTOOLCHAIN=$FUZZ_TOOLCHAIN "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"
	n=$((n + 1))
done
echo "fuzz: $n targets passed"
