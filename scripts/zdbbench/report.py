#
# The results of a run: the rows every measurement adds, the ratios
# filled in afterwards (against the server's ceiling, against nbd), the
# table printed on stdout and the CSV file.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import csv
import os

from .common import BS, FAILURES, MB, NOTES, OTHER_TAG, REPS, load1
from .ceiling import CEILINGS
from .driver import CONN_COUNTS


class Results:
    # ref, ref_value, ratio_ref: the figure a row of the sections of
    # issue 16 (rtt, fio, vms, convert512) is held against, and the ratio
    FIELDS = ['section', 'server', 'transport', 'test', 'op', 'unit',
              'median', 'runs', 'ceiling', 'ceiling_value', 'ratio_ceiling',
              'target', 'ratio_nbd', 'ref', 'ref_value', 'ratio_ref',
              'load1']

    def __init__(self):
        self.rows = []

    def add(self, **kw):
        row = {k: kw.get(k) for k in self.FIELDS}
        row['load1'] = '%.2f' % load1()
        self.rows.append(row)
        return row

    def find(self, **kw):
        for r in self.rows:
            if all(r.get(k) == v for k, v in kw.items()):
                return r
        return None


TARGETS_TEXT = {
    'tcp-d32': '>=0.80',    # faithful server over TCP vs -c 8 -P 1
    'pipelined': '>=0.90',  # vs -c 1 -P 32 against redis-server
    'd1': '>=0.80',         # vs -c 1 -P 1
}


def ceiling_for(row):
    """The redis-benchmark figure a driver row is held against, and the goal.

    Over TCP a 0-db (and our faithful server) stalls a pipelining client on
    Nagle, so there the reference for depth 32 is 8 unpipelined clients."""
    op = 'SET' if row['op'] == 'write' else 'GET'
    test = row['test'].split(' ')[0]
    zdb_tcp = row['server'] != 'redis' and row['transport'] == 'tcp'
    if test == '4k-rand-d1':
        name, target = 'c1P1', TARGETS_TEXT['d1']
    elif zdb_tcp:
        # -c 1 -P 32 is the Nagle stall there, no ceiling to compare with
        name = 'c8P1'
        target = TARGETS_TEXT['tcp-d32'] if test == '4k-rand-d32' else ''
    else:
        name = 'c1P32'
        target = TARGETS_TEXT['pipelined'] if row['server'] == 'redis' \
            else ''
    return op, name, target


def fill_ratios(res):
    for r in res.rows:
        if r['section'] == 'driver' and r['server'] != 'nbd':
            op, name, target = ceiling_for(r)
            c = res.find(section='ceiling', server=r['server'],
                         transport=r['transport'], test=name, op=op)
            if c:
                cv = float(c['median'])
                if r['unit'] == 'MB/s':
                    cv = cv * BS / MB
                r['ceiling'] = '%s %s' % (op, name)
                r['ceiling_value'] = '%.1f' % cv
                r['ratio_ceiling'] = '%.2f' % (float(r['median']) / cv)
                r['target'] = target
        if r['section'] in ('driver', 'convert') and r['server'] != 'nbd':
            n = res.find(section=r['section'], server='nbd',
                         test=r['test'].split(' ')[0], op=r['op'])
            if n and float(n['median']) > 0:
                r['ratio_nbd'] = '%.2f' % (float(r['median']) /
                                           float(n['median']))
        if r['section'] == 'convert' and r['op'] == 'peak-rss' and \
           r['server'] != 'nbd':
            r['target'] = 'x nbd <=1.25'


def fmt(v, w):
    return ('%' + str(w) + 's') % (v if v not in (None, '') else '-')


def is_other(row):
    """A row measured with BENCH_QEMU_IMG."""
    return row['test'].endswith(OTHER_TAG)


