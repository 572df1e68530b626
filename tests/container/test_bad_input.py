# SPDX-License-Identifier: MIT
"""Bad input: one clear line naming the problem (for config.json, its JSON
path), a non-zero status, and nothing left behind: no state directory, no
cgroup, no mount, no process."""
import json

import pytest

from ocitools import Runtime, require_root


@pytest.fixture
def rt(tmp_path):
    require_root()
    r = Runtime(tmp_path)
    yield r
    r.cleanup()


def mounts():
    return open("/proc/self/mountinfo").read().count("\n")


def check_refused(rt, cid, needle):
    before = mounts()
    for verb in (["create"], ["run"]):
        p = rt.run(*verb, "--bundle", str(rt.bundle), cid)
        assert p.returncode == 1, (verb, p.stdout, p.stderr)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        assert len(lines) == 1, p.stderr
        assert lines[0].startswith("domus-oci: ") and needle in lines[0], lines[0]
        rt.assert_clean(cid)
    assert mounts() == before
    if rt.root.exists():
        assert list(rt.root.iterdir()) == []


def edit(rt, fn):
    cfg = json.loads(json.dumps(rt.config))
    fn(cfg)
    rt.write_config(cfg)


@pytest.mark.parametrize("change,needle", [
    (lambda c: c["process"].__setitem__("args", "sh"),
     "config.json: process.args: expected array of strings, got string"),
    (lambda c: c["process"].__setitem__("args", ["sh", 3]),
     "config.json: process.args: expected array of strings (process.args[1] is int)"),
    (lambda c: c["process"].__setitem__("args", []), "config.json: process.args: must not be empty"),
    (lambda c: c["process"]["user"].__setitem__("uid", -1),
     "config.json: process.user.uid: -1 out of range"),
    (lambda c: c["process"]["user"].__setitem__("uid", "0"),
     "config.json: process.user.uid: expected an integer, got string"),
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_FLY"),
     "config.json: process.capabilities.bounding[3]: unknown capability 'CAP_FLY'"),
    (lambda c: c["process"]["rlimits"][0].__setitem__("type", "RLIMIT_FOO"),
     "config.json: process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO'"),
    (lambda c: c["mounts"][0].__setitem__("destination", "proc"),
     "config.json: mounts[0].destination: must be an absolute path"),
    (lambda c: c["linux"]["resources"].__setitem__("memory", {"limit": "1G"}),
     "config.json: linux.resources.memory.limit: expected an integer, got string"),
    (lambda c: c.__setitem__("ociVersion", "2.0.0"),
     "config.json: ociVersion: unsupported version '2.0.0'"),
    (lambda c: c.pop("root"), "config.json: root: missing"),
    (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_MAYBE"}),
     "config.json: linux.seccomp.defaultAction: unknown or unsupported action 'SCMP_ACT_MAYBE'"),
])
def test_malformed_config(rt, change, needle):
    edit(rt, change)
    check_refused(rt, "bad", needle)


def test_not_json(rt):
    (rt.bundle / "config.json").write_text('{"ociVersion": "1.0.2", "process": {')
    check_refused(rt, "bad", "config.json: not valid JSON at offset")


def test_unknown_namespace(rt):
    edit(rt, lambda c: c["linux"]["namespaces"].append({"type": "galaxy"}))
    check_refused(rt, "bad", "config.json: linux.namespaces[6].type: unknown namespace 'galaxy'")


def test_missing_namespace_path(rt):
    edit(rt, lambda c: c["linux"]["namespaces"].__setitem__(
        1, {"type": "network", "path": "/run/netns/does-not-exist"}))
    check_refused(rt, "bad", "network namespace /run/netns/does-not-exist: No such file")


def test_missing_rootfs(rt):
    edit(rt, lambda c: c["root"].__setitem__("path", "no-such-rootfs"))
    check_refused(rt, "bad", "no-such-rootfs: No such file or directory")


def test_missing_bundle_config(rt):
    (rt.bundle / "config.json").unlink()
    check_refused(rt, "bad", "config.json: No such file or directory")


def test_controller_the_host_lacks(rt):
    # rdma is on neither hierarchy of our hosts (v1 controllers, v2 hugetlb only)
    have = open("/proc/cgroups").read()
    if "\nrdma" in have:
        pytest.skip("this host has the rdma controller")
    edit(rt, lambda c: c["linux"]["resources"].__setitem__(
        "rdma", {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}}))
    check_refused(rt, "bad", "needs the cgroup controller 'rdma', which this host does not have")


def test_failure_inside_the_container_setup(rt):
    # an exec that fails after namespaces, cgroup and mounts were made
    edit(rt, lambda c: c["process"].__setitem__("cwd", "/no/such/dir"))
    check_refused(rt, "bad", "process.cwd /no/such/dir: No such file or directory")


def test_bad_mount(rt):
    edit(rt, lambda c: c["mounts"].append(
        {"destination": "/mnt", "type": "bind", "source": "/no/such/source", "options": ["bind"]}))
    check_refused(rt, "bad", "bind mount source /no/such/source: No such file or directory")


def test_duplicate_and_bad_id(rt):
    p = rt.run("create", "--bundle", str(rt.bundle), "../evil")
    assert p.returncode == 1 and "invalid container id" in p.stderr
    rt.config["process"]["args"] = ["sleep", "10"]
    rt.write_config()
    rt.run("create", "--bundle", str(rt.bundle), "dup", check=True)
    p = rt.run("create", "--bundle", str(rt.bundle), "dup")
    assert p.returncode == 1 and "container dup already exists" in p.stderr
    assert rt.state("dup")["status"] == "created"
    rt.run("delete", "dup", check=True)
    rt.assert_clean("dup")


def test_terminal_without_console_socket(rt):
    edit(rt, lambda c: c["process"].__setitem__("terminal", True))
    p = rt.run("create", "--bundle", str(rt.bundle), "tty")
    assert p.returncode == 1 and "--console-socket is required" in p.stderr
    rt.assert_clean("tty")
