#
# The servers the zdb tests and scripts run against, in one place: the
# bundled 0-db test server (zdb-server) and redis-server, started here on
# private sockets, or a real 0-db named by the environment; a fresh
# namespace per use; and every process started here stopped again, also
# when a test fails or the process is killed.
#
#   import zdbservers
#   with zdbservers.ZdbTestServer() as srv:     # stopped at the end
#       ns = srv.new_namespace()                # NSNEW, dropped by stop()
#       with srv.conn() as c:                   # a resp.Conn
#           c.call("SELECT", ns)
#
# Servers: ZdbTestServer(args) (zdb-server, in a folder of its own or the
# one given), RedisServer() (one keyspace: new_namespace() is FLUSHALL and
# "default"), ExternalServer(), made by from_env() when ZDB_TEST_SOCKET
# and/or ZDB_TEST_HOST/ZDB_TEST_PORT name one (ZDB_TEST_ADMIN: its --admin
# password, sent as AUTH by conn()); on such a server only the namespaces
# made here are ever deleted.
#
# Cleanup, three ways: stop() (or the with block); stop_all() at exit
# (atexit) and on SIGTERM or SIGHUP, unless the program handles those
# itself; and every child started here gets SIGTERM from the kernel when
# the thread that started it ends, so not even kill -9 of a test leaves a
# server behind.  Start servers from the main thread.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import resp  # noqa: E402  pylint: disable=wrong-import-position

CTL = os.path.join(HERE, "zdb-server-ctl")
ZDB_SERVER = os.path.join(HERE, "zdb-server")
ZDB_PORT = 9900             # 0-db's default port


class Failed(RuntimeError):
    """A server did not start, or refused what a test needs of it."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, what, timeout=10.0):
    """Until pred() is true; Failed after timeout seconds."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise Failed("timed out waiting for " + what)
        time.sleep(0.01)


#
# Cleanup
#

_live = []                  # what stop_all() stops, oldest first


def stop_all():
    """Stops every server and process started here and not stopped yet."""
    while _live:
        obj = _live[-1]
        try:
            obj.stop()
        except Exception as e:  # pylint: disable=broad-except
            sys.stderr.write("zdbservers: stopping %s: %s\n" % (obj, e))
        if _live and _live[-1] is obj:
            _live.pop()


atexit.register(stop_all)


def _on_signal(signum, _frame):
    # stop ours, then die of the signal as if it had not been caught
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _track(obj):
    if obj not in _live:
        _live.append(obj)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def _untrack(obj):
    if obj in _live:
        _live.remove(obj)


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent):
    def child():
        # runs in the child between fork and exec
        if _prctl:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:      # the parent died already
                os._exit(1)
    return child


class _TempDir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix)
        _track(self)

    def __repr__(self):
        return self.path

    def stop(self):
        _untrack(self)
        shutil.rmtree(self.path, ignore_errors=True)


def temp_dir(prefix="zdb-"):
    """A new temporary folder, removed by stop_all() after the servers."""
    return _TempDir(prefix).path


class Process:
    """A child process, stopped by stop() or stop_all() at the latest."""

    def __init__(self, cmd, **popen_args):
        self.cmd = [str(a) for a in cmd]
        self.popen = subprocess.Popen(self.cmd,
                                      preexec_fn=_die_with_parent(os.getpid()),
                                      **popen_args)
        self.pid = self.popen.pid
        _track(self)

    def __repr__(self):
        return "%s (pid %d)" % (os.path.basename(self.cmd[0]), self.pid)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=10):
        """SIGTERM and wait; SIGKILL after timeout seconds."""
        _untrack(self)
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write("zdbservers: %s ignored SIGTERM, killing\n"
                                 % self)
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self):
        """SIGKILL: a crash."""
        _untrack(self)
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()


#
# Servers
#

