# SPDX-License-Identifier: MIT
"""A real client: Podman (Debian's package) with --runtime domus-oci runs a
busybox image it imported: interactive through the console socket, detached,
exec, stop, and the limits it asks for. Podman keeps its storage in a
private directory here; on our hybrid hosts it needs the cgroupfs manager."""
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import time

import pytest

from ocitools import OCI, make_rootfs, require_root

IMAGE = "localhost/domus-busybox:test"


def ensure_podman():
    if shutil.which("podman"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "podman"],
                       env=env, capture_output=True, timeout=900)
    return shutil.which("podman") is not None


class Podman:
    def __init__(self, tmp):
        self.base = [shutil.which("podman"), "--runtime", str(OCI), "--cgroup-manager",
                     "cgroupfs", "--root", str(tmp / "storage"), "--runroot", str(tmp / "run"),
                     "--storage-driver", "vfs", "--events-backend", "none"]

    def argv(self, *args):
        return [*self.base, *args]

    def __call__(self, *args, timeout=120, check=True):
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check:
            assert p.returncode == 0, f"podman {args}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    require_root()
    if not ensure_podman():
        pytest.skip("podman is not installed and could not be installed")
    tmp = tmp_path_factory.mktemp("podman")
    rootfs = make_rootfs(tmp / "rootfs")
    tarball = tmp / "busybox.tar"
    with tarfile.open(tarball, "w") as t:
        t.add(rootfs, arcname=".")
    pm = Podman(tmp)
    pm("import", str(tarball), IMAGE)
    yield pm
    pm("rm", "--all", "--force", check=False)


def libpod_cgroup(cid):
    return pathlib.Path(f"/sys/fs/cgroup/memory/libpod_parent/libpod-{cid}")


def test_run_uses_domus_oci(podman):
    p = podman("run", "--rm", IMAGE, "sh", "-c", "echo $$; cat /proc/1/cmdline; hostname")
    lines = p.stdout.splitlines()
    assert lines[0] == "1" and lines[1].startswith("sh")
    assert p.returncode == 0


def test_detached_exec_stop(podman):
    cid = podman("run", "-d", "--name", "det", IMAGE, "sleep", "1000").stdout.strip()
    try:
        info = json.loads(podman("inspect", "det").stdout)[0]
        assert info["OCIRuntime"] == str(OCI) or info["OCIRuntime"].endswith("domus-oci")
        assert info["State"]["Status"] == "running"
        p = podman("exec", "det", "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
        pid, cmd = p.stdout.splitlines()
        assert int(pid) > 1 and cmd.strip() == "sleep 1000"
        p = podman("exec", "det", "sh", "-c", "exit 5", check=False)
        assert p.returncode == 5
        t0 = time.time()
        podman("stop", "-t", "2", "det")
        assert time.time() - t0 < 30
        info = json.loads(podman("inspect", "det").stdout)[0]
        assert info["State"]["Status"] in ("exited", "stopped")
    finally:
        podman("rm", "-f", "det", check=False)
    assert not libpod_cgroup(cid).exists()


def test_interactive(podman):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(podman.argv("run", "-it", "--rm", IMAGE, "sh")[0],
                          podman.argv("run", "-it", "--rm", IMAGE, "sh")[1:],
                          timeout=60, encoding="utf-8")
    try:
        child.expect(r"# ")
        child.sendline("echo answer=$((6*7)); tty")
        child.expect("answer=42")
        child.expect("/dev/pts/0")
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 3


def test_exec_interactive(podman):
    pexpect = pytest.importorskip("pexpect")
    podman("run", "-d", "--name", "ex", IMAGE, "sleep", "1000")
    try:
        argv = podman.argv("exec", "-it", "ex", "sh")
        child = pexpect.spawn(argv[0], argv[1:], timeout=60, encoding="utf-8")
        child.expect(r"# ")
        child.sendline("echo in=$((2+3)); tty")
        child.expect("in=5")
        child.expect("/dev/pts/")
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        podman("rm", "-f", "ex", check=False)


def test_memory_limit(podman):
    p = podman("run", "--rm", "--memory", "32m", "--memory-swap", "32m", IMAGE, "sh", "-c",
               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
               "dd if=/dev/zero of=/dev/null bs=128M count=1; echo dd=$?", check=False)
    assert str(32 << 20) in p.stdout
    assert "dd=137" in p.stdout, (p.stdout, p.stderr)


def test_pids_limit(podman):
    bomb = ("sh -c 'i=0; while [ $i -lt 64 ]; do sleep 5 & i=$((i+1)); done'; echo bomb=$?; "
            "n=0; for d in /proc/[0-9]*; do n=$((n+1)); done; echo procs=$n; "
            "read m < /sys/fs/cgroup/pids/pids.max; echo max=$m")
    p = podman("run", "--rm", "--pids-limit", "16", IMAGE, "sh", "-c", bomb, check=False)
    out = dict(l.split("=") for l in p.stdout.split() if "=" in l)
    assert out.get("max") == "16", (p.stdout, p.stderr)
    assert out["bomb"] != "0" and 2 <= int(out["procs"]) <= 16
