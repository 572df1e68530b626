# SPDX-License-Identifier: MIT
"""Where `domus run` runs for a test: on this host (a pexpect child per VM), or
inside the nested test host (one L1 shell, in which each VM is a command).
Both give the test a pexpect child whose output is the guest console, and a
way to wait for domus's exit status."""
import os
import re
import shlex
import signal
import subprocess
import tempfile

import pexpect

from conftest import ROOT, domus_bin
from guestconsole import GuestConsole


class LocalRunner:
    """domus on this host, in a pty of its own (so it sees a terminal)."""
    name = "local"

    def __init__(self, engine):
        self.engine = engine
        # scratch files of the tests (disk images...), on this host
        self.workdir = tempfile.mkdtemp(prefix="domus-test-")

    def host(self, script, timeout=300):
        """Run a shell script where domus runs (here); return (output, status)."""
        env = dict(os.environ, PATH=f"{domus_bin().parent}:" + os.environ.get("PATH", ""))
        # its own process group: on a timeout, what it started in the
        # background (a domus, a QEMU) goes too instead of lingering
        p = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            raise AssertionError(f"timed out after {timeout}s: {script}\n{out}")
        return out, p.returncode

    def spawn(self, args, stdin_text=None, timeout=120):
        cmd = [str(domus_bin()), "run", "--engine", self.engine, *args]
        if stdin_text is not None:
            # a pipe on stdin, as in: printf ... | domus run
            shell = f"printf %s {shlex.quote(stdin_text)} | {shlex.join(cmd)}; echo EXIT=$?"
            child = pexpect.spawn("/bin/sh", ["-c", shell], encoding="utf-8",
                                  codec_errors="replace", timeout=timeout)
            child.piped = True
        else:
            child = pexpect.spawn(cmd[0], cmd[1:], encoding="utf-8", codec_errors="replace",
                                  timeout=timeout, dimensions=(40, 200))
            child.piped = False
        return child

    def wait_exit(self, child, timeout=120):
        if child.piped:
            child.expect(r"EXIT=(\d+)", timeout=timeout)
            status = int(child.match.group(1))
            child.expect(pexpect.EOF, timeout=30)
            return status
        child.expect(pexpect.EOF, timeout=timeout)
        child.close()
        return child.exitstatus

    def close(self):
        subprocess.run(["rm", "-rf", self.workdir])


class NestedRunner:
    """domus inside the nested test host, driven through L1's serial console.
    L1's console is a terminal, so domus sees a tty there too."""
    name = "nested"
    PROMPT = "hostvm# "

    def __init__(self, engine="kvm", boot_timeout=300):
        self.engine = engine
        script = ROOT / "tests/hostvm/hostvm.sh"
        # loop: the disk tests put a block device under a guest; bridge, tun,
        # veth: the network tests build their networks in L1 (and the
        # migration tests their two "hosts", with iproute2's ip for netns)
        env = dict(os.environ, HOSTVM_MODULES=(os.environ.get("HOSTVM_MODULES", "")
                                               + " loop bridge tun veth").strip())
        # L1 gets more RAM than the largest guest a test asks for (4 GiB):
        # domus refuses guests larger than its host's memory.
        # socat: the host end of --virtio-console and of TCP in the tests;
        # iproute2's ip: network namespaces (busybox's ip has none)
        self.l1 = pexpect.spawn(str(script), ["--interactive", "--need-domus", "--quiet",
                                              "--memory", "6144",
                                              "--add", "/usr/bin/socat",
                                              "--add", "/sbin/ip"],
                                encoding="utf-8", codec_errors="replace", timeout=boot_timeout,
                                dimensions=(40, 200), cwd=str(ROOT), env=env)
        i = self.l1.expect([r"hostvm: interactive shell ready", r"SKIP: (.*)\r?\n",
                            pexpect.EOF], timeout=boot_timeout)
        if i == 1:
            raise RuntimeError("SKIP " + self.l1.match.group(1).strip())
        if i == 2:
            raise RuntimeError(f"nested test host did not start: {self.l1.before[-2000:]}")
        self.l1.expect_exact(self.PROMPT, timeout=60)
        self.shell("stty -echo")
        self.workdir = "/tmp/work"   # L1's /tmp is a tmpfs: sparse files, hole punching
        self.shell(f"mkdir -p {self.workdir}")

    def shell(self, line, timeout=60):
        """Run a command in L1; return (output, status)."""
        self.l1.sendline(f"{line}; echo RC=$?")
        self.l1.expect(r"RC=(\d+)\r*\n", timeout=timeout)
        out, rc = self.l1.before, int(self.l1.match.group(1))
        self.l1.expect_exact(self.PROMPT, timeout=timeout)
        return out.replace("\r", ""), rc

    def host(self, script, timeout=300):
        """Run a shell script in L1 (where domus runs); return (output, status)."""
        return self.shell(f"sh -c {shlex.quote(script)}", timeout=timeout)

    def spawn(self, args, stdin_text=None, timeout=120):
        cmd = "domus run --engine " + self.engine + " " + shlex.join(args)
        if stdin_text is not None:
            cmd = f"printf %s {shlex.quote(stdin_text)} | {cmd}"
        self.l1.sendline(f"{cmd}; echo EXIT=$?")
        self.l1.piped = stdin_text is not None
        return self.l1

    def wait_exit(self, child, timeout=300):
        child.expect(r"EXIT=(\d+)", timeout=timeout)
        status = int(child.match.group(1))
        child.expect_exact(self.PROMPT, timeout=60)
        return status

    def close(self):
        try:
            self.l1.sendline("poweroff -f")
            self.l1.expect(pexpect.EOF, timeout=30)
        except Exception:
            pass
        self.l1.close(force=True)


def boot(runner, args, **kw):
    """domus run (args) on (runner), waited for until the guest's shell is up."""
    child = runner.spawn(args, **kw)
    con = GuestConsole(child, boot_timeout=300)
    con.wait_boot()
    return con
