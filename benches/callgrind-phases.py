#!/usr/bin/env python3
"""The per-phase split of callgrind files written by callgrind-percall.sh
(issue 16): instructions, inclusive, of the main process of each call.

    benches/callgrind-phases.py /tmp/cg-before /tmp/cg-after

A phase is a function's inclusive count (every call of it summed): what a
function calls is in its figure. Reconcile is what opening costs beyond
the first lock and load (BridgeNet::open_with less Store::open).
"""
import re
import subprocess
import sys
from pathlib import Path

PHASES = [
    ("all", r"PROGRAM TOTALS"),
    ("open: lock+load+reconcile", r"bridge_net::BridgeNet::open_with \["),
    ("  lock+load (Store::open)", r"bridge_net::state::Store::open \["),
    ("  reconcile (the rest of open)", None),
    ("    of it: namespaces alive (stat)", r"bridge_net::reconcile::netns_alive \["),
    ("connect (plan, kernel, record)", r"bridge_net::endpoint::<impl bridge_net::BridgeNet>::connect \["),
    ("disconnect (plan, kernel, record)", r"bridge_net::endpoint::<impl bridge_net::BridgeNet>::disconnect \["),
    ("  of it: the resolver's spec", r"bridge_net::resolver::<impl bridge_net::BridgeNet>::sync_resolver \["),
    ("  of it: the resolver, per endpoint", r"bridge_net::resolver::<impl bridge_net::BridgeNet>::sync_resolver_endpoint \["),
    ("    of it: the spec written whole", r"bridge_net::resolver::<impl bridge_net::BridgeNet>::write_spec \["),
    ("  of it: writing records", r"bridge_net::state::Store::record \["),
    ("freeing at exit", r"core::ptr::drop_in_place<bridge_net::BridgeNet> \["),
]


def phases(path: Path) -> dict:
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got = {}
    for name, pat in PHASES:
        if pat is None:
            continue
        rx = re.compile(pat)
        for line in out.splitlines():
            if rx.search(line):
                m = re.match(r"\s*([\d,]+)", line)
                if m:
                    got[name] = int(m.group(1).replace(",", ""))
                    break
    if "open: lock+load+reconcile" in got and "  lock+load (Store::open)" in got:
        got["  reconcile (the rest of open)"] = (
            got["open: lock+load+reconcile"] - got["  lock+load (Store::open)"]
        )
    return got


def main() -> None:
    dirs = [Path(d) for d in sys.argv[1:]]
    files = sorted({f.name for d in dirs for f in d.glob("*.out")})
    for name in files:
        cols = [phases(d / name) if (d / name).exists() else {} for d in dirs]
        print(f"\n{name}: " + " | ".join(str(d) for d in dirs))
        for phase, _ in PHASES:
            vals = [c.get(phase) for c in cols]
            if all(v is None for v in vals):
                continue
            cells = ["—" if v is None else f"{v / 1e6:.2f} M" for v in vals]
            print(f"  {phase:<36} " + "  ".join(f"{c:>10}" for c in cells))


if __name__ == "__main__":
    main()
