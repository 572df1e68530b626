# SPDX-License-Identifier: MIT
"""The nested test host (tests/hostvm/hostvm.sh) for pytest, under pexpect.

    from hostvm import HostVM, HostVMUnavailable

    with HostVM(with_qemu=False) as vm:          # boots L1, waits for "hostvm# "
        out, status = vm.run("ls /dev/kvm")      # a command in L1's shell
        vm.sendline("domus run --vcpus 2")       # then the L2 guest's console:
        vm.expect("domus-guest:/# ", timeout=120)
        vm.sendline("poweroff -f")
        vm.wait_prompt(timeout=60)               # back in L1
        status = vm.last_status()                # domus's exit status

HostVMUnavailable is raised when hostvm.sh reports "SKIP: ..." (qemu, the guest
files, domus... missing): turn it into pytest.skip (see the `hostvm` fixture in
test_hostvm.py). L1's shell runs with "stty -echo", so run() returns exactly the
command's output ("\\r\\n" turned into "\\n"). vm.child is the raw pexpect child
(encoding utf-8); everything read is also in vm.transcript and in the log file
(build/hostvm/pytest-<pid>-<n>.log unless logfile= is given).

Run with Debian's interpreter and python3-pexpect: /usr/bin/python3 -m pytest.
"""
import itertools
import os
import re
import signal
import time
import uuid

import pexpect

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTVM_SH = os.path.join(TOP, "tests", "hostvm", "hostvm.sh")
PROMPT = "hostvm# "
_counter = itertools.count()


class HostVMUnavailable(Exception):
    """hostvm.sh skipped: a prerequisite is missing (the message says which)."""


class HostVMError(Exception):
    """L1 did not boot, died, or a command did not finish in time."""


class _Transcript:
    """pexpect logfile_read target: keeps everything, and copies it to a file."""

    def __init__(self, path):
        self.parts = []
        self.file = open(path, "w", encoding="utf-8", errors="replace") if path else None

    def write(self, s):
        self.parts.append(s)
        if self.file:
            self.file.write(s)

    def flush(self):
        if self.file:
            self.file.flush()

    def close(self):
        if self.file:
            self.file.close()
            self.file = None

    def text(self):
        return "".join(self.parts)


