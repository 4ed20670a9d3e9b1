# SPDX-License-Identifier: MIT
"""SIGHUP reloads the config file (docs/operations.md, "Reloading the
configuration"): the log level, a limit and sessions.ttl change at once and
the log says so, one line each; a restart-only setting (listen.client) is
named as needing a restart and the node keeps its old value; the log format
changes too; and a config that does not load (or that others may write)
changes nothing while the node goes on serving."""

import json
import os
import re
import sqlite3
import subprocess
import time

import lmstest
from lmstest import E2ETestCase, World, wait_until

KIB = 1024


class ReloadTest(E2ETestCase):
    def setUp(self):
        self.node = lmstest.started_node(name="reload", ttl="1h",
                                         limits={"max_upload_bytes": "1MiB"})
        self.w = World(self.node)
        self.dir = self.node.dir
        self.small = self.file("small.txt", 16 * KIB)
        self.big = self.file("big.txt", 100 * KIB)

    def tearDown(self):
        self.node.cleanup()

    def file(self, name, size):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(b"m" * size)
        return path

    def upload(self, path, title):
        return self.w["teach1"].run("upload", "--course", "CS101", "--title", title, path,
                                    json=True)

    def hup_and_wait(self, what):
        """SIGHUP, then wait until the log has the line what (after the
        mark: a line from an earlier reload does not count)."""
        mark = len(self.node.log_text())
        self.node.hup()
        return wait_until(lambda: what in self.node.log_text()[mark:], timeout=10,
                          what="%r in the log after SIGHUP" % what)

    def debug_request_lines(self, op, since=0):
        return [l for l in self.node.log_text()[since:].splitlines()
                if " DEBUG request " in l and " op=%s " % op in l]

    def test_reload_applies_what_it_can_and_names_the_rest(self):
        node = self.node
        # before: info, uploads up to 1 MiB, sessions of an hour
        self.ok(self.upload(self.big, "before"), "a 100 KiB upload under 1 MiB")
        self.ok(self.w["stud1"].run("whoami"), "whoami")
        self.assertEqual(self.debug_request_lines("whoami"), [], "no debug lines at info")

        node.log_level = "debug"
        node.limits["max_upload_bytes"] = "64KiB"
        node.ttl = "10m"
        other = lmstest.free_port()
        text = node.config_text().replace("client: 127.0.0.1:%d" % node.port,
                                          "client: 127.0.0.1:%d" % other)
        self.assertIn(str(other), text)
        with open(node.config_path, "w") as f:
            f.write(text)
        mark = len(node.log_text())
        self.hup_and_wait("reload: listen.client changed")
        log = node.log_text()[mark:]
        for line in ("INFO  reload: log.level info -> debug",
                     "INFO  reload: sessions.ttl 1h -> 10m",
                     "INFO  reload: limits.max_upload_bytes 1MiB -> 64KiB",
                     "WARN  reload: listen.client changed: it needs a restart; still using "
                     "the old value"):
            self.assertIn(line, log, "the reload's lines")
        self.assertNotIn("reload: node.", log, "nothing else changed")

        # the level: a request is now logged at debug
        since = len(node.log_text())
        self.ok(self.w["stud1"].run("whoami"), "whoami after the reload")
        lines = wait_until(lambda: self.debug_request_lines("whoami", since), timeout=10,
                           what="a DEBUG request line for whoami")
        self.assertIn("user=stud1", lines[0])
        self.assertIn("status=OK", lines[0])
        # the limit: the same upload is now refused, a small one is not
        res = self.upload(self.big, "after")
        self.refused(res, "INVALID_ARGUMENT", "a 100 KiB upload over 64 KiB",
                     in_message="this server accepts at most 65536")
        self.ok(self.upload(self.small, "small"), "a 16 KiB upload")
        # sessions.ttl: a new session lasts 10 minutes
        cli = node.cli("lms-student")
        self.ok(cli.login("stud2", World.PW), "login after the reload")
        with open(os.path.join(cli.home, "session")) as f:
            left = json.load(f)["expires"] / 1000 - time.time()
        self.assertTrue(0 < left <= 600, "a new session expires in %.0f s, expected <= 600"
                        % left)
        # listen.client needs a restart: the node still serves on the old port
        self.assertTrue(lmstest._port_free(other), "nothing listens on the new port")

        # the format: from text to JSON
        node.log_options["format"] = "json"
        node.write_config()  # listen.client back as it runs
        mark = len(node.log_text())
        self.hup_and_wait("reload: log.format text -> json")
        self.assertNotIn("listen.client", node.log_text()[mark:])
        self.ok(self.w["stud1"].run("whoami"), "whoami in JSON")

        def json_whoami():
            for line in node.log_text()[mark:].splitlines():
                if line.startswith("{") and '"op":"whoami"' in line:
                    return json.loads(line)
            return None
        obj = wait_until(json_whoami, timeout=10, what="a JSON request line")
        self.assertEqual((obj["level"], obj["user"], obj["status"]), ("debug", "stud1", "OK"))

    def test_a_config_that_does_not_load_changes_nothing(self):
        node = self.node
        node.log_level = "debug"
        node.limits["max_upload_bytes"] = "64KiB"
        node.write_config()
        self.hup_and_wait("reload: limits.max_upload_bytes 1MiB -> 64KiB")

        good = node.config_text()
        # the level and the limit would go back, but the file is broken
        back = (good.replace("level: debug", "level: info")
                .replace("max_upload_bytes: 64KiB", "max_upload_bytes: 1MiB"))
        self.assertNotEqual(back, good)
        for broken, mode, where in [
            (back.replace("max_upload_bytes: 1MiB",
                          "max_upload_bytes: 1MiB\n  max_connections: 0"), 0o600,
             "limits.max_connections: 0 is out of range"),
            (back + "tutor: [unbalanced\n", 0o600, "lmsd.yaml:"),
            # valid, but anyone in the group may have written it: start
            # refuses such a file, and so does a reload
            (back, 0o660, "is group-writable"),
        ]:
            with open(node.config_path, "w") as f:
                f.write(broken)
            os.chmod(node.config_path, mode)
            mark = len(node.log_text())
            self.hup_and_wait("reload failed: ")
            failed = node.log_text()[mark:]
            self.assertIn(where, failed)
            self.assertIn("nothing changed", failed)
            self.assertNotIn("reload: log.level", failed)
            # still debug, still 64 KiB, still serving
            since = len(node.log_text())
            self.ok(self.w["stud1"].run("whoami"), "whoami after a broken reload")
            wait_until(lambda: self.debug_request_lines("whoami", since), timeout=10,
                       what="a DEBUG line: the level did not change")
            self.refused(self.upload(self.big, "big"), "INVALID_ARGUMENT",
                         "the 64 KiB limit stays", in_message="at most 65536")
            self.assertTrue(node.running)
        os.chmod(node.config_path, 0o600)
        node.write_config()


