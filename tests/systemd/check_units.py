#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The systemd units of packaging/systemd/ (ctest systemd_units):

- each runs /usr/bin/lmsd with a command line lmsd takes: only options its
  --help lists, each with its argument, no stray words, --config naming a
  file under /etc/lms; lmsd's own option parser accepts it too (the line
  run with --help appended exits 0, which getopt reaches only after every
  option before it parsed);
- each is a Type=notify service whose notifications lmsd may send
  (NotifyAccess=main) with a watchdog (WatchdogSec), as core/sd_notify.c
  expects;
- where systemd-analyze exists, `systemd-analyze verify` finds nothing to
  say about either (the template as an instance), on copies whose
  ExecStart names the lmsd just built. It exits 0 on an unknown or
  misspelled option and only prints a line naming the file, so every such
  line fails this check; a copy with a misspelled option proves that the
  check sees one.

  check_units.py LMSD UNIT_DIR
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

UNITS = ("lmsd.service", "lmsd@.service")
INSTANCE = "check"  # lmsd@.service is verified as lmsd@check.service
BINARY = "/usr/bin/lmsd"


def parse_unit(path):
    """{(section, key): [values]} of a unit file (comments, blank lines and
    continuations are not used by ours: a continuation is an error)."""
    out, section = {}, None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith(("#", ";")):
                continue
            if line.endswith("\\"):
                raise SystemExit("%s:%d: a continuation line; keep each setting on one line"
                                 % (path, n))
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                section = m.group(1)
                continue
            key, eq, value = line.partition("=")
            if not eq or section is None:
                raise SystemExit("%s:%d: not KEY=VALUE in a section: %r" % (path, n, line))
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def lmsd_options(lmsd):
    """{option: takes an argument} from `lmsd --help` ("-c, --config FILE")."""
    p = subprocess.run([lmsd, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if p.returncode != 0:
        raise SystemExit("lmsd --help: exit %d: %s" % (p.returncode, p.stderr.decode()))
    opts = {}
    for m in re.finditer(r"^\s+(?:-(\w), )?--([a-z][a-z-]*)( [A-Z]+)?", p.stdout.decode(), re.M):
        takes = bool(m.group(3))
        opts["--" + m.group(2)] = takes
        if m.group(1):
            opts["-" + m.group(1)] = takes
    if "--config" not in opts:
        raise SystemExit("lmsd --help lists no --config: %r" % p.stdout.decode())
    return opts


def check_command(unit, argv, opts, errors):
    """argv (ExecStart's words): the binary, then options lmsd lists."""
    if argv[0] != BINARY:
        errors.append("%s: ExecStart runs %s, not %s" % (unit, argv[0], BINARY))
    i, seen = 1, {}
    while i < len(argv):
        word = argv[i]
        name, eq, inline = word.partition("=")
        if name not in opts:
            errors.append("%s: ExecStart: %r is not an option lmsd --help lists (%s)"
                          % (unit, word, " ".join(sorted(opts))))
            i += 1
            continue
        if opts[name] and not eq:
            if i + 1 >= len(argv):
                errors.append("%s: ExecStart: %s needs an argument" % (unit, name))
                break
            inline = argv[i + 1]
            i += 1
        seen[name] = inline
        i += 1
    config = seen.get("--config", seen.get("-c"))
    want = "/etc/lms/%i.yaml" if "@" in unit else "/etc/lms/lmsd.yaml"
    if config != want:
        errors.append("%s: ExecStart: --config %s, expected --config %s" % (unit, config, want))


def check_getopt(unit, lmsd, argv, errors):
    """lmsd's own parser: every option before the appended --help parses,
    or lmsd prints its usage on stderr and exits 2 first."""
    p = subprocess.run([lmsd] + argv[1:] + ["--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        said = (p.stderr.decode().strip().splitlines() or [""])[0]  # then the usage
        errors.append("%s: lmsd rejects ExecStart's options (exit %d): %s"
                      % (unit, p.returncode, said))


def check_settings(unit, u, errors):
    want = {("Service", "Type"): "notify", ("Service", "NotifyAccess"): "main"}
    for key, value in want.items():
        if u.get(key) != [value]:
            errors.append("%s: [%s] %s=%s expected, got %r" % (unit, key[0], key[1], value,
                                                               u.get(key)))
    if not u.get(("Service", "WatchdogSec")):
        errors.append("%s: no WatchdogSec: lmsd's loop pings (WATCHDOG=1) for nobody" % unit)


def verify(dir, lmsd, units, typo=None):
    """Copies of units in dir, ExecStart naming lmsd (typo: a misspelled
    key added to the first); the lines of systemd-analyze verify that
    name them, and its exit status."""
    names = []
    for i, unit in enumerate(units):
        with open(unit, encoding="utf-8") as f:
            text = f.read().replace("ExecStart=" + BINARY, "ExecStart=" + lmsd)
        if typo and i == 0:
            text = text.replace("[Service]\n", "[Service]\n%s\n" % typo, 1)
        base = os.path.basename(unit)
        with open(os.path.join(dir, base), "w", encoding="utf-8") as f:
            f.write(text)
        names.append(os.path.join(dir, base.replace("@.", "@%s." % INSTANCE)))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no"] + names,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode(errors="replace").splitlines()
    ours = [l for l in out if dir in l or re.search(r"\blmsd@?[\w]*\.service\b", l)]
    return ours, out, p.returncode


def check_verify(lmsd, units, errors):
    if not shutil.which("systemd-analyze"):
        print("systemd-analyze not found: the units are not verified by systemd "
              "(the other checks ran)")
        return
    with tempfile.TemporaryDirectory(prefix="lms-units-") as dir:
        ours, out, rc = verify(dir, lmsd, units)
        print("systemd-analyze verify: exit %d%s" % (rc, "".join("\n  " + l for l in out)))
        if rc != 0 or ours:
            errors.append("systemd-analyze verify: exit %d:\n  %s"
                          % (rc, "\n  ".join(ours or out)))
    with tempfile.TemporaryDirectory(prefix="lms-units-typo-") as dir:
        ours, out, rc = verify(dir, lmsd, units, typo="ProtectSytem=strict")
        if not ours:
            errors.append("systemd-analyze verify said nothing of a misspelled option "
                          "(ProtectSytem=): this check cannot see one (%r)" % out)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: check_units.py LMSD UNIT_DIR")
    lmsd, unit_dir = os.path.abspath(sys.argv[1]), sys.argv[2]
    opts = lmsd_options(lmsd)
    units = [os.path.join(unit_dir, u) for u in UNITS]
    errors = []
    for unit in units:
        name = os.path.basename(unit)
        u = parse_unit(unit)
        execs = u.get(("Service", "ExecStart"), [])
        if len(execs) != 1:
            errors.append("%s: one ExecStart expected, got %r" % (name, execs))
            continue
        argv = shlex.split(execs[0])
        check_command(name, argv, opts, errors)
        check_getopt(name, lmsd, argv, errors)
        check_settings(name, u, errors)
    check_verify(lmsd, units, errors)
    for e in errors:
        print("FAIL " + e)
    if errors:
        return 1
    print("ok: %s" % ", ".join(UNITS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
