# SPDX-License-Identifier: MIT
"""`domus run` refuses bad input with one clear line and a non-zero status,
before any guest starts - for both engines."""
import os
import subprocess

import pytest

ENGINES = ["qemu", "kvm"]


def run(domus, *args, env=None, timeout=30):
    p = subprocess.run([domus, "run", *args], capture_output=True, text=True,
                       timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def one_line(stderr):
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    assert lines[0].startswith("domus: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("args,status,needle", [
    (["--bogus"], 2, "unknown option '--bogus'"),
    (["--memory", "8"], 2, "too little memory"),
    (["--memory", "100T"], 2, "too much memory"),
    (["--memory", "lots"], 2, "expected a size"),
    (["--vcpus", "0"], 2, "out of range"),
    (["--vcpus", "1000"], 2, "out of range"),
    (["--engine", "xen"], 2, "expected kvm, qemu or auto"),
    (["--kernel", "/nonexistent/vmlinuz"], 1, "No such file or directory"),
    (["--kernel", "/etc"], 1, "is a directory"),
    (["--kernel", "/etc/passwd"], 1, "not a bzImage"),
])
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_input(domus, guest, engine, args, status, needle):
    rc, out, err = run(domus, "--engine", engine, *args)
    assert rc == status, (rc, err)
    assert needle in one_line(err)
    assert out == ""


@pytest.mark.parametrize("engine", ENGINES)
def test_unreadable_kernel(domus, guest, engine, tmp_path):
    if os.geteuid() == 0:
        # root reads anything: drop to nobody for this one
        k = tmp_path / "vmlinuz"
        k.write_bytes(open(guest["kernel"], "rb").read(4096))
        k.chmod(0)
        tmp_path.chmod(0o755)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            domus, "run", "--engine", engine, "--kernel", str(k)],
                           capture_output=True, text=True, timeout=30)
        rc, err = p.returncode, p.stderr
    else:
        k = tmp_path / "vmlinuz"
        k.write_bytes(b"x")
        k.chmod(0)
        rc, _, err = run(domus, "--engine", engine, "--kernel", str(k))
    assert rc == 1
    assert "Permission denied" in one_line(err)


@pytest.mark.parametrize("engine", ENGINES)
def test_cmdline_too_long(domus, guest, engine):
    rc, _, err = run(domus, "--engine", engine, "--cmdline", "x" * 5000)
    assert rc == 1
    assert "command line" in one_line(err)


def test_qemu_missing(domus, guest):
    env = dict(os.environ, PATH="/nonexistent")
    rc, _, err = run(domus, "--engine", "qemu", env=env)
    assert rc == 1
    assert "qemu-system-x86_64 not found" in one_line(err)


def test_kvm_missing(domus, guest):
    """--engine kvm without /dev/kvm: hide /dev in a private mount namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root to hide /dev/kvm in a mount namespace")
    p = subprocess.run(["unshare", "-m", "sh", "-c",
                        f"mount -t tmpfs none /dev && exec {domus} run --engine kvm"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr
    assert "/dev/kvm does not exist" in one_line(p.stderr)


def test_help(domus):
    p = subprocess.run([domus, "run", "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for flag in ("--kernel", "--initrd", "--cmdline", "--memory", "--vcpus", "--engine"):
        assert flag in p.stdout


def test_unknown_verb(domus):
    p = subprocess.run([domus, "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2
    assert "unknown verb 'frobnicate'" in one_line(p.stderr)