class HupWhileStartingTest(E2ETestCase):
    """A SIGHUP that arrives while lmsd is still starting (opening its
    storage, replaying its log) does not kill it (SIGHUP's default action):
    it waits, and is the first reload once the node serves."""

    def test_a_hup_while_starting_is_a_reload_once_it_serves(self):
        node = lmstest.Node(name="hupstart", storage_options={"busy_timeout_ms": 30000})
        self.addCleanup(node.cleanup)
        node.init_admin()
        # start held up: the store is locked, so opening it waits
        con = sqlite3.connect(os.path.join(node.data_dir, "lms.db"), isolation_level=None)
        self.addCleanup(con.close)
        con.execute("BEGIN EXCLUSIVE")
        mark = len(node.log_text())
        log = node._open_log()
        node.proc = subprocess.Popen([lmstest.lmsd_path(), "--config", node.config_path],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=lmstest.lmsd_env(node.env))
        wait_until(lambda: "busy timeout 30000 ms" in node.log_text()[mark:], timeout=30,
                   what="lmsd opening its locked store")
        time.sleep(0.3)
        node.log_level = "debug"
        node.write_config()
        node.hup()
        time.sleep(1.0)
        self.assertIsNone(node.proc.poll(),
                          "lmsd died of a SIGHUP while starting:\n" + node.log_tail(30))
        con.execute("ROLLBACK")
        node.wait_ready(30)
        wait_until(lambda: "reload: log.level info -> debug" in node.log_text()[mark:],
                   timeout=10, what="the reload after the start")
        node.stop()
