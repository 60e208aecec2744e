# scanledger. `make run` starts the service in embedded mode (SQLite + local photos +
# built-in analyzer, data under ./var); `make test` sets up and runs every test.
SHELL := /bin/bash
GO = $(shell scripts/ensure-go.sh)
BIN = bin/scanledger

.PHONY: run build test stress bench fuzz mutate clean

run: build
	./$(BIN) serve

build:
	$(GO) build -o $(BIN) ./cmd/scanledger

test:
	scripts/test.sh

# The event stores' concurrency tests, many times under -race with background load
# (STRESS_COUNT runs, default 30).
stress:
	scripts/stress.sh

# Benchmarks print their figures (see docs/benchmarks.md).
bench:
	scripts/bench.sh

# A short run of every fuzz target.
fuzz:
	scripts/fuzz.sh

# A sampled mutation run of the packages whose tests it grades (slow; see
# docs/testing.md). MUTANTS=n samples n per package, ONLY=word picks packages.
mutate:
	scripts/mutate.sh

clean:
	rm -rf bin .tools/test-env
