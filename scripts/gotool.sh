#!/usr/bin/env bash
# Builds a Go command at an exact module version into .tools/bin (once) and prints its
# path:  scripts/gotool.sh MODULE VERSION PACKAGE
#   e.g. scripts/gotool.sh honnef.co/go/tools v0.8.2 honnef.co/go/tools/cmd/staticcheck
# The module proxy here refuses version listings, which `go install pkg@version` needs for
# some module paths; a throwaway module that requires the exact version builds the same
# binary from nothing but that version's own .mod and .zip. A binary is trusted only when
# its build info names the wanted module version.
set -euo pipefail
module=$1 version=$2 pkg=$3
root=$(cd "$(dirname "$0")/.." && pwd)
GO=$("$root/scripts/ensure-go.sh")
bindir="$root/.tools/bin"
bin="$bindir/$(basename "$pkg")"
mkdir -p "$bindir"

if [ -x "$bin" ] && "$GO" version -m "$bin" 2>/dev/null |
  grep -Eq "^[[:space:]]+(mod|dep)[[:space:]]+${module//./\\.}[[:space:]]+$version([[:space:]]|$)"; then
  echo "$bin"
  exit 0
fi

echo "gotool: building $pkg $version into $bindir (once)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tmpbin="$bin.tmp.$$"
(
  cd "$work"
  export GOFLAGS=-mod=mod
  "$GO" mod init tmp >/dev/null 2>&1
  "$GO" get "$module@$version" >&2
  "$GO" build -o "$tmpbin" "$pkg" >&2
)
# Renamed into place only when complete, so a concurrent run never executes half a file.
mv -f "$tmpbin" "$bin"
echo "$bin"
