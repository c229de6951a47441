#
# What every part of scripts/bench uses: the settings (from the
# environment, see scripts/bench), running a command with its output in
# the log, the list of failures, and the arithmetic of counts and rates.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import errno
import os
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, 'tests', 'zdb-server'))
# pylint: disable=wrong-import-position
import zdbservers  # noqa: E402
from zdbservers import Failed  # noqa: E402,F401  (re-exported)

BUILD = os.environ.get('ZDB_BUILD', os.path.join(TOP, 'build'))
OUT = os.environ.get('BENCH_OUT', os.path.join(BUILD, 'bench'))
QEMU_IMG = os.path.join(BUILD, 'qemu-img')
QSD = os.path.join(BUILD, 'qemu-storage-daemon')
# a second qemu-img, measured beside QEMU_IMG (see scripts/bench)
OTHER_QEMU_IMG = os.environ.get('BENCH_QEMU_IMG') or None
OTHER_TAG = ' (B)'          # appended to the test name of its rows

REPS = int(os.environ.get('BENCH_REPS', '3'))
RUN_S = float(os.environ.get('BENCH_SECONDS', '0.8'))
SKIP = set(filter(None, os.environ.get('BENCH_SKIP', '').split(',')))

BS = 4096                   # the driver's blocksize; redis-benchmark -d
DISK = 1 << 30              # bench disks and the convert image
STEP = 257 * BS             # "random" 4 KiB offsets, see scripts/bench
MB = 1e6

LOG = None                  # build/bench/bench.log, opened by open_log()
FAILURES = []               # one line each, printed under the table
NOTES = []                  # rows skipped and why, printed under the table


def open_log():
    global LOG
    os.makedirs(OUT, exist_ok=True)
    LOG = open(os.path.join(OUT, 'bench.log'), 'w')
    return LOG


def log(text):
    LOG.write(text if text.endswith('\n') else text + '\n')
    LOG.flush()


def say(text):
    """Progress on stderr: the table goes to stdout."""
    print('bench: ' + text, file=sys.stderr, flush=True)
    log('# ' + text)


def failed(what, error):
    """Records a failure of one measurement; the run goes on."""
    FAILURES.append('%s: %s' % (what, error) if what else str(error))
    say('FAILED: %s' % FAILURES[-1])


def note(text):
    """Records why rows are missing (a tool absent, say): not a failure."""
    NOTES.append(text)
    say('NOTE: ' + text)


def qemu_imgs():
    """The qemu-img binaries to compare: (tag for the test name, path)."""
    imgs = [('', QEMU_IMG)]
    if OTHER_QEMU_IMG:
        imgs.append((OTHER_TAG, OTHER_QEMU_IMG))
    return imgs


def retry_relinked(start):
    """start(), again while the binary it runs is missing or busy.

    The lead may relink build/qemu-* while a run goes on: a binary that
    is briefly missing or busy is waited for, up to two minutes."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return start()
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EACCES, errno.ETXTBSY) \
               or time.monotonic() > deadline:
                raise Failed('%s: %s' % (e.filename, e))
            time.sleep(2)


def die_with_us():
    """preexec_fn of every child: SIGTERM from the kernel when the bench
    dies, even by SIGKILL (start children from the main thread)."""
    # pylint: disable=protected-access
    return zdbservers._die_with_parent(os.getpid())


def spawn(cmd, **popen_args):
    """A long-running child (a daemon, one of many parallel runs): a
    zdbservers.Process, stopped by stop_all() at the latest, on any exit."""
    log('$ ' + ' '.join(map(str, cmd)))
    return retry_relinked(lambda: zdbservers.Process(cmd, **popen_args))


def run(cmd, timeout=300, env=None):
    """Run cmd, log it with its output, return stdout; Failed unless
    exit 0."""
    log('$ ' + ' '.join(map(str, cmd)))
    try:
        p = retry_relinked(lambda: subprocess.run(
            list(map(str, cmd)), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=timeout, text=True, env=env,
            preexec_fn=die_with_us()))
    except subprocess.TimeoutExpired:
        raise Failed('timed out after %d s: %s'
                     % (timeout, ' '.join(map(str, cmd))))
    log(p.stdout + p.stderr)
    if p.returncode != 0:
        err = (p.stderr.strip() or p.stdout.strip()).splitlines()
        raise Failed('%s exited %d: %s'
                     % (os.path.basename(str(cmd[0])), p.returncode,
                        err[-1] if err else ''))
    return p.stdout


def run_rusage(cmd, timeout=600):
    """Run cmd; return (wall seconds, peak RSS in KiB) of that one process.

    wait4() gives the child's own rusage: ru_maxrss is the figure
    /usr/bin/time -v prints as "Maximum resident set size"."""
    log('$ ' + ' '.join(map(str, cmd)))
    with open(os.path.join(OUT, 'bench.log'), 'a') as lf:
        t0 = time.monotonic()
        p = retry_relinked(lambda: subprocess.Popen(
            list(map(str, cmd)), stdout=lf, stderr=lf,
            preexec_fn=die_with_us()))
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                p.returncode = -9
                raise Failed('timed out: ' + ' '.join(map(str, cmd)))
            time.sleep(0.005)
        wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise Failed('%s exited %d' % (' '.join(map(str, cmd[:3])),
                                       p.returncode))
    return wall, ru.ru_maxrss


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def load1():
    return os.getloadavg()[0]


def scaled(probe_n, probe_s, lo, hi):
    """A count that makes one run last about RUN_S seconds."""
    return int(max(lo, min(hi, probe_n * RUN_S / max(probe_s, 1e-3))))


def rate(count, size, secs):
    """IOPS for 4 KiB requests, MB/s for big ones."""
    return count / secs if size == BS else count * size / secs / MB
