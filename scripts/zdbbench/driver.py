#
# The driver: qemu-img bench 4 KiB "random" writes and reads at depth 1
# and 32 and 1 MiB sequential ones at depth 8, on a zdb disk of each
# target (and, from nbd.py, on the nbd export); and the same at depth 32
# with connections=1,2,4,8 against the 0-db-like server over TCP.
#
# With BENCH_QEMU_IMG the zdb disks are measured with that qemu-img too,
# alternating with ours run by run (test names end in common.OTHER_TAG).
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re

from .common import (BS, DISK, QEMU_IMG, REPS, STEP, Failed, failed,
                     load1, median, qemu_imgs, rate, run, say, scaled)

# qemu-img bench runs: name, request size, depth, step, probe count,
# max count
DRIVER_TESTS = [
    ('4k-rand-d1', BS, 1, STEP, 500, 100000),
    ('4k-rand-d32', BS, 32, STEP, 4000, 262144),
    ('1M-seq-d8', 1 << 20, 8, None, 32, 4096),
]
CONN_COUNTS = [1, 2, 4, 8]


def qbench(opts, count, size, depth, step, write, pattern=None,
           qemu_img=QEMU_IMG):
    """qemu-img bench: seconds of the run itself (open and close
    excluded)."""
    cmd = [qemu_img, 'bench', '--image-opts', '-t', 'none', '-c', count,
           '-d', depth, '-s', size]
    if step:
        cmd += ['-S', step]
    if write:
        cmd += ['-w', '--pattern=%d' % pattern]
    cmd.append(opts)
    out = run(cmd)
    m = re.search(r'Run completed in ([0-9.]+) seconds', out)
    if not m:
        raise Failed('qemu-img bench: no time in output')
    return float(m.group(1))


def measure_driver(label, server, transport, opts, res, tests=DRIVER_TESTS,
                   test_suffix='', imgs=None):
    """Each test: a probe write (sizes the runs), then REPS x (write, read)
    with each qemu-img of imgs ((tag, path), ours alone by default)."""
    imgs = imgs or qemu_imgs()[:1]
    for name, size, depth, step, probe, hi in tests:
        unit = 'IOPS' if size == BS else 'MB/s'
        try:
            t = qbench(opts, probe, size, depth, step, True, 255)
            n = scaled(probe, t, probe, hi)
            runs = {(tag, op): [] for tag, _ in imgs
                    for op in ('write', 'read')}
            for i in range(REPS):
                for k, (tag, img) in enumerate(imgs):
                    # a new pattern each time: never a SET of the value held
                    pattern = i * len(imgs) + k + 1
                    runs[tag, 'write'].append(rate(n, size, qbench(
                        opts, n, size, depth, step, True, pattern, img)))
                    runs[tag, 'read'].append(rate(n, size, qbench(
                        opts, n, size, depth, step, False, qemu_img=img)))
            for tag, _ in imgs:
                test = name + test_suffix + tag
                for op in ('write', 'read'):
                    m = median(runs[tag, op])
                    res.add(section='driver', server=server,
                            transport=transport, test=test, op=op,
                            unit=unit, median='%.1f' % m,
                            runs=';'.join('%.1f' % x
                                          for x in runs[tag, op]))
                    say('%-13s %-16s %-5s %9.1f %s  (c=%d, load %.2f)'
                        % (label, test, op, m, unit, n, load1()))
        except Failed as e:
            failed('%s %s%s' % (label, name, test_suffix), e)


def measure_zdb_driver(target, res):
    """DRIVER_TESTS on a 1 GiB disk of target, with every qemu-img."""
    srv = target.server
    ns = 'zdb-bench-%d-%s' % (os.getpid(), target.transport)
    try:
        ns = srv.new_namespace(ns)
        run([QEMU_IMG, 'create', '-f', 'raw', target.filename(ns), DISK])
        measure_driver(target.label, srv.name, target.transport,
                       target.opts(ns), res, imgs=qemu_imgs())
    except Failed as e:
        failed('%s driver' % target.label, e)
    finally:
        srv.drop_namespace(ns)


def measure_connections(target, res):
    """The 4 KiB depth 32 and 1 MiB tests with each of CONN_COUNTS."""
    srv = target.server
    ns = 'zdb-bench-%d-conn' % os.getpid()
    # 1 MiB too: a request of 256 SETs spread over the connections or not
    tests = [t for t in DRIVER_TESTS if t[0] in ('4k-rand-d32', '1M-seq-d8')]
    try:
        ns = srv.new_namespace(ns)
        run([QEMU_IMG, 'create', '-f', 'raw', target.filename(ns), DISK])
        for c in CONN_COUNTS:
            # every run rewrites the disk: the walk of the next process
            # would hold the server seconds at its first step (docs/zdb.txt)
            measure_driver(target.label, srv.name, target.transport,
                           target.opts(ns, ',connections=%d,key-scan=off'
                                       % c), res,
                           tests=tests, test_suffix=' conn=%d' % c)
    except Failed as e:
        failed('%s connections' % target.label, e)
    finally:
        srv.drop_namespace(ns)
