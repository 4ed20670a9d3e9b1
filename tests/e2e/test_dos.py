# SPDX-License-Identifier: MIT
"""Denial of service before authentication (issue 10), on the client port:
a per-address connection cap, frame deadlines and idle timeouts, small
frames only before a connection has authenticated, no memory reserved on a
length word's say-so, and a connection that does not read its answers is
not read either. Short limits in the config make the deadlines quick."""

import os
import socket
import struct
import sys
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, RawConn, proto

MiB = 1 << 20


def rss_kib(node):
    with open("/proc/%d/status" % node.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for lmsd")


def raw_from(node, source, timeout=10.0):
    """A RawConn to node from the loopback address source (another 'client
    machine')."""
    c = RawConn.__new__(RawConn)
    c.sock = socket.create_connection(("127.0.0.1", node.port), timeout=timeout,
                                      source_address=(source, 0))
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.buf = b""
    c.timeout = timeout
    return c


class TestConnectionLimits(lmstest.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="dos-limits", limits={
            "max_connections_per_ip": 4, "frame_timeout": "1s",
            "frame_min_rate": "1KiB", "preauth_idle_timeout": "1s"})

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_per_address_cap_leaves_room_for_others(self):
        hogs = []
        try:
            for _ in range(4):
                hogs.append(raw_from(self.node, "127.0.0.3"))
            # the accepts are done once a request on each is answered
            for h in hogs[:1]:
                self.assertStatus(h.call({"whoami": {}}), "UNAUTHENTICATED", "a hog's probe")
            with raw_from(self.node, "127.0.0.3") as extra:
                r = extra.recv()
                self.assertStatus(r, "UNAVAILABLE", "a 5th connection from one address")
                self.assertIn("from your address", r["message"])
                self.assertIn("4", r["message"])
                self.assertTrue(extra.is_closed(), "the 5th connection is closed")
            with raw_from(self.node, "127.0.0.4") as user:
                tok = user.login(ADMIN, ADMIN_PW)
                self.assertStatus(user.call({"token": tok, "whoami": {}}), "OK",
                                  "a user from another address")
        finally:
            for h in hogs:
                h.close()

    def test_slow_frame_is_closed_after_its_deadline(self):
        start = time.monotonic()
        with raw_from(self.node, "127.0.0.5") as c:
            c.send_bytes(struct.pack(">I", 100))  # 1s + 100 bytes at 1KiB/s
            closed = False
            while time.monotonic() - start < 6:
                try:
                    c.send_bytes(b"\x08")
                except OSError:
                    closed = True
                    break
                if c.is_closed(0.3):
                    closed = True
                    break
            took = time.monotonic() - start
        self.assertTrue(closed, "a frame at 3 bytes/s must be cut off (after %.1fs)" % took)
        self.assertGreater(took, 0.9, "not before the frame's deadline")
        self.assertIn("not complete in time", self.node.log_text())

    def test_idle_connections(self):
        with raw_from(self.node, "127.0.0.6") as c:
            self.assertTrue(c.is_closed(5.0), "a silent connection that never logged in")
        with raw_from(self.node, "127.0.0.6") as c:
            tok = c.login(ADMIN, ADMIN_PW)  # a login authenticates its connection
            time.sleep(2.0)  # past preauth_idle_timeout, within idle_timeout
            self.assertStatus(c.call({"token": tok, "whoami": {}}), "OK",
                              "a logged-in connection after 2s idle")


class TestMemory(lmstest.E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="dos-memory", limits={
            "max_output_bytes": "1MiB", "max_upload_bytes": "16MiB"})
        cls.w = lmstest.World(cls.node)

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_large_length_words_reserve_nothing(self):
        before = rss_kib(self.node)
        conns = []
        try:
            # before login: refused on the header
            for _ in range(16):
                c = self.node.raw()
                c.send_bytes(struct.pack(">I", 60 * MiB) + b"\x00" * 1024)
                conns.append(c)
            for c in conns:
                r = c.recv()
                self.assertStatus(r, "RESOURCE_EXHAUSTED", "a 60 MiB frame before login")
                self.assertIn("has not logged in", r["message"])
            # after: read, but memory grows only with what arrived
            tok = lmstest.RawConn(self.node.port).login(ADMIN, ADMIN_PW)
            authed = []
            for _ in range(16):
                c = self.node.raw()
                self.assertStatus(c.call({"token": tok, "whoami": {}}), "OK", "whoami")
                c.send_bytes(struct.pack(">I", 60 * MiB) + b"\x00" * 65536)
                authed.append(c)
            conns += authed
            time.sleep(0.5)
            grown = (rss_kib(self.node) - before) / 1024.0
            sys.stderr.write("RSS growth, 32 unfinished 60 MiB frames: %.1f MiB\n" % grown)
            self.assertLess(grown, 20, "lmsd's RSS grew %.1f MiB for 32 unfinished 60 MiB "
                            "frames" % grown)
        finally:
            for c in conns:
                c.close()

    def test_large_upload_is_the_first_request_of_a_cli(self):
        path = os.path.join(self.node.dir, "big.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(3 * MiB))
        up = self.ok(self.w["teach1"].run("upload", "--course", "CS101", "--title", "Big",
                                          path, json=True), "upload of 3 MiB")
        self.assertTrue(up, "upload answered")

    def test_pipelined_downloads_without_reading(self):
        size = 8 * MiB
        path = os.path.join(self.node.dir, "material.bin")
        with open(path, "wb") as f:
            f.write(b"m" * size)
        up = self.ok(self.w["teach1"].run("upload", "--course", "CS101", "--title", "Slides",
                                          path, json=True), "upload")
        mid = up["id"] if "id" in up else up["material"]["id"]
        with self.node.raw() as c:
            tok = c.login("stud1", lmstest.World.PW)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            before = rss_kib(self.node)
            ids = [c.send({"token": tok, "download_material": {"material_id": mid}})
                   for _ in range(40)]
            time.sleep(2.0)
            grown = (rss_kib(self.node) - before) / 1024.0
            sys.stderr.write("RSS growth, 40 unread 8 MiB downloads: %.1f MiB\n" % grown)
            self.assertLess(grown, 64, "40 pipelined 8 MiB downloads, none read: RSS grew "
                            "%.1f MiB" % grown)
            for i in ids:
                r = c.recv()
                self.assertStatus(r, "OK", "download %d" % i)
                self.assertEqualMsg(r["id"], i, "answers in order")
                self.assertEqualMsg(len(r["material"]["data"]), size, "download size")


if __name__ == "__main__":
    unittest.main()
