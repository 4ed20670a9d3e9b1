# SPDX-License-Identifier: MIT
"""The CLIs over TLS, end to end: the client side of the client port.

- --cacert FILE and LMS_CACERT: login, a read and a write over TLS; the
  session remembers the choice (and the CA file, absolute), so the next
  command needs no option;
- a CA that did not sign the node's certificate: "not trusted", exit 2,
  at once, nothing stored;
- an address the certificate does not name: "do not include", exit 2;
- --cacert at a plaintext client port: "did not answer TLS", exit 2;
- a plaintext CLI at a TLS client port: the node's own message, as is;
- plaintext to an address of another machine: refused before any connect
  (exit 2), unless --plaintext.

The node's client port speaks TLS (tls.client: on) with a certificate
from lmstest.make_certs; a second node stays plaintext. A plain TCP relay
on 127.0.0.2 reaches the TLS port under an address its certificate does
not name.
"""

import json
import os
import shutil
import socket
import threading
import time
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase


class Relay:
    """A TCP listener on host that forwards each connection to target,
    byte for byte."""

    def __init__(self, target, host="127.0.0.1"):
        self.target = target
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.addr = "%s:%d" % (host, self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            host, port = self.target.rsplit(":", 1)
            u = socket.create_connection((host, int(port)), timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            return

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(u, c), daemon=True)
        t.start()
        pump(c, u)
        t.join()
        c.close()
        u.close()

    def close(self):
        self.sock.close()


class TlsClientTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node, certs, cls.dir = lmstest.tls_node("tls", "tlstest")
        cls.ca = certs["ca"]
        cls.other_ca = lmstest.make_certs(os.path.join(cls.dir, "other"), "other", [1])["ca"]
        cls.plain = lmstest.started_node(name="plain")
        # the TLS port under an address its certificate does not name
        cls.unnamed = Relay(cls.node.addr, host="127.0.0.2")

    @classmethod
    def tearDownClass(cls):
        cls.unnamed.close()
        cls.node.cleanup()
        cls.plain.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def admin(self):
        return self.node.cli("lms-admin")

    def run_at(self, cli, addr, *args, **kw):
        return cli.run("-s", addr, *args, server=False, **kw)

    def session(self, cli):
        with open(os.path.join(cli.home, "session")) as f:
            return json.load(f)

    def courses_stored(self):
        return {r[0] for r in lmstest.db_rows(self.node, "SELECT code FROM courses")}

    def config_error(self, res, what, *messages, took=None):
        """Exit 2, FAILED_PRECONDITION, each of messages and "nothing was
        sent" on stderr, within two seconds."""
        self.assertRc(res, 2, what)
        for m in messages + ("nothing was sent",):
            if m not in res.err:
                self.fail("%s: expected %r on stderr\n%r" % (what, m, res))
        if res.json is not None:
            self.assertEqual(res.json.get("status"), "FAILED_PRECONDITION", what)
        if took is not None and took > 2.0:
            self.fail("%s: took %.1f s; a configuration error must end at once, not after "
                      "the retry deadline\n%r" % (what, took, res))

    def timed(self, fn, *args, **kw):
        t0 = time.monotonic()
        res = fn(*args, **kw)
        return res, time.monotonic() - t0

    def test_cacert_login_read_write_and_the_session_remembers(self):
        a = self.admin()
        self.ok(self.run_at(a, self.node.addr, "--cacert", self.ca, "login", ADMIN,
                            "--password-stdin", input=ADMIN_PW + "\n"), "login over TLS")
        s = self.session(a)
        self.assertEqual((s.get("tls"), s.get("cacert"), s.get("servers")),
                         ("cacert", self.ca, self.node.addr), "the session file")
        # no -s, no --cacert: the session's servers and TLS
        self.ok(a.run("create-course", "TLS101", "--title", "Over TLS", server=False),
                "a write over TLS, as the session remembers")
        res = self.ok(a.run("courses", json=True, server=False), "a read over TLS")
        self.assertIn("TLS101", json.dumps(res))
        self.assertIn("TLS101", self.courses_stored())

    def test_lms_cacert_relative_is_remembered_absolute(self):
        a = self.admin()
        cwd = os.path.dirname(self.ca)
        name = os.path.basename(self.ca)
        env = {"LMS_CACERT": name}
        self.ok(self.run_at(a, self.node.addr, "login", ADMIN, "--password-stdin",
                            input=ADMIN_PW + "\n", env=env, cwd=cwd), "login with LMS_CACERT")
        self.assertEqual(self.session(a).get("cacert"), self.ca,
                         "a relative LMS_CACERT stored as an absolute path")
        self.ok(self.run_at(a, self.node.addr, "create-course", "ENV101", "--title", "t",
                            env=env, cwd=cwd), "a write with LMS_CACERT")
        self.ok(a.run("whoami", server=False, cwd="/"), "a read elsewhere, from the session")
        self.assertIn("ENV101", self.courses_stored())

    def test_wrong_ca_is_not_trusted_and_nothing_is_stored(self):
        a = self.admin()
        self.ok(self.run_at(a, self.node.addr, "--cacert", self.ca, "login", ADMIN,
                            "--password-stdin", input=ADMIN_PW + "\n"), "login over TLS")
        res, took = self.timed(self.run_at, a, self.node.addr, "--cacert", self.other_ca,
                               "create-course", "BAD101", "--title", "t", json=True)
        self.config_error(res, "a write with the wrong CA",
                          "cannot use %s: its certificate is not trusted (" % self.node.addr,
                          "by the CA certificates in %s" % self.other_ca, "--cacert FILE",
                          took=took)
        self.assertNotIn("BAD101", self.courses_stored(), "nothing stored")
        # --tls: the system's CAs do not know the cluster's CA either
        res = self.run_at(a, self.node.addr, "--tls", "whoami")
        self.config_error(res, "--tls", "not trusted (", "by the system's CAs")

    def test_an_address_the_certificate_does_not_name(self):
        res, took = self.timed(self.run_at, self.admin(), self.unnamed.addr, "--cacert",
                               self.ca, "login", ADMIN, "--password-stdin",
                               input=ADMIN_PW + "\n")
        self.config_error(res, "TLS to 127.0.0.2",
                          "cannot use %s: its certificate is for node names that do not "
                          "include '127.0.0.2' (it names localhost, 127.0.0.1, ::1)"
                          % self.unnamed.addr, took=took)
        # by a name it does hold: fine
        port = self.node.addr.rsplit(":", 1)[1]
        self.ok(self.run_at(self.admin(), "localhost:%s" % port, "--cacert", self.ca,
                            "login", ADMIN, "--password-stdin", input=ADMIN_PW + "\n"),
                "TLS to localhost")

    def test_cacert_at_a_plaintext_port(self):
        res, took = self.timed(self.run_at, self.admin(), self.plain.addr, "--cacert",
                               self.ca, "login", ADMIN, "--password-stdin",
                               input=ADMIN_PW + "\n")
        self.config_error(res, "--cacert at a plaintext port",
                          "cannot use %s: it did not answer TLS (is its client port "
                          "plaintext? tls.client in its config)" % self.plain.addr, took=took)

    def test_plaintext_cli_at_a_tls_port_shows_the_nodes_answer(self):
        res = self.run_at(self.admin(), self.node.addr, "login", ADMIN, "--password-stdin",
                          input=ADMIN_PW + "\n")
        self.refused(res, "FAILED_PRECONDITION", "a plaintext CLI at a TLS port", rc=1,
                     in_message="refused (FAILED_PRECONDITION): %s speaks TLS on its client "
                                "port; give the cluster's CA certificate with --cacert FILE or "
                                "LMS_CACERT (or --tls to use the system's CAs)" % self.node.addr)

    def test_plaintext_to_another_machine_is_refused_before_connecting(self):
        a = self.admin()
        res, took = self.timed(self.run_at, a, "192.0.2.1:7400", "login", ADMIN,
                               "--password-stdin", input=ADMIN_PW + "\n", json=True)
        self.config_error(res, "plaintext to 192.0.2.1",
                          "cannot use 192.0.2.1:7400: 192.0.2.1 is not a loopback address",
                          "--cacert FILE or LMS_CACERT", "--plaintext (LMS_PLAINTEXT=1)",
                          took=took)
        self.assertLess(took, 1.0, "refused before any connect")
        # --plaintext lifts the rule: the CLI then tries to connect
        for extra, env in (((), {"LMS_PLAINTEXT": "1"}), (("--plaintext",), {})):
            env = dict(env, LMS_CLIENT_TIMEOUT="1")
            res = self.run_at(a, "192.0.2.1:7400", *extra, "login", ADMIN, "--password-stdin",
                              input=ADMIN_PW + "\n", env=env)
            self.assertRc(res, 3, "plaintext allowed (%s %s)" % (extra, env))
            self.assertNotIn("not a loopback address", res.err)


if __name__ == "__main__":
    unittest.main()
