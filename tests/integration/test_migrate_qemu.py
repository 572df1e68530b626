# SPDX-License-Identifier: MIT
"""The same verbs with the QEMU engine, on this host: domus save/restore and
domus migrate/migrate-receive drive QEMU's own migration. Two network
namespaces joined by a veth pair stand for two hosts (root needed). The
guest prints a counter; it goes on after a restore and after a migration."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import domus_bin
from test_migrate import COUNTER, DIRTY, assert_continues, counters, section


def sh(script, timeout=300):
    env = dict(os.environ, PATH=f"{domus_bin().parent}:" + os.environ.get("PATH", ""))
    p = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env=env, timeout=timeout,
                       start_new_session=True)
    return p.stdout, p.returncode


@pytest.fixture(scope="module")
def nets(domus, guest, qemu, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not shutil.which("ip"):
        pytest.skip("iproute2's ip is missing")
    n = os.getpid() % 100000
    src, dst = f"dqs{n}", f"dqd{n}"
    out, rc = sh(f"""
        ip netns add {src} && ip netns add {dst} &&
        ip link add qs{n} type veth peer name qd{n} &&
        ip link set qs{n} netns {src} && ip link set qd{n} netns {dst} &&
        ip -n {src} addr add 10.9.1.1/24 dev qs{n} && ip -n {src} link set qs{n} up &&
        ip -n {src} link set lo up &&
        ip -n {dst} addr add 10.9.1.2/24 dev qd{n} && ip -n {dst} link set qd{n} up &&
        ip -n {dst} link set lo up""")
    if rc != 0:
        sh(f"ip netns del {src}; ip netns del {dst}")
        pytest.skip(f"network namespaces: {out[-300:]}")
    yield {"src": src, "dst": dst, "dir": str(tmp_path_factory.mktemp("qmig"))}
    # what ran in the namespaces goes with them
    sh(f"for p in $(ip netns pids {src}) $(ip netns pids {dst}); do kill -9 $p; done; "
       f"ip netns del {src}; ip netns del {dst}")


def boot(d, name, ns="", dirty=False, extra=""):
    run = f"ip netns exec {ns} " if ns else ""
    cl = f"console=ttyS0 quiet domus.exec={DIRTY if dirty else ''}{COUNTER}"
    return f"""
        {run}timeout -s KILL 300 domus run --engine qemu {extra} --control {d}/{name}.sock \\
            --cmdline '{cl}' < /dev/null > {d}/{name}.log 2> {d}/{name}.err &
        pid_{name}=$!
        for i in $(seq 600); do grep -q '^C20' {d}/{name}.log && break; sleep 0.2; done
    """


def test_qemu_save_restore(nets):
    d = nets["dir"]
    out, rc = sh(boot(d, "a") + f"""
        domus save {d}/a.sock {d}/snap; echo SAVE_ST=$?
        wait $pid_a; echo A_EXIT=$?
        timeout -s KILL 60 domus restore {d}/snap < /dev/null > {d}/b.log 2> {d}/b.err &
        pid=$!
        for i in $(seq 100); do [ $(grep -c '^C' {d}/b.log) -ge 10 ] && break; sleep 0.2; done
        kill $pid; wait $pid; echo B_EXIT=$?
        echo @@aerr@@; cat {d}/a.err; echo @@a@@; cat {d}/a.log; echo @@b@@; cat {d}/b.log
    """)
    assert "SAVE_ST=0" in out and "A_EXIT=6" in out, out[-2000:]
    assert "QEMU's state" in section(out, "aerr")
    assert_continues(section(out, "a"), section(out, "b"), "restore")


def test_qemu_live_migration(nets):
    d, src, dst = nets["dir"], nets["src"], nets["dst"]
    out, rc = sh(f"""
        ip netns exec {dst} timeout -s KILL 300 domus migrate-receive 10.9.1.2:4500 \\
            < /dev/null > {d}/d.log 2>&1 &
        dp=$!
    """ + boot(d, "s", ns=src, extra="--net user,mac=00:16:3e:0b:00:01") + f"""
        ip netns exec {src} domus migrate --live {d}/s.sock 10.9.1.2:4500 > {d}/m.out 2>&1
        echo MIG_ST=$?
        wait $pid_s; echo S_EXIT=$?
        sleep 3; kill -0 $dp && echo DST_ALIVE=1
        ps -eo args | grep -q '[m]ac=00:16:3e:0b:00:01' && echo DST_NIC=1
        kill $dp; wait $dp
        echo @@mig@@; cat {d}/m.out; echo @@s@@; cat {d}/s.log; echo @@d@@; cat {d}/d.log
        echo @@end@@
    """)
    assert "MIG_ST=0" in out and "S_EXIT=7" in out, out[-3000:]
    assert "DST_ALIVE=1" in out
    assert re.search(r"Migration: completed in \d+ ms, downtime [\d.]+ ms",
                     section(out, "mig")), out[-2000:]
    assert_continues(section(out, "s"), section(out, "d"), "migration")
    # the NIC came along: the destination's QEMU has it, with its MAC (the
    # source's has ended)
    assert "DST_NIC=1" in out, out[-2000:]


def test_qemu_migration_destination_gone(nets):
    # The destination dies before the migration (QEMU under TCG here migrates
    # 100 MiB in under a second, too fast to kill it reliably mid-way: the
    # mid-way faults are tested with the KVM engine in test_migrate.py).
    d, src, dst = nets["dir"], nets["src"], nets["dst"]
    out, rc = sh(boot(d, "k", ns=src) + f"""
        ip netns exec {dst} domus migrate-receive 10.9.1.2:4501 < /dev/null > {d}/d2.log 2>&1 &
        sleep 1
        dpid=$(pgrep -n -f 'domus migrate-receive 10.9.1.2:4501')
        kill -9 $dpid; sleep 0.5
        ip netns exec {src} domus migrate --live {d}/k.sock 10.9.1.2:4501 > {d}/m2.out 2>&1
        echo MIG_ST=$?
        sleep 1; kill -0 $pid_k && echo SRC_ALIVE=1
        n1=$(grep -c '^C' {d}/k.log); sleep 2; n2=$(grep -c '^C' {d}/k.log)
        [ $n2 -gt $n1 ] && echo STILL_COUNTING=1
        kill $pid_k; wait $pid_k
        echo @@mig@@; cat {d}/m2.out; echo @@end@@
    """)
    assert "MIG_ST=1" in out, out[-2000:]
    assert "SRC_ALIVE=1" in out and "STILL_COUNTING=1" in out, out[-2000:]
    assert "cannot connect" in section(out, "mig")
