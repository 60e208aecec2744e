#!/usr/bin/env bash
# Installs versitygw (an S3-compatible gateway in one Go binary) into .tools/bin, starts it
# on a throwaway directory and prints the environment adapters/s3's tests read, for eval:
#   eval "$(scripts/versitygw.sh)"
#   export TEST_S3_ENDPOINT=127.0.0.1:PORT TEST_S3_ACCESS_KEY=... TEST_S3_SECRET_KEY=...
# versitygw rather than MinIO: it is built from the Go module proxy with the toolchain the
# module already needs, so tests need no container runtime and no second package source.
# The server's pid goes to .tools/test-env/versitygw-PORT.pid, so scripts/test-env-down.sh
# (which kills every *.pid there) stops it; TEST_S3_PIDFILE names that file for whoever
# started it and wants to stop only it. Its data dir is removed on the next start.
set -euo pipefail
version=v1.8.0
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.tools/test-env"
mkdir -p "$state"

log() { echo "versitygw: $*" >&2; }

bin=$("$root/scripts/gotool.sh" github.com/versity/versitygw "$version" github.com/versity/versitygw/cmd/versitygw)

# Instances whose process is gone leave their data behind; sweep it before adding more.
for d in "$state"/versitygw-*.data; do
  [ -d "$d" ] || continue
  pidfile="${d%.data}.pid"
  if [ ! -f "$pidfile" ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -rf "$d"
    rm -f "$pidfile" "${d%.data}.log"
  fi
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

key() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
access="test$(key | cut -c1-16)"
secret=$(key)

# A free port can be taken between choosing and binding it, so a start that dies is
# retried on another port rather than failing the tests.
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  base="$state/versitygw-$port"
  data="$base.data"
  rm -rf "$data"
  mkdir -p "$data"
  # stdin/stdout/stderr are detached so a caller reading this script's output (eval, a
  # test's exec) is not held open by the server.
  ROOT_ACCESS_KEY_ID="$access" ROOT_SECRET_ACCESS_KEY="$secret" \
    nohup "$bin" --quiet --port "127.0.0.1:$port" posix "$data" </dev/null >"$base.log" 2>&1 &
  pid=$!
  echo "$pid" >"$base.pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "listening on 127.0.0.1:$port (pid $pid, data $data)"
      echo "export TEST_S3_ENDPOINT=127.0.0.1:$port TEST_S3_ACCESS_KEY=$access TEST_S3_SECRET_KEY=$secret TEST_S3_PIDFILE=$base.pid"
      exit 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  log "attempt $attempt on port $port failed:"
  tail -n 20 "$base.log" >&2 || true
  rm -rf "$data" "$base.pid"
done
log "could not start versitygw"
exit 1
