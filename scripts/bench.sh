#!/usr/bin/env bash
# Runs every benchmark and prints its figures (docs/benchmarks.md records a run).
# Usage: scripts/bench.sh [embedded|postgres|live|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
export PATH="$(dirname "$GO"):$PATH"
what=${1:-all}
bench() { echo "== $1"; go test -run '^$' -bench "$2" -benchtime "${3:-1x}" -count 1 "$1" | grep -E 'Benchmark|ok|FAIL'; }
# verify --all over SCANLEDGER_VERIFY_EVENTS events (default 200,000, a size that
# finishes in about a minute here); it prints the cost per event and per million.
verify_figure() {
  echo "== $1 verify --all"
  SCANLEDGER_VERIFY_EVENTS=${SCANLEDGER_VERIFY_EVENTS:-200000} go test -count 1 -timeout 30m \
    -run '^TestVerifyAllFigure$' -v "$1" | grep -E 'first seal|verify --all|^ok|FAIL'
}
if [ "$what" = all ] || [ "$what" = embedded ]; then
  bench ./adapters/sqlite/ 'BenchmarkAppend$' 3s
  bench ./adapters/sqlite/ 'BenchmarkAppendBatch' 3s
  bench ./adapters/sqlite/ 'BenchmarkReadAll' 1x
  bench ./adapters/sqlite/ 'BenchmarkCommandByStreamLength' 300x
  bench ./projections/ 'BenchmarkCatchUp' 1x
  bench ./adapters/builtin/ 'BenchmarkAnalyzeRealPhoto' 10x
  bench ./adapters/blobfs/ 'BenchmarkPut' 2s
  bench ./adapters/accounts/ 'BenchmarkLoginWithDefaultHash' 10x
  bench ./cmd/scanledger/ 'BenchmarkLargestCompleted' 5x
  verify_figure ./adapters/sqlite/
  echo "== ./cmd/scanledger/ a 50 MB upload's peak memory"
  go test -count 1 -run '^TestA50MBUploadAddsLessThan16MiBToTheServersPeakMemory$' -v ./cmd/scanledger/ | grep -E 'MB upload|^ok|FAIL'
fi
if [ "$what" = all ] || [ "$what" = postgres ]; then
  [ -x scripts/bench-postgres.sh ] && scripts/bench-postgres.sh
fi
if [ "$what" = all ] || [ "$what" = live ]; then
  [ -x scripts/bench-live.sh ] && scripts/bench-live.sh
fi
