# SPDX-License-Identifier: MIT
"""`domus container run` for people: a rootfs directory or a tarball, limits
from flags, a terminal with -t, and no config.json written anywhere."""
import os
import subprocess
import tarfile

import pytest

from ocitools import DOMUS, make_rootfs, require_root


@pytest.fixture
def rootfs(tmp_path):
    require_root()
    return make_rootfs(tmp_path / "rootfs")


def run(tmp_path, *args, timeout=60):
    p = subprocess.run([str(DOMUS), "container", "run", "--root", str(tmp_path / "state"), *args],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p


def test_rootfs_dir(tmp_path, rootfs):
    p = run(tmp_path, "--name", "people", str(rootfs), "sh", "-c", "echo $$; hostname; exit 4")
    assert p.returncode == 4, p.stderr
    assert p.stdout.split() == ["1", "people"]
    assert not (rootfs / "config.json").exists() and not (rootfs.parent / "config.json").exists()
    assert list((tmp_path / "state").iterdir()) == []
    assert not os.path.exists("/sys/fs/cgroup/memory/domus-oci/people")


def test_tarball(tmp_path, rootfs):
    tarball = tmp_path / "bb.tar.gz"
    with tarfile.open(tarball, "w:gz") as t:
        t.add(rootfs, arcname=".")
    p = run(tmp_path, str(tarball), "sh", "-c", "ls /bin/busybox && echo from-tarball")
    assert p.returncode == 0, p.stderr
    assert "from-tarball" in p.stdout
    # the extracted tree is gone afterwards
    assert [d.name for d in (tmp_path / "state").iterdir()] == []


def test_limits(tmp_path, rootfs):
    p = run(tmp_path, "--memory", "32M", "--pids", "20", "--cpus", "0.5", str(rootfs), "sh", "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || "
            "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; "
            "dd if=/dev/zero of=/dev/null bs=128M count=1; echo dd=$?")
    out = p.stdout.split()
    assert out[:3] == [str(32 << 20), "20", "50000"] or out[:2] == [str(32 << 20), "20"], out
    assert "dd=137" in out


def test_tty(tmp_path, rootfs):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(str(DOMUS), ["container", "run", "--root", str(tmp_path / "state"), "-t",
                                       str(rootfs), "sh"], timeout=30, encoding="utf-8")
    child.expect("# ")
    child.sendline("tty; echo x=$((40+2))")
    child.expect("/dev/pts/0")
    child.expect("x=42")
    child.sendline("exit 6")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6


def test_bad_flags(tmp_path, rootfs):
    p = run(tmp_path, "--memory", "lots", str(rootfs), "true")
    assert p.returncode == 2 and "--memory: expected a size" in p.stderr
    p = run(tmp_path, "/no/such/rootfs", "true")
    assert p.returncode == 1 and "/no/such/rootfs: No such file or directory" in p.stderr
    p = run(tmp_path, str(rootfs), "/no/such/binary")
    assert p.returncode == 1 and "exec /no/such/binary: No such file or directory" in p.stderr
    assert list((tmp_path / "state").iterdir()) == []


def test_list_kill_delete(tmp_path, rootfs):
    import time
    state = str(tmp_path / "state")
    p = subprocess.Popen([str(DOMUS), "container", "run", "--root", state, "--name", "longrun",
                          str(rootfs), "sleep", "60"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            out = subprocess.run([str(DOMUS), "container", "list", "--root", state],
                                 capture_output=True, text=True).stdout
            if "running" in out:
                break
            time.sleep(0.05)
        assert "longrun" in out and "running" in out, out
        k = subprocess.run([str(DOMUS), "container", "kill", "--root", state, "longrun", "KILL"],
                           capture_output=True, text=True)
        assert k.returncode == 0, k.stderr
        assert p.wait(timeout=30) == 137
    finally:
        if p.poll() is None:
            p.kill()
    assert list((tmp_path / "state").iterdir()) == []
    d = subprocess.run([str(DOMUS), "container", "delete", "--root", state, "longrun"],
                       capture_output=True, text=True)
    assert d.returncode == 1 and "container longrun does not exist" in d.stderr
