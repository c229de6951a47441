#
# Many VMs on one server (issue 16): 32 qemu-img bench processes at once,
# each reading its own disk 4 KiB "random" (step 257 blocks, each from
# its own start) at depth 4, for a window of time; the aggregate reads/s
# against redis-benchmark GET of 4 KiB values with 32 clients, one
# request in flight each (-c 32 -P 1), on the same server.
#
#   - thin: 32 empty thin disks (qemu-img create, nothing written) over
#     one shared base of 16 MiB of random data: every read is the base's;
#   - plain: 32 disks of 16 MiB each, filled with random data;
#   - plain with connections=1 (the default is 2 per server).
#
# qemu-img bench has no time limit and the processes do not start at the
# same moment (32 of them on a small machine take a while), so the rate
# is counted by the server: its INFO network_tx_bytes (0-db has it too)
# before and after a window in which all 32 are past their open and
# reading (each has printed "Sending ..."); every 4 KiB value is 4105
# bytes on the wire, a nil 5.  Then the processes are stopped.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import select
import shutil
import subprocess
import time

from . import common
from .ceiling import rbench
from .common import (BS, QEMU_IMG, REPS, RUN_S, STEP, Failed, failed, load1,
                     median, qemu_imgs, run, say, spawn)

VMS = 32
VM_DEPTH = 4
VM_DISK = 16 << 20          # 4096 blocks, each read step 257 blocks on
VALUE_WIRE = BS + 9         # "$4096\r\n" + value + "\r\n"
GOAL = '>=0.80'             # issue 16: against redis-benchmark GET c32P1
COUNT = 100000000           # more than a window ever reads


def tx_bytes(srv):
    with srv.conn() as c:
        info = c.call('INFO')
    m = re.search(rb'network_tx_bytes: *(\d+)', info or b'')
    if not m:
        raise Failed('%s: INFO has no network_tx_bytes' % srv.name)
    return int(m.group(1))


def wait_started(procs, timeout=120):
    """Until every process printed its "Sending ..." line."""
    waiting = {p.popen.stdout.fileno(): p for p in procs}
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failed('%d qemu-img bench not reading after %d s'
                         % (len(waiting), timeout))
        ready, _, _ = select.select(list(waiting), [], [], left)
        for fd in ready:
            line = waiting[fd].popen.stdout.readline()
            if line.startswith('Sending'):
                del waiting[fd]
            elif not line:
                p = waiting[fd]
                raise Failed('qemu-img bench exited %s before reading (see '
                             'log)' % p.popen.wait())


