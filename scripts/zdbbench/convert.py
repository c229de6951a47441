#
# qemu-img convert of a 1 GiB raw image (half holes, half random data)
# into zdb and back, wall time and peak RSS of qemu-img, beside the same
# into the nbd export; the round trip is compared byte for byte.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import subprocess

from .common import (DISK, QEMU_IMG, REPS, Failed, failed, load1, median,
                     run_rusage, say)


def make_source(path):
    """1 GiB: 4 MiB of random data, 4 MiB hole, and so on."""
    chunk = 4 << 20
    with open(path, 'wb') as f:
        for i in range(0, DISK // chunk, 2):
            f.seek(i * chunk)
            f.write(os.urandom(chunk))
        f.truncate(DISK)


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
