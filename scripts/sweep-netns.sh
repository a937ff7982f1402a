#!/usr/bin/env bash
# Deletes network namespaces left behind by test runs that were killed before their cleanup
# ran (netlab names them pxet-*). Touches nothing else.
set -u
[ "$(id -u)" = 0 ] || exit 0
command -v ip >/dev/null || exit 0
for ns in $(ip netns list 2>/dev/null | awk '/^pxet-/{print $1}'); do
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null || true
done
exit 0
