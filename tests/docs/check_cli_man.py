# SPDX-License-Identifier: MIT
"""Each CLI's man page documents what the program does: every command that
`PROG --help` lists is a subsection of COMMANDS (and no other is, the
hidden __complete included), every option `PROG CMD --help` shows is in its
command's subsection, every global option is under GLOBAL OPTIONS, and
EXIT STATUS and ENVIRONMENT name the exit codes and the variables the
clients read. --help is printed by other code (cli.c) than the page
(cli_doc.c) from the same tables, so a row left out of either shows here.

Environment (tests/docs/CMakeLists.txt): LMS_BIN, LMS_MAN_DIR.
"""

import os
import re
import subprocess
import unittest

import mantext

PROGS = ("lms-student", "lms-instructor", "lms-admin")
VARIABLES = ("LMS_SERVERS", "LMS_HOME", "LMS_CACERT", "LMS_TLS", "LMS_PLAINTEXT",
             "XDG_CONFIG_HOME")


def run(prog, *args):
    p = subprocess.run([os.path.join(mantext.env("LMS_BIN"), prog)] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise AssertionError("%s %s: exit %d: %s" % (prog, " ".join(args), p.returncode,
                                                     p.stderr.decode()))
    return p.stdout.decode()


def help_commands(text):
    """The names under "Commands:" of --help ("  %-18s %s": the name ends at
    column 20, or at the first space after a longer one)."""
    block = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    names = []
    for line in block.splitlines():
        name = line[2:20].rstrip() if len(line) > 20 and line[20] == " " \
            else line[2:].split(" ")[0]
        names.append(name)
    return names


def options(text):
    """The long options (--name) in a help text's option lists."""
    return set(re.findall(r"(?m)^  (?:-\w, )?\s*(--[a-z][a-z-]*)", text))


class CliManTest(unittest.TestCase):
    def page(self, prog):
        return mantext.render(os.path.join(mantext.env("LMS_MAN_DIR"), prog + ".1"))

    def test_every_command_is_in_the_page(self):
        for prog in PROGS:
            with self.subTest(prog=prog):
                lines = self.page(prog)
                listed = help_commands(run(prog, "--help"))
                documented = mantext.subsections(lines, "COMMANDS")
                self.assertGreater(len(listed), 10, "%s --help lists too few commands" % prog)
                self.assertEqual(sorted(set(listed) - set(documented)), [],
                                 "%s: commands of --help missing from %s(1)" % (prog, prog))
                self.assertEqual(sorted(set(documented) - set(listed)), [],
                                 "%s: commands in %s(1) that --help does not list"
                                 % (prog, prog))
                self.assertIn("completion", documented)
                self.assertNotIn("__complete", "\n".join(lines))

    def test_every_option_of_a_command_is_in_its_subsection(self):
        for prog in PROGS:
            lines = self.page(prog)
            for cmd in help_commands(run(prog, "--help")):
                with self.subTest(prog=prog, command=cmd):
                    text = run(prog, *cmd.split(" "), "--help")
                    own = text.split("\nGlobal options:\n", 1)[0]
                    section = mantext.section_text(lines, "COMMANDS", cmd)
                    usage = re.search(r"usage: %s %s(.*)" % (prog, re.escape(cmd)), own)
                    self.assertIsNotNone(usage, "%s %s --help has no usage line" % (prog, cmd))
                    self.assertIn("%s %s%s" % (prog, cmd, usage.group(1)), section,
                                  "the usage line of --help is the page's")
                    for opt in options(own):
                        self.assertRegex(section, r"(?m)^ {7}.*%s\b" % re.escape(opt),
                                         "%s %s: %s is not in its subsection of the page"
                                         % (prog, cmd, opt))

    def test_global_options_exit_codes_and_environment(self):
        for prog in PROGS:
            with self.subTest(prog=prog):
                lines = self.page(prog)
                text = run(prog, "--help")
                globals_text = text.split("Global options (before or after the command):\n")[1]
                page_globals = mantext.section_text(lines, "GLOBAL OPTIONS")
                for opt in options(globals_text):
                    self.assertIn(opt, page_globals, "global option %s" % opt)
                status = mantext.section_text(lines, "EXIT STATUS")
                for code in range(5):
                    self.assertRegex(status, r"(?m)^ {7}%d +\S" % code, "exit code %d" % code)
                environment = mantext.section_text(lines, "ENVIRONMENT")
                for var in VARIABLES:
                    self.assertRegex(environment, r"(?m)^ {7}%s$" % var, "variable %s" % var)


class LmsdManTest(unittest.TestCase):
    def test_every_option_of_lmsd_is_in_its_page(self):
        lines = mantext.render(os.path.join(mantext.env("LMS_MAN_DIR"), "lmsd.8"))
        p = subprocess.run([mantext.env("LMSD"), "--help"], stdout=subprocess.PIPE, check=True)
        shown = options(p.stdout.decode())
        self.assertGreater(len(shown), 6, "lmsd --help shows too few options")
        by_sub = {sub: set(re.findall(r"--[a-z][a-z-]*", " ".join(tags))) for sub, tags in
                  mantext.tags(lines, "OPTIONS", r"(?:-\w, )?--[a-z-]+.*").items()}
        self.assertEqual(sorted(shown ^ by_sub.get(None, set())), [],
                         "lmsd --help and the OPTIONS of lmsd(8) differ")
        self.assertEqual(sorted(by_sub.get("For packagers", set())),
                         ["--help-config-man", "--help-man", "--list-config-keys"],
                         "the options for packagers, in lmsd(8) but not in --help")


if __name__ == "__main__":
    mantext.need("groff")  # before unittest, which would catch the exit
    unittest.main(verbosity=2)
