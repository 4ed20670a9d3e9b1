#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Debian packages, installed in a clean Debian root and run there.

    package_test.py ROOT DEB...

ROOT is a fresh Debian 12 root (debootstrap --variant=minbase; see
scripts/package-test, which makes it). This installs the packages there with
apt (so their Depends must name every library the binaries need), checks
what the maintainer scripts did, starts the service the way systemd would
(the unit's User, Group and ExecStart, with a NOTIFY_SOCKET of our own),
runs a smoke test through the installed CLIs, restarts it to see the
change kept, stops it with SIGTERM, and removes and purges the packages.

Needs root (chroot). Prints one line per step and exits 1 at the first
failure, with what was expected and what came.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import ctypes
import time

ROOT = None
STARTED = []  # every lmsd we started: killed at exit, whatever happens
CLONE_NEWNET = 0x40000000
ADMIN_PW = "admin-pass-123"
USER_PW = "user-pass-1234"


def kill_started():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()


def private_network():
    """From here on this process and its children have a network of their
    own with only loopback: the service's port 7400 cannot meet another
    lmsd on this machine (a demo, a test)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        die("unshare(CLONE_NEWNET): %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def die(msg):
    kill_started()
    sys.stdout.write("package-test: FAILED: %s\n" % msg)
    sys.stdout.flush()
    sys.exit(1)


def step(msg):
    sys.stdout.write("package-test: %s\n" % msg)
    sys.stdout.flush()


def chroot(*args, input=None, env=None, check=True, timeout=600):
    """Run args inside ROOT; returns the CompletedProcess."""
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    full_env.update(env or {})
    res = subprocess.run(["chroot", ROOT] + list(args), input=input, env=full_env,
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        die("%s: exit %d\n--- stdout\n%s\n--- stderr\n%s" %
            (" ".join(args), res.returncode, res.stdout[-4000:], res.stderr[-4000:]))
    return res


def unit_settings(path):
    """The [Service] settings of a unit file: name -> list of values."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


class Service:
    """lmsd started the way systemd starts lmsd.service: as User/Group,
    with ExecStart's command line and a notify socket we read."""

    def __init__(self, unit):
        self.unit = unit
        s = unit_settings(os.path.join(ROOT, unit.lstrip("/")))
        self.settings = s
        if s.get("Type") != ["notify"]:
            die("%s: Type=%s, expected notify" % (unit, s.get("Type")))
        self.user = s["User"][0]
        self.group = s["Group"][0]
        self.argv = s["ExecStart"][0].split()
        self.sock_path = os.path.join(ROOT, "run/lms-test-notify.sock")
        self.proc = None
        self.messages = []

    def start(self):
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        os.chmod(self.sock_path, 0o777)  # lmsd runs as lms
        self.sock.settimeout(0.2)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "NOTIFY_SOCKET": "/run/lms-test-notify.sock"}
        wd = self.settings.get("WatchdogSec")
        if wd:
            env["WATCHDOG_USEC"] = str(int(parse_seconds(wd[0]) * 1e6))
        self.log = open(os.path.join(ROOT, "tmp/lmsd.log"), "ab")
        self.proc = subprocess.Popen(
            ["chroot", ROOT, "setpriv", "--reuid", self.user, "--regid", self.group,
             "--init-groups", "--"] + self.argv,
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        STARTED.append(self.proc)
        self.messages = []

    def wait_for(self, pred, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.messages:
                if pred(m):
                    return m
            if self.proc.poll() is not None:
                die("lmsd exited (%d) before %s; its log:\n%s" %
                    (self.proc.returncode, what, self.log_tail()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.extend(data.split("\n"))
        die("no %s from lmsd within %d s; notifications: %r; its log:\n%s" %
            (what, timeout, self.messages, self.log_tail()))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.wait_for(lambda m: m == "STOPPING=1", "STOPPING=1 after SIGTERM")
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            die("lmsd did not exit within 60 s of SIGTERM")
        if rc != 0:
            die("lmsd exited %d after SIGTERM; its log:\n%s" % (rc, self.log_tail()))
        self.sock.close()
        self.log.close()

    def log_tail(self):
        with open(os.path.join(ROOT, "tmp/lmsd.log"), errors="replace") as f:
            return f.read()[-4000:]


def parse_seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|min)?", v)
    if not m:
        die("cannot read the duration %r" % v)
    n = int(m.group(1))
    return {"ms": n / 1000, "min": n * 60}.get(m.group(2), n)

PROBE = r"""#!/bin/sh
# lms-probe.service: runs inside the container once lmsd.service is up,
# writes KEY=VALUE lines to /probe.out, then powers the container off.
out=/probe.out
say() { echo "$1=$2" >>"$out"; }
show() { systemctl show lmsd.service -p "$1" --value; }
: >"$out"
say active "$(systemctl is-active lmsd.service)"
say status "$(show StatusText)"
pid=$(show MainPID)
{ ps -eo pid,ppid,user,comm; systemctl status lmsd.service; } >>/probe.log 2>&1
say user "$(ps -o user= -p "$pid" 2>/dev/null || stat -c %U /proc/$pid)"
say nonewprivs "$(awk '/^NoNewPrivs:/ {print $2}' /proc/$pid/status)"
say capeff "$(awk '/^CapEff:/ {print $2}' /proc/$pid/status)"
say capbnd "$(awk '/^CapBnd:/ {print $2}' /proc/$pid/status)"
say seccomp "$(awk '/^Seccomp:/ {print $2}' /proc/$pid/status)"
say grades "$(lms-student --home /root/sam grades --course CS101 2>&1 | tr '\n' ' ')"
sed -i 's/^  level: info/  level: debug/' /etc/lms/lmsd.yaml
systemctl reload lmsd.service >>/probe.log 2>&1
say reload_rc $?
sleep 1
say reload_log "$(journalctl -u lmsd.service --no-pager -o cat | grep -c 'log.level info -> debug')"
kill -9 "$pid"
for i in $(seq 1 100); do
    [ "$(show NRestarts)" -ge 1 ] && [ "$(systemctl is-active lmsd.service)" = active ] && break
    sleep 0.1
done
say restarts "$(show NRestarts)"
say active_again "$(systemctl is-active lmsd.service)"
say grades_again "$(lms-student --home /root/sam grades --course CS101 2>&1 | tr '\n' ' ')"
systemctl stop lmsd.service >>/probe.log 2>&1
say stop_rc $?
say stop_result "$(show Result)"
say stop_status "$(show ExecMainStatus)"
journalctl -u lmsd.service --no-pager -o cat >/probe.journal 2>&1
say done 1
"""

PROBE_UNIT = """[Unit]
Description=lms package test: lmsd under systemd
After=lmsd.service
Wants=lmsd.service
[Service]
Type=oneshot
ExecStart=/lms-probe.sh
ExecStopPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
"""


def can_boot_containers():
    """Can systemd-nspawn boot a container here? (Not where the machine is a
    container without the cgroups or privileges it needs.)"""
    return shutil.which("systemd-nspawn") is not None


def under_systemd():
    """Boot ROOT with systemd as init and check lmsd.service there."""
    # postinst enables the unit only where systemd runs; this root had none
    chroot("systemctl", "enable", "lmsd.service")
    with open(os.path.join(ROOT, "lms-probe.sh"), "w") as f:
        f.write(PROBE)
    os.chmod(os.path.join(ROOT, "lms-probe.sh"), 0o755)
    with open(os.path.join(ROOT, "etc/systemd/system/lms-probe.service"), "w") as f:
        f.write(PROBE_UNIT)
    chroot("systemctl", "enable", "lms-probe.service")
    for stale in ["probe.out", "probe.journal", "probe.log"]:
        if os.path.exists(os.path.join(ROOT, stale)):
            os.unlink(os.path.join(ROOT, stale))
    # The container gets a /proc of its own PID namespace from nspawn; the
    # one scripts/package-test mounted for the chroot steps would show it
    # the host's processes.
    subprocess.run(["umount", os.path.join(ROOT, "proc")], check=False)
    # --keep-unit --register=no: no systemd or D-Bus on the host needed
    boot = subprocess.run(["systemd-nspawn", "-q", "--keep-unit", "--register=no",
                           "--private-network", "-D", ROOT, "--boot"],
                          capture_output=True, text=True, timeout=300)
    got = {}
    try:
        with open(os.path.join(ROOT, "probe.out")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                got[k] = v
    except OSError:
        pass
    journal = ""
    if os.path.exists(os.path.join(ROOT, "probe.journal")):
        with open(os.path.join(ROOT, "probe.journal"), errors="replace") as f:
            journal = f.read()[-3000:]
    if got.get("done") != "1":
        why = "the container did not run the probe (nspawn exit %d):\n%s\n%s" % (
            boot.returncode, boot.stdout[-3000:], boot.stderr[-2000:])
        if not os.path.exists(os.path.join(ROOT, "probe.out")) and \
                os.environ.get("LMS_PKG_SYSTEMD", "auto") != "required":
            # systemd never got as far as our unit: this machine cannot boot
            # containers (not a fault of the package); say so, loudly
            step("SKIPPED the service under systemd: systemd-nspawn could not boot the "
                 "root here (LMS_PKG_SYSTEMD=required makes this a failure): " +
                 why.splitlines()[0])
            return
        die(why)
    want = {
        "active": "active", "user": "lms", "nonewprivs": "1",
        "capeff": "0000000000000000", "capbnd": "0000000000000000", "seccomp": "2",
        "reload_rc": "0", "reload_log": "1", "restarts": "1", "active_again": "active",
        "stop_rc": "0", "stop_result": "success", "stop_status": "0",
    }
    for k, v in want.items():
        if got.get(k) != v:
            die("under systemd, %s is %r, expected %r\nall: %r\njournal:\n%s" %
                (k, got.get(k), v, got, journal))
    if not got.get("status", "").startswith("leader of term"):
        die("systemctl show lmsd: StatusText %r, expected 'leader of term ...'" %
            got.get("status"))
    for k in ("grades", "grades_again"):
        if "91" not in got.get(k, ""):
            die("under systemd, lms-student grades (%s) did not show the grade: %r" %
                (k, got.get(k)))
    step("under systemd: %s; no capabilities, no new privileges, seccomp; "
         "reload applied log.level; SIGKILL restarted it; stop exited 0" % got["status"])


class Cli:
    """One installed CLI with a home of its own inside ROOT."""

    def __init__(self, prog, home):
        self.prog = prog
        self.home = home
        chroot("mkdir", "-p", home)

    def run(self, *args, input=None, check=True):
        res = chroot(self.prog, "--home", self.home, *args, input=input, check=False)
        if check and res.returncode != 0:
            die("%s %s: exit %d\n%s%s" % (self.prog, " ".join(args), res.returncode,
                                         res.stdout, res.stderr))
        return res


def main():
    global ROOT
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    ROOT = os.path.abspath(sys.argv[1])
    debs = [os.path.abspath(d) for d in sys.argv[2:]]

    step("install %s with apt in the clean root %s" %
         (", ".join(os.path.basename(d) for d in debs), ROOT))
    os.makedirs(os.path.join(ROOT, "tmp/debs"), exist_ok=True)
    for d in debs:
        shutil.copy(d, os.path.join(ROOT, "tmp/debs"))
    shutil.copy("/etc/resolv.conf", os.path.join(ROOT, "etc/resolv.conf"))
    need = os.environ.get("LMS_PKG_SYSTEMD", "auto")
    with_systemd = need != "off" and (can_boot_containers() or need == "required")
    chroot("apt-get", "update", "-qq")
    chroot("apt-get", "install", "-y", "-qq", "--no-install-recommends",
           *["/tmp/debs/" + os.path.basename(d) for d in debs])
    if with_systemd:  # now, while the network is there (private_network)
        chroot("apt-get", "install", "-y", "-qq", "--no-install-recommends", "systemd")

    step("what the packages and their scripts left")
    res = chroot("getent", "passwd", "lms")
    fields = res.stdout.strip().split(":")
    if fields[5] != "/var/lib/lms" or int(fields[2]) >= 1000:
        die("lms should be a system user with home /var/lib/lms: %r" % res.stdout)
    st = os.stat(os.path.join(ROOT, "var/lib/lms"))
    if st.st_uid != int(fields[2]) or st.st_mode & 0o777 != 0o700:
        die("/var/lib/lms: owner %d mode %o, expected lms and 700 (as StateDirectoryMode)" %
            (st.st_uid, st.st_mode & 0o777))
    conffiles = chroot("dpkg-query", "-W", "-f=${Conffiles}", "lms-server").stdout
    if "/etc/lms/lmsd.yaml" not in conffiles:
        die("/etc/lms/lmsd.yaml is not a conffile: %r" % conffiles)
    for path in ["usr/bin/lmsd", "usr/bin/lms-student", "usr/bin/lms-instructor",
                 "usr/bin/lms-admin", "usr/bin/lms-plugin-check",
                 "lib/systemd/system/lmsd.service", "lib/systemd/system/lmsd@.service",
                 "usr/include/lms/tutor.h"]:
        if not os.path.exists(os.path.join(ROOT, path)):
            die("/%s was not installed" % path)
    plugindir = chroot("sh", "-c", "ls -d /usr/lib/*/lms").stdout.strip()
    for p in ["storage_sqlite.so", "auth_password.so", "tutor_local.so"]:
        if not os.path.exists(os.path.join(ROOT, plugindir.lstrip("/"), p)):
            die("%s/%s was not installed" % (plugindir, p))

    step("the installed lmsd knows no build tree: its plugin directory is %s only"
         % plugindir)
    with open(os.path.join(ROOT, "usr/bin/lmsd"), "rb") as f:
        exe = f.read()
    for build_dir in sys.argv[2:]:
        tree = os.path.dirname(os.path.abspath(build_dir)).encode()
        if tree in exe:
            die("the installed lmsd holds the build tree's path %s" % tree.decode())
    if plugindir.encode() not in exe:
        die("the installed lmsd does not hold its plugin directory %s" % plugindir)

    private_network()
    step("reinstall (configure with the old version, as on an upgrade): "
         "/etc/lms/lmsd.yaml stays root:lms 0640")
    server_deb = "/tmp/debs/" + next(os.path.basename(d) for d in debs
                                      if os.path.basename(d).startswith("lms-server_"))
    os.chmod(os.path.join(ROOT, "etc/lms/lmsd.yaml"), 0o644)  # as dpkg leaves a new conffile
    chroot("dpkg", "-i", server_deb)
    st = os.stat(os.path.join(ROOT, "etc/lms/lmsd.yaml"))
    if st.st_mode & 0o777 != 0o640 or st.st_gid != int(fields[3]):
        die("after a reinstall /etc/lms/lmsd.yaml is mode %o gid %d, expected 640 and lms" %
            (st.st_mode & 0o777, st.st_gid))

    step("lmsd --check-config /etc/lms/lmsd.yaml, as lms")
    chroot("setpriv", "--reuid", "lms", "--regid", "lms", "--init-groups", "--",
           "lmsd", "--check-config", "/etc/lms/lmsd.yaml")

    step("lmsd --init-admin admin, as lms")
    chroot("setpriv", "--reuid", "lms", "--regid", "lms", "--init-groups", "--",
           "lmsd", "--config", "/etc/lms/lmsd.yaml", "--init-admin", "admin",
           input=ADMIN_PW + "\n")

    svc = Service("/lib/systemd/system/lmsd.service")
    step("start the service as its unit says: %s (User=%s)" %
         (" ".join(svc.argv), svc.user))
    svc.start()
    svc.wait_for(lambda m: m == "READY=1", "READY=1")
    status = svc.wait_for(lambda m: m.startswith("STATUS=leader of term"),
                          "a STATUS= line saying it leads")
    step("ready; %s" % status)
    if "WatchdogSec" in svc.settings:
        svc.wait_for(lambda m: m == "WATCHDOG=1", "WATCHDOG=1")

    step("smoke test through the installed CLIs")
    admin = Cli("lms-admin", "/root/admin")
    admin.run("login", "admin", "--password-stdin", input=ADMIN_PW + "\n")
    for name, role in [("ada", "instructor"), ("sam", "student")]:
        admin.run("add-user", name, "--role", role, "--password-stdin",
                  input=USER_PW + "\n")
    admin.run("create-course", "CS101", "--title", "Intro")
    admin.run("enroll", "CS101", "ada", "--as", "instructor")
    admin.run("enroll", "CS101", "sam", "--as", "student")
    teacher = Cli("lms-instructor", "/root/ada")
    teacher.run("login", "ada", "--password-stdin", input=USER_PW + "\n")
    due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    res = teacher.run("create-assignment", "--course", "CS101", "--title", "HW1",
                      "--due", due, "--json")
    asg = re.search(r'"id"\s*:\s*(\d+)', res.stdout)
    if not asg:
        die("create-assignment printed no id: %r" % res.stdout)
    student = Cli("lms-student", "/root/sam")
    student.run("login", "sam", "--password-stdin", input=USER_PW + "\n")
    with open(os.path.join(ROOT, "root/hw1.txt"), "w") as f:
        f.write("my homework\n")
    res = student.run("submit", asg.group(1), "/root/hw1.txt", "--json")
    sub = re.search(r'"id"\s*:\s*(\d+)', res.stdout)
    teacher.run("grade", sub.group(1), "--grade", "91", "--feedback", "well done")
    res = student.run("grades", "--course", "CS101")
    if "91" not in res.stdout or "well done" not in res.stdout:
        die("the student's grades do not show the grade: %r" % res.stdout)

    step("SIGTERM: STOPPING=1, then exit 0")
    svc.stop()
    step("start again: the grade is still there")
    svc.start()
    svc.wait_for(lambda m: m == "READY=1", "READY=1 after a restart")
    res = student.run("grades", "--course", "CS101")
    if "91" not in res.stdout:
        die("after a restart the grade is gone: %r" % res.stdout)
    svc.stop()

    step("man pages and completion are installed")
    for page in ["usr/share/man/man8/lmsd.8.gz", "usr/share/man/man5/lmsd.yaml.5.gz",
                 "usr/share/man/man1/lms-student.1.gz", "usr/share/man/man1/lms-admin.1.gz",
                 "usr/share/man/man1/lms-instructor.1.gz",
                 "usr/share/bash-completion/completions/lms-student"]:
        if not os.path.exists(os.path.join(ROOT, page)):
            die("/%s was not installed" % page)

    if with_systemd:
        step("boot the root with systemd (systemd-nspawn) and run lmsd.service there")
        under_systemd()
    else:
        step("skipped: the service under systemd (no systemd-nspawn here; "
             "LMS_PKG_SYSTEMD=required makes that a failure)")

    step("remove lms-server: the data and the configuration stay")
    chroot("dpkg", "--remove", "lms-server")
    if not os.path.exists(os.path.join(ROOT, "var/lib/lms/lms.db")):
        die("removing the package removed the data")
    if not os.path.exists(os.path.join(ROOT, "etc/lms/lmsd.yaml")):
        die("removing (not purging) the package removed the conffile")
    step("purge lms-server: the configuration goes, the data stays")
    chroot("dpkg", "--purge", "lms-server")
    if os.path.exists(os.path.join(ROOT, "etc/lms/lmsd.yaml")):
        die("purging the package left /etc/lms/lmsd.yaml")
    if not os.path.exists(os.path.join(ROOT, "var/lib/lms/lms.db")):
        die("purging the package removed the data")
    step("install again where a group lms exists without the user")
    chroot("deluser", "--quiet", "lms")
    if chroot("getent", "group", "lms", check=False).returncode != 0:
        chroot("addgroup", "--system", "--quiet", "lms")
    chroot("dpkg", "-i", server_deb)
    user_groups = chroot("id", "-gn", "lms").stdout.strip()
    if user_groups != "lms":
        die("after installing with an existing group, lms's group is %r" % user_groups)
    step("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_started()
