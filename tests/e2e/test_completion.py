# SPDX-License-Identifier: MIT
"""Shell completion against a real node: `PROG __complete courses` and
`__complete assignments` print what the saved session may see, one per
line, and nothing at all (not a word on stderr either) when they cannot:
no session, no server. The generated bash script, sourced in a real bash
with the words of a command line, offers the course codes of the session's
user from the server.
"""

import os
import subprocess
import time
import unittest

import lmstest
from lmstest import E2ETestCase, World, cli_path


class CompletionTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = lmstest.started_node(name="completion")
        cls.w = World(cls.node)
        cls.hw = cls.w.create_assignment(title="HW1")

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def quiet(self, res, what):
        self.assertEqual((res.out, res.err), ("", ""), "%s must print nothing" % what)
        self.assertNotEqual(res.rc, 0, "%s: expected a failure exit" % what)

    def test_course_codes_and_assignment_ids_of_the_session(self):
        res = self.w.clis["stud1"].run("__complete", "courses")
        self.assertRc(res, 0, "__complete courses")
        self.assertEqual(res.out, "CS101\n", "stud1 is enrolled in CS101 only")
        self.assertEqual(res.err, "")
        res = self.w.clis["stud3"].run("__complete", "courses")
        self.assertEqual(res.out, "MA201\n")
        res = self.w.admin.run("__complete", "courses")
        self.assertEqual(sorted(res.out.split()), ["CS101", "MA201"], "the admin sees all")
        res = self.w.clis["stud1"].run("__complete", "assignments")
        self.assertRc(res, 0, "__complete assignments")
        self.assertEqual(res.out, "%d\n" % self.hw["id"])
        res = self.w.clis["stud3"].run("__complete", "assignments")
        self.assertEqual(res.out, "", "stud3's course has no assignment")

    def test_silent_without_a_session_or_a_server(self):
        self.quiet(self.node.cli("lms-student").run("__complete", "courses"), "no session")
        port = lmstest.free_port()
        start = time.monotonic()
        res = self.w.clis["stud1"].run("-s", "127.0.0.1:%d" % port, "__complete", "courses",
                                       server=False)
        self.quiet(res, "no server")
        self.assertLess(time.monotonic() - start, 8, "a completion must not hang the shell")
        self.assertRc(self.w.clis["stud1"].run("__complete", "grades"), 2, "not a value kind")

    def test_bash_offers_the_course_codes_from_the_server(self):
        cli = self.w.clis["stud1"]
        script = subprocess.run([cli_path("lms-student"), "completion", "bash"],
                                stdout=subprocess.PIPE, check=True).stdout.decode()
        words = [cli_path("lms-student"), "--home", cli.home, "-s", self.node.addr,
                 "ask", "--course", "C"]
        code = ("%s\nCOMP_WORDS=(%s); COMP_CWORD=%d\n_lms_student\n"
                "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
                % (script, " ".join("'%s'" % w for w in words), len(words) - 1))
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60,
                           env=dict(os.environ, LMS_CLIENT_TIMEOUT="10"))
        self.assertEqual(p.stderr.decode(), "")
        self.assertEqual(p.stdout.decode().split(), ["CS101"])


if __name__ == "__main__":
    unittest.main()
