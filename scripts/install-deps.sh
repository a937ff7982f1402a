#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing. Usage:
#   scripts/install-deps.sh test|demo|bench
# Lists live in .ci/packages-<target>.txt (one package a line, # comments).
set -euo pipefail
target=${1:?usage: install-deps.sh test|demo|bench}
list="$(dirname "$0")/../.ci/packages-$target.txt"
[ -f "$list" ] || { echo "install-deps: no $list" >&2; exit 1; }
want=$(sed 's/#.*//' "$list" | tr -s ' \t' '\n' | grep -v '^$' || true)
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=" $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages:$missing — run as root (sudo) to install them" >&2
  exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends $missing
