#!/usr/bin/env bash
# Prints the path of a Go toolchain able to build this module (go.mod says go 1.26),
# installing one when the machine has none. Go >= 1.21 switches toolchains by itself
# (GOTOOLCHAIN=auto); an older or missing go gets Debian's golang-go, which then fetches
# the exact toolchain module through the Go module proxy.
set -euo pipefail
want=go1.26.8
for g in "$(command -v go || true)" /usr/local/go/bin/go; do
  if [ -n "$g" ] && [ -x "$g" ]; then
    v=$("$g" env GOVERSION 2>/dev/null || true)
    case "$v" in
      go1.2[1-9]*|go1.[3-9]*) echo "$g"; exit 0 ;;
    esac
  fi
done
root=$(cd "$(dirname "$0")/.." && pwd)
tool="$root/.tools/$want"
if [ -x "$tool/bin/go" ]; then echo "$tool/bin/go"; exit 0; fi
if ! command -v go >/dev/null; then
  echo "ensure-go: installing Debian's golang-go to bootstrap $want" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq golang-go >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && go mod init bootstrap >/dev/null 2>&1 &&
  GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-$want.linux-amd64" > dl.json)
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/dl.json")
mkdir -p "$root/.tools"
cp -r "$dir" "$tool"
chmod -R u+w "$tool"
chmod +x "$tool"/bin/* "$tool"/pkg/tool/*/*
echo "$tool/bin/go"
