#
# An emulated network round trip: the test server holding every reply
# back 0.2 ms and then 1 ms (zdb-server --delay-us; it goes on serving
# meanwhile, so pipelining still pays one delay), over its unix socket.
#
#   - the driver's 4 KiB "random" writes and reads at depth 1 and 32,
#     each held against 1/rtt: the rate of a client that waits for every
#     reply and loses no time of its own (at depth 32, x 1/rtt is how
#     many requests were in flight on average, 32 at best);
#   - redis-benchmark -c 1 -P 1 and -c 1 -P 32, GET and SET, at the same
#     delay: what a minimal client gets at depth 1 and 32, loopback, the
#     server's wake-up and the machine's load included;
#   - at 1 ms: thin reads (an empty thin disk over the plain disk as its
#     base) against plain reads at depth 1 and 32, and writes with a
#     backup (on a second server with the same delay) against plain
#     writes at depth 32.
#
# Every disk is made by qemu-img create, as a user makes one.  With
# BENCH_QEMU_IMG each case is run with that qemu-img too, alternated.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os

from . import servers
from .ceiling import rbench
from .common import (BS, DISK, QEMU_IMG, REPS, RUN_S, Failed, failed,
                     load1, median, qemu_imgs, rate, run, say, scaled)
from .driver import DRIVER_TESTS, qbench

RTTS_US = [200, 1000]
LAYERS_US = 1000            # the round trip of the thin and backup cases
GOAL_RTT = '>=0.90'         # issue 16: depth 1 against 1/rtt
GOAL_LAYERS = '>=0.90'      # thin vs plain, backup vs plain


def rtt_name(us):
    return 'rtt=%gms' % (us / 1000)


def measure_rtt(work, res):
    for us in RTTS_US:
        made = []
        try:
            srv = servers.start_delayed(work, us)
            made.append(srv)
            other = None
            if us == LAYERS_US:
                other = servers.start_delayed(work, us, 'delayed-backup')
                made.append(other)
            measure_at(us, servers.Target(srv, 'unix'),
                       other and servers.Target(other, 'unix'), res)
        except Failed as e:
            failed('%s' % rtt_name(us), e)
        finally:
            for s in reversed(made):
                s.stop()


def add(res, target, test, op, unit, runs, ref, ref_value, goal=''):
    m = median(runs)
    res.add(section='rtt', server=target.server.name,
            transport=target.transport, test=test, op=op, unit=unit,
            median='%.1f' % m, runs=';'.join('%.1f' % x for x in runs),
            ref=ref, ref_value='%.1f' % ref_value,
            ratio_ref='%.2f' % (m / ref_value), target=goal)
    say('%-13s %-28s %-5s %9.1f %s  x %s %.2f  (load %.2f)'
        % (target.label, test, op, m, unit, ref, m / ref_value, load1()))
    return m


def measure_reference(us, target, res):
    """redis-benchmark -c 1 -P 1 and -P 32 at this round trip."""
    srv = target.server
    dbname = str(710000000 + os.getpid())
    try:
        ns = srv.new_namespace(dbname)
        db = ['--dbnum', ns]
        # the GETs' keys, filled pipelined (at 1 ms, one by one is slow)
        rbench(target, db, 'set', 1000, 1, 32, 100)
        for pipe in (1, 32):
            # about RUN_S at half the ideal rate
            n = max(200, int(RUN_S * 1e6 / us * pipe / 2))
            for op, keyspace in (('set', 10 ** 9), ('get', 100)):
                runs = [rbench(target, db, op, n, 1, pipe, keyspace)
                        for _ in range(REPS)]
                add(res, target, 'redis-benchmark c1P%d %s'
                    % (pipe, rtt_name(us)), op.upper(), 'ops/s', runs,
                    '1/rtt', 1e6 / us)
    except Failed as e:
        failed('%s redis-benchmark' % rtt_name(us), e)
    finally:
        srv.drop_namespace(dbname)


def measure_at(us, target, other, res):
    """Every case at round trip us; the thin and backup ones if other
    (the backup's server) is given."""
    srv = target.server
    pid = os.getpid()
    imgs = qemu_imgs()

    def disk(server, what):
        ns = server.new_namespace('zdb-bench-%d-%s' % (pid, what))
        run([QEMU_IMG, 'create', '-f', 'raw', server.filename(ns), DISK])
        return ns

    measure_reference(us, target, res)
    plain = disk(srv, 'rtt-plain')
    if other:
        thin = disk(srv, 'rtt-thin')
        primary = disk(srv, 'rtt-primary')
        backup = disk(other.server, 'rtt-backup')
    for name, size, depth, step, probe, hi in DRIVER_TESTS[:2]:
        # (case, op, --image-opts): plain write first, so that the reads
        # find the blocks written, the thin disk's through its base
        cases = [('', 'write', target.opts(plain)),
                 ('', 'read', target.opts(plain))]
        if other:
            cases.append((' thin', 'read',
                          target.opts(thin, target.side('thin', plain))))
            if depth == 32:
                cases.append((' backup', 'write', target.opts(
                    primary, other.side('backup', backup))))
        try:
            t = qbench(cases[0][2], probe, size, depth, step, True, 255)
            n = scaled(probe, t, probe, hi)
            runs = {(c, op, tag): [] for c, op, _ in cases
                    for tag, _ in imgs}
            for i in range(REPS):
                for k, (tag, img) in enumerate(imgs):
                    # a new pattern each time: never a SET of the value held
                    pattern = i * len(imgs) + k + 1
                    for c, op, opts in cases:
                        secs = qbench(opts, n, size, depth, step,
                                      op == 'write', pattern, img)
                        runs[c, op, tag].append(rate(n, BS, secs))
            for tag, _ in imgs:
                for c, op, _ in cases:
                    test = '%s%s %s%s' % (name, c, rtt_name(us), tag)
                    if not c:
                        add(res, target, test, op, 'IOPS', runs[c, op, tag],
                            '1/rtt', 1e6 / us, GOAL_RTT if depth == 1 else '')
                    else:
                        add(res, target, test, op, 'IOPS', runs[c, op, tag],
                            'plain ' + op, median(runs['', op, tag]),
                            GOAL_LAYERS)
        except Failed as e:
            failed('%s %s' % (rtt_name(us), name), e)
