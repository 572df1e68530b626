# SPDX-License-Identifier: MIT
"""The cgroup v2 backend, on this hybrid host: in a private mount namespace
with every v1 hierarchy unmounted, only the cgroup2 mount is left and
domus-oci must use it (as on a pure v2 host). That hierarchy has no memory or
pids controller here, so asking for those limits must fail cleanly."""
import json
import pathlib
import subprocess

import pytest

from ocitools import Runtime, require_root

UNIFIED = pathlib.Path("/sys/fs/cgroup/unified")


@pytest.fixture
def rt(tmp_path):
    require_root()
    if not UNIFIED.is_dir() or not (UNIFIED / "cgroup.controllers").exists():
        pytest.skip("no cgroup2 mount at /sys/fs/cgroup/unified on this host")
    r = Runtime(tmp_path)
    yield r
    r.cleanup()


def in_v2_only(rt, *args):
    """domus-oci (args) in a mount namespace where only cgroup2 is mounted."""
    script = ("for m in $(awk '$3 == \"cgroup\" {print $2}' /proc/mounts); do umount $m; done; "
              'exec "$@"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                           "sh", *rt.cmd(*args)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_v2_backend_places_the_process(rt):
    rt.config["process"]["args"] = ["cat", "/proc/self/cgroup"]
    # no cgroup namespace: the path is seen as the host sees it
    rt.config["linux"]["namespaces"] = [n for n in rt.config["linux"]["namespaces"]
                                        if n["type"] != "cgroup"]
    rt.write_config()
    p = in_v2_only(rt, "run", "--bundle", str(rt.bundle), "v2")
    assert p.returncode == 0, p.stderr
    assert "0::/domus-oci/v2\n" in p.stdout, p.stdout
    assert not (UNIFIED / "domus-oci/v2").exists()
    assert not (rt.root / "v2").exists()


def test_v2_missing_controller(rt):
    missing = "pids" not in (UNIFIED / "cgroup.controllers").read_text().split()
    if not missing:
        pytest.skip("this host's cgroup2 has pids")
    rt.config["linux"]["resources"]["pids"] = {"limit": 10}
    rt.write_config()
    p = in_v2_only(rt, "create", "--bundle", str(rt.bundle), "v2p")
    assert p.returncode == 1
    assert ("linux.resources.pids needs the cgroup controller 'pids', which this host does "
            "not have (cgroup v2)") in p.stderr
    assert not (UNIFIED / "domus-oci/v2p").exists()
    assert not (rt.root / "v2p").exists()


@pytest.mark.parametrize("allow_sda", [False, True])
def test_v2_device_rules(rt, allow_sda):
    """Device rules become an eBPF program on v2: the default deny-all keeps
    a block device from being made, unless a rule allows it."""
    caps = rt.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = sorted(set(caps[k]) | {"CAP_MKNOD"})
    rt.config["linux"]["namespaces"] = [n for n in rt.config["linux"]["namespaces"]
                                        if n["type"] != "cgroup"]
    if allow_sda:
        rt.config["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "m"})
    rt.config["process"]["args"] = [
        "sh", "-c", "grep -q '^0::/domus-oci/' /proc/self/cgroup && echo v2; "
        "mknod /tmp/sda b 8 0 && echo made; head -c 3 /dev/zero | wc -c"]
    rt.write_config()
    p = in_v2_only(rt, "run", "--bundle", str(rt.bundle), "v2dev")
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    assert out[0] == "v2" and out[-1] == "3", p.stdout
    if allow_sda:
        assert "made" in out, p.stderr
    else:
        assert "made" not in out and "Operation not permitted" in p.stderr, (p.stdout, p.stderr)
    assert not (UNIFIED / "domus-oci/v2dev").exists()
