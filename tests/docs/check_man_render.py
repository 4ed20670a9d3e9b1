# SPDX-License-Identifier: MIT
"""The generated manual pages exist and render without a single warning:
groff with all warnings on (-ww), and man --warnings when man is there.

Environment (tests/docs/CMakeLists.txt): LMS_MAN_DIR.
"""

import os
import shutil
import subprocess
import unittest

import mantext

PAGES = ("lmsd.8", "lmsd.yaml.5", "lms-student.1", "lms-instructor.1", "lms-admin.1")


class ManRenderTest(unittest.TestCase):
    def test_pages_render_without_warnings(self):
        mantext.need("groff")
        mandir = mantext.env("LMS_MAN_DIR")
        for page in PAGES:
            path = os.path.join(mandir, page)
            with self.subTest(page=page):
                self.assertTrue(os.path.exists(path), "%s was not generated" % path)
                p = subprocess.run(["groff", "-man", "-ww", "-z", path],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.assertEqual((p.returncode, p.stderr.decode()), (0, ""),
                                 "groff -man -ww -z %s" % path)
                if shutil.which("man"):
                    p = subprocess.run(["man", "--warnings", "-l", path],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       env=dict(os.environ, MANPAGER="cat", PAGER="cat"))
                    self.assertEqual((p.returncode, p.stderr.decode()), (0, ""),
                                     "man --warnings -l %s" % path)
                with open(path) as f:
                    head = f.read(400)
                self.assertRegex(head, r"(?m)^\.TH ", "%s has no .TH" % page)


if __name__ == "__main__":
    mantext.need("groff")  # before unittest, which would catch the exit
    unittest.main(verbosity=2)
