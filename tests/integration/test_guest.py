# SPDX-License-Identifier: MIT
"""Boot the real default guest (Debian's cloud kernel + busybox initramfs) and
drive its serial console, on both engines:
  - qemu: on this host;
  - kvm: domus's own hypervisor, inside the nested test host (a QEMU/TCG VM
    with SVM and kvm_amd), or on this host when its /dev/kvm is native."""
import os
import re
import subprocess

import pexpect
import pytest

from conftest import domus_bin
from guestconsole import (CTRL_A, INIT_MARKER, PROMPT, GuestConsole,
                          assert_memtotal_matches, meminfo_total_kib)
from runners import NestedRunner, boot


@pytest.mark.parametrize("vcpus", [1, 2, 4])
def test_vcpus_memory_kernel_poweroff(runner, guest, vcpus):
    memory = 256 if vcpus != 2 else 4096  # 4 GiB: RAM above the 32-bit hole too
    con = boot(runner, ["--vcpus", str(vcpus), "--memory", str(memory)])
    assert con.cmd("nproc") == str(vcpus)
    assert_memtotal_matches(meminfo_total_kib(con.cmd("cat /proc/meminfo")), memory)
    assert con.cmd("uname -r") == guest["release"]
    con.child.sendline("poweroff")
    assert runner.wait_exit(con.child) == 0


def test_reboot_boots_again_in_same_process(runner, guest):
    con = boot(runner, [])
    con.cmd("echo first-boot > /tmp/mark")
    con.child.sendline("reboot")
    # the same domus process boots the kernel again: a fresh /tmp
    con.wait_boot()
    assert con.cmd("cat /tmp/mark 2>/dev/null || echo fresh") == "fresh"
    con.child.sendline("poweroff")
    assert runner.wait_exit(con.child) == 0


def test_panic_is_a_crash(runner, guest):
    con = boot(runner, [])
    con.child.sendline("echo c > /proc/sysrq-trigger")
    assert runner.wait_exit(con.child) == 3


def test_piped_stdin_reaches_guest_without_loss(runner, guest):
    lines = "".join(f"echo line-{i}-$(( {i} * 7 ))\n" for i in range(40))
    child = runner.spawn([], stdin_text="nproc\n" + lines + "poweroff -f\n")
    child.expect_exact(INIT_MARKER, timeout=300)
    for i in range(40):
        child.expect_exact(f"line-{i}-{i * 7}", timeout=120)
    assert runner.wait_exit(child) == 0


def test_ctrl_a_x_quits_and_restores_terminal(runner, guest, tmp_path):
    if isinstance(runner, NestedRunner):
        runner.shell("stty -g > /tmp/stty.before")
        con = boot(runner, [])
        con.child.send(CTRL_A + "x")
        assert runner.wait_exit(con.child) == 4
        out, rc = runner.shell("stty -g | cmp - /tmp/stty.before && echo SAME")
        assert "SAME" in out, out
        return
    before, after = tmp_path / "before", tmp_path / "after"
    shell = (f"stty -g > {before}; {domus_bin()} run --engine {runner.engine}; "
             f"echo EXIT=$?; stty -g > {after}")
    child = pexpect.spawn("/bin/sh", ["-c", shell], encoding="utf-8", codec_errors="replace",
                          timeout=120)
    con = GuestConsole(child)
    con.wait_boot()
    child.send(CTRL_A + "x")
    child.expect(r"EXIT=(\d+)", timeout=60)
    assert int(child.match.group(1)) == 4
    child.expect(pexpect.EOF, timeout=30)
    assert before.read_text() == after.read_text(), "terminal settings not restored"


def test_triple_fault(runner, guest):
    """Linux's reboot=t reboots by triple-faulting on purpose: the kvm engine
    reports a triple fault as a crash (status 3); QEMU resets the machine, so
    the qemu engine boots again (docs/cli.md)."""
    con = boot(runner, ["--cmdline", "console=ttyS0 quiet reboot=t"])
    con.child.sendline("reboot -f")
    if runner.engine == "kvm":
        con.child.expect_exact("guest crashed: triple fault", timeout=120)
        assert runner.wait_exit(con.child) == 3
    else:
        con.wait_boot()
        con.child.sendline("poweroff")
        assert runner.wait_exit(con.child) == 0


def test_clock_rtc_and_kvmclock(runner, guest):
    """The guest's wall clock and its CMOS RTC (read directly with hwclock)
    agree with the host within a few seconds; under the kvm engine the guest
    runs on kvmclock (KVM's paravirtual leaves reached it)."""
    import time
    con = boot(runner, [])
    guest_now = int(con.cmd("date +%s"))
    assert abs(guest_now - time.time()) < 10, (guest_now, time.time())
    rtc = con.cmd("hwclock -r -u 2>&1; echo; date -u +%Y")
    assert re.search(r"\d\d:\d\d:\d\d", rtc), rtc
    assert str(time.gmtime().tm_year) in rtc, rtc
    if runner.engine == "kvm":
        src = con.cmd("cat /sys/devices/system/clocksource/clocksource0/current_clocksource")
        assert src == "kvm-clock", src
    con.child.sendline("poweroff")
    assert runner.wait_exit(con.child) == 0


def test_kill_9_leaves_nothing_behind(runner, guest):
    """kill -9 of domus: the qemu engine's QEMU dies with it (no orphaned VM)."""
    if runner.engine != "qemu":
        pytest.skip("the kvm engine runs in-process: nothing can outlive it")
    import signal
    import time
    con = boot(runner, [])
    pid = con.child.pid
    children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    assert children, "no QEMU child process"
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{c}") and
                                         "zombie" not in open(f"/proc/{c}/status").read()
                                         for c in children):
        time.sleep(0.1)
    alive = [c for c in children if os.path.exists(f"/proc/{c}")
             and "zombie" not in open(f"/proc/{c}/status").read()]
    assert not alive, f"QEMU still running after kill -9 of domus: {alive}"


def test_virtio_rng_over_pci(runner, guest):
    """The guest finds the PCI bus, binds virtio-pci (modern) to the
    virtio-rng function, and reads entropy through its virtqueue, with
    MSI-X interrupts."""
    con = boot(runner, ["--vcpus", "2"])
    vendors = con.cmd("cat /sys/bus/pci/devices/*/vendor")
    assert "0x1af4" in vendors.split(), vendors
    assert con.cmd("cat /sys/class/misc/hw_random/rng_current").startswith("virtio_rng")
    assert con.cmd("head -c 65536 /dev/hwrng | wc -c") == "65536"
    # entropy, not zeros
    zeros = con.cmd("head -c 4096 /dev/zero | md5sum")
    assert con.cmd("head -c 4096 /dev/hwrng | md5sum") != zeros
    irqs = con.cmd("grep -i virtio /proc/interrupts")
    assert "PCI-MSI" in irqs, irqs
    con.child.sendline("poweroff")
    assert runner.wait_exit(con.child) == 0
