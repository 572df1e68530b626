# SPDX-License-Identifier: MIT
"""Driving the default guest's serial console with pexpect, whichever engine
runs it and wherever (this host, or inside the nested test host)."""
import re

import pexpect

PROMPT = "domus-guest:/# "
INIT_MARKER = "domus-guest: init ready"
# Ctrl-A x: QEMU's (and our) escape to quit.
CTRL_A = "\x01"


class GuestConsole:
    """A booted default guest on a pexpect child whose output is the console."""

    def __init__(self, child, boot_timeout=120):
        self.child = child
        self.boot_timeout = boot_timeout

    def wait_boot(self):
        # fail at once, with domus's words, if it exits instead of booting
        i = self.child.expect([re.escape(INIT_MARKER), r"EXIT=\d+", pexpect.EOF],
                              timeout=self.boot_timeout)
        if i != 0:
            raise AssertionError("domus ended before the guest booted: "
                                 + (self.child.before or "")[-1500:])
        self.child.expect_exact(PROMPT, timeout=60)
        # no echo: what comes back is the commands' output only (long
        # command lines would otherwise wrap at the guest's 80 columns)
        self.child.sendline("stty -echo")
        self.child.expect_exact(PROMPT, timeout=60)

    def cmd(self, line, timeout=60):
        """Run (line) in the guest shell; return its output (without the echo)."""
        tag = "@@%d@@" % (abs(hash(line)) % 100000)
        # the end tag is built by the shell so the echoed command can't match it
        self.child.sendline(f"{line}; echo {tag[:3]}''{tag[3:]}")
        self.child.expect_exact(tag, timeout=timeout)
        out = self.child.before
        self.child.expect_exact(PROMPT, timeout=timeout)
        return out.replace("\r", "").strip()

    def poweroff(self, timeout=60):
        self.child.sendline("poweroff")
        self.child.expect(pexpect.EOF, timeout=timeout)


def meminfo_total_kib(text):
    m = re.search(r"MemTotal:\s+(\d+) kB", text)
    assert m, f"no MemTotal in {text!r}"
    return int(m.group(1))


def assert_memtotal_matches(total_kib, memory_mib):
    """MemTotal is RAM minus what the kernel reserves for itself (its image,
    page structures, crash kernel...): between 80% and 100% of --memory."""
    mib = total_kib / 1024
    assert 0.80 * memory_mib <= mib <= memory_mib, \
        f"MemTotal {mib:.0f} MiB does not match --memory {memory_mib}"
