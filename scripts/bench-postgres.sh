#!/usr/bin/env bash
# Benchmarks the PostgreSQL event store (adapters/postgres) and puts its append rate
# next to what the same server does for plain single-row inserts:
#   1. pgbench inserts one row per transaction into a copy of our events table (the
#      migration itself, triggers and indexes included, payloads of the benchmark's
#      sizes), with 1, 8 and 32 clients; each is followed at once by our Append
#      benchmark with as many writers, one event per append, so both see the same
#      machine load;
#   2. prints our events/s as a ratio of pgbench's transactions/s, each round and the
#      medians over the rounds;
#   3. runs the other benchmarks: batches of 10 and 100, append-to-subscriber latency
#      at 1,000 appends/s, catch-up over 200,000 events, verify --all over 200,000
#      (SCANLEDGER_VERIFY_EVENTS sets how many).
# pgbench runs prepared statements (-M prepared), like pgx: the stricter baseline.
#
#   TEST_DATABASE_URL  the server (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable);
#                      `eval "$(scripts/test-env.sh)"` starts one if there is none.
#   BENCH_SECONDS      length of each throughput measurement (default 10)
#   BENCH_ROUNDS       rounds of the pgbench comparison, medians printed (default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=$(scripts/ensure-go.sh)
admin=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}

if ! command -v pgbench >/dev/null; then
  echo "bench-postgres: installing pgbench (postgresql-client-15)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql-client-15 >&2
fi
if ! psql "$admin" -qAtc 'SELECT 1' >/dev/null; then
  echo "bench-postgres: PostgreSQL is not reachable at $admin (set TEST_DATABASE_URL)" >&2
  exit 1
fi

tmp=$(mktemp -d)
db=scanledger_pgbench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
cleanup() {
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The scratch database's URL: the admin URL with its database name replaced.
base=${admin%%\?*}
query=""
case "$admin" in *\?*) query="?${admin#*\?}" ;; esac
dburl="${base%/*}/$db$query"

psql "$admin" -qc "CREATE DATABASE $db"
psql "$dburl" -q -v ON_ERROR_STOP=1 -f migrations/postgres/eventstore/0001_events.sql
# Sizes match benchDataSize and benchMetadataSize in adapters/postgres/bench_test.go.
cat > "$tmp/insert.sql" <<'SQL'
INSERT INTO events (event_id, stream_id, version, type, schema_version, data, metadata)
VALUES (gen_random_uuid(), 'pgbench-' || gen_random_uuid(), 0, 'ProgressReported', 1,
        convert_to(repeat('x', 120), 'UTF8'), convert_to(repeat('x', 250), 'UTF8'));
SQL

echo "== building the benchmarks"
"$GO" test -c -o "$tmp/postgres.test" ./adapters/postgres
bench() { # bench REGEXP BENCHTIME: runs our benchmarks, prints their lines
  TEST_DATABASE_URL=$admin "$tmp/postgres.test" -test.run '^$' -test.bench "$1" \
    -test.benchtime "$2" -test.timeout 60m | grep '^Benchmark'
}
metric() { # metric UNIT: the value before UNIT on a benchmark line from stdin
  awk -v unit="$1" '{ for (i = 2; i <= NF; i++) if ($i == unit) { print $(i-1); exit } }'
}

echo "== single-row inserts (pgbench) vs one-event appends, ${secs}s each, $rounds rounds"
for r in $(seq 1 "$rounds"); do
  for c in 1 8 32; do
    p=$(pgbench -n -M prepared -f "$tmp/insert.sql" -c "$c" -j 2 -T "$secs" "$dburl" 2>/dev/null |
      awk '/^tps = / { print $3 }')
    o=$(bench "^BenchmarkAppend\$/^batch=1\$/^writers=$c\$" "${secs}s" | metric events/s)
    ratio=$(awk -v a="$o" -v b="$p" 'BEGIN { printf "%.2f", a / b }')
    echo "$c $p $o $ratio" >> "$tmp/pairs"
    printf 'round %d  clients %-3d  pgbench %7.0f tx/s  append %7.0f events/s  ratio %s\n' "$r" "$c" "$p" "$o" "$ratio"
  done
done
echo
# Medians, because one round on a shared machine can catch a neighbour's burst.
printf '%-8s %14s %18s %13s\n' clients "pgbench tx/s" "append events/s" "median ratio"
median() { # median CLIENTS FIELD: the median of a column of the rounds with CLIENTS
  awk -v c="$1" -v f="$2" '$1 == c { print $f }' "$tmp/pairs" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for c in 1 8 32; do
  printf '%-8s %14.0f %18.0f %13.2f\n' "$c" "$(median "$c" 2)" "$(median "$c" 3)" "$(median "$c" 4)"
done

echo
echo "== batches of 10 and 100 events"
bench '^BenchmarkAppend$/^batch=(10|100)$' "${secs}s"
echo
echo "== append-to-subscriber latency at 1,000 appends/s for 10s"
bench '^BenchmarkAppendToSubscriberLatency$' 1x
echo
echo "== catch-up over 200,000 events"
bench '^BenchmarkCatchUp$' 3x
echo
echo "== verify --all over ${SCANLEDGER_VERIFY_EVENTS:-200000} events (CPU: this process only, not the server's)"
SCANLEDGER_VERIFY_EVENTS=${SCANLEDGER_VERIFY_EVENTS:-200000} TEST_DATABASE_URL=$admin "$tmp/postgres.test" \
  -test.run '^TestVerifyAllFigure$' -test.v -test.timeout 30m | grep -E 'first seal|verify --all|^(ok|FAIL)'
