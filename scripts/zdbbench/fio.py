#
# Through a real client: fio's nbd engine (libnbd) against
# qemu-storage-daemon exporting a zdb disk over NBD on a unix socket, and
# the same daemon exporting a raw file on the local disk (page cache, as
# in nbd.py); 4 KiB randread and randwrite at iodepth 1 and 32, each zdb
# figure held against the raw file's.  Both disks are 256 MiB full of
# random data, so that every read finds a block (a missing one is a cheap
# nil on 0-db, a hole in the file).
#
# fio comes from Debian (its fio has the nbd engine).  When it is missing
# the bench installs it as ./configure installs packages (apt-get as
# root or through sudo -n); if that fails too, the fio rows are left out
# with a note under the table.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import json
import os
import shutil
import subprocess
import time

from .common import (QEMU_IMG, REPS, RUN_S, Failed, failed, load1, log,
                     median, note, run, say)
from .nbd import Export

# the driver's ZDB_WALK_START_MS: a disk is walked once open this long
WALK_START_S = 5
FIO_DISK = 256 << 20
FIO_TESTS = [('randread', 1), ('randread', 32), ('randwrite', 1),
             ('randwrite', 32)]
GOAL = '>=0.90'             # issue 16: at iodepth 32


def as_root(cmd):
    if os.geteuid() != 0:
        if not shutil.which('sudo') or subprocess.run(
                ['sudo', '-n', 'true'], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode != 0:
            return None
        cmd = ['sudo'] + cmd
    log('$ ' + ' '.join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=dict(os.environ,
                                           DEBIAN_FRONTEND='noninteractive'))
    log(p.stdout)
    return p.returncode


def ensure_fio():
    """None once fio with its nbd engine is there, else why not."""
    if not shutil.which('fio'):
        say('fio missing: installing it (apt-get install fio)')
        install = ['apt-get', 'install', '-y', '-q',
                   '--no-install-recommends', 'fio']
        rc = as_root(install)
        if rc is None:
            return 'fio not installed, and not root (apt-get install fio)'
        if rc != 0:
            as_root(['apt-get', 'update', '-q'])
            as_root(install)
        if not shutil.which('fio'):
            return 'fio not installed: apt-get install fio failed (see log)'
    p = subprocess.run(['fio', '--enghelp=nbd'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0 or 'uri' not in p.stdout:
        return 'this fio has no nbd engine'
    return None


def fio(export, rw, depth, work):
    """IOPS of one fio run against export."""
    out = os.path.join(work, 'fio.json')
    secs = max(1.0, 1.5 * RUN_S)
    run(['fio', '--name=bench', '--ioengine=nbd',
         '--uri=%s' % export.filename(), '--rw=%s' % rw, '--bs=4k',
         '--iodepth=%d' % depth, '--time_based',
         '--runtime=%dms' % (secs * 1000), '--randrepeat=0',
         '--output-format=json', '--output=%s' % out],
        timeout=secs + 120)
    with open(out) as f:
        job = json.load(f)['jobs'][0]
    os.unlink(out)
    if job.get('error'):
        raise Failed('fio %s: error %s' % (rw, job['error']))
    return job['read' if rw == 'randread' else 'write']['iops']


def fill(path):
    with open(path, 'wb') as f:
        for _ in range(FIO_DISK // (4 << 20)):
            f.write(os.urandom(4 << 20))
        # on the disk before the runs: no write-back of it during them
        f.flush()
        os.fsync(f.fileno())


def measure_fio(target, work, res):
    """FIO_TESTS against a zdb disk of target and against a raw file."""
    why = ensure_fio()
    if why:
        note('fio rows: ' + why)
        return
    srv = target.server
    raw = os.path.join(work, 'fio.raw')
    ns = 'zdb-bench-%d-fio' % os.getpid()
    exports = []
    try:
        fill(raw)
        ns = srv.new_namespace(ns)
        # the same data in both; convert makes the disk in the namespace
        run([QEMU_IMG, 'convert', '-f', 'raw', '-O', 'raw', raw,
             target.filename(ns)])
        began = time.monotonic()
        zdb = Export(work, 'z', blockdev=target.opts(ns),
                     trace='zdb_walk_done')
        exports.append(zdb)
        # until the walk knows every block, block status asks the server
        line = zdb.wait_trace('zdb_walk_done')
        walk_s = time.monotonic() - began - WALK_START_S
        res.add(section='fio', server=srv.name, transport=target.transport,
                test='walk of a full %d MiB disk, %d s after open'
                % (FIO_DISK >> 20, WALK_START_S),
                op='scan', unit='ms', median='%.0f' % (walk_s * 1000),
                runs='%.0f' % (walk_s * 1000))
        say('fio %-9s walk after open: %.0f ms (%s)'
            % (srv.name, walk_s * 1000, line.strip()))
        exports.append(Export(work, 'raw', img=raw))
        runs = {(e.name, rw, d): [] for e in exports for rw, d in FIO_TESTS}
        for _ in range(REPS):
            for rw, depth in FIO_TESTS:
                for e in exports:
                    runs[e.name, rw, depth].append(fio(e, rw, depth, work))
        for rw, depth in FIO_TESTS:
            test = 'fio 4k %s iodepth=%d' % (rw, depth)
            op = 'read' if rw == 'randread' else 'write'
            f = median(runs['raw', rw, depth])
            # via: fio's transport (NBD); the zdb disk is on target
            for e, server in ((exports[1], 'raw file'), (exports[0],
                                                         srv.name)):
                m = median(runs[e.name, rw, depth])
                row = res.add(section='fio', server=server,
                              transport='nbd', test=test, op=op,
                              unit='IOPS', median='%.0f' % m,
                              runs=';'.join('%.0f' % x
                                            for x in runs[e.name, rw, depth]))
                if e is exports[0]:
                    row.update(ref='raw file, same job', ref_value='%.0f' % f,
                               ratio_ref='%.2f' % (m / f),
                               target=GOAL if depth == 32 else '')
                say('fio %-9s %-26s %9.0f IOPS  (load %.2f)'
                    % (server, test, m, load1()))
    except (Failed, OSError) as e:
        failed('fio', e)
    finally:
        for e in exports:
            e.stop()
        srv.drop_namespace(ns)
        if os.path.exists(raw):
            os.unlink(raw)
