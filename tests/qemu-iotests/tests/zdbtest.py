# Shared helpers of the zdb iotests: the servers a test runs against, a
# fresh namespace per test, and the driver's option strings.
#
# By default every test runs against a redis-server and against the
# bundled 0-db test server (tests/zdb-server), both started here on private
# sockets.  With ZDB_TEST_SOCKET or ZDB_TEST_HOST/ZDB_TEST_PORT set, the
# tests run against that server only (a real 0-db); ZDB_TEST_ADMIN gives
# its admin password for NSNEW/NSDEL.  The server classes are those of
# tests/zdb-server/zdbservers.py, which stops every server a test started
# when the test ends, however it ends.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re
import subprocess
import sys

REPO = os.path.realpath(os.path.join(os.path.dirname(
    os.path.realpath(__file__)), '..', '..', '..'))
SERVER_DIR = os.path.join(REPO, 'tests', 'zdb-server')
sys.path.insert(0, SERVER_DIR)
# pylint: disable=wrong-import-position,unused-import
import resp  # noqa: E402,F401
from zdbservers import (RedisServer, ZdbTestServer,  # noqa: E402,F401
                        free_port, from_env)

QEMU_IMG = os.environ.get('QEMU_IMG_PROG', 'qemu-img')
QEMU_IO = os.environ.get('QEMU_IO_PROG', 'qemu-io')
QEMU_SYSTEM = os.environ.get('QEMU_PROG', 'qemu-system-x86_64')
QEMU_STORAGE_DAEMON = os.environ.get('QSD_PROG', 'qemu-storage-daemon')


def start_servers():
    """The servers every test of a module runs against: the one the
    environment names, else a redis-server and the test server."""
    external = from_env()
    if external:
        return [external]
    servers = [RedisServer()]
    try:
        servers.append(ZdbTestServer())
    except BaseException:
        servers[0].stop()
        raise
    return servers


def qmp_opts(opts):
    """The driver's options as QMP members: numbers where QAPI wants them."""
    numbers = ('port', 'thin-port', 'backup-port', 'connections', 'timeout',
               'reconnect-delay', 'open-timeout')
    return {k: int(v) if k in numbers else v for k, v in opts.items()}


def optstr(opts):
    """key=value,... for --image-opts and -drive, with commas doubled."""
    return ','.join('%s=%s' % (k, str(v).replace(',', ',,'))
                    for k, v in opts.items())


def run(*args, check=True, stdin=None):
    """Runs a program; returns (exit status, stdout+stderr)."""
    p = subprocess.run(list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, input=stdin,
                       check=False)
    if check and p.returncode != 0:
        raise AssertionError('%s failed (%d):\n%s' %
                             (' '.join(args), p.returncode, p.stdout))
    return p.returncode, p.stdout


def qemu_io(opts, *cmds, check=True, extra=()):
    args = [QEMU_IO, '--image-opts'] + list(extra)
    for c in cmds:
        args += ['-c', c]
    rc, out = run(*args, optstr(opts), check=False)
    if check and (rc != 0 or 'failed' in out or 'error' in out.lower()):
        raise AssertionError('qemu-io %s:\n%s' % (optstr(opts), out))
    return rc, out


class QemuIoSession:
    """One qemu-io process fed command by command, for changes between."""

    PROMPT = b'qemu-io> '

    def __init__(self, opts, extra=()):
        self.proc = subprocess.Popen([QEMU_IO, '--image-opts'] + list(extra) +
                                     [optstr(opts)],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self._until_prompt()

    def _until_prompt(self):
        buf = b''
        while not buf.endswith(self.PROMPT):
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
        return buf[:-len(self.PROMPT)].decode() \
            if buf.endswith(self.PROMPT) else buf.decode()

    def cmd(self, line):
        self.proc.stdin.write(line.encode() + b'\n')
        self.proc.stdin.flush()
        return self._until_prompt()

    def close(self):
        self.proc.stdin.write(b'quit\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


def qemu_img(*args, check=True):
    return run(QEMU_IMG, *args, check=check)


def block_key(n):
    return n.to_bytes(8, 'big')


class HmpQemuIo:
    """HMP qemu-io on a node of a running iotests.VM, checked.  qemu-io
    prints its results on QEMU's stdout, not into the reply, which is ''
    even for a failed write or a read whose pattern does not match: the
    reads and writes started here are counted, and check_log() holds the
    VM's log against the count once the VM is shut down.  (So no -q: a
    read or write that prints nothing would count as not done.)  Given a
    node name, qemu-io makes a BlockBackend of its own, drained at the end
    of each command."""

    qdev = False

    def __init__(self, vm):
        self.vm = vm
        self.reads = 0
        self.writes = 0

    def io(self, drive, cmd):
        out = self.vm.hmp_qemu_io(drive, cmd, qdev=self.qdev)['return']
        if out.strip():
            raise AssertionError('qemu-io %s%s "%s": %s' % (
                '-d ' if self.qdev else '', drive, cmd, out))
        op = cmd.split()[0]
        if op in ('read', 'aio_read'):
            self.reads += 1
        elif op in ('write', 'aio_write'):
            self.writes += 1

    def vm_name(self):
        # pylint: disable=protected-access
        return getattr(self.vm, '_name', self.vm)

    def check_log(self):
        """After shutdown: every read and write started completed, and
        none failed or read other data than its pattern."""
        log = self.vm.get_log() or ''
        bad = [line for line in log.splitlines()
               if re.match(r'(\w+ failed|Pattern verification failed)',
                           line)]
        if bad:
            raise AssertionError('VM %s: %s' % (self.vm_name(),
                                                '\n'.join(bad[:20])))
        done = (len(re.findall(r'^read \d+/\d+ bytes', log, re.M)),
                len(re.findall(r'^wrote \d+/\d+ bytes', log, re.M)))
        if done != (self.reads, self.writes):
            raise AssertionError('VM %s: %d reads and %d writes started, '
                                 '%d and %d done:\n%s' %
                                 ((self.vm_name(), self.reads, self.writes) +
                                  done + (log,)))


class Guest(HmpQemuIo):
    """I/O on the disk devices of a running iotests.VM as its guest does
    it: HMP qemu-io -d on a device's own BlockBackend.  (Given a node name,
    qemu-io makes a BlockBackend of its own, which drains at the end of
    each command and does not test the device's permissions.)  Checked as
    HmpQemuIo checks.  qdev: 'vd0/virtio-backend' for virtio-blk-pci
    id=vd0, 'sd0' for scsi-hd id=sd0."""

    qdev = True

    def writes_done(self, qdev):
        """Writes the device's BlockBackend completed so far: qemu-io's
        aio_write is accounted when it completes, so a count below the
        writes started means some are in flight."""
        for dev in self.vm.cmd('query-blockstats'):
            if dev.get('qdev') in (qdev, '/machine/peripheral/' + qdev):
                return dev['stats']['wr_operations']
        raise AssertionError('no device %s in query-blockstats' % qdev)
