#
# The server's own ceiling: redis-benchmark SET and GET of 4 KiB values,
# one client pipelining 32 (the driver's depth), 8 clients one request
# each, and one client one request: what the driver is held against.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import time

from .common import (BS, REPS, Failed, failed, load1, median, run, say,
                     scaled)

# redis-benchmark configurations: name, clients, pipeline depth
CEILINGS = [('c1P32', 1, 32), ('c8P1', 8, 1), ('c1P1', 1, 1)]


def rbench(target, db, op, n, clients, pipe, keyspace):
    """redis-benchmark ops/s of one SET or GET run."""
    cmd = ['redis-benchmark'] + target.rb_conn() + db + \
        ['-t', op, '-n', n, '-c', clients, '-P', pipe, '-d', BS,
         '-r', keyspace, '--csv']
    out = run(cmd)
    for line in out.splitlines():
        f = line.replace('"', '').split(',')
        if f[0] == op.upper():
            return float(f[1])
    raise Failed('redis-benchmark: no %s figure' % op.upper())


def measure_ceiling(target, res):
    srv = target.server
    # redis-benchmark can only SELECT a number: on 0-db that is a namespace
    # named by digits, made here
    dbname = str(700000000 + os.getpid())
    for name, clients, pipe in CEILINGS:
        try:
            ns = srv.new_namespace(dbname)
            db = [] if not srv.is_zdb else ['--dbnum', ns]
            # GETs read a small keyspace filled first (a GET of a missing
            # key is a cheap nil); SETs go to ever new keys (0-db does not
            # write a value a key already holds)
            rbench(target, db, 'set', 10000, clients, pipe, 1000)
            for op, keyspace in (('set', 10 ** 9), ('get', 1000)):
                t0 = time.monotonic()
                probe = 512 if pipe > 1 else 1000
                rbench(target, db, op, probe, clients, pipe, keyspace)
                n = scaled(probe, time.monotonic() - t0, probe, 300000)
                runs = [rbench(target, db, op, n, clients, pipe, keyspace)
                        for _ in range(REPS)]
                m = median(runs)
                res.add(section='ceiling', server=srv.name,
                        transport=target.transport, test=name,
                        op=op.upper(), unit='ops/s', median='%.0f' % m,
                        runs=';'.join('%.0f' % x for x in runs))
                say('%-13s ceiling %-3s %-5s %8.0f ops/s  (n=%d, load %.2f)'
                    % (target.label, op.upper(), name, m, n, load1()))
        except Failed as e:
            failed('%s ceiling %s' % (target.label, name), e)
        finally:
            srv.drop_namespace(dbname)
