#
# The servers scripts/bench measures, through tests/zdb-server/zdbservers:
# a redis-server and the bundled test server (0-db-faithful mode), both
# started here, or a real 0-db named by ZDB_TEST_* instead of the test
# server; and a Target, one of them over one transport, with the driver
# options, filenames and redis-benchmark arguments that reach it.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os

import zdbservers

from .common import Failed


class Target:
    """One server over one transport, 'unix' or 'tcp'."""

    def __init__(self, server, transport):
        self.server, self.transport = server, transport
        self.label = '%s %s' % (server.name, transport)

    @property
    def tcp(self):
        return self.transport == 'tcp'

    def rb_conn(self):
        """redis-benchmark's arguments for it."""
        s = self.server
        return ['-h', s.host, '-p', str(s.port)] if self.tcp else \
            ['-s', s.socket]

    def opts(self, ns, extra=''):
        """--image-opts of a zdb disk in namespace ns."""
        s = self.server
        where = 'host=%s,port=%d' % (s.host, s.port) if self.tcp else \
            'socket=%s' % s.socket
        return 'driver=zdb,%s,namespace=%s%s' % (where, ns, extra)

    def side(self, prefix, ns):
        """Options that put namespace ns of this target at thin- or
        backup-."""
        s = self.server
        where = 'host=%s,%s-port=%d' % (s.host, prefix, s.port) \
            if self.tcp else 'socket=%s' % s.socket
        return ',%s-%s,%s-namespace=%s' % (prefix, where, prefix, ns)

    def filename(self, ns):
        return self.server.filename(ns, self.tcp)


def start(work):
    """redis-server, and the real 0-db or a test server: (redis, zdb,
    targets), each server over tcp and unix where it can be reached."""
    redis = zdbservers.RedisServer(workdir=os.path.join(work, 'redis'),
                                   name='redis')
    targets = [Target(redis, 'unix'), Target(redis, 'tcp')]
    zdb = zdbservers.from_env(name='0-db')
    if zdb:
        try:
            zdb.ping()
        except OSError as e:
            raise Failed('the 0-db of ZDB_TEST_*: %s' % e)
        if zdb.socket:
            targets.append(Target(zdb, 'unix'))
        if zdb.port:
            targets.append(Target(zdb, 'tcp'))
    else:
        zdb = start_zdb_test(work)
        targets += [Target(zdb, 'tcp'), Target(zdb, 'unix')]
    return redis, zdb, targets


def start_zdb_test(work, name='zdb-server', args=()):
    return zdbservers.ZdbTestServer(args, workdir=os.path.join(work, name),
                                    name='zdb-test')


def start_delayed(work, delay_us, name='delayed'):
    """A test server holding every reply back delay_us (an emulated
    network round trip, --delay-us)."""
    return start_zdb_test(work, '%s-%d' % (name, delay_us),
                          ['--delay-us', str(delay_us)])


def backup_server(zdb, work):
    """Where the backups of disks on zdb go: a second test server, or
    the same real 0-db."""
    return start_zdb_test(work, 'zdb-server-2') if zdb.owned else zdb
