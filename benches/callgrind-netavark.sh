#!/bin/sh
# Podman's run, rm, run under callgrind, with N containers already set up
# (issue 16): `brnet-netavark setup`, `teardown` of that container, then
# `setup` of another, each one process with its instructions counted. A
# teardown that leaves the firewall's verification mark behind makes the
# next setup read every rule back. Everything happens in a throwaway
# net+mount sandbox (unshare; a tmpfs on /run for the namespaces' bind
# mounts): never this machine's own network.
#
#   sudo benches/callgrind-netavark.sh target/release/brnet-netavark 1000 /tmp/cg
#   benches/callgrind-phases.py /tmp/cg
#
# Leaves 1-setup, 2-teardown, 3-setup .out files (and logs) in OUTDIR.
set -eu
BIN=$(realpath "$1")
N=$2
OUT=$(realpath -m "$3")
mkdir -p "$OUT"
exec unshare --net --mount --propagation private sh -eu -c '
BIN=$1; N=$2; OUT=$3
mount -t tmpfs brnet-bench-run /run
mkdir -p /run/netns
ip link set lo up
CONF=$(mktemp -d)
trap "rm -rf $CONF" EXIT
# What Podman sends for container $1 (a number) at its address: one
# network, IPv4, no DNS, no port.
opts() {
  printf "{\"container_id\":\"%064x\",\"container_name\":\"c%s\",\"port_mappings\":[],\"networks\":{\"bench\":{\"static_ips\":[\"10.89.%s.%s\"],\"aliases\":[],\"interface_name\":\"eth0\"}},\"network_info\":{\"bench\":{\"name\":\"bench\",\"id\":\"bf79918ea54011b80dc739d289d3b6e168710a08a461d691828654054aed3fe1\",\"driver\":\"bridge\",\"network_interface\":\"podman1\",\"created\":\"2026-01-01T00:00:00.000000000Z\",\"subnets\":[{\"subnet\":\"10.89.0.0/16\",\"gateway\":\"10.89.0.1\"}],\"ipv6_enabled\":false,\"internal\":false,\"dns_enabled\":false,\"ipam_options\":{\"driver\":\"host-local\"}}}}" \
    "$(($1 + 1))" "$1" "$(($1 / 200))" "$(($1 % 200 + 2))"
}
call() {
  verb=$1; i=$2; shift 2
  opts "$i" | "$@" "$BIN" --config "$CONF" --rootless=false "$verb" "/run/netns/c$i" >/dev/null
}
i=0
while [ "$i" -lt "$N" ]; do
  ip netns add "c$i"
  call setup "$i"
  i=$((i + 1))
done
cg() {
  name=$1; shift
  call "$@" valgrind --tool=callgrind --child-silent-after-fork=yes \
    --callgrind-out-file="$OUT/$name.N$N.out" --log-file="$OUT/$name.N$N.log"
}
a=$N; b=$((N + 1))
ip netns add "c$a"
ip netns add "c$b"
cg 1-setup setup "$a"
cg 2-teardown teardown "$a"
cg 3-setup setup "$b"
' sh "$BIN" "$N" "$OUT"
