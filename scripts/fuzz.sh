#!/usr/bin/env bash
# make fuzz: a short run of every fuzz target in the module, one after another (Go fuzzes
# one target per run). FUZZTIME per target, default 5s. A failure leaves its input under
# the package's testdata/fuzz/<Target>/, which then runs as a regular test case.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
FUZZTIME=${FUZZTIME:-5s}
targets=$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort -u)
[ -n "$targets" ] || { echo "fuzz: no targets found" >&2; exit 1; }
n=0
for t in $targets; do
	dir=$(dirname "${t%%:*}")
	name=${t##*:}
	echo "== fuzz $dir $name ($FUZZTIME)"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"
	n=$((n + 1))
done
echo "fuzz: $n targets passed"
