# SPDX-License-Identifier: MIT
"""The clients' config file, end to end (clients/client_config.c).

- config.yaml under $XDG_CONFIG_HOME/lms names the server: login and the
  commands after it work with no -s and no LMS_SERVERS, and the session
  file appears there too (not under ~/.config/lms);
- a context (--context, $LMS_CONTEXT, the file's context:) picks another
  server list: the write lands on the other node only;
- -s and LMS_SERVERS override the file, whose server is dead;
- cacert: relative to the file's directory, from any working directory:
  login over TLS, and the session remembers the CA file, absolute;
- an unknown key, bad YAML, a file others may write, an unknown context:
  exit 2, a message naming file:line and the key, nothing sent;
- `config view --json` says where each setting came from.

Each CLI here runs with an environment of the test's own: HOME and
XDG_CONFIG_HOME in a temporary directory, no LMS_* variable unless given.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import lmstest
from lmstest import ADMIN, ADMIN_PW, E2ETestCase


class ClientConfigTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = lmstest.started_node(name="cfg-a")
        cls.b = lmstest.started_node(name="cfg-b")
        cls.t, certs, cls.tls_dir = lmstest.tls_node("cfg-tls", "cfgtest")
        cls.ca = certs["ca"]

    @classmethod
    def tearDownClass(cls):
        for n in (cls.a, cls.b, cls.t):
            n.cleanup()
        shutil.rmtree(cls.tls_dir, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cfg-", dir=self.a.dir)
        self.home = os.path.join(self.dir, "home")
        self.xdg = os.path.join(self.dir, "xdg")
        self.conf_dir = os.path.join(self.xdg, "lms")
        self.conf = os.path.join(self.conf_dir, "config.yaml")
        os.makedirs(self.home)
        os.makedirs(self.conf_dir, mode=0o700)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers --------------------------------------------------------

    def write_config(self, text, mode=0o600):
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, mode)

    def run_cli(self, *args, env=None, input=None, json=False, cwd=None, prog="lms-admin"):
        """The CLI with no --home and no -s: what it does comes from the
        config file, the environment given and the session."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("LMS_") and k not in ("HOME", "XDG_CONFIG_HOME")}
        e.update(HOME=self.home, XDG_CONFIG_HOME=self.xdg, LMS_CLIENT_TIMEOUT="3", TZ="UTC")
        e.update(env or {})
        argv = [lmstest.cli_path(prog)] + (["--json"] if json else []) + [str(a) for a in args]
        p = subprocess.run(argv, input=input.encode() if input else None,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd,
                           timeout=60)
        return lmstest.CliResult(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                                 p.stderr.decode("utf-8", "replace"), json)

    def login(self, *args, **kw):
        return self.run_cli(*args, "login", ADMIN, "--password-stdin", input=ADMIN_PW + "\n",
                            **kw)

    def courses(self, node):
        return {r[0] for r in lmstest.db_rows(node, "SELECT code FROM courses")}

    def view(self, *args, **kw):
        return self.ok(self.run_cli(*args, "config", "view", json=True, **kw), "config view")

    def assertSource(self, doc, key, source, what, **more):
        row = doc.get(key) or {}
        got = {k: row.get(k) for k in ("source",) + tuple(more)}
        want = dict(source=source, **more)
        if got != want:
            self.fail("%s: %s: expected %s, got %s\n%s" % (what, key, want, got,
                                                           json.dumps(doc, indent=1)))

    def config_refused(self, res, what, *messages):
        """Exit 2 with each of messages on stderr (and INVALID_ARGUMENT)."""
        self.assertRc(res, 2, what)
        for m in messages:
            if m not in res.err:
                self.fail("%s: expected %r on stderr\n%r" % (what, m, res))
        if res.json is not None:
            self.assertEqual(res.json.get("status"), "INVALID_ARGUMENT", what)

    # -- tests ----------------------------------------------------------

    def test_file_names_the_server_and_xdg_moves_the_session(self):
        self.write_config("# node a\nservers: [%s]\n" % self.a.addr)
        self.ok(self.login(), "login with the server from config.yaml")
        session = os.path.join(self.conf_dir, "session")
        self.assertTrue(os.path.exists(session), "the session under $XDG_CONFIG_HOME/lms")
        self.assertFalse(os.path.exists(os.path.join(self.home, ".config")),
                         "nothing under ~/.config when XDG_CONFIG_HOME is set")
        with open(session) as f:
            self.assertEqual(json.load(f).get("servers"), self.a.addr, "login saved the list")
        self.ok(self.run_cli("create-course", "CFGA1", "--title", "From the file"),
                "a write with no -s")
        self.assertIn("CFGA1", self.courses(self.a))
        doc = self.view()
        self.assertSource(doc, "servers", "file", "the file's servers", value=self.a.addr,
                          file=self.conf, line=2)
        self.assertSource(doc, "home", "env", "the session directory", value=self.conf_dir,
                          name="XDG_CONFIG_HOME")
        self.assertSource(doc, "config", "default", "config.yaml in it", value=self.conf,
                          found=True)
        self.assertEqual((doc.get("session") or {}).get("user"), ADMIN, "logged in")

    def test_relative_xdg_is_ignored(self):
        res = self.login("-s", self.a.addr, env={"XDG_CONFIG_HOME": "relative/xdg"},
                         cwd=self.dir)
        self.ok(res, "login with a relative XDG_CONFIG_HOME")
        self.assertTrue(os.path.exists(os.path.join(self.home, ".config", "lms", "session")),
                        "the session under ~/.config/lms")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "relative")), "not under cwd")

    def test_a_context_picks_another_server_list(self):
        self.write_config("servers: %s\n"
                          "contexts:\n"
                          "  a: {servers: %s}\n"
                          "  b:\n"
                          "    servers:\n"
                          "      - %s\n" % (self.a.addr, self.a.addr, self.b.addr))
        self.ok(self.login("--context", "b"), "login with --context b")
        self.ok(self.run_cli("create-course", "CFGB1", "--title", "t",
                             env={"LMS_CONTEXT": "b"}), "a write with LMS_CONTEXT=b")
        self.assertIn("CFGB1", self.courses(self.b), "on node b")
        self.assertNotIn("CFGB1", self.courses(self.a), "not on node a")
        self.assertSource(self.view("--context", "b"), "servers", "context", "--context b",
                          name="b", value=self.b.addr, line=5)
        # the file's own choice of context
        self.write_config("context: b\ncontexts:\n  b: {servers: %s}\n" % self.b.addr)
        self.ok(self.run_cli("create-course", "CFGB2", "--title", "t"), "context: b")
        self.assertIn("CFGB2", self.courses(self.b))
        doc = self.view()
        self.assertSource(doc, "context", "file", "the file's context:", value="b", line=1)
        self.assertSource(doc, "servers", "context", "the file's context", name="b")
        # a context that is not there: exit 2, nothing sent
        res = self.run_cli("--context", "c", "create-course", "CFGB3", "--title", "t",
                           json=True)
        self.config_refused(res, "--context c", "no context 'c' (--context) in %s" % self.conf,
                            "it has: b")
        self.assertNotIn("CFGB3", self.courses(self.a) | self.courses(self.b))

    def test_flag_and_env_override_the_file(self):
        dead = "127.0.0.1:%d" % lmstest.free_port()
        self.write_config("servers: %s\n" % dead)
        self.ok(self.login("-s", self.a.addr), "-s over the file's dead server")
        self.ok(self.run_cli("whoami", env={"LMS_SERVERS": self.a.addr}),
                "LMS_SERVERS over the file")
        doc = self.view("--servers", self.a.addr, env={"LMS_SERVERS": dead})
        self.assertSource(doc, "servers", "flag", "--servers over LMS_SERVERS",
                          name="--servers", value=self.a.addr)
        doc = self.view(env={"LMS_SERVERS": self.a.addr})
        self.assertSource(doc, "servers", "env", "LMS_SERVERS", name="LMS_SERVERS")
        # the file is above the session: its dead server it is
        res = self.run_cli("whoami")
        self.assertRc(res, 3, "the file's dead server over the session's")
        self.assertIn(dead, res.err)

    def test_cacert_relative_to_the_file(self):
        shutil.copy(self.ca, os.path.join(self.conf_dir, "cluster-ca.crt"))
        self.write_config("servers: %s\ncacert: cluster-ca.crt\n" % self.t.addr)
        self.ok(self.login(cwd="/"), "login over TLS with the file's cacert")
        with open(os.path.join(self.conf_dir, "session")) as f:
            s = json.load(f)
        want = os.path.realpath(os.path.join(self.conf_dir, "cluster-ca.crt"))
        self.assertEqual((s.get("tls"), s.get("cacert")), ("cacert", want), "the session")
        self.ok(self.run_cli("create-course", "CFGT1", "--title", "t", cwd=self.home),
                "a write over TLS from elsewhere")
        self.assertIn("CFGT1", self.courses(self.t))
        self.assertSource(self.view(), "tls", "file", "TLS from the file", value="cacert",
                          line=2)

    def test_bad_files_are_exit_2_naming_file_line_and_key(self):
        self.write_config("servers: %s\n\nsevrers: %s\n" % (self.a.addr, self.a.addr))
        for args in (("whoami",), ("config", "view"), ("login", ADMIN, "--password-stdin")):
            res = self.run_cli(*args, json=True, input=ADMIN_PW + "\n")
            self.config_refused(res, "unknown key, %s" % args[0],
                                "%s:3: unknown key 'sevrers'" % self.conf)
        self.assertFalse(os.path.exists(os.path.join(self.conf_dir, "session")),
                         "no login happened")
        self.write_config("contexts:\n  prod:\n    servers: %s\n    cacrt: ca.crt\n"
                          % self.a.addr)
        self.config_refused(self.run_cli("whoami"), "unknown key in a context",
                            "%s:4: unknown key 'contexts.prod.cacrt'" % self.conf)
        self.write_config("servers: [%s\n" % self.a.addr)
        self.config_refused(self.run_cli("whoami", json=True), "bad YAML",
                            "%s:2: not valid YAML" % self.conf)
        self.write_config("servers: %s\n" % self.a.addr, mode=0o666)
        self.config_refused(self.run_cli("whoami"), "a file anyone may write",
                            "%s: refused: the config file is writable by others" % self.conf,
                            "chmod go-w")
        # --config / LMS_CONFIG name a file that must exist
        missing = os.path.join(self.dir, "nope.yaml")
        self.config_refused(self.run_cli("--config", missing, "whoami"), "--config missing",
                            "%s: cannot read the config file" % missing)
        self.config_refused(self.run_cli("whoami", env={"LMS_CONFIG": missing}),
                            "LMS_CONFIG missing", "%s: cannot read the config file" % missing)

    def test_config_elsewhere_with_lms_config(self):
        other = os.path.join(self.dir, "other.yaml")
        with open(other, "w") as f:
            f.write("servers: %s\n" % self.b.addr)
        os.chmod(other, 0o600)
        self.write_config("servers: 127.0.0.1:%d\n" % lmstest.free_port())
        self.ok(self.login(env={"LMS_CONFIG": other}), "login with LMS_CONFIG")
        self.ok(self.run_cli("--config", other, "create-course", "CFGO1", "--title", "t"),
                "a write with --config")
        self.assertIn("CFGO1", self.courses(self.b))
        self.assertSource(self.view(env={"LMS_CONFIG": other}), "config", "env", "LMS_CONFIG",
                          name="LMS_CONFIG", value=other)


if __name__ == "__main__":
    unittest.main()
