# SPDX-License-Identifier: MIT
"""mantext: render the generated manual pages as text and read them back.

Shared by the doc tests of tests/docs (see CMakeLists.txt there). A page is
rendered with groff's man macros to plain text (no bold or underline), very
wide so that no line wraps a key or a heading, and then read by layout:
a section heading (.SH) starts in column 0, a subsection (.SS) in column 3,
a tag of .TP (a key, an option) in column 7 with its body below it in
column 14.
"""

import os
import re
import shutil
import subprocess
import sys

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit("%s is not set: run this through ctest" % name)
    return v


def need(program):
    if shutil.which(program) is None:
        print("%s is not installed: skipping" % program)
        sys.exit(SKIP)


def render(path):
    """The page at path as plain text lines."""
    need("groff")
    p = subprocess.run(["groff", "-man", "-Tascii", "-rLL=250n", "-rLT=250n", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    text = p.stdout.decode("ascii", "replace")
    text = re.sub(r".\x08", "", text)            # overstrike bold and underline
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)   # or SGR, depending on grotty
    return text.split("\n")


def sections(lines):
    """(section, subsection, index) for each line of a rendered page."""
    sh = ss = None
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z ]*$", line):
            sh, ss = line.strip(), None
        elif re.match(r"^   \S", line):
            ss = line.strip()
        yield sh, ss, i


def subsections(lines, section):
    """The .SS headings of section, in order."""
    seen = []
    for sh, ss, i in sections(lines):
        if sh == section and ss is not None and (not seen or seen[-1] != ss):
            seen.append(ss)
    return seen


def tags(lines, section, pattern=r"\S+"):
    """{subsection: [tag, ...]} of the .TP tags in section that match
    pattern: a line in column 7 holding only the tag, with its body below,
    in column 14."""
    out = {}
    for sh, ss, i in sections(lines):
        if sh != section or i + 1 >= len(lines):
            continue
        m = re.match(r"^ {7}(%s)\s*$" % pattern, lines[i])
        if m and re.match(r"^ {14}\S", lines[i + 1]):
            out.setdefault(ss, []).append(m.group(1))
    return out


def section_text(lines, section, subsection=None):
    """The text of a section (or of one of its subsections)."""
    return "\n".join(lines[i] for sh, ss, i in sections(lines)
                     if sh == section and (subsection is None or ss == subsection))
