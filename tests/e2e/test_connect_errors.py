# SPDX-License-Identifier: MIT
"""A CLI pointed at the wrong thing says what is wrong, end to end.

- at a node's peer port: the node answers the client's request with
  FAILED_PRECONDITION naming its peer port and its client port, and the
  cluster goes on as before;
- at an HTTP server: "does not speak the lms protocol (it answered like an
  HTTP server)", at once, not after a timeout;
- at a TLS server, or one whose answer does not decode: likewise, exit 1;
- at port 70000, 0 or "abc": a usage error naming the port.
"""

import http.server
import socket
import threading
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, Cluster, E2ETestCase


class EagerHTTPHandler(http.server.BaseHTTPRequestHandler):
    """Answers 400 to the first bytes that arrive, as nginx does to a
    request that does not start with a method: http.server itself waits for
    a whole request line, and an lms frame need not contain a newline."""

    def handle_one_request(self):
        self.close_connection = True
        if not self.request.recv(65536):
            return
        self.command, self.requestline = None, ""
        self.request_version = "HTTP/1.1"
        self.send_error(400, "Bad Request")

    def log_message(self, *args):
        pass


def serve_in_thread(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t


class OneShotServer:
    """A TCP listener on loopback that reads the request, sends `reply`
    bytes, and closes; one connection at a time, in a thread."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


class ConnectErrorsTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        # one member is enough for a peer port; it leads at once. The
        # answer to a CLI at the peer port is for tls.peer: off (with mutual
        # TLS the CLI meets a TLS server there: test_peer_tls)
        cls.cluster = Cluster(n=1, name="conn", peer_tls=False)
        cls.cluster.start()
        cls.node = cls.cluster[0]

    @classmethod
    def tearDownClass(cls):
        for nd in cls.cluster.nodes:
            nd.cleanup()

    def cli_at(self, addr, *args, **kw):
        """lms-student login at addr (login needs no session)."""
        cli = self.node.cli("lms-student")
        return cli.run("-s", addr, *args, server=False, **kw)

    def login_at(self, addr, **kw):
        return self.cli_at(addr, "login", "stud1", "--password-stdin", input="pw\n", **kw)

    def failed(self, res, what, message):
        """Exit 1 with message on stderr (a failure of the client, not a
        refusal by the server: no status word)."""
        self.assertRc(res, 1, what)
        self.assertIn(message, res.err, what)

    def test_peer_port_answers_that_it_is_the_peer_port(self):
        peer = "127.0.0.1:%d" % self.node.peer_port
        res = self.login_at(peer)
        self.refused(res, "FAILED_PRECONDITION", "CLI at the peer port", rc=1, in_message=[
            "%s is an lms peer port, not a client port" % peer,
            "client port, %s" % self.node.addr])
        res = self.login_at(peer, json=True)
        self.refused(res, "FAILED_PRECONDITION", "CLI at the peer port, --json", rc=1)
        self.assertIn("WARN  peer port: 127.0.0.1:", self.node.log_text())
        self.assertIn("sent a client request, not a hello", self.node.log_text())
        # the node still serves clients and its peer port still takes hellos
        # (a cluster that runs is the test of the latter: test_cluster)
        self.ok(self.node.cli("lms-admin").login(ADMIN, ADMIN_PW), "login at the client port")

    def test_peer_port_drops_garbage_as_before(self):
        with socket.create_connection(("127.0.0.1", self.node.peer_port), timeout=10) as s:
            s.sendall(lmstest.frame(b"\xff\xff\xff"))
            self.assertEqual(s.recv(100), b"", "garbage on the peer port: closed, no answer")

    def test_http_server_is_named(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EagerHTTPHandler)
        serve_in_thread(srv)
        try:
            addr = "127.0.0.1:%d" % srv.server_address[1]
            res = self.login_at(addr, env={"LMS_CLIENT_TIMEOUT": "30"})
            self.failed(res, "CLI at an HTTP server",
                        "the server does not speak the lms protocol (it answered like an HTTP "
                        "server); is it the right port? (%s)" % addr)
        finally:
            srv.shutdown()
            srv.server_close()

    def test_tls_server_is_named(self):
        # a TLS alert record (fatal, protocol_version), then close
        srv = OneShotServer(b"\x15\x03\x03\x00\x02\x02\x46")
        try:
            res = self.login_at("127.0.0.1:%d" % srv.port)
            self.failed(res, "CLI at a TLS server",
                        "does not speak the lms protocol (it answered like a TLS server)")
        finally:
            srv.close()

    def test_undecodable_answer_is_named(self):
        srv = OneShotServer(b"\x00\x00\x00\x03\xff\xff\xff")
        try:
            res = self.login_at("127.0.0.1:%d" % srv.port)
            self.failed(res, "CLI at a server that answers garbage",
                        "does not speak the lms protocol (its answer of 3 bytes does not "
                        "decode as an lms response)")
        finally:
            srv.close()

    def test_bad_ports_are_named(self):
        for addr, want in [("127.0.0.1:70000", "port 70000 is out of range (1-65535)"),
                           ("127.0.0.1:0", "port 0 is out of range (1-65535)"),
                           ("127.0.0.1:abc", "port 'abc' is not a number"),
                           ("127.0.0.1:", "the port is missing")]:
            res = self.login_at(addr)
            self.assertRc(res, 2, addr)
            self.assertIn("bad server address '%s': %s" % (addr, want), res.err,
                          "the message for %s" % addr)
        res = self.login_at("127.0.0.1:7400,127.0.0.1:99999")
        self.assertRc(res, 2, "a list with a bad port")
        self.assertIn("bad server address '127.0.0.1:99999' in '127.0.0.1:7400,127.0.0.1:99999': "
                      "port 99999 is out of range (1-65535)", res.err)


if __name__ == "__main__":
    unittest.main()
