#!/usr/bin/env bash
# Prints the path of a Go command new enough for this module, getting one if needed.
#
# On a fresh Debian machine there is no Go, or Debian's (1.19 on bookworm), which is too old
# for go.mod. Any Go can still download the official toolchain as a module from the Go module
# proxy (golang.org/toolchain), so: use a new enough `go` on PATH or /usr/local/go if there is
# one; else install Debian's golang-go (root) and let it fetch GO_TOOLCHAIN_VERSION into
# /usr/local/lib/pxe-edge-go. Everything it prints on stdout is the path; notes go to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
want=$(awk '/^go [0-9]/{print $2; exit}' "$here/go.mod")   # e.g. 1.26.0
ver=${GO_TOOLCHAIN_VERSION:-1.26.8}

newer_or_equal() { # $1 = "go1.26.8"-style version of a go binary, $2 = wanted "1.26.0"
  local have=${1#go} a b
  IFS=. read -r -a a <<<"$have"; IFS=. read -r -a b <<<"$2"
  for i in 0 1 2; do
    local x=${a[$i]:-0} y=${b[$i]:-0}
    x=${x%%[!0-9]*}; y=${y%%[!0-9]*}
    ((10#${x:-0} > 10#${y:-0})) && return 0
    ((10#${x:-0} < 10#${y:-0})) && return 1
  done
  return 0
}

usable() { # prints the path if $1 runs and is new enough
  local g=$1 v
  [ -x "$g" ] || g=$(command -v "$g" 2>/dev/null) || return 1
  v=$(GOTOOLCHAIN=local "$g" env GOVERSION 2>/dev/null) || return 1
  newer_or_equal "$v" "$want" && echo "$g"
}

for g in go /usr/local/go/bin/go "/usr/local/lib/pxe-edge-go/go$ver/bin/go"; do
  usable "$g" && exit 0
done

boot=""
for g in go /usr/lib/go/bin/go /usr/lib/go-*/bin/go; do
  if [ -x "$g" ] || command -v "$g" >/dev/null 2>&1; then boot=$g; break; fi
done
if [ -z "$boot" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-go: no Go found; run as root so Debian's golang-go can be installed" >&2
    exit 1
  fi
  echo "ensure-go: installing Debian's golang-go to bootstrap Go $ver" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go ca-certificates >&2
  boot=go
fi

case "$(uname -m)" in
  x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; armv6l|armv7l) arch=armv6l ;; *) arch=$(uname -m) ;;
esac
dest=/usr/local/lib/pxe-edge-go/go$ver
echo "ensure-go: fetching Go $ver (linux-$arch) from the Go module proxy with $($boot version)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=$(cd "$tmp" && GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPATH="$tmp/gopath" \
  "$boot" mod download -json "golang.org/toolchain@v0.0.1-go$ver.linux-$arch" |
  sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -n "$dir" ] && [ -d "$dir" ] || { echo "ensure-go: toolchain download failed" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp"
cp -r "$dir" "$dest.tmp"
chmod -R u+w "$dest.tmp"
# Module zips carry no file modes: restore the executables.
chmod +x "$dest.tmp"/bin/* "$dest.tmp"/pkg/tool/*/*
rm -rf "$dest"
mv "$dest.tmp" "$dest"
chmod -R u+w "$tmp" 2>/dev/null || true
usable "$dest/bin/go" || { echo "ensure-go: $dest/bin/go does not run" >&2; exit 1; }
