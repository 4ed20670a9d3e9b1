# SPDX-License-Identifier: MIT
"""The bash completion of the three CLIs, in a real bash (bash --norc): the
generated script (build/completion/bash/PROG, what is installed) is
sourced, COMP_WORDS and COMP_CWORD are set as bash would set them, the
completion function is called and COMPREPLY is compared with what the
program's own --help says:

- commands for a prefix, the second words of a group ("cluster-ca init"),
  and never the hidden __complete;
- after a command, its options plus the global ones, and nothing else;
- choices (--as), files for FILE operands;
- course codes from `PROG __complete courses` (here a stand-in program that
  records how it was called), with the global options of the line passed
  on, values filtered by the prefix, and a hostile value never expanded;
- host:port split by COMP_WORDBREAKS still counts as one word.

With ZSH_CHECK=1 it checks instead that each zsh script parses (zsh -n),
and skips when zsh is not installed.

Environment (tests/docs/CMakeLists.txt): LMS_BIN, LMS_COMPLETION_DIR.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import mantext

PROGS = ("lms-student", "lms-instructor", "lms-admin")


def prog_path(prog):
    return os.path.join(mantext.env("LMS_BIN"), prog)


def script(prog, shell="bash"):
    name = prog if shell == "bash" else "_" + prog
    return os.path.join(mantext.env("LMS_COMPLETION_DIR"), shell, name)


def help_text(prog, *args):
    p = subprocess.run([prog_path(prog)] + list(args) + ["--help"], stdout=subprocess.PIPE,
                       check=True)
    return p.stdout.decode()


def help_commands(prog):
    block = help_text(prog).split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line[2:20].rstrip() if len(line) > 20 and line[20] == " "
            else line[2:].split(" ")[0] for line in block.splitlines()]


def help_options(text):
    """-x and --long options in a help text's lists."""
    out = set()
    for m in re.finditer(r"(?m)^  (-\w, )?\s*(--[a-z][a-z-]*)", text):
        out.add(m.group(2))
        if m.group(1):
            out.add(m.group(1)[:2])
    return out


class BashCompletionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="lms-docs-completion-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def complete(self, prog, words, program=None, cwd=None):
        """COMPREPLY for the words of a command line, the last one being
        completed (words[0] replaced by program when given)."""
        words = [program or prog] + list(words)
        quoted = " ".join("'%s'" % w.replace("'", "'\\''") for w in words)
        code = ("source '%s' || exit 9\n"
                "COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=\"${COMP_WORDS[*]}\"\n"
                "COMP_POINT=${#COMP_LINE}\n"
                "%s || exit 8\n"
                "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
                % (script(prog), quoted, len(words) - 1, "_" + re.sub(r"\W", "_", prog)))
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=cwd or self.dir, timeout=30)
        self.assertEqual((p.returncode, p.stderr.decode()), (0, ""),
                         "completing %r" % words)
        return [w for w in p.stdout.decode().split("\n") if w]

    def test_the_script_is_what_the_program_prints_and_registers_itself(self):
        for prog in PROGS:
            with self.subTest(prog=prog):
                p = subprocess.run([prog_path(prog), "completion", "bash"],
                                   stdout=subprocess.PIPE, check=True)
                with open(script(prog), "rb") as f:
                    self.assertEqual(f.read(), p.stdout, "the installed script is stale")
                p = subprocess.run(["bash", "--norc", "-c", "source '%s'; complete -p %s"
                                    % (script(prog), prog)], stdout=subprocess.PIPE,
                                   check=True)
                self.assertEqual(p.stdout.decode().strip(), "complete -F _%s %s"
                                 % (prog.replace("-", "_"), prog))

    def test_commands_for_a_prefix(self):
        for prog in PROGS:
            with self.subTest(prog=prog):
                first = {c.split(" ")[0] for c in help_commands(prog)}
                self.assertEqual(set(self.complete(prog, [""])), first | {"help"})
                for prefix in ("s", "cl", "a"):
                    want = sorted(c for c in first | {"help"} if c.startswith(prefix))
                    self.assertEqual(sorted(self.complete(prog, [prefix])), want,
                                     "%s %s<TAB>" % (prog, prefix))
        self.assertEqual(sorted(self.complete("lms-student", ["sub"])),
                         ["submissions", "submit"])
        self.assertEqual(self.complete("lms-student", ["__c"]), [], "__complete is hidden")
        self.assertEqual(self.complete("lms-student", ["--json", "who"]), ["whoami"],
                         "a global option before the command")
        self.assertEqual(self.complete("lms-student", ["help", "down"]), ["download"])

    def test_the_second_word_of_a_group(self):
        self.assertEqual(sorted(self.complete("lms-admin", ["cluster-ca", ""])),
                         ["init", "issue"])
        self.assertEqual(self.complete("lms-admin", ["cluster-ca", "is"]), ["issue"])
        want = help_options(help_text("lms-admin", "cluster-ca", "init"))
        self.assertEqual(set(self.complete("lms-admin", ["cluster-ca", "init", "-"])), want)
        self.assertIn("--cluster", want)

    def test_options_after_a_command_are_its_own_and_the_global_ones(self):
        for prog in PROGS:
            for cmd in help_commands(prog):
                with self.subTest(prog=prog, command=cmd):
                    want = help_options(help_text(prog, *cmd.split(" ")))
                    got = self.complete(prog, cmd.split(" ") + ["-"])
                    self.assertEqual(sorted(got), sorted(want))
        got = self.complete("lms-student", ["ask", "--ti"])
        self.assertEqual(got, ["--title"])
        self.assertNotIn("--title", self.complete("lms-student", ["submit", "-"]),
                         "an option of another command")

    def test_choices_and_files(self):
        self.assertEqual(sorted(self.complete("lms-admin", ["enroll", "--as", ""])),
                         ["instructor", "student", "ta"])
        self.assertEqual(sorted(self.complete("lms-admin", ["completion", ""])),
                         ["bash", "zsh"])
        os.makedirs(os.path.join(self.dir, "work"), exist_ok=True)
        with open(os.path.join(self.dir, "work", "answer.py"), "w") as f:
            f.write("print(42)\n")
        self.assertEqual(self.complete("lms-student", ["submit", "12", "work/ans"]),
                         ["work/answer.py"], "FILE, the second operand")
        self.assertEqual(self.complete("lms-student", ["submit", "wo"]), [],
                         "ASSIGNMENT_ID, the first operand, is no file")
        self.assertEqual(self.complete("lms-student", ["submit", "12", "-o", "x", ""]), [],
                         "a third operand does not exist")

    def fake_program(self, lines):
        """A stand-in for the CLI: records its arguments, and prints lines
        when they end in __complete courses or __complete assignments."""
        path = os.path.join(self.dir, "fake-lms")
        record = os.path.join(self.dir, "args")
        with open(path, "w") as f:
            f.write("#!/bin/bash\nprintf '%%s\\n' \"$@\" > '%s'\n" % record)
            f.write("[[ \"${*: -2}\" == '__complete courses' || "
                    "\"${*: -2}\" == '__complete assignments' ]] || exit 2\n")
            for line in lines:
                f.write("printf '%%s\\n' '%s'\n" % line.replace("'", "'\\''"))
        os.chmod(path, 0o755)
        return path, record

    def test_course_codes_come_from_the_server(self):
        fake, record = self.fake_program(["CS101", "MA201"])
        self.assertEqual(self.complete("lms-student", ["ask", "--course", ""], program=fake),
                         ["CS101", "MA201"])
        self.assertEqual(self.complete("lms-student", ["grades", "--course", "M"], program=fake),
                         ["MA201"])
        self.complete("lms-student", ["--home", "/h", "-s", "10.0.0.1:7400", "ask", "--course",
                                      ""], program=fake)
        with open(record) as f:
            self.assertEqual(f.read().split("\n")[:-1],
                             ["--home", "/h", "-s", "10.0.0.1:7400", "__complete", "courses"])
        self.assertEqual(self.complete("lms-admin", ["enroll", "C"], program=fake), ["CS101"],
                         "enroll's CODE operand")
        self.assertEqual(self.complete("lms-admin", ["create-course", "C"], program=fake), [],
                         "a new course's code is not completed")

    def test_assignment_ids_come_from_the_server(self):
        fake, record = self.fake_program(["12", "17"])
        for prog, words in (("lms-student", ["submit", ""]),
                            ("lms-student", ["submissions", "--assignment", ""]),
                            ("lms-instructor", ["edit-assignment", "1"])):
            with self.subTest(words=words):
                got = self.complete(prog, words, program=fake)
                self.assertEqual(got, [v for v in ("12", "17") if v.startswith(words[-1])])
                with open(record) as f:
                    self.assertEqual(f.read().split("\n")[-3:-1], ["__complete", "assignments"])

    def test_a_hostile_value_is_never_expanded(self):
        canary = os.path.join(self.dir, "expanded")
        fake, _ = self.fake_program(["$(touch %s)" % canary, "`touch %s`" % canary])
        got = self.complete("lms-student", ["ask", "--course", ""], program=fake)
        self.assertFalse(os.path.exists(canary), "a value from the server ran as a command")
        self.assertEqual(len(got), 2)

    def test_host_port_cut_by_wordbreaks_is_one_word(self):
        self.assertEqual(self.complete("lms-admin", ["-s", "127.0.0.1", ":", "7400", "cre"]),
                         ["create-course"])
        self.assertEqual(self.complete("lms-admin", ["-s", "127.0.0.1", ":", "74"]), [],
                         "nothing to offer inside a host:port")


