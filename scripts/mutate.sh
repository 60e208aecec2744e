#!/usr/bin/env bash
# The mutation run (make mutate): sets up what the tests need, then runs tools/mutate
# on the packages whose tests it grades, a fixed sample of mutants each (the same seed
# picks the same mutants while the code is unchanged). MUTANTS=0 runs every mutant,
# which takes hours on a small machine; see docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
export PATH="$(dirname "$GO"):$PATH"
eval "$(scripts/test-env.sh)"
trap scripts/test-env-down.sh EXIT
scale=${MUTANTS:-}
seed=${SEED:-1}
mkdir -p .tools
log=.tools/mutate.log
: >"$log"
# target[=test packages] and the default sample: the slow packages get fewer mutants.
# ONLY=word runs the targets containing word.
status=0
while read -r target n; do
  [[ "$target" == *"${ONLY:-}"* ]] || continue
  go run ./tools/mutate -v -seed "$seed" -n "${scale:-$n}" "$target" | tee -a "$log" || status=1
done <<'TARGETS'
./domain/worker 30
./domain/event 20
./adapters/httpapi 30
./adapters/relay 12
./projections 12
./projections/scans=./projections 12
TARGETS
echo "== summary"
grep -E '^\./.*: killed' "$log"
awk '/^\..*: killed/ {k += $3; v += $5} END {if (v) printf "all: killed %d of %d (%.1f%%)\n", k, v, 100*k/v}' "$log"
exit $status
