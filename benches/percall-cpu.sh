#!/bin/sh
# The CPU time (perf stat task-clock, mean of 60 runs, several rounds,
# the binaries taking turns) of one per-call open with N endpoints
# recorded (issue 16): `network disconnect bench idle` of a namespace
# with no endpoint, which opens the state (lock, load, reconcile: every
# endpoint's namespace looked at) and changes nothing, so it can be run
# again and again. Task-clock is this process's CPU, kernel included:
# steadier than wall time on a shared machine, and it needs no hardware
# counters (none in a VM). In a throwaway net+mount sandbox (unshare; a
# tmpfs on /run): never this machine's own network. As root; needs perf.
#
#   benches/percall-cpu.sh 960 /tmp/before/brnet-x /tmp/after/brnet-x
#
# Name the binaries anything but `brnet`/`brnet-dns` and keep them away
# from one: otherwise a resolver (`brnet dns serve`) is started beside
# them and every call waits on its answers too. The first binary records
# the N endpoints (at most 1022: a bridge's port limit).
set -eu
N=$1
shift
exec unshare --net --mount --propagation private sh -eu -c '
N=$1; shift
mount -t tmpfs brnet-bench-run /run
mkdir -p /run/netns
ip link set lo up
STATE=$(mktemp -d)
trap "rm -rf $STATE" EXIT
"$1" --state-dir "$STATE" network create bench >/dev/null 2>&1
i=0
while [ "$i" -lt "$N" ]; do
  ip netns add "c$i"
  "$1" --state-dir "$STATE" network connect bench "c$i" >/dev/null 2>&1
  i=$((i + 1))
done
ip netns add idle
sleep 2
for round in 1 2 3; do
  for b in "$@"; do
    perf stat -r 60 -e task-clock "$b" --state-dir "$STATE" network disconnect bench idle 2>&1 >/dev/null |
      grep -E "task-clock|elapsed" | sed -E "s/ +#.*utilized +/ /; s|^|N=$N $(basename "$b") |"
  done
done
' sh "$N" "$@"