# zsh's completion builtins, replaced by ones that print what they are
# given: the generated function runs as compinit would run it, outside a
# completion widget.
ZSH_STUBS = r"""
compadd() { if [[ $1 == -a ]]; then print -rl -- ${(P)2}; return; fi
            [[ $1 == -- ]] && shift; print -rl -- "$@" }
_describe() { local d; for d in ${(P)2}; do print -r -- ${d%%:*}; done }
_files() { print -r -- "<files $*>" }
"""


class ZshCompletionTest(unittest.TestCase):
    def complete(self, prog, words, program=None):
        words = [program or prog] + list(words)
        quoted = " ".join("'%s'" % w.replace("'", "'\\''") for w in words)
        code = "%s\nwords=(%s); CURRENT=%d\nsource '%s'\n" % (ZSH_STUBS, quoted, len(words),
                                                           script(prog, "zsh"))
        p = subprocess.run(["zsh", "-f", "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        self.assertEqual((p.returncode, p.stderr.decode()), (0, ""), "completing %r" % words)
        return [w for w in p.stdout.decode().split("\n") if w]

    def test_zsh_completes_commands_options_and_values(self):
        commands = self.complete("lms-admin", [""])
        self.assertIn("enroll", commands)
        self.assertIn("cluster-ca", commands)
        self.assertNotIn("__complete", commands)
        self.assertEqual(self.complete("lms-admin", ["cluster-ca", ""]), ["init", "issue"])
        want = help_options(help_text("lms-admin", "cluster-ca", "init"))
        self.assertEqual(set(self.complete("lms-admin", ["cluster-ca", "init", "-"])), want)
        self.assertEqual(self.complete("lms-admin", ["enroll", "--as", ""]),
                         ["student", "instructor", "ta"])
        self.assertEqual(self.complete("lms-student", ["submit", "1", ""]), ["<files >"])
        tmp = tempfile.mkdtemp(prefix="lms-docs-zsh-")
        try:
            fake = os.path.join(tmp, "fake-lms")
            with open(fake, "w") as f:
                f.write("#!/bin/sh\n[ \"$1 $2\" = '__complete courses' ] && "
                        "printf 'CS101\\nMA201\\n'\n")
            os.chmod(fake, 0o755)
            self.assertEqual(self.complete("lms-student", ["ask", "--course", ""], fake),
                             ["CS101", "MA201"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_zsh_scripts_parse(self):
        for prog in PROGS:
            with self.subTest(prog=prog):
                p = subprocess.run(["zsh", "-n", script(prog, "zsh")], stderr=subprocess.PIPE)
                self.assertEqual((p.returncode, p.stderr.decode()), (0, ""))


if __name__ == "__main__":
    zsh = bool(os.environ.get("ZSH_CHECK"))
    mantext.need("zsh" if zsh else "bash")  # before unittest, which would catch the exit
    unittest.main(defaultTest="ZshCompletionTest" if zsh else "BashCompletionTest",
                  verbosity=2)
