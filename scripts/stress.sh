#!/usr/bin/env bash
# The concurrency stress run (make stress): the event stores' concurrency tests, many
# times over under the race detector, while busy loops compete for every core, because
# ordering bugs between concurrent appends show up only now and then on a loaded
# machine. STRESS_COUNT sets the number of runs (default 30), STRESS_LOAD the number of
# busy loops (default: one per core).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
export PATH="$(dirname "$GO"):$PATH"
started_env=""
if [ -z "${TEST_DATABASE_URL:-}" ]; then
	eval "$(scripts/test-env.sh)"
	started_env=1
fi
count=${STRESS_COUNT:-30}
load=${STRESS_LOAD:-$(nproc)}

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	if [ -n "$started_env" ]; then scripts/test-env-down.sh; fi
}
trap cleanup EXIT
for _ in $(seq "$load"); do
	(while :; do :; done) &
	pids+=($!)
done

echo "== $count runs of the concurrency tests under -race, with $load busy loops"
go test -race -count="$count" -timeout 60m \
	-run 'TestStoreConformance.*/Concurrency|TestConcurrent|TestRacing|TestAnAppendThatCommitsLate' \
	./adapters/postgres/ ./adapters/sqlite/
