#!/bin/bash
# benches/netns-liveness.sh [N]: build benches/netns-liveness.c and run it
# in a throwaway sandbox (unshare --net --mount, private /run/netns) with N
# namespaces (default 1000), each with a veth whose host end is here. As
# root; needs cc and ip.
set -euo pipefail
N=${1:-1000}
here=$(cd "$(dirname "$0")" && pwd)
if [ "${NETNS_LIVENESS_SANDBOX:-}" != 1 ]; then
    bin=$(mktemp /tmp/netns-liveness.XXXXXX)
    trap 'rm -f "$bin"' EXIT
    cc -O2 -o "$bin" "$here/netns-liveness.c"
    NETNS_LIVENESS_SANDBOX=1 NETNS_LIVENESS_BIN=$bin \
        unshare --net --mount --propagation private "$0" "$N"
    exit
fi
mount -t tmpfs none /run/netns
for i in $(seq 0 $((N - 1))); do
    ip netns add "c$i"
    ip link add "h$i" type veth peer name "p$i" netns "c$i"
done
"$NETNS_LIVENESS_BIN" "$N"
