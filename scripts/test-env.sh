#!/usr/bin/env bash
# Brings up what the tests need and prints the environment for them, as shell
# assignments:
#   - S3: versitygw v1.8.0 (built from the Go module proxy once, into .tools/bin), started
#     on a free port (scripts/versitygw.sh).
#   - PostgreSQL: TEST_DATABASE_URL when set; else a server already listening on
#     127.0.0.1:5432 (trust auth); else a throwaway cluster from Debian's packages,
#     started as the postgres user on a free port (installed with apt if missing).
# scripts/test-env-down.sh stops whatever this started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.tools/test-env"
mkdir -p "$state"

log() { echo "test-env: $*" >&2; }

pg_url=""
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  pg_url=$TEST_DATABASE_URL
elif (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  pg_url="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
else
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$pgbin" ]; then
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)
  data="$state/pgdata"
  rm -rf "$data"; mkdir -p "$data"; chown -R postgres: "$state"
  log "starting a throwaway PostgreSQL cluster on port $port"
  su postgres -s /bin/sh -c "$pgbin/initdb -D '$data' -A trust -U postgres >/dev/null"
  su postgres -s /bin/sh -c "$pgbin/pg_ctl -D '$data' -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' -l '$state/pg.log' -w start >/dev/null"
  echo "$pgbin/pg_ctl -D '$data' -m immediate stop" > "$state/pg.stop"
  pg_url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
fi
echo "export TEST_DATABASE_URL='$pg_url'"

if [ -z "${TEST_S3_ENDPOINT:-}" ]; then
  log "starting versitygw (the first run builds it)"
  "$root/scripts/versitygw.sh"
fi

# Node.js runs the real socket.io-client in the Socket.IO tests (they install the
# pinned client themselves with npm ci).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing Node.js and npm from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq nodejs npm >&2
fi
