# SPDX-License-Identifier: MIT
"""Isolation that holds: PID 1, invisible host processes and mounts, exact
capabilities, seccomp's errno, the memory limit's OOM kill, the pids limit
against a fork bomb, and the host unaffected."""
import os
import pathlib

import pytest

from ocitools import Runtime, require_root

CAPS = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10}


@pytest.fixture
def rt(tmp_path):
    require_root()
    r = Runtime(tmp_path)
    yield r
    r.cleanup()


def test_pid1_and_hidden_host(rt):
    p = rt.oci_run(["sh", "-c", "echo $$; ps -o pid,comm | wc -l; cat /proc/mounts; hostname"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "1", "the container's process is PID 1 inside"
    assert int(lines[1]) <= 4, f"host processes visible: {lines[1]} lines of ps"
    mounts = "\n".join(lines[2:-1])
    # this test runs from /work and /tmp on the host; none of it shows inside
    assert "/work" not in mounts and str(rt.tmp) not in mounts, mounts
    assert lines[-1] == "domus"
    assert os.uname().nodename != "domus"


def test_capabilities_exact(rt):
    names = sorted(CAPS)
    rt.config["process"]["capabilities"] = {k: names for k in
                                            ("bounding", "effective", "permitted")}
    p = rt.oci_run(["sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status"])
    assert p.returncode == 0, p.stderr
    want = sum(1 << v for v in CAPS.values())
    got = {l.split(":")[0]: int(l.split()[1], 16) for l in p.stdout.splitlines()}
    assert got == {"CapEff": want, "CapPrm": want, "CapBnd": want}, (hex(want), got)


def test_capabilities_enforced(rt):
    rt.config["process"]["capabilities"] = {k: ["CAP_KILL"] for k in
                                            ("bounding", "effective", "permitted")}
    p = rt.oci_run(["sh", "-c", "chown 1:1 /tmp && echo chowned; mknod /tmp/n c 1 3 && echo made"])
    assert "chowned" not in p.stdout and "made" not in p.stdout
    assert "Operation not permitted" in p.stderr


def test_user_and_groups(rt):
    rt.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7]}
    p = rt.oci_run(["id"])
    assert p.returncode == 0, p.stderr
    assert "uid=1000" in p.stdout and "gid=1001" in p.stdout
    assert "groups=5,7" in p.stdout, p.stdout


def test_seccomp_errno(rt):
    rt.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 28}],
    }
    p = rt.oci_run(["sh", "-c", "mkdir /tmp/x; echo status=$?; touch /tmp/y && echo touched"])
    assert "No space left on device" in p.stderr, p.stderr   # errno 28, as configured
    assert "status=1" in p.stdout and "touched" in p.stdout
    assert not (rt.bundle / "rootfs/tmp/x").exists()


def test_nonewprivs_and_rlimits(rt):
    rt.config["process"]["noNewPrivileges"] = True
    rt.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
    p = rt.oci_run(["sh", "-c", "grep NoNewPrivs /proc/self/status; ulimit -n; ulimit -Hn"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["NoNewPrivs:", "1", "123", "456"]


def test_masked_readonly_sysctl(rt):
    rt.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    p = rt.oci_run(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; cat /proc/kcore | wc -c;"
                    " echo 1 > /proc/sys/kernel/domainname || echo ro"])
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    assert out == ["1", "0", "ro"], (p.stdout, p.stderr)
    assert pathlib.Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() in ("0", "1")


def test_memory_limit_oom(rt):
    rt.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    # dd's buffer of 128 MiB is filled from /dev/zero: far beyond the limit
    p = rt.oci_run(["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
                    " || cat /sys/fs/cgroup/memory.max; dd if=/dev/zero of=/dev/null bs=128M "
                    "count=1; echo dd=$?"], cid="oom")
    assert str(32 << 20) in p.stdout
    assert "dd=137" in p.stdout, (p.stdout, p.stderr)     # SIGKILL by the OOM killer
    # the host is unaffected: another container runs normally right after
    p = rt.oci_run(["sh", "-c", "dd if=/dev/zero of=/dev/null bs=4M count=1 2>/dev/null; echo ok"],
                   cid="after")
    assert p.stdout.strip() == "ok"
    rt.assert_clean("oom")


def test_pids_limit_fork_bomb(rt):
    rt.config["linux"]["resources"]["pids"] = {"limit": 16}
    # the bomb in a child shell (its failed forks end it); then only shell
    # builtins, since the sleeps hold the pids: count processes, read the limit
    bomb = ("sh -c 'i=0; while [ $i -lt 64 ]; do sleep 5 & i=$((i+1)); done'; echo bomb=$?; "
            "n=0; for d in /proc/[0-9]*; do n=$((n+1)); done; echo procs=$n; "
            "read m < /sys/fs/cgroup/pids/pids.max || read m < /sys/fs/cgroup/pids.max; "
            "echo max=$m")
    p = rt.oci_run(["sh", "-c", bomb], cid="bomb", timeout=120)
    out = dict(l.split("=") for l in p.stdout.split())
    assert out["max"] == "16", p.stdout
    assert out["bomb"] != "0", "the fork bomb should have failed"
    assert 2 <= int(out["procs"]) <= 16, p.stdout
    assert "can't fork" in p.stderr or "Resource temporarily unavailable" in p.stderr
    # the host can still fork
    assert os.system("true") == 0
    rt.assert_clean("bomb")


def test_cpu_limit_written(rt):
    rt.config["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000, "shares": 512}
    p = rt.oci_run(["sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
                    "/sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.max"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() in (["50000", "512"], ["50000", "100000"])


def test_user_namespace(rt):
    # the mapped root (host uid 100000) must be able to reach the rootfs
    for d in [rt.bundle, *rt.bundle.parents]:
        if str(d).startswith("/tmp/"):
            os.chmod(d, 0o755)
    rt.config["linux"]["namespaces"].append({"type": "user"})
    rt.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    rt.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    p = rt.oci_run(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; sleep 0.5"],
                   cid="userns")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "100000", "65536", "0", "100000", "65536", "0"]
    rt.assert_clean("userns")


def test_join_namespace_by_path(rt, tmp_path):
    import subprocess
    holder = subprocess.Popen(["unshare", "--net", "--uts", "sleep", "60"])
    try:
        import time
        for _ in range(100):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.02)
        want = os.readlink(f"/proc/{holder.pid}/ns/net")
        ns = [n for n in rt.config["linux"]["namespaces"] if n["type"] != "network"]
        ns.append({"type": "network", "path": f"/proc/{holder.pid}/ns/net"})
        rt.config["linux"]["namespaces"] = ns
        p = rt.oci_run(["readlink", "/proc/self/ns/net"], cid="joined")
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == want != os.readlink("/proc/self/ns/net")
    finally:
        holder.kill()
        holder.wait()
    rt.assert_clean("joined")


@pytest.mark.parametrize("allow_sda", [False, True])
def test_device_rules(rt, allow_sda):
    """The default deny-all device rule keeps a block device from being made
    even with CAP_MKNOD, unless a rule allows it; the default devices work."""
    caps = rt.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = sorted(set(caps[k]) | {"CAP_MKNOD"})
    if allow_sda:
        rt.config["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "m"})
    p = rt.oci_run(["sh", "-c", "mknod /tmp/sda b 8 0 && echo made; head -c 3 /dev/zero | wc -c"],
                   cid="dev")
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    assert out[-1] == "3"
    assert ("made" in out) == allow_sda, (p.stdout, p.stderr)
    rt.assert_clean("dev")
