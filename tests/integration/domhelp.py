# SPDX-License-Identifier: MIT
"""Helpers for the domain-management tests: a private DOMUS_ROOT, the domus
command run in it, config files for the default guest, and a clean-up that
destroys whatever a test left running."""
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time

from conftest import GUEST, domus_bin


class Domus:
    def __init__(self, engine="qemu"):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="domus-dom-"))
        self.engine = engine
        self.env = dict(os.environ, DOMUS_ROOT=str(self.root))
        self.bin = str(domus_bin())

    def run(self, *args, timeout=120, check=None, input=None):
        p = subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check is True:
            assert p.returncode == 0, f"domus {' '.join(args)}: {p.returncode}\n{p.stdout}{p.stderr}"
        if check is False:
            assert p.returncode != 0, f"domus {' '.join(args)} succeeded:\n{p.stdout}"
        return p

    def ok(self, *args, **kw):
        return self.run(*args, check=True, **kw).stdout

    def fails(self, *args, **kw):
        p = self.run(*args, check=False, **kw)
        return p.stderr

    def cfg(self, name, extra="", kernel=True):
        """Write NAME.cfg for the default guest; return its path."""
        text = f'# {name}: a test domain\nname = "{name}"\nmemory = 256\nvcpus = 1\n'
        text += f'engine = "{self.engine}"\n'
        if kernel:
            text += (f'kernel = "{GUEST}/vmlinuz"\nramdisk = "{GUEST}/initrd.img"\n'
                     # no_timer_check: TCG on a loaded host can be too slow
                     # for the kernel's IO-APIC timer check, which then panics
                     'extra = "quiet no_timer_check"\n')
        text += extra
        path = self.root / f"{name}.cfg"
        path.write_text(text)
        return str(path)

    def list(self, *flags):
        """{name: (id, state)} from `domus list`."""
        out = self.ok("list", *flags)
        rows = {}
        for line in out.splitlines()[2:]:
            m = re.match(r"\s*(\S+)\s+(\S+)\s+(.+?)\s*$", line)
            if m:
                rows[m.group(2)] = (m.group(1), m.group(3))
        return rows

    def state(self, name):
        return self.list("--all").get(name, (None, None))[1]

    def wait_state(self, name, want, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            s = self.state(name)
            if s == want:
                return
            time.sleep(0.3)
        raise AssertionError(f"{name}: state {self.state(name)!r}, expected {want!r}\n"
                             + self.log(name))

    def statefile(self, name):
        return json.loads((self.root / "run/domus" / name / "state").read_text())

    def log(self, name):
        p = self.root / "run/domus" / name / "log"
        return p.read_text() if p.exists() else ""

    def console_cmd(self, name, line, expect, timeout=60):
        """Send (line) to the domain's console, return the output once (expect) shows."""
        import pexpect
        child = pexpect.spawn(self.bin, ["console", name], env=self.env, encoding="utf-8",
                              codec_errors="replace", timeout=timeout)
        try:
            child.expect_exact("Escape character is ^]")
            child.sendline("")
            child.sendline(line)
            child.expect(expect)
            out = child.before + child.after
            child.send("\x1d")
            child.expect(pexpect.EOF, timeout=10)
            return out
        finally:
            child.close(force=True)

    def wait_console(self, name, text, timeout=120):
        """Wait until the console log (replayed on attach) shows (text)."""
        import pexpect
        child = pexpect.spawn(self.bin, ["console", name], env=self.env, encoding="utf-8",
                              codec_errors="replace", timeout=timeout)
        try:
            child.expect_exact(text)
            child.send("\x1d")
            child.expect(pexpect.EOF, timeout=10)
        finally:
            child.close(force=True)

    def cleanup(self):
        # destroy everything still alive, then the tree
        for name in list(self.list("--all")):
            self.run("destroy", name)
        subprocess.run(["rm", "-rf", str(self.root)])
