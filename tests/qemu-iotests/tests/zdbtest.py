# Shared helpers of the zdb iotests: the servers a test runs against, a
# fresh namespace per test, and the driver's option strings.
#
# By default every test runs against a redis-server and against the
# bundled 0-db test server (tests/zdb-server), both started here on private
# sockets.  With ZDB_TEST_SOCKET or ZDB_TEST_HOST/ZDB_TEST_PORT set, the
# tests run against that server only (a real 0-db); ZDB_TEST_ADMIN gives
# its admin password for NSNEW/NSDEL.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.realpath(os.path.join(os.path.dirname(
    os.path.realpath(__file__)), '..', '..', '..'))
SERVER_DIR = os.path.join(REPO, 'tests', 'zdb-server')
sys.path.insert(0, SERVER_DIR)
import resp  # noqa: E402  pylint: disable=wrong-import-position

QEMU_IMG = os.environ.get('QEMU_IMG_PROG', 'qemu-img')
QEMU_IO = os.environ.get('QEMU_IO_PROG', 'qemu-io')
QEMU_SYSTEM = os.environ.get('QEMU_PROG', 'qemu-system-x86_64')
QEMU_STORAGE_DAEMON = os.environ.get('QSD_PROG', 'qemu-storage-daemon')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _wait_for(pred, what, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError('timed out waiting for ' + what)


class Server:
    """A server the tests talk to; subclasses start or find one."""
    name = 'server'
    is_zdb = True          # speaks 0-db (namespaces, NSINFO ...)
    can_fault = False      # takes our fault-injection commands
    socket = None
    host = '127.0.0.1'
    port = None
    admin = None
    _seq = 0

    def conn(self, tcp=False):
        if self.socket and not tcp:
            c = resp.Conn(path=self.socket)
        else:
            c = resp.Conn(host=self.host, port=self.port)
        if self.admin:
            c.call('AUTH', self.admin)
        return c

    def addr_opts(self, tcp=False):
        if self.socket and not tcp:
            return {'socket': self.socket}
        return {'host': self.host, 'port': str(self.port)}

    def new_namespace(self, **props):
        """A fresh, empty namespace; returns its name."""
        Server._seq += 1
        name = 'iotest-%d-%d' % (os.getpid(), Server._seq)
        with self.conn() as c:
            r = c.call('NSNEW', name)
            assert r == 'OK', r
            for k, v in props.items():
                r = c.call('NSSET', name, k, str(v))
                assert r == 'OK', (k, r)
        return name

    def drop_namespace(self, name):
        with self.conn() as c:
            c.call('NSDEL', name)

    def stop(self):
        pass


class ZdbTestServer(Server):
    name = 'zdb-server'
    can_fault = True

    def __init__(self, extra=(), persistent=False):
        self.dir = tempfile.mkdtemp(prefix='zdb-iotest-')
        self.extra = list(extra)
        if persistent:
            self.extra += ['--data', os.path.join(self.dir, 'data')]
        self.start()

    def ctl(self, *args, check=True):
        return subprocess.run([os.path.join(SERVER_DIR, 'zdb-server-ctl')] +
                              list(args), check=check, capture_output=True,
                              text=True)

    def start(self):
        """(Re)starts it; a persistent one keeps its data and its socket."""
        out = self.ctl('start', self.dir, *self.extra)
        info = dict(kv.split('=', 1) for kv in out.stdout.split())
        self.port = int(info['port'])
        self.socket = info['socket']

    def kill(self):
        """kill -9: a crash"""
        self.ctl('kill', self.dir, check=False)

    def fault(self, *args):
        with self.conn() as c:
            return c.call('ZDBTEST', *args)

    def stop(self):
        self.ctl('stop', self.dir, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer(Server):
    """Redis has one keyspace for us: 'default', flushed per test."""
    name = 'redis'
    is_zdb = False

    def __init__(self, persistent=False):
        self.dir = tempfile.mkdtemp(prefix='zdb-iotest-redis-')
        self.socket = os.path.join(self.dir, 'redis.sock')
        self.port = _free_port()
        # persistent: every write is in the append-only file before redis
        # answers it, as the reliability issue's restart test wants
        self.persist = ['--appendonly', 'yes', '--appendfsync', 'always'] \
            if persistent else ['--appendonly', 'no']
        self.start()

    def start(self):
        """(Re)starts it, on the same socket, port and data."""
        self.proc = subprocess.Popen(
            ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1',
             '--unixsocket', self.socket, '--save', ''] + self.persist +
            ['--dir', self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(self._answers, 'redis-server')

    def _answers(self):
        # PING is refused with -LOADING while the append-only file loads
        try:
            with self.conn() as c:
                return c.call('PING') == 'PONG'
        except OSError:
            return False

    def kill(self):
        """kill -9: a crash"""
        self.proc.kill()
        self.proc.wait()

    def new_namespace(self, **props):
        assert not props, 'redis has no namespace properties'
        with self.conn() as c:
            c.call('FLUSHALL')
        return 'default'

    def drop_namespace(self, name):
        pass

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class ExternalServer(Server):
    """A server given by the environment, for example a real 0-db."""
    name = 'external'

    def __init__(self, params):
        self.socket = params.get('path')
        self.host = params.get('host', '127.0.0.1')
        self.port = params.get('port')
        self.admin = os.environ.get('ZDB_TEST_ADMIN')


def start_servers():
    params = resp.connect_from_env(os.environ)
    if params:
        return [ExternalServer(params)]
    return [RedisServer(), ZdbTestServer()]


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
