#
# Thin and backup: 4 KiB depth 32 reads of a plain disk beside the same
# blocks read through a fully thin disk (every block from the base), and
# writes without and with a backup side on a second server.  With
# BENCH_QEMU_IMG, each case is run with that qemu-img too.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os

from .common import (DISK, REPS, Failed, failed, load1, median, qemu_imgs,
                     rate, say, scaled)
from .driver import DRIVER_TESTS, qbench


def measure_layers(target, other, res):
    """Thin reads against plain reads, writes with a backup against without.

    The same blocks each time: the base is written once and read both
    directly (a plain disk) and through an empty thin disk, whose every
    read misses its own namespace and goes to the base.  The backup side
    is a namespace of @other, a second server."""
    srv = target.server
    name, size, depth, step, probe, hi = DRIVER_TESTS[1]
    pid = os.getpid()
    imgs = qemu_imgs()
    made = []

    def ns(what, server=srv):
        made.append((server, server.new_namespace('zdb-bench-%d-%s'
                                                  % (pid, what))))
        return made[-1][1]

    try:
        base, thin = ns('base'), ns('thin')
        alone, primary = ns('alone'), ns('primary')
        backup = ns('backup', other.server)
        geo = ',size=%d' % DISK
        cases = [
            ('plain', 'read', target.opts(base, geo)),
            ('thin, all from base', 'read',
             target.opts(thin, geo + target.side('thin', base))),
            ('no backup', 'write', target.opts(alone, geo)),
            ('with backup', 'write',
             target.opts(primary, geo + other.side('backup', backup))),
        ]
        t = qbench(cases[0][2], probe, size, depth, step, True, 255)
        n = scaled(probe, t, probe, hi)
        qbench(cases[0][2], n, size, depth, step, True, 1)
        runs = {(c[0], tag): [] for c in cases for tag, _ in imgs}
        for i in range(REPS):
            for k, (tag, img) in enumerate(imgs):
                # a new pattern each time: never a SET of the value held
                pattern = i * len(imgs) + k + 2
                for label, op, opts in cases:
                    secs = qbench(opts, n, size, depth, step, op == 'write',
                                  pattern, img)
                    runs[label, tag].append(rate(n, size, secs))
        for tag, _ in imgs:
            for label, op, _ in cases:
                m = median(runs[label, tag])
                res.add(section='layers', server=srv.name,
                        transport=target.transport,
                        test='%s %s%s' % (name, label, tag), op=op,
                        unit='IOPS', median='%.1f' % m,
                        runs=';'.join('%.1f' % x for x in runs[label, tag]))
                say('%-13s %-16s %-20s %-5s %9.1f IOPS  (c=%d, load %.2f)'
                    % (target.label, name, label + tag, op, m, n, load1()))
    except Failed as e:
        failed('%s thin/backup' % target.label, e)
    finally:
        for server, made_ns in made:
            server.drop_namespace(made_ns)
