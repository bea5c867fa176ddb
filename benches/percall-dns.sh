#!/bin/sh
# Wall time of `brnet network connect` on a DNS-enabled network with N
# endpoints already there (issue 16: the resolver's `sync` after each
# connect), and the resolver's part of one connect seen by strace -T: the
# wait for the answer to `sync` (the read on resolver.sock). In a
# throwaway net+mount sandbox (unshare; a tmpfs on /run for the
# namespaces' bind mounts): never this machine's own network.
#
#   sudo benches/percall-dns.sh target/release/brnet 1000 30
#
# BRNET_CREATE_OPTS replaces the network's options (default
# "-o brnet.dns=true"; "-o brnet.dns=false": the same without a
# resolver, to compare).
# The resolver is the `brnet-dns` next to BRNET (else BRNET itself, as
# `brnet dns serve`). Prints the median and quartiles of REPS connects
# (ms), then, over 10 more connects under strace -T, how long the answers
# to `ping` and `sync` were waited for (ms; the calls are in
# /tmp/percall-dns.strace), and the resolver alone: 200 `sync` round
# trips on its socket, each after one journal line (python3).
set -eu
BRNET=$(realpath "$1")
N=$2
REPS=${3:-30}
export CREATE_OPTS="${BRNET_CREATE_OPTS--o brnet.dns=true}"
exec unshare --net --mount --propagation private sh -eu -c '
BRNET=$1; N=$2; REPS=$3
mount -t tmpfs brnet-bench-run /run
mkdir -p /run/netns
ip link set lo up
STATE=$(mktemp -d)
trap "rm -rf $STATE" EXIT
"$BRNET" --state-dir "$STATE" network create $CREATE_OPTS bench >/dev/null
i=0
while [ "$i" -lt "$N" ]; do
  ip netns add "c$i"
  "$BRNET" --state-dir "$STATE" network connect bench "c$i" >/dev/null
  i=$((i + 1))
done
i=0
: > "$STATE/times"
while [ "$i" -lt "$REPS" ]; do
  ip netns add "p$i"
  t0=$(date +%s%N)
  "$BRNET" --state-dir "$STATE" network connect bench "p$i" >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 )) >> "$STATE/times"
  "$BRNET" --state-dir "$STATE" network disconnect bench "p$i" >/dev/null
  ip netns del "p$i"
  i=$((i + 1))
done
sort -n "$STATE/times" | awk -v n="$N" "{ a[NR] = \$1 } END {
  printf \"N=%d connect wall ms over %d: q1 %.2f median %.2f q3 %.2f\\n\", n, NR,
    a[int((NR + 3) / 4)] / 1000, a[int((NR + 1) / 2)] / 1000, a[int((3 * NR + 3) / 4)] / 1000 }"
: > /tmp/percall-dns.strace
i=0
while [ "$i" -lt 10 ]; do
  ip netns add "s$i"
  strace -f -T -e trace=connect,sendto,recvfrom -o "$STATE/one" \
    "$BRNET" --state-dir "$STATE" network connect bench "s$i" >/dev/null
  cat "$STATE/one" >> /tmp/percall-dns.strace
  i=$((i + 1))
done
# The wait for each answer: the recvfrom after "ping" or "sync".
awk "/sendto\\(.*\"(ping|sync)/ { w = (\$0 ~ /ping/) ? \"ping\" : \"sync\" }
  /recvfrom\\(.*\"ok/ && w { t = \$NF; gsub(/[<>]/, \"\", t); print w, t * 1000; w = \"\" }" /tmp/percall-dns.strace |
  sort -k1,1 -k2,2n | awk -v n="$N" "{ v[\$1, ++c[\$1]] = \$2 } END {
    for (w in c) printf \"N=%d %s answer waited, ms over %d: min %.3f median %.3f max %.3f\\n\", n, w, c[w], v[w, 1], v[w, int((c[w] + 1) / 2)], v[w, c[w]] }"
# The resolver alone: `sync` round trips on its socket, each after one
# journal line (an endpoint added, then removed), as a connect leaves it.
[ ! -S "$STATE/resolver.sock" ] || python3 - "$STATE" "$N" <<"PY"
import json, socket, statistics, sys, time
state, n = sys.argv[1], int(sys.argv[2])
def sync():
    s = socket.socket(socket.AF_UNIX)
    s.connect(state + "/resolver.sock")
    t = time.perf_counter()
    s.sendall(b"sync\n")
    assert s.recv(16) == b"ok\n"
    t = time.perf_counter() - t
    s.close()
    return t * 1000
times = []
for i in range(200):
    kind = "add" if i % 2 == 0 else "remove"
    entry = {"name": "x%d" % (i // 2), "container": "k%d" % (i // 2), "addrs": ["10.88.%d.%d" % (i // 500 + 100, i // 2 % 250 + 2)]}
    with open(state + "/resolver.journal", "a") as j:
        j.write("\n" + json.dumps({kind: {"network": "bench", "entry": entry}}) + "\n")
    times.append(sync())
times.sort()
print("N=%d sync round trip after one journal line, ms over %d: q1 %.3f median %.3f q3 %.3f" % (
    n, len(times), times[len(times) // 4], statistics.median(times), times[3 * len(times) // 4]))
PY
' sh "$BRNET" "$N" "$REPS"
