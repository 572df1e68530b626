# SPDX-License-Identifier: MIT
"""domus-oci's lifecycle: creating → created → running → stopped → deleted,
the verbs runc and crun users expect, and cleanup after kill -9 of the runtime."""
import json
import os
import signal
import subprocess
import time

import pytest

from ocitools import OCI, Runtime, require_root


@pytest.fixture
def rt(tmp_path):
    require_root()
    r = Runtime(tmp_path)
    yield r
    r.cleanup()


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_states(rt):
    rt.config["process"]["args"] = ["sleep", "30"]
    rt.write_config()
    rt.run("create", "--bundle", str(rt.bundle), "c1", check=True)
    st = rt.state("c1")
    assert st["status"] == "created" and st["id"] == "c1" and st["pid"] > 0
    assert st["bundle"] == str(rt.bundle)
    # created: the process exists but has not exec'd the container's args
    cmdline = open(f"/proc/{st['pid']}/cmdline", "rb").read()
    assert b"sleep" not in cmdline
    out = rt.run("list", check=True).stdout
    assert "c1" in out and "created" in out
    rt.run("start", "c1", check=True)
    st = rt.state("c1")
    assert st["status"] == "running"
    assert wait_for(lambda: b"sleep" in open(f"/proc/{st['pid']}/cmdline", "rb").read())
    p = rt.run("start", "c1")
    assert p.returncode != 0 and "not created" in p.stderr
    p = rt.run("delete", "c1")
    assert p.returncode != 0 and "running" in p.stderr
    rt.run("kill", "c1", "KILL", check=True)
    assert wait_for(lambda: rt.state("c1")["status"] == "stopped")
    rt.run("delete", "c1", check=True)
    rt.assert_clean("c1")
    p = rt.run("state", "c1")
    assert p.returncode != 0 and "does not exist" in p.stderr


def test_creating_state_and_kill9_during_create(rt):
    """A createRuntime hook that waits shows `creating`; kill -9 of the runtime
    there leaves a container `delete` removes completely."""
    rt.config["process"]["args"] = ["sleep", "30"]
    rt.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"]}]}
    rt.write_config()
    p = subprocess.Popen(rt.cmd("create", "--bundle", str(rt.bundle), "c2"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (rt.root / "c2/state.json").exists() and
                        rt.state("c2")["pid"] > 0)
        st = rt.state("c2")
        assert st["status"] == "creating"
        init = st["pid"]
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
    assert os.path.exists(f"/proc/{init}")
    # the hook's sleep was the runtime's child; it may outlive it: end it
    subprocess.run(["pkill", "-KILL", "-P", str(p.pid)], capture_output=True)
    rt.run("delete", "c2", check=True)
    assert wait_for(lambda: not os.path.exists(f"/proc/{init}") or
                    open(f"/proc/{init}/stat").read().split(") ")[1][0] == "Z")
    rt.assert_clean("c2")


def test_kill9_of_run_then_delete_force(rt):
    rt.config["process"]["args"] = ["sleep", "30"]
    rt.write_config()
    p = subprocess.Popen(rt.cmd("run", "--bundle", str(rt.bundle), "c3"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: (rt.root / "c3").exists() and
                    rt.run("state", "c3").returncode == 0 and
                    rt.state("c3")["status"] == "running")
    pid = rt.state("c3")["pid"]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert rt.state("c3")["status"] == "running"
    p2 = rt.run("delete", "c3")
    assert p2.returncode != 0 and "running" in p2.stderr
    rt.run("delete", "--force", "c3", check=True)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}/cmdline") or
                    open(f"/proc/{pid}/cmdline", "rb").read() == b"")
    rt.assert_clean("c3")


def test_run_exit_status_and_exec(rt):
    p = rt.oci_run(["sh", "-c", "exit 7"], cid="c4")
    assert p.returncode == 7, p.stderr
    rt.assert_clean("c4")
    rt.config["process"]["args"] = ["sleep", "30"]
    rt.write_config()
    rt.run("run", "--detach", "--bundle", str(rt.bundle), "c5", check=True)
    p = rt.run("exec", "c5", "sh", "-c", "echo $$; cat /proc/1/cmdline")
    assert p.returncode == 0, p.stderr
    pid_in_ns, cmd = p.stdout.split("\n", 1)
    assert int(pid_in_ns) > 1 and cmd.startswith("sleep")
    p = rt.run("exec", "--env", "FOO=bar", "--cwd", "/tmp", "c5", "sh", "-c", 'echo $FOO; pwd')
    assert p.stdout.split() == ["bar", "/tmp"], p.stderr
    proc = dict(rt.config["process"], args=["sh", "-c", "exit 3"])
    (rt.tmp / "proc.json").write_text(json.dumps(proc))
    p = rt.run("exec", "--process", str(rt.tmp / "proc.json"), "c5")
    assert p.returncode == 3, p.stderr
    rt.run("kill", "--all", "c5", "KILL", check=True)
    assert wait_for(lambda: rt.state("c5")["status"] == "stopped")
    rt.run("delete", "c5", check=True)
    rt.assert_clean("c5")


def test_hooks_order(rt):
    log = rt.tmp / "hooks.log"
    hooks = {}
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        hooks[kind] = [{"path": "/bin/sh",
                        "args": ["sh", "-c", f'read -r s; echo "{kind} $s" >> {log}']}]
    rt.config["hooks"] = hooks
    p = rt.oci_run(["true"], cid="c6")
    assert p.returncode == 0, p.stderr
    lines = log.read_text().splitlines()
    kinds = [l.split()[0] for l in lines]
    assert kinds == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    state = json.loads(lines[0].split(" ", 1)[1])
    assert state["id"] == "c6" and state["pid"] > 0
    rt.assert_clean("c6")


def test_failing_hook_leaves_nothing(rt):
    rt.config["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    p = rt.oci_run(["true"], cid="c7")
    assert p.returncode == 1
    assert "prestart hook 0 (/bin/false) failed" in p.stderr
    rt.assert_clean("c7")


def test_spec_features_and_flags(rt, tmp_path):
    p = rt.run("spec", "--bundle", str(rt.bundle))
    assert p.returncode != 0 and "exists" in p.stderr
    f = json.loads(rt.run("features", check=True).stdout)
    assert "pid" in f["linux"]["namespaces"] and f["linux"]["cgroup"]["v1"]
    assert "createRuntime" in f["hooks"]
    log = tmp_path / "log.json"
    p = subprocess.run([str(OCI), "--root", str(rt.root), "--log", str(log), "--log-format",
                        "json", "state", "nope"], capture_output=True, text=True)
    assert p.returncode == 1
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["level"] == "error" and "nope does not exist" in rec["msg"]
    p = subprocess.run([str(OCI), "--root", str(rt.root), "--systemd-cgroup", "create",
                        "--bundle", str(rt.bundle), "x"], capture_output=True, text=True)
    assert p.returncode == 1 and "systemd cgroup manager is not supported" in p.stderr
    rt.assert_clean("x")
    p = subprocess.run([str(OCI), "--debug", "--root", str(rt.root), "list"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("ID")
