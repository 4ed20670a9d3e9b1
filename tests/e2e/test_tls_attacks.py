"""Attacks on the TLS ports from someone on the same network (a security
review of the TLS work). Each test is an attack that must fail.

Client port (TLS on, small limits):
- A connection over the per-address cap that speaks TLS is answered
  (UNAVAILABLE) and closed, not left hanging in its handshake.
- One over the cap that starts a handshake and stalls is closed soon; it
  does not hold a connection slot for ever.
- Connections that never send their first byte count against the
  per-address cap: one address cannot fill max_connections with them and
  lock everyone else out.
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import lmstest
from lmstest import (ADMIN, ADMIN_PW, Cluster, ClusterTestCase, E2ETestCase, Node, RawConn,
                     issue_cert, peer_tls_context, wait_until)
from test_dos import raw_from
from test_peer_dos import hello
from test_tls import closed_without_answer


def tls_from(node, source, ctx, timeout=5.0):
    """A RawConn over TLS to node's client port from the loopback address
    source; raises if the handshake does not finish within timeout."""
    c = raw_from(node, source, timeout=timeout)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    return c


class ClientPortLimitsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lms-e2e-tlsatk-")
        cls.cluster_id = "tls-atk"
        cls.certs = lmstest.make_certs(os.path.join(cls.dir, "tls"), cls.cluster_id, [1])
        crt, key = cls.certs[1]
        cls.node = Node(name="tlsatk", tls={"ca": cls.certs["ca"], "cert": crt, "key": key},
                        extra_yaml="cluster: { id: %s }\n" % cls.cluster_id,
                        limits={"max_connections": 8, "max_connections_per_ip": 2,
                                "preauth_idle_timeout": "30s"})
        cls.node.init_admin()
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def ctx(self):
        return ssl.create_default_context(cafile=self.certs["ca"])

    def hogs(self, source, n=2):
        out = []
        for _ in range(n):
            h = tls_from(self.node, source, self.ctx())
            self.assertStatus(h.call({"whoami": {}}), "UNAUTHENTICATED", "a hog's probe")
            out.append(h)
        return out

    def test_tls_connection_over_the_cap_is_answered(self):
        hogs = self.hogs("127.0.0.11")
        try:
            try:
                extra = tls_from(self.node, "127.0.0.11", self.ctx())
            except (socket.timeout, TimeoutError):
                self.fail("the handshake of a connection over the per-address cap hung")
            except (ssl.SSLError, ConnectionError):
                return  # closed during the handshake: refused, if tersely
            with extra:
                try:
                    r = extra.recv()
                except lmstest.ConnectionClosed:
                    return
                except (socket.timeout, TimeoutError):
                    self.fail("a connection over the per-address cap got no answer")
                self.assertStatus(r, "UNAVAILABLE", "a 3rd connection from one address")
                self.assertTrue(extra.is_closed(), "the 3rd connection is closed")
        finally:
            for h in hogs:
                h.close()

    def test_stalled_handshake_over_the_cap_is_closed(self):
        hogs = self.hogs("127.0.0.12")
        try:
            with raw_from(self.node, "127.0.0.12") as c:
                # the start of a ClientHello record, then nothing
                c.send_bytes(b"\x16\x03\x01\x02\x00\x01")
                start = time.monotonic()
                closed = c.is_closed(8.0)
                self.assertTrue(closed, "a stalled handshake over the cap was still open "
                                "after %.1f s" % (time.monotonic() - start))
        finally:
            for h in hogs:
                h.close()

    def test_silent_connections_count_against_the_address_cap(self):
        """8 connections that never send a byte, from one address with a
        cap of 2: the node must not let them fill max_connections (8)."""
        silent = []
        try:
            for _ in range(8):
                silent.append(socket.create_connection(
                    ("127.0.0.1", self.node.port), timeout=5,
                    source_address=("127.0.0.13", 0)))
            time.sleep(0.3)  # accepted
            try:
                with tls_from(self.node, "127.0.0.14", self.ctx()) as user:
                    tok = user.login(ADMIN, ADMIN_PW)
                    self.assertStatus(user.call({"token": tok, "whoami": {}}), "OK",
                                      "a user from another address beside 8 silent "
                                      "connections from one")
            except (socket.timeout, TimeoutError, ssl.SSLError, ConnectionError,
                    lmstest.ConnectionClosed) as e:
                self.fail("a user from another address was not served beside silent "
                          "connections from one: %r" % (e,))
        finally:
            for s in silent:
                s.close()


if __name__ == "__main__":
    unittest.main()