class HostVM:
    def __init__(self, with_qemu=False, need_domus=False, no_domus=False, memory=None, smp=None,
                 add=(), append=None, extra_args=(), boot_timeout=180, lifetime=None,
                 logfile=None, env=None, scratch=None, with_fio=False):
        """with_qemu: put QEMU in the payload; need_domus: skip unless build/domus
        (or $DOMUS_BIN) exists; no_domus: leave it out; memory (MiB) and smp: L1's;
        add: ["SRC[:DEST]", ...] more payload files; append: more L1 kernel command
        line; boot_timeout: seconds until the prompt; lifetime: hostvm.sh --timeout
        (L1 is powered off after that many seconds, default none); scratch: a size
        ("4G"): L1 gets a writable ext4 disk of that size at /scratch; with_fio:
        fio and the guest's initrd-fio.img in the payload."""
        args = ["--interactive"]
        if with_qemu:
            args.append("--with-qemu")
        if with_fio:
            args.append("--with-fio")
        if scratch:
            args += ["--scratch", str(scratch)]
        if need_domus:
            args.append("--need-domus")
        if no_domus:
            args.append("--no-domus")
        if memory:
            args += ["--memory", str(memory)]
        if smp:
            args += ["--smp", str(smp)]
        for a in add:
            args += ["--add", a]
        if append:
            args += ["--append", append]
        if lifetime:
            args += ["--timeout", str(lifetime)]
        self.args = args + list(extra_args)
        self.boot_timeout = boot_timeout
        if logfile is None:
            os.makedirs(os.path.join(TOP, "build", "hostvm"), exist_ok=True)
            logfile = os.path.join(TOP, "build", "hostvm",
                                   "pytest-%d-%d.log" % (os.getpid(), next(_counter)))
        self.logfile = logfile
        # Console logs of earlier sessions go after a day.
        logdir = os.path.dirname(logfile)
        for f in os.listdir(logdir) if os.path.isdir(logdir) else []:
            if f.startswith("pytest-") and f.endswith(".log"):
                try:
                    if os.path.getmtime(os.path.join(logdir, f)) < time.time() - 86400:
                        os.unlink(os.path.join(logdir, f))
                except OSError:
                    pass
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("TERM", "dumb")
        # tests/conftest.py's DOMUS_BUILD (another build directory) applies here too.
        if "DOMUS_BUILD" in self.env:
            self.env.setdefault("DOMUS_BIN", os.path.join(self.env["DOMUS_BUILD"], "domus"))
            self.env.setdefault("HOSTVM_GUEST", os.path.join(self.env["DOMUS_BUILD"], "guest"))
        self.child = None
        self._transcript = None

    # --- life cycle -------------------------------------------------------------------
    def start(self):
        self._transcript = _Transcript(self.logfile)
        self.child = pexpect.spawn(HOSTVM_SH, self.args, cwd=TOP, env=self.env, encoding="utf-8",
                                   codec_errors="replace", timeout=self.boot_timeout,
                                   dimensions=(50, 200))
        self.child.logfile_read = self._transcript
        i = self.child.expect([r"SKIP: ([^\r\n]*)\r*\n", r"hostvm: interactive shell ready",
                               r"HOSTVM-STATUS=setup-failed", pexpect.EOF, pexpect.TIMEOUT])
        if i == 0:
            reason = self.child.match.group(1)
            self.close()
            raise HostVMUnavailable(reason)
        if i != 1:
            what = {2: "L1 setup failed", 3: "hostvm.sh ended",
                    4: "no shell after %ss" % self.boot_timeout}[i]
            self.close()
            raise HostVMError("%s; console:\n%s" % (what, self.transcript[-3000:]))
        self.wait_prompt(timeout=30)
        # No echo (busybox sh then reads plain lines) and a known terminal size.
        self.run("stty -echo rows 50 cols 200", timeout=30)
        return self

    def close(self):
        """Power L1 off (hostvm.sh and QEMU end; their run directory goes)."""
        if self.child is not None:
            if self.child.isalive():
                # SIGTERM lets hostvm.sh stop QEMU and remove its run directory.
                self.child.kill(signal.SIGTERM)
                try:
                    self.child.expect(pexpect.EOF, timeout=10)
                except (pexpect.TIMEOUT, pexpect.EOF):
                    pass
            self.child.close(force=True)
            self.child = None
        if self._transcript:
            self._transcript.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    # --- talking to L1 -------------------------------------------------------------------
    @property
    def transcript(self):
        return self._transcript.text() if self._transcript else ""

    def sendline(self, s=""):
        return self.child.sendline(s)

    def send(self, s):
        return self.child.send(s)

    def expect(self, pattern, timeout=60):
        """pexpect's expect, with HostVMError (and the end of the console)
        instead of pexpect's EOF/TIMEOUT exceptions."""
        try:
            return self.child.expect(pattern, timeout=timeout)
        except pexpect.EOF:
            raise HostVMError("L1 console closed while waiting for %r; console:\n%s"
                              % (pattern, self.transcript[-3000:])) from None
        except pexpect.TIMEOUT:
            raise HostVMError("timeout (%ss) waiting for %r; console:\n%s"
                              % (timeout, pattern, self.transcript[-3000:])) from None

    def expect_exact(self, s, timeout=60):
        return self.expect(re.escape(s) if isinstance(s, str) else s, timeout)

    def wait_prompt(self, timeout=60):
        """Wait for L1's shell prompt (e.g. after an L2 guest ended)."""
        self.expect(re.escape(PROMPT), timeout=timeout)

    def run(self, cmd, timeout=60):
        """Run a shell command in L1; returns (output, exit status). The command
        and the status report form one compound command, so a command that reads
        stdin cannot swallow the report."""
        token = "__hv_%s__" % uuid.uuid4().hex[:12]
        self.child.sendline("{ %s\n}; echo %s-$?" % (cmd, token))
        self.expect(r"%s-(\d+)\r*\n" % token, timeout=timeout)
        out = self.child.before
        status = int(self.child.match.group(1))
        self.wait_prompt(timeout=10)
        # Both L1's tty and the pty under hostvm.sh turn "\n" into "\r\n".
        return re.sub(r"\r+\n", "\n", out).replace("\r", ""), status

    def last_status(self, timeout=10):
        """$? in L1's shell: the exit status of the last command sent with
        sendline() (e.g. domus's, after wait_prompt())."""
        token = "__hvst_%s__" % uuid.uuid4().hex[:12]
        self.child.sendline("echo %s-$?" % token)
        self.expect(r"%s-(\d+)\r*\n" % token, timeout=timeout)
        st = int(self.child.match.group(1))
        self.wait_prompt(timeout=10)
        return st