def print_table(res, header):
    print()
    for line in header:
        print(line)
    print_ceiling(res)
    print_driver(res)
    print_layers(res)
    print_convert(res)
    for section, title in REF_SECTIONS:
        print_refs(res, section, title)
    print_other(res)
    print('\nload average at the end: %.2f %.2f %.2f (2 cores: above ~1 the '
          'figures shrink)' % os.getloadavg())
    if NOTES:
        print('\nNOT MEASURED:')
        for n in NOTES:
            print('  ' + n)
    if FAILURES:
        print('\nFAILED:')
        for f in FAILURES:
            print('  ' + f)


def print_ceiling(res):
    rows = [r for r in res.rows if r['section'] == 'ceiling']
    if not rows:
        return
    print('\nServer ceiling: redis-benchmark -d %d, ops/s, median of %d'
          % (BS, REPS))
    cols = [(n, op) for n, _, _ in CEILINGS for op in ('SET', 'GET')]
    print('%-9s %-5s ' % ('server', 'via') +
          ' '.join(fmt('%s %s' % (op, n), 10) for n, op in cols))
    seen = []
    for r in rows:
        if (r['server'], r['transport']) not in seen:
            seen.append((r['server'], r['transport']))
    for s, t in seen:
        vals = []
        for n, op in cols:
            c = res.find(section='ceiling', server=s, transport=t, test=n,
                         op=op)
            vals.append(fmt(c and c['median'], 10))
        print('%-9s %-5s ' % (s, t) + ' '.join(vals))


def print_driver(res):
    rows = [r for r in res.rows if r['section'] == 'driver']
    if rows:
        print('\nDriver: qemu-img bench, median of %d (4k: IOPS, 1M: MB/s); '
              'x ceil = against the redis-benchmark figure named' % REPS)
        print('%-9s %-5s %-20s %-5s %9s  %-10s %9s %6s %7s %6s'
              % ('server', 'via', 'test', 'op', 'value', 'ceiling',
                 'ceil val', 'x ceil', 'goal', 'x nbd'))
        for r in rows:
            print('%-9s %-5s %-20s %-5s %9s  %-10s %9s %6s %7s %6s'
                  % (r['server'], r['transport'], r['test'], r['op'],
                     r['median'], r['ceiling'] or '-',
                     r['ceiling_value'] or '-', r['ratio_ceiling'] or '-',
                     r['target'] or '-', r['ratio_nbd'] or '-'))
    conn = [r for r in rows if ' conn=' in r['test']]
    for test in ('4k-rand-d32', '1M-seq-d8'):
        best, best_score = None, 0
        for c in CONN_COUNTS:
            w = res.find(section='driver', test='%s conn=%d' % (test, c),
                         op='write')
            rd = res.find(section='driver', test='%s conn=%d' % (test, c),
                          op='read')
            if w and rd:
                score = (float(w['median']) * float(rd['median'])) ** 0.5
                if score > best_score:
                    best, best_score = c, score
        if best:
            print('\nBest connections= for %s over %s tcp (geometric mean '
                  'of write and read): %d' % (test, conn[0]['server'], best),
                  end='')
    if conn:
        print()


def print_layers(res):
    rows = [r for r in res.rows if r['section'] == 'layers']
    if not rows:
        return
    print('\nThin and backup: qemu-img bench 4 KiB depth 32, IOPS, median '
          'of %d' % REPS)
    print('%-9s %-5s %-36s %-5s %9s %9s'
          % ('server', 'via', 'test', 'op', 'value', 'x plain'))
    for r in rows:
        ref = [x for x in rows if x['server'] == r['server'] and
               x['transport'] == r['transport'] and x['op'] == r['op'] and
               is_other(x) == is_other(r)][0]
        print('%-9s %-5s %-36s %-5s %9s %9s'
              % (r['server'], r['transport'], r['test'], r['op'],
                 r['median'], '%.2f' % (float(r['median']) /
                                        float(ref['median']))))
    print('(x plain: against the first row of the same op, a plain disk '
          'without backup)')


