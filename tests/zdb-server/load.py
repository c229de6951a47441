#!/usr/bin/env python3
#
# Load test of zdb-server: 64 clients, each pipelining batches of 4 KiB
# SETs then GETs of the same keys (every byte checked), over the unix
# socket and over TCP.  Prints ops/s; fails on any error.
#
# It starts its own server (zdbservers.py, temporary directory), or uses
# ZDB_TEST_SOCKET / ZDB_TEST_HOST+ZDB_TEST_PORT if set.  The generator is
# zdb-load (C), built by make: a Python client would be the bottleneck.
#
#   load.py [--seconds S] [--clients N] [--depth N] [--size BYTES] [--fast]
#
# --fast also measures a --fast server (not like 0-db) for comparison.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zdbservers  # noqa: E402

LOAD = os.path.join(HERE, "zdb-load")


def run_load(target, a, label):
    cmd = [LOAD, "--clients", str(a.clients), "--depth", str(a.depth),
           "--size", str(a.size), "--seconds", str(a.seconds)] + target
    p = subprocess.run(cmd, capture_output=True, text=True)
    line = p.stdout.strip()
    ok = p.returncode == 0 and "errors=0" in line
    print("%s - %s: %s" % ("ok" if ok else "not ok", label, line))
    if not ok:
        sys.stdout.write(p.stderr[-2000:])
    sys.stdout.flush()
    return ok


def targets(srv):
    """zdb-load's arguments for srv over the unix socket and over TCP."""
    return ["--socket", srv.socket], ["--host", srv.host,
                                      "--port", str(srv.port)]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--fast", action="store_true")
    a = ap.parse_args()

    subprocess.run(["make", "-s", "-C", HERE], check=True)
    results = []
    external = zdbservers.from_env()
    if external:
        unix, tcp = targets(external)
        if external.socket:
            results.append(run_load(unix, a, "unix"))
        if external.port:
            results.append(run_load(tcp, a, "tcp"))
    else:
        with zdbservers.ZdbTestServer() as srv:
            unix, tcp = targets(srv)
            results.append(run_load(unix, a, "unix"))
            results.append(run_load(tcp, a, "tcp (like 0-db: Nagle on)"))
        if a.fast:
            with zdbservers.ZdbTestServer(["--fast"]) as srv:
                unix, tcp = targets(srv)
                results.append(run_load(unix, a, "unix --fast"))
                results.append(run_load(tcp, a, "tcp --fast (not like 0-db)"))

    print("%d passed, %d failed" % (results.count(True),
                                    results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
