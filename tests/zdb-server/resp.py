#!/usr/bin/env python3
#
# A tiny RESP client for the zdb-server tests (standard library only).
#
# As a module:   c = resp.Conn(path="/tmp/x/zdb.sock"); c.call("PING")
# As a command:  resp.py --socket PATH CMD ARGS...
#                resp.py --host 127.0.0.1 --port 9900 CMD ARGS...
#
# Replies: status -> Status (a str), error -> Error (a str, returned, not
# raised), bulk -> bytes, nil -> None, integer -> int, array -> list.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import argparse
import socket
import sys


class Status(str):
    pass


class Error(str):
    pass


class ProtocolError(Exception):
    pass


def pack(*args):
    """Encode one request as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n" % len(a))
        out.append(a)
        out.append(b"\r\n")
    return b"".join(out)


class Conn:
    def __init__(self, host=None, port=None, path=None, timeout=30.0,
                 nodelay=False):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(path)
            except OSError:
                self.sock.close()
                raise
        else:
            self.sock = socket.create_connection((host or "127.0.0.1",
                                                  int(port)), timeout)
            if nodelay:
                self.sock.setsockopt(socket.IPPROTO_TCP,
                                     socket.TCP_NODELAY, 1)
        self.tcp = not path
        self.quickack = False
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.quickack and self.tcp:
            # Linux clears TCP_QUICKACK by itself: re-arm before each read
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        if self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return data

    def read(self):
        """Read one reply."""
        line = self._line()
        if not line:
            raise ProtocolError("empty reply line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return Status(rest.decode("utf-8", "backslashreplace"))
        if t == b"-":
            return Error(rest.decode("utf-8", "backslashreplace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._exact(n + 2)
            if data[-2:] != b"\r\n":
                raise ProtocolError("bulk string not ended by CRLF")
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise ProtocolError("bad reply type byte %r" % t)

    def call(self, *args):
        self.send(pack(*args))
        return self.read()

    def pipeline(self, cmds):
        """Send all commands in one write, then read all replies."""
        self.send(b"".join(pack(*c) for c in cmds))
        return [self.read() for _ in cmds]


def show(reply, out, indent=""):
    if isinstance(reply, Error):
        out.write("%s(error) %s\n" % (indent, reply))
    elif isinstance(reply, str):
        out.write("%s%s\n" % (indent, reply))
    elif isinstance(reply, int):
        out.write("%s%d\n" % (indent, reply))
    elif reply is None:
        out.write("%s(nil)\n" % indent)
    elif isinstance(reply, bytes):
        out.write("%s%s\n" % (indent,
                              reply.decode("utf-8", "backslashreplace")))
    else:
        for item in reply:
            show(item, out, indent)


def main():
    ap = argparse.ArgumentParser(description="send one command over RESP")
    ap.add_argument("--socket")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--auth", help="send AUTH with this password first")
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    if not a.socket and not a.port:
        ap.error("give --socket or --port")
    try:
        with Conn(a.host, a.port, a.socket, a.timeout) as c:
            if a.auth:
                r = c.call("AUTH", a.auth)
                if isinstance(r, Error):
                    show(r, sys.stdout)
                    return 1
            r = c.call(*a.command)
    except (OSError, ProtocolError) as e:
        sys.stderr.write("resp.py: %s\n" % e)
        return 2
    show(r, sys.stdout)
    return 1 if isinstance(r, Error) else 0


if __name__ == "__main__":
    sys.exit(main())
