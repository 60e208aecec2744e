#!/usr/bin/env bash
# Stops what scripts/test-env.sh started.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.tools/test-env"
if [ -f "$state/pg.stop" ]; then su postgres -s /bin/sh -c "$(cat "$state/pg.stop")" >/dev/null 2>&1; rm -f "$state/pg.stop"; fi
for f in "$state"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done
exit 0
