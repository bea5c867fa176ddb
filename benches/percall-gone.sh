#!/bin/bash
# One `brnet network disconnect` after the container's namespace is gone,
# per call, at N endpoints (issue 16): A/B of several brnet binaries in one
# sandbox, taking turns.
#
#   benches/percall-gone.sh N K BIN...      (as root)
#
# Runs itself inside `unshare --net --mount` with a private /run/netns (the
# machine's own network and namespaces are never touched). Connects N
# namespaces with the first BIN, then K rounds: for each BIN, delete one
# namespace, wait GAP_MS ms (default 50: the kernel's cleanup of it; 0:
# back to back, as `cargo xtask bench` does: then give each BIN a run of
# its own, since one binary's close of its nf_tables socket can hold up
# the next call's firewall commit, whichever binary made it), and time the
# disconnect: task clock (perf stat, the process and its detached children)
# and wall clock, medians. CG=1: then one callgrind run per BIN (total
# instructions; files in $CG_DIR, default /tmp). Needs perf, valgrind, ip.
set -euo pipefail
if [ "${PERCALL_GONE_SANDBOX:-}" != 1 ]; then
    PERCALL_GONE_SANDBOX=1 exec unshare --net --mount --propagation private "$0" "$@"
fi
N=$1; K=$2; shift 2; BINS=("$@")
mount -t tmpfs none /run/netns
ip link set lo up
ST=$(mktemp -d /tmp/percall-gone.XXXXXX)
trap 'rm -rf "$ST"' EXIT
B0=${BINS[0]}
"$B0" --state-dir "$ST" network create --subnet 10.88.0.0/16 --gateway 10.88.0.1 \
    -o brnet.dns=false bench >/dev/null
for i in $(seq 0 $((N - 1))); do
    ip netns add "c$i"
    "$B0" --state-dir "$ST" network connect bench "c$i" >/dev/null
done
test $((K * ${#BINS[@]} + ${#BINS[@]})) -le "$N" || { echo "N too small for K rounds" >&2; exit 2; }
declare -A W C
i=0
perf_out=$(mktemp)
for _ in $(seq 1 "$K"); do
    for b in "${BINS[@]}"; do
        ip netns del "c$i"
        [ "${GAP_MS:-50}" = 0 ] || sleep "$(awk "BEGIN{print ${GAP_MS:-50}/1000}")"
        s=$(date +%s%N)
        perf stat -x, -e task-clock -o "$perf_out" "$b" --state-dir "$ST" network disconnect bench "c$i"
        e=$(date +%s%N)
        W[$b]+="$(((e - s) / 1000)) "
        C[$b]+="$(grep task-clock "$perf_out" | cut -d, -f1) "
        i=$((i + 1))
    done
done
med() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in "${BINS[@]}"; do
    # shellcheck disable=SC2086
    echo "N=$N $b: task clock $(med ${C[$b]}) ms, wall (perf stat included) $(($(med ${W[$b]}) / 1000)) ms"
done
if [ -n "${CG:-}" ]; then
    for b in "${BINS[@]}"; do
        ip netns del "c$i"
        sleep 0.05
        out=${CG_DIR:-/tmp}/callgrind.percall-gone.$(basename "$b").$N
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$b" --state-dir "$ST" network disconnect bench "c$i" 2>/dev/null
        i=$((i + 1))
        echo "N=$N $b: $(callgrind_annotate "$out" 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{print $1}') instructions ($out)"
    done
fi
rm -f "$perf_out"
