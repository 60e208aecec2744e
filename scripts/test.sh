#!/usr/bin/env bash
# The test command (make test): sets up what the tests need, then runs every test
# under the race detector, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
export PATH="$(dirname "$GO"):$PATH"
eval "$(scripts/test-env.sh)"
trap scripts/test-env-down.sh EXIT
echo "== go mod tidy -diff"
go mod tidy -diff
echo "== go vet"
go vet ./...
echo "== staticcheck"
"$(scripts/gotool.sh honnef.co/go/tools v0.8.2 honnef.co/go/tools/cmd/staticcheck)" ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./... 2>&1 | tee .tools/test.log
echo "== fuzz: every target briefly"
FUZZTIME=${FUZZTIME:-5s} scripts/fuzz.sh