def print_convert(res):
    rows = [r for r in res.rows if r['section'] == 'convert']
    if not rows:
        return
    print('\nqemu-img convert of 1 GiB raw (512 MiB random data, 512 MiB '
          'holes), median of %d' % REPS)
    print('%-9s %-5s %-12s %8s %6s %10s %6s'
          % ('server', 'via', 'direction', 'wall s', 'x nbd', 'peak MiB',
             'x nbd'))
    for r in rows:
        if r['op'] != 'wall':
            continue
        m = res.find(section='convert', server=r['server'],
                     transport=r['transport'], test=r['test'],
                     op='peak-rss')
        print('%-9s %-5s %-12s %8s %6s %10s %6s'
              % (r['server'], r['transport'], r['test'], r['median'],
                 r['ratio_nbd'] or '-', m['median'], m['ratio_nbd'] or '-'))
    print('(x nbd of wall time: lower is better; goal for peak RSS: '
          'x nbd <= 1.25)')


REF_SECTIONS = [
    ('convert512', 'qemu-img convert of 512 MiB raw (256 MiB random data, '
     '256 MiB holes)'),
    ('rtt', 'Emulated round trip: zdb-server --delay-us, unix socket, '
     'qemu-img bench 4 KiB "random"'),
    ('fio', 'fio --ioengine=nbd 4 KiB random against qemu-storage-daemon\'s '
     'NBD export (unix socket)'),
    ('vms', 'Many VMs: 32 qemu-img bench at once, 4 KiB "random" reads at '
     'depth 4 each, aggregate'),
]

REF_NOTES = {
    'rtt': '(1/rtt: one request per round trip, the ideal at depth 1; at '
           'depth 32 x 1/rtt is the mean number in flight, 32 at best)',
    'fio': '(x ref: the zdb disk against the raw file, same daemon, same '
           'fio job)',
    'vms': '(reads/s counted by the server: its network_tx_bytes over a '
           'window with all 32 running, / 4105 bytes a value)',
    'convert512': '(in: data blocks/s against the best redis-benchmark SET '
                  'rate of that server and transport; out: wall time '
                  'against nbd, lower is better)',
}


def print_refs(res, section, title):
    """A section whose rows each carry the figure they are held
    against (ref) and the ratio to it."""
    rows = [r for r in res.rows if r['section'] == section]
    if not rows:
        return
    print('\n%s, median of %d' % (title, REPS))
    print('%-9s %-5s %-32s %-5s %10s %-6s  %-22s %10s %6s %7s'
          % ('server', 'via', 'test', 'op', 'value', 'unit', 'ref',
             'ref val', 'x ref', 'goal'))
    for r in rows:
        print('%-9s %-5s %-32s %-5s %10s %-6s  %-22s %10s %6s %7s'
              % (r['server'], r['transport'], r['test'], r['op'],
                 r['median'], r['unit'], r['ref'] or '-',
                 r['ref_value'] or '-', r['ratio_ref'] or '-',
                 r['target'] or '-'))
    print(REF_NOTES[section])


def print_other(res):
    """BENCH_QEMU_IMG's rows (B) beside the same runs of ours (A)."""
    rows = [r for r in res.rows if is_other(r)]
    if not rows:
        return
    print('\nqemu-img B (BENCH_QEMU_IMG) against A (ours), the same runs '
          'alternated, medians')
    print('%-9s %-5s %-36s %-5s %9s %9s %6s'
          % ('server', 'via', 'test', 'op', 'A', 'B', 'B/A'))
    for r in rows:
        test = r['test'][:-len(OTHER_TAG)]
        a = res.find(section=r['section'], server=r['server'],
                     transport=r['transport'], test=test, op=r['op'])
        if not a:
            continue
        print('%-9s %-5s %-36s %-5s %9s %9s %6.2f'
              % (r['server'], r['transport'], test, r['op'], a['median'],
                 r['median'], float(r['median']) / float(a['median'])))


def write_csv(res, path):
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=Results.FIELDS)
        w.writeheader()
        for r in res.rows:
            w.writerow(r)
