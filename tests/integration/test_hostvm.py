# SPDX-License-Identifier: MIT
"""The nested test host itself: L1 boots, has a working /dev/kvm, runs scripts.

    /usr/bin/python3 -m pytest -v tests/integration/test_hostvm.py

Skips (with the reason) when QEMU, busybox-static, e2fsprogs or the guest files
(tools/mkguest.sh build/guest) are missing.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostvm import HOSTVM_SH, HostVM, HostVMUnavailable  # noqa: E402


@pytest.fixture(scope="module")
def hostvm():
    vm = HostVM(no_domus=True, lifetime=600)
    try:
        vm.start()
    except HostVMUnavailable as e:
        pytest.skip(str(e))
    yield vm
    vm.close()


def test_l1_boots_to_shell(hostvm):
    out, status = hostvm.run("uname -r; hostname")
    assert status == 0
    lines = out.split()
    assert lines[-1] == "hostvm"
    out, status = hostvm.run("false")
    assert (out, status) == ("", 1)


def test_dev_kvm_and_kvm_amd(hostvm):
    out, status = hostvm.run("test -c /dev/kvm && echo kvm-ok")
    assert status == 0 and "kvm-ok" in out
    out, _ = hostvm.run("cat /proc/modules")
    mods = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"kvm_amd", "kvm", "irqbypass"} <= mods, mods
    out, _ = hostvm.run("grep -c svm /proc/cpuinfo")
    assert int(out.split()[0]) >= 1


def test_payload_mounted(hostvm):
    out, status = hostvm.run("test -f /hv/guest/vmlinuz && test -f /hv/guest/initrd.img && echo ok")
    assert status == 0 and "ok" in out
    out, _ = hostvm.run("echo $PATH")
    assert "/hv/bin" in out


def test_script_status_comes_back():
    """Script mode: output streamed, HOSTVM-STATUS turned into the exit status."""
    p = subprocess.run([HOSTVM_SH, "--no-domus", "--timeout", "300", "-c",
                        "echo hello-from-l1; test -c /dev/kvm || exit 9; exit 42"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    if p.returncode == 77:
        pytest.skip(p.stdout.strip())
    assert "hello-from-l1" in p.stdout
    assert p.returncode == 42, (p.stdout[-2000:], p.stderr[-2000:])
