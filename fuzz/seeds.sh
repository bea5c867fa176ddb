#!/bin/sh
# Regenerate the seed inputs (corpus/*/seed-*). Needs root for the netlink
# part: a scratch namespace with a bridge, a veth on it, addresses and
# routes, whose dumps become netlink_replies seeds.
set -eu
cd "$(dirname "$0")"
cargo run -q --example make_seeds
ns=brnet-fuzz-seeds-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link add br0 type bridge stp_state 1
ip -n "$ns" link add veth0 type veth peer name eth0
ip -n "$ns" link set veth0 master br0
ip -n "$ns" link set veth0 type bridge_slave hairpin on isolated on
ip -n "$ns" link set lo up
ip -n "$ns" link set br0 up
ip -n "$ns" addr add 172.20.0.1/16 dev br0
ip -n "$ns" addr add fd00:1::1/64 dev br0 nodad
ip -n "$ns" addr add 10.9.0.2/24 dev eth0 label eth0:x
ip -n "$ns" link set eth0 up
ip -n "$ns" link set veth0 up
ip -n "$ns" route add default via 172.20.0.254 dev br0 onlink
ip -n "$ns" route add 198.51.100.0/24 via 172.20.0.9 dev br0 table 100
ip netns exec "$ns" cargo run -q --example make_seeds -- --netlink
