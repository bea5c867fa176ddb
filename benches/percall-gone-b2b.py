#!/usr/bin/env python3
"""`brnet network disconnect` after the namespace is gone, back to back,
exactly as `cargo xtask bench` calls it (issue 16): the namespace is
unmounted and unlinked in-process (no `ip` process between), then the
disconnect is timed at once, K times in a row.

    sudo benches/percall-gone-b2b.py N K BIN [CONNECT_BIN]

Runs itself inside `unshare --net --mount` with a tmpfs on /run/netns (the
machine's own network and namespaces are never touched). N namespaces are
connected with CONNECT_BIN (default BIN), then K disconnects timed with BIN
(wall clock, the process start included); prints the median and quartiles.
Compare binaries in separate runs, taking turns: a call's close of its
nf_tables socket can hold up the next call's firewall commit, whichever
binary made that call.
"""
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

if os.environ.get("PERCALL_B2B_SANDBOX") != "1":
    os.environ["PERCALL_B2B_SANDBOX"] = "1"
    os.execvp("unshare", ["unshare", "--net", "--mount", "--propagation", "private",
                          sys.executable, os.path.abspath(__file__), *sys.argv[1:]])

n, k, binary = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
connect_bin = sys.argv[4] if len(sys.argv) > 4 else binary
if k > n:
    sys.exit("K must not exceed N")
subprocess.run(["mount", "-t", "tmpfs", "none", "/run/netns"], check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2

with tempfile.TemporaryDirectory(prefix="percall-b2b-") as state:
    def brnet(b, *args):
        subprocess.run([b, "--state-dir", state, *args], check=True, stdout=subprocess.DEVNULL)

    brnet(connect_bin, "network", "create", "--subnet", "10.88.0.0/16",
          "--gateway", "10.88.0.1", "-o", "brnet.dns=false", "bench")
    for i in range(n):
        subprocess.run(["ip", "netns", "add", f"c{i}"], check=True)
        brnet(connect_bin, "network", "connect", "bench", f"c{i}")
    time.sleep(1)
    ms = []
    for i in range(k):
        path = f"/run/netns/c{i}".encode()
        if libc.umount2(path, MNT_DETACH) != 0:
            raise OSError(ctypes.get_errno(), f"umount {path!r}")
        os.unlink(path)
        t = time.perf_counter()
        brnet(binary, "network", "disconnect", "bench", f"c{i}")
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"N={n} {binary}: median {statistics.median(ms):.2f} ms, "
          f"p25 {ms[len(ms) // 4]:.2f}, p75 {ms[3 * len(ms) // 4]:.2f} ({k} calls; load {load})")
