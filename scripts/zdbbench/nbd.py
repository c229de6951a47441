#
# What a user would pick instead of zdb: qemu-storage-daemon exporting a
# raw file on the local disk over NBD (unix socket), measured with the
# same qemu-img bench runs through QEMU's nbd driver.  The same daemon
# also exports a given file, or a zdb disk (for fio and convert512).
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import socket

import zdbservers

from . import common
from .common import DISK, QSD, Failed
from .driver import measure_driver


class Export:
    """qemu-storage-daemon serving one export on a unix socket: by
    default 'f', a new empty 1 GiB raw file; or the raw file img; or
    blockdev, the options of a node (a zdb disk, say) named name.
    Read-only unless writable (a file others read meanwhile)."""

    def __init__(self, work, name='f', img=None, blockdev=None,
                 writable=True, trace=None):
        self.name = name
        self.trace_log = os.path.join(work, 'nbd-%s.trace' % name)
        if os.path.exists(self.trace_log):
            os.unlink(self.trace_log)
        self.socket = os.path.join(work, 'nbd.sock' if name == 'f' else
                                   'nbd-%s.sock' % name)
        if not blockdev:
            if not img:
                img = os.path.join(work, 'nbd.img')
                with open(img, 'wb') as f:
                    f.truncate(DISK)
            # a raw file on the local disk, default cache (the page
            # cache), as a user would export it
            blockdev = 'driver=file,filename=%s' % img
        if not writable:
            blockdev += ',read-only=on'
        cmd = [QSD] + (['--trace', '%s,file=%s' % (trace, self.trace_log)]
                       if trace else []) + [
               '--blockdev', '%s,node-name=%s' % (blockdev, name),
               '--nbd-server', 'addr.type=unix,addr.path=%s' % self.socket,
               '--export', 'type=nbd,id=e,node-name=%s,writable=%s'
               % (name, 'on' if writable else 'off')]
        self.proc = common.spawn(cmd, stdout=common.LOG, stderr=common.LOG)
        try:
            zdbservers.wait_for(self._up, 'qemu-storage-daemon', timeout=20)
        except Failed:
            self.proc.stop()
            raise

    def _up(self):
        if not self.proc.alive():
            raise Failed('qemu-storage-daemon exited %d'
                         % self.proc.popen.returncode)
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(self.socket)
            except OSError:
                return False
        return True

    def wait_trace(self, event, timeout=600):
        """Waits for the first trace line with @event; the line."""
        found = []

        def seen():
            if not self.proc.alive():
                raise Failed('qemu-storage-daemon exited %d'
                             % self.proc.popen.returncode)
            if os.path.exists(self.trace_log):
                with open(self.trace_log) as f:
                    found.extend(line for line in f if event in line)
            return found
        zdbservers.wait_for(seen, event, timeout=timeout)
        return found[0]

    def opts(self):
        return 'driver=nbd,server.type=unix,server.path=%s,export=%s' \
            % (self.socket, self.name)

    def filename(self):
        return 'nbd+unix:///%s?socket=%s' % (self.name, self.socket)

    def stop(self):
        self.proc.stop()


def measure_nbd_driver(export, res):
    measure_driver('nbd unix', 'nbd', 'unix', export.opts(), res)
