#
# qemu-img convert of a 1 GiB raw image (half holes, half random data)
# into zdb and back, wall time and peak RSS of qemu-img, beside the same
# into the nbd export; the round trip is compared byte for byte.
#
# convert512 (issue 16): a 512 MiB image, half holes, into a new zdb disk
# in data blocks per second against the server's best redis-benchmark SET
# rate, and out of it in wall time against qemu-img convert out of
# qemu-storage-daemon exporting the same image as a raw file over NBD
# (holes found by block status on both sides).
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import subprocess

from .common import (BS, DISK, QEMU_IMG, REPS, Failed, failed, load1,
                     median, run_rusage, say)
from .nbd import Export

SIZE512 = 512 << 20
GOAL_IN = '>=0.90'          # issue 16: blocks/s against the SET ceiling
GOAL_OUT = '<=1.10'         # issue 16: time against nbd from a raw file


def make_source(path, size=DISK):
    """size bytes: 4 MiB of random data, 4 MiB hole, and so on."""
    chunk = 4 << 20
    with open(path, 'wb') as f:
        for i in range(0, size // chunk, 2):
            f.seek(i * chunk)
            f.write(os.urandom(chunk))
        f.truncate(size)


def measure_convert(label, server, transport, src, work, res, prepare,
                    filename, cleanup=lambda: None):
    back = os.path.join(work, 'back.raw')
    runs = {'in': [], 'out': []}
    try:
        for i in range(REPS):
            dst = filename(prepare(i))
            # what a user types: the target is created by convert (for zdb
            # in an empty namespace, so holes are skipped; for nbd the
            # simple create of an existing export, holes written as zeroes)
            runs['in'].append(run_rusage([QEMU_IMG, 'convert', '-f', 'raw',
                                          '-O', 'raw', src, dst]))
            runs['out'].append(run_rusage([QEMU_IMG, 'convert', '-f', 'raw',
                                           '-O', 'raw', dst, back]))
            if i == 0 and subprocess.run(['cmp', '-s', src,
                                          back]).returncode != 0:
                failed('', '%s convert: the round trip changed the image'
                       % label)
            os.unlink(back)
            cleanup()
        for d in ('in', 'out'):
            wall = median([w for w, _ in runs[d]])
            rss = median([r for _, r in runs[d]])
            res.add(section='convert', server=server, transport=transport,
                    test='convert-' + d, op='wall', unit='s',
                    median='%.2f' % wall,
                    runs=';'.join('%.2f' % w for w, _ in runs[d]))
            res.add(section='convert', server=server, transport=transport,
                    test='convert-' + d, op='peak-rss', unit='MiB',
                    median='%.1f' % (rss / 1024),
                    runs=';'.join('%.1f' % (r / 1024) for _, r in runs[d]))
            say('%-13s convert %-3s %6.2f s  peak RSS %6.1f MiB  (load %.2f)'
                % (label, d, wall, rss / 1024, load1()))
    except Failed as e:
        failed('%s convert' % label, e)
        if os.path.exists(back):
            os.unlink(back)


def measure_convert_nbd(export, src, work, res):
    measure_convert('nbd unix', 'nbd', 'unix', src, work, res,
                    lambda i: None, lambda _: export.filename())


def measure_convert_zdb(target, src, work, res):
    """Into a new namespace each time, dropped after each round trip."""
    base = 'zdb-bench-%d-conv' % os.getpid()
    made = []

    def prepare(i):
        made.append(target.server.new_namespace('%s%d' % (base, i)))
        return made[-1]

    def cleanup():
        while made:
            target.server.drop_namespace(made.pop())

    try:
        measure_convert(target.label, target.server.name, target.transport,
                        src, work, res, prepare, target.filename, cleanup)
    finally:
        cleanup()


def set_ceiling(res, target):
    """The best redis-benchmark SET row of target's server and transport
    (section ceiling), or None."""
    rows = [r for r in res.rows if r['section'] == 'ceiling' and
            r['server'] == target.server.name and
            r['transport'] == target.transport and r['op'] == 'SET']
    return max(rows, key=lambda r: float(r['median'])) if rows else None


def measure_convert512(targets, work, res):
    """Into a new disk of each target and back out, REPS times, beside
    nbd out of the raw source."""
    src = os.path.join(work, 'convert512-src.raw')
    back = os.path.join(work, 'convert512-back.raw')
    blocks = SIZE512 // 2 // BS         # the data blocks: half is holes
    export = None
    nbd_out = []
    runs = {(t.label, d): [] for t in targets for d in ('in', 'out')}
    try:
        say('making the 512 MiB convert source')
        make_source(src, SIZE512)
        export = Export(work, 'src512', img=src, writable=False)
        for i in range(REPS):
            nbd_out.append(run_rusage([QEMU_IMG, 'convert', '-f', 'raw',
                                       '-O', 'raw', export.filename(),
                                       back])[0])
            os.unlink(back)
            for t in targets:
                ns = t.server.new_namespace('zdb-bench-%d-c512-%d'
                                            % (os.getpid(), i))
                try:
                    # convert creates the disk in the empty namespace
                    runs[t.label, 'in'].append(run_rusage(
                        [QEMU_IMG, 'convert', '-f', 'raw', '-O', 'raw', src,
                         t.filename(ns)])[0])
                    runs[t.label, 'out'].append(run_rusage(
                        [QEMU_IMG, 'convert', '-f', 'raw', '-O', 'raw',
                         t.filename(ns), back])[0])
                    if i == 0 and subprocess.run(
                            ['cmp', '-s', src, back]).returncode != 0:
                        failed('', '%s convert512: the round trip changed '
                               'the image' % t.label)
                    os.unlink(back)
                finally:
                    t.server.drop_namespace(ns)
    except (Failed, OSError) as e:
        failed('convert512', e)
        if os.path.exists(back):
            os.unlink(back)
    finally:
        if export:
            export.stop()
        if os.path.exists(src):
            os.unlink(src)
    if len(nbd_out) < REPS:
        return
    nbd = median(nbd_out)
    res.add(section='convert512', server='nbd', transport='unix',
            test='convert-out 512M half holes', op='wall', unit='s',
            median='%.2f' % nbd, runs=';'.join('%.2f' % w for w in nbd_out))
    say('nbd unix      convert512 out %6.2f s  (load %.2f)' % (nbd, load1()))
    for t in targets:
        ins, outs = runs[t.label, 'in'], runs[t.label, 'out']
        if len(ins) < REPS or len(outs) < REPS:
            continue
        bps = [blocks / w for w in ins]
        m = median(bps)
        c = set_ceiling(res, t)
        row = res.add(section='convert512', server=t.server.name,
                      transport=t.transport, test='convert-in 512M half holes',
                      op='write', unit='blk/s', median='%.0f' % m,
                      runs=';'.join('%.0f' % x for x in bps), target=GOAL_IN)
        if c:
            row.update(ref='SET %s (best SET)' % c['test'],
                       ref_value=c['median'],
                       ratio_ref='%.2f' % (m / float(c['median'])))
        out = median(outs)
        res.add(section='convert512', server=t.server.name,
                transport=t.transport, test='convert-out 512M half holes',
                op='wall', unit='s', median='%.2f' % out,
                runs=';'.join('%.2f' % w for w in outs),
                ref='nbd from raw file', ref_value='%.2f' % nbd,
                ratio_ref='%.2f' % (out / nbd), target=GOAL_OUT)
        say('%-13s convert512 in %6.0f blocks/s (%.2f s), out %6.2f s  '
            '(load %.2f)' % (t.label, m, median(ins), out, load1()))