def window_rate(srv, opts_list, img, window):
    """Reads/s of len(opts_list) qemu-img bench at once, one per disk,
    counted by the server over window seconds."""
    procs = []
    stdbuf = ['stdbuf', '-oL'] if shutil.which('stdbuf') else []
    try:
        for i, opts in enumerate(opts_list):
            # each from its own block, so that they do not walk in step
            start = (i * (VM_DISK // BS) // len(opts_list)) * BS
            procs.append(spawn(stdbuf + [
                img, 'bench', '--image-opts', '-t', 'none', '-c', COUNT,
                '-d', VM_DEPTH, '-s', BS, '-S', STEP, '-o', start, opts],
                stdout=subprocess.PIPE, stderr=common.LOG, text=True))
        t = time.monotonic()
        wait_started(procs)
        common.log('# %d qemu-img bench reading %.2f s after the first '
                   'started' % (len(procs), time.monotonic() - t))
        time.sleep(0.2)     # the last ones up to speed
        tx0, t0 = tx_bytes(srv), time.monotonic()
        time.sleep(window)
        tx1, t1 = tx_bytes(srv), time.monotonic()
        ended = [p for p in procs if not p.alive()]
        if ended:
            raise Failed('%d qemu-img bench ended within the window (exit '
                         '%s)' % (len(ended), ended[0].popen.returncode))
        return (tx1 - tx0) / VALUE_WIRE / (t1 - t0)
    finally:
        for p in procs:
            p.stop()
            if p.popen.stdout:
                p.popen.stdout.close()


def reference(target, window):
    """redis-benchmark GET, 4 KiB values, -c 32 -P 1: a run of about
    window seconds; ops/s."""
    srv = target.server
    dbname = str(720000000 + os.getpid())
    ns = srv.new_namespace(dbname)
    db = ['--dbnum', ns]
    try:
        # the keys GET reads, filled first (a missing key is a cheap nil)
        rbench(target, db, 'set', 5000, 1, 32, 1000)
        t0 = time.monotonic()
        rbench(target, db, 'get', 5000, VMS, 1, 1000)
        n = int(min(2e6, max(5000, 5000 * window /
                             max(time.monotonic() - t0, 1e-3))))
        return rbench(target, db, 'get', n, VMS, 1, 1000)
    finally:
        srv.drop_namespace(dbname)


def measure_vms(target, work, res):
    srv = target.server
    pid = os.getpid()
    window = max(1.0, 2 * RUN_S)
    src = os.path.join(work, 'vm-data.raw')
    made = []

    def disk(what, data=False):
        ns = srv.new_namespace('zdb-bench-%d-vm-%s' % (pid, what))
        made.append(ns)
        if data:
            # convert makes the disk in the empty namespace, full of data
            with open(src, 'wb') as f:
                f.write(os.urandom(VM_DISK))
            run([QEMU_IMG, 'convert', '-f', 'raw', '-O', 'raw', src,
                 target.filename(ns)])
        else:
            run([QEMU_IMG, 'create', '-f', 'raw', target.filename(ns),
                 VM_DISK])
        return ns

    try:
        say('making 1 base, %d thin and %d plain disks of %d MiB'
            % (VMS, VMS, VM_DISK >> 20))
        base = disk('base', True)
        thin = [target.opts(disk('thin%d' % i), target.side('thin', base))
                for i in range(VMS)]
        plain = [target.opts(disk('plain%d' % i, True)) for i in range(VMS)]
        os.unlink(src)
        cases = [('thin', thin, qemu_imgs()),
                 ('plain', plain, qemu_imgs()),
                 ('plain connections=1',
                  [o + ',connections=1' for o in plain], qemu_imgs()[:1])]
        runs = {(c, tag): [] for c, _, imgs in cases for tag, _ in imgs}
        ref = []
        for _ in range(REPS):
            for c, opts, imgs in cases:
                for tag, img in imgs:
                    runs[c, tag].append(window_rate(srv, opts, img, window))
                    say('%-13s %d VMs %-20s %8.0f reads/s  (load %.2f)'
                        % (target.label, VMS, c + tag, runs[c, tag][-1],
                           load1()))
            ref.append(reference(target, window))
            say('%-13s redis-benchmark GET -c %d -P 1 %8.0f ops/s'
                % (target.label, VMS, ref[-1]))
        r = median(ref)
        res.add(section='vms', server=srv.name, transport=target.transport,
                test='redis-benchmark GET c%dP1' % VMS, op='GET',
                unit='ops/s', median='%.0f' % r,
                runs=';'.join('%.0f' % x for x in ref))
        for c, _, imgs in cases:
            for tag, _ in imgs:
                m = median(runs[c, tag])
                res.add(section='vms', server=srv.name,
                        transport=target.transport,
                        test='%d VMs d%d %s%s' % (VMS, VM_DEPTH, c, tag),
                        op='read', unit='IOPS', median='%.0f' % m,
                        runs=';'.join('%.0f' % x for x in runs[c, tag]),
                        ref='redis-benchmark GET c%dP1' % VMS,
                        ref_value='%.0f' % r, ratio_ref='%.2f' % (m / r),
                        target=GOAL)
    except (Failed, OSError) as e:
        failed('%s many VMs' % target.label, e)
    finally:
        for ns in made:
            srv.drop_namespace(ns)
        if os.path.exists(src):
            os.unlink(src)