class Server:
    """A server to talk to: its addresses, connections and namespaces."""

    name = "server"         # names it in test results and tables
    is_zdb = True           # speaks 0-db (namespaces, NSINFO ...)
    can_fault = False       # takes our fault injection (ZDBTEST)
    owned = True            # started here: every namespace on it is ours
    socket = None
    host = "127.0.0.1"
    port = None
    admin = None            # --admin password, sent as AUTH by conn()
    _seq = 0

    def __init__(self, name=None):
        if name:
            self.name = name
        self.made = set()   # namespaces new_namespace() made

    def __repr__(self):
        return "%s %s" % (self.name, self.socket or self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def conn(self, tcp=False, auth=True, **kw):
        """A resp.Conn over the unix socket, or TCP if asked or the only
        way; sends AUTH first when the server has an admin password."""
        if self.socket and not tcp:
            c = resp.Conn(path=self.socket, **kw)
        else:
            c = resp.Conn(host=self.host, port=self.port, **kw)
        if auth and self.admin:
            c.call("AUTH", self.admin)
        return c

    def ping(self):
        with self.conn() as c:
            return c.call("PING") == "PONG"

    def addr_opts(self, tcp=False):
        """The driver's options that reach this server."""
        if self.socket and not tcp:
            return {"socket": self.socket}
        return {"host": self.host, "port": str(self.port)}

    def filename(self, ns, tcp=False):
        """The zdb:// or zdb+unix:// filename of namespace ns."""
        if self.socket and not tcp:
            return "zdb+unix:///%s?socket=%s" % (ns, self.socket)
        return "zdb://%s:%s/%s" % (self.host, self.port, ns)

    def new_namespace(self, name=None, **props):
        """A new, empty namespace (NSNEW, then NSSET of each of props);
        its name.  A leftover of the same name is replaced on a server
        of ours, never on another one."""
        if name is None:
            Server._seq += 1
            name = "zdbtest-%d-%d" % (os.getpid(), Server._seq)
        with self.conn() as c:
            r = c.call("NSNEW", name)
            if isinstance(r, resp.Error) and "exist" in r.lower() and \
               (self.owned or name in self.made):
                c.call("NSDEL", name)
                r = c.call("NSNEW", name)
            if r != "OK":
                raise Failed("NSNEW %s: %s" % (name, r))
            self.made.add(name)
            for k, v in props.items():
                r = c.call("NSSET", name, k, str(v))
                if r != "OK":
                    raise Failed("NSSET %s %s %s: %s" % (name, k, v, r))
        return name

    def drop_namespace(self, name):
        """Deletes a namespace made here; a server gone is no error."""
        if name not in self.made and not self.owned:
            return
        self.made.discard(name)
        try:
            with self.conn() as c:
                c.call("NSDEL", name)
        except OSError:
            pass

    def drop_namespaces(self):
        for name in sorted(self.made):
            self.drop_namespace(name)

    def stop(self):
        _untrack(self)


class ZdbTestServer(Server):
    """The bundled 0-db test server, on DIR/zdb.sock and a free port.

    args: more zdb-server arguments ("--admin PW" also sets admin);
    persistent: keep the data in DIR/data across kill() and start();
    workdir: the folder DIR (default: a temporary one, removed by stop()).
    DIR/pid, DIR/port and DIR/socket are written as zdb-server-ctl writes
    them, so that its cmd, clear and status work on this server too."""

    name = "zdb-server"
    can_fault = True
    _built = False

    def __init__(self, args=(), persistent=False, workdir=None, name=None):
        super().__init__(name)
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="zdb-server-")
        self.args = [str(a) for a in args]
        if persistent:
            self.args += ["--data", os.path.join(self.dir, "data")]
        if "--admin" in self.args:
            self.admin = self.args[self.args.index("--admin") + 1]
        self.proc = None
        self.start()

    def start(self):
        """(Re)starts it: same folder, data and socket, a new port."""
        if not ZdbTestServer._built:
            # builds it if a source is newer than the binary
            subprocess.run([CTL, "build"], check=True)
            ZdbTestServer._built = True
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, "zdb.sock")
        for f in ("pid", "port", "socket"):
            if os.path.exists(os.path.join(self.dir, f)):
                os.unlink(os.path.join(self.dir, f))
        out = os.path.join(self.dir, "server.out")
        err = os.path.join(self.dir, "server.err")
        with open(out, "w") as o, open(err, "w") as e:
            self.proc = Process([ZDB_SERVER, "--socket", self.socket,
                                 "--port", "0"] + self.args,
                                stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        _track(self)
        try:
            # it prints its addresses once it listens
            wait_for(lambda: self._listening(out, err), "zdb-server to "
                     "listen (%s)" % err)
            # with a fault flag it may be unable to answer
            if not any(a.lstrip("-").startswith("fault-")
                       for a in self.args):
                wait_for(self._answers, "zdb-server to answer PING")
        except BaseException:
            self.proc.kill()
            raise
        for f, v in (("pid", self.proc.pid), ("port", self.port),
                     ("socket", self.socket)):
            with open(os.path.join(self.dir, f), "w") as fh:
                fh.write("%s\n" % v)

    def _listening(self, out, err):
        if not self.proc.alive():
            with open(err) as e:
                raise Failed("zdb-server exited: " + e.read().strip())
        with open(out) as o:
            lines = o.read().splitlines()
        if not any(line.startswith("listening unix ") for line in lines):
            return False
        for line in lines:
            if line.startswith("listening tcp "):
                self.port = int(line.rsplit(":", 1)[1])
        return True

    def _answers(self):
        try:
            with self.conn(timeout=2) as c:
                return c.call("PING") == "PONG"
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid

    def fault(self, *args):
        """Our fault injection: ZDBTEST ARGS..."""
        with self.conn() as c:
            return c.call("ZDBTEST", *args)

    def kill(self):
        """kill -9: a crash; start() brings it back."""
        self.proc.kill()
        self._forget_pid()

    def terminate(self):
        """SIGTERM, and wait until it exited; start() brings it back."""
        self.proc.stop()
        self._forget_pid()

    def stop(self):
        """SIGTERM; a temporary folder is removed with its data."""
        super().stop()
        if self.proc:
            self.terminate()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _forget_pid(self):
        try:
            os.unlink(os.path.join(self.dir, "pid"))
        except FileNotFoundError:
            pass


class RedisServer(Server):
    """redis-server: one keyspace, "default", emptied per namespace."""

    name = "redis"
    is_zdb = False

    def __init__(self, persistent=False, workdir=None, name=None):
        super().__init__(name)
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="zdb-redis-")
        self.socket = os.path.join(self.dir, "redis.sock")
        self.port = free_port()
        # persistent: every write is in the append-only file before redis
        # answers it; otherwise none (it would fork and write the dataset)
        self.persist = ["--appendonly", "yes", "--appendfsync", "always"] \
            if persistent else ["--appendonly", "no"]
        self.proc = None
        self.start()

    def start(self):
        """(Re)starts it, on the same socket, port and data."""
        os.makedirs(self.dir, exist_ok=True)
        self.proc = Process(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--unixsocket", self.socket, "--unixsocketperm", "700",
             "--save", ""] + self.persist +
            ["--dir", self.dir, "--logfile",
             os.path.join(self.dir, "redis.log"), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        _track(self)
        try:
            wait_for(self._answers, "redis-server", timeout=20)
        except BaseException:
            self.proc.kill()
            raise

    def _answers(self):
        if not self.proc.alive():
            raise Failed("redis-server exited %d (see %s)" %
                         (self.proc.popen.returncode,
                          os.path.join(self.dir, "redis.log")))
        # PING is refused with -LOADING while the append-only file loads
        try:
            return self.ping()
        except OSError:
            return False

    def kill(self):
        """kill -9: a crash; start() brings it back."""
        self.proc.kill()

    def new_namespace(self, name=None, **props):
        assert not props, "redis has no namespace properties"
        with self.conn() as c:
            c.call("FLUSHALL")
        return "default"

    def drop_namespace(self, name):
        try:
            with self.conn() as c:
                c.call("FLUSHALL")
        except OSError:
            pass

    def stop(self):
        super().stop()
        if self.proc:
            self.proc.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class ExternalServer(Server):
    """A server given by the environment, a real 0-db say: stop() deletes
    the namespaces made here and leaves the server running."""

    name = "external"
    owned = False

    def __init__(self, address, admin=None, name=None):
        super().__init__(name)
        self.socket = address.get("socket")
        self.host = address.get("host", "127.0.0.1")
        self.port = address.get("port")
        self.admin = admin
        _track(self)

    def stop(self):
        super().stop()
        self.drop_namespaces()


def env_address(environ=None):
    """The server ZDB_TEST_SOCKET and/or ZDB_TEST_HOST/ZDB_TEST_PORT name:
    {"socket": PATH} and/or {"host": H, "port": N}, or None.  A host
    without a port means 0-db's port, 9900."""
    environ = os.environ if environ is None else environ
    out = {}
    if environ.get("ZDB_TEST_SOCKET"):
        out["socket"] = environ["ZDB_TEST_SOCKET"]
    if environ.get("ZDB_TEST_PORT") or environ.get("ZDB_TEST_HOST"):
        out["host"] = environ.get("ZDB_TEST_HOST") or "127.0.0.1"
        out["port"] = int(environ.get("ZDB_TEST_PORT") or ZDB_PORT)
    return out or None


def from_env(name=None, environ=None):
    """An ExternalServer if the environment names one (ZDB_TEST_ADMIN:
    its admin password), else None."""
    environ = os.environ if environ is None else environ
    address = env_address(environ)
    if not address:
        return None
    return ExternalServer(address, environ.get("ZDB_TEST_ADMIN"), name)
