#!/bin/sh
# One `brnet` call's instructions under callgrind, split by phase, with N
# endpoints already recorded (issue 16): a `network connect`, a
# `network disconnect` of a live namespace and one of a namespace already
# gone. Everything happens in a throwaway net+mount sandbox (unshare; a
# tmpfs on /run for the namespaces' bind mounts): never this machine's
# own network.
#
#   sudo benches/callgrind-percall.sh target/release/brnet 1000 /tmp/cg
#
# Options for `network create` (e.g. a DNS-enabled network:
# BRNET_CREATE_OPTS="-o brnet.dns=true") come from BRNET_CREATE_OPTS.
#
# Prints one line per call and phase: instructions (inclusive), and
# leaves the callgrind files in OUTDIR.
set -eu
BRNET=$(realpath "$1")
N=$2
OUT=$(realpath -m "$3")
export BRNET_CREATE_OPTS="${BRNET_CREATE_OPTS:-}"
mkdir -p "$OUT"
exec unshare --net --mount --propagation private sh -eu -c '
BRNET=$1; N=$2; OUT=$3
mount -t tmpfs brnet-bench-run /run
mkdir -p /run/netns
ip link set lo up
STATE=$(mktemp -d)
trap "rm -rf $STATE" EXIT
"$BRNET" --state-dir "$STATE" network create $BRNET_CREATE_OPTS bench >/dev/null
i=0
while [ "$i" -lt "$N" ]; do
  ip netns add "c$i"
  "$BRNET" --state-dir "$STATE" network connect bench "c$i" >/dev/null
  i=$((i + 1))
done
ip netns add probe
cg() {
  name=$1; shift
  valgrind --tool=callgrind --child-silent-after-fork=yes --callgrind-out-file="$OUT/$name.N$N.out" "$BRNET" --state-dir "$STATE" "$@" >/dev/null 2>"$OUT/$name.N$N.log"
}
cg connect network connect bench probe
cg disconnect network disconnect bench probe
ip netns add gone
"$BRNET" --state-dir "$STATE" network connect bench gone >/dev/null
ip netns del gone
cg gone network disconnect bench gone
' sh "$BRNET" "$N" "$OUT"
