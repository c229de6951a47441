#
# What a user would pick instead of zdb: qemu-storage-daemon exporting a
# raw file on the local disk over NBD (unix socket), measured with the
# same qemu-img bench runs through QEMU's nbd driver.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import socket

import zdbservers

from . import common
from .common import DISK, QSD, Failed, log
from .driver import measure_driver


class Export:
    """qemu-storage-daemon serving export 'f' on a unix socket."""

    def __init__(self, work):
        img = os.path.join(work, 'nbd.img')
        self.socket = os.path.join(work, 'nbd.sock')
        with open(img, 'wb') as f:
            f.truncate(DISK)
        # a raw file on the local disk, default cache (the page cache), as
        # a user would export it
        cmd = [QSD, '--blockdev', 'driver=file,node-name=f,filename=%s' % img,
               '--nbd-server', 'addr.type=unix,addr.path=%s' % self.socket,
               '--export', 'type=nbd,id=e,node-name=f,writable=on']
        log('$ ' + ' '.join(cmd))
        self.proc = zdbservers.Process(cmd, stdout=common.LOG,
                                       stderr=common.LOG)
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

    def opts(self):
        return 'driver=nbd,server.type=unix,server.path=%s,export=f' \
            % self.socket

    def filename(self):
        return 'nbd+unix:///f?socket=%s' % self.socket


def measure_nbd_driver(export, res):
    measure_driver('nbd unix', 'nbd', 'unix', export.opts(), res)
