# SPDX-License-Identifier: MIT
"""Save/restore and live migration with the KVM engine, inside the nested
test host, whose two network namespaces "src" and "dst" (a veth pair,
10.9.0.1 and 10.9.0.2) stand for two hosts. The guest prints a counter every
0.1 s (and, for migration, keeps dirtying memory): after a restore or a
migration the counter goes on with no number lost. Faults: the destination
killed, the link dropped, a destination CPU without a feature the guest
uses, a corrupt or truncated snapshot."""
import re

import pytest

from runners import NestedRunner

IP = "/hv/bin/ip"
W = "/tmp/work"
COUNTER = "i=0;while,:;do,echo,C$i;i=$((i+1));sleep,0.1;done"
DIRTY = "(while,:;do,dd,if=/dev/urandom,of=/tmp/d,bs=1M,count=24,2>/dev/null;done)&"


@pytest.fixture(scope="module")
def l1(domus, guest):
    try:
        r = NestedRunner("kvm")
    except RuntimeError as e:
        pytest.skip(f"nested test host unavailable: {e}")
    out, rc = r.host(f"""
        {IP} netns add src && {IP} netns add dst &&
        {IP} link add vs type veth peer name vd &&
        {IP} link set vs netns src && {IP} link set vd netns dst &&
        {IP} -n src addr add 10.9.0.1/24 dev vs && {IP} -n src link set vs up &&
        {IP} -n src link set lo up &&
        {IP} -n dst addr add 10.9.0.2/24 dev vd && {IP} -n dst link set vd up &&
        {IP} -n dst link set lo up && {IP} netns exec src ping -c1 -W2 10.9.0.2 >/dev/null
    """)
    if rc != 0:
        r.close()
        pytest.skip(f"network namespaces in the nested test host: {out[-500:]}")
    yield r
    r.close()


def counters(text):
    return [int(x) for x in re.findall(r"^C(\d+)\r?$", text, re.M)]


def section(out, name):
    m = re.search(rf"@@{name}@@\n(.*?)(?=@@\w+@@|\Z)", out, re.S)
    assert m, f"no {name} in {out[-3000:]}"
    return m.group(1)


def assert_continues(before, after, what):
    # the guest may be stopped in the middle of a line ("C6" here, "3" there)
    tail = before.replace("\r", "").rsplit("\n", 1)[-1]
    if tail:
        after = tail + after.replace("\r", "")
    a, b = counters(before), counters(after)
    assert len(a) >= 10, f"the guest did not count before the {what}: {before[-1500:]}"
    assert b, f"the guest does not count after the {what}: {after[-1500:]}"
    # nothing lost, nothing from the past: the union is a run of numbers
    assert b[0] <= a[-1] + 1, f"numbers lost across the {what}: ...{a[-3:]} then {b[:3]}"
    assert b[0] >= a[-1] - 1, f"counter went back across the {what}: {a[-3:]} then {b[:3]}"
    allnums = sorted(set(a) | set(b))
    assert allnums == list(range(allnums[0], allnums[-1] + 1)), "a gap in the counter"
    assert len(b) >= 5, f"the guest stopped counting after the {what}: {after[-800:]}"


def boot_script(name, mem=256, extra_cl="", ns="", disk=""):
    run = f"{IP} netns exec {ns} " if ns else ""
    cl = f"console=ttyS0 quiet domus.exec={extra_cl}{COUNTER}"
    return f"""
        rm -f {W}/{name}.sock {W}/{name}.log {W}/{name}.err
        {run}timeout -s KILL 400 domus run --engine kvm --memory {mem} {disk} \\
            --control {W}/{name}.sock --cmdline '{cl}' < /dev/null > {W}/{name}.log 2> {W}/{name}.err &
        pid_{name}=$!
        for i in $(seq 900); do grep -q '^C20' {W}/{name}.log && break; sleep 0.2; done
    """


def test_save_restore_round_trip(l1):
    out, rc = l1.host(boot_script("sv") + f"""
        domus save {W}/sv.sock {W}/snap > {W}/save.out 2>&1; echo SAVE_ST=$?
        wait $pid_sv; echo SV_EXIT=$?
        ls -ls {W}/snap; ls -a {W} | grep -c '^\\.snap' | sed 's/^/TMPFILES=/'
        timeout -s KILL 100 domus run --restore {W}/snap --control {W}/rs.sock < /dev/null > {W}/rs.log 2>&1 &
        rpid=$!
        for i in $(seq 100); do [ $(grep -c '^C' {W}/rs.log) -ge 10 ] && break; sleep 0.2; done
        domus save --compress {W}/rs.sock {W}/snapz > {W}/savez.out 2>&1; echo SAVEZ_ST=$?
        wait $rpid; echo RS_EXIT=$?
        ls -ls {W}/snapz
        timeout -s KILL 100 domus restore {W}/snapz < /dev/null > {W}/rz.log 2>&1 &
        zpid=$!
        for i in $(seq 100); do [ $(grep -c '^C' {W}/rz.log) -ge 10 ] && break; sleep 0.2; done
        kill $zpid; wait $zpid; echo RZ_EXIT=$?
        echo @@save@@; cat {W}/save.out {W}/savez.out
        echo @@sv@@; cat {W}/sv.log; echo @@rs@@; cat {W}/rs.log; echo @@rz@@; cat {W}/rz.log
    """, timeout=600)
    assert "SAVE_ST=0" in out and "SV_EXIT=6" in out, out[-3000:]
    assert "TMPFILES=0" in out, "save left a temporary file behind"
    assert "saved to" in section(out, "save")
    sv, rs, rz = section(out, "sv"), section(out, "rs"), section(out, "rz")
    assert re.search(r"restored from .*snap: guest running [\d.]+ ms after start", rs), rs[:800]
    assert_continues(sv, rs, "restore")
    assert "SAVEZ_ST=0" in out and "RS_EXIT=6" in out, out[-3000:]
    assert_continues(rs, rz, "compressed save and restore")
    assert "RZ_EXIT=4" in out


def test_restore_refuses_bad_files(l1):
    out, rc = l1.host(f"""
        cd {W}; test -f snap || exit 3
        head -c 100000 snap > trunc1                       # cut in the state sections
        sz=$(stat -c %s snap); head -c $((sz - 5000)) snap > trunc2   # cut at the end
        cp snap corrupt; printf 'X' | dd of=corrupt bs=1 seek=40 conv=notrunc 2>/dev/null
        printf 'QFI\\373 not ours' > foreign
        for f in trunc1 trunc2 corrupt foreign nosuchfile; do
            timeout -s KILL 60 domus run --restore $f < /dev/null > r_$f.log 2>&1
            echo "$f ST=$? $(grep -v 'engine kvm' r_$f.log | head -2 | tr '\\n' ' ')"
        done
    """, timeout=300)
    if "exit" in out and rc == 3:
        pytest.skip("no snapshot from the round trip test")
    for f, why in [("trunc1", "truncated"), ("trunc2", "truncated|cut short|end marker"),
                   ("corrupt", "corrupt|CRC"), ("foreign", "not a domus VM state stream"),
                   ("nosuchfile", "No such file")]:
        m = re.search(rf"^{f} ST=(\d+) (.*)$", out, re.M)
        assert m, out
        assert m.group(1) == "1", f"{f}: {m.group(0)}"
        assert re.search(why, m.group(2)), f"{f}: {m.group(0)}"
        assert "Segmentation" not in m.group(2) and "Aborted" not in m.group(2)


def migrate_script(mem=256, downtime=30, fault="", port=4444, env_dst="", disk=""):
    return boot_script("ms", mem=mem, extra_cl=DIRTY, ns="src", disk=disk) + f"""
        rm -f {W}/md.log {W}/mig.out
        rm -f {W}/md.err
        {IP} netns exec dst env {env_dst} domus migrate-receive \\
            10.9.0.2:{port} < /dev/null > {W}/md.log 2> {W}/md.err &
        dpid=$!
        sleep 0.5
        {fault}
        {IP} netns exec src domus migrate --live --downtime {downtime} {W}/ms.sock \\
            10.9.0.2:{port} > {W}/mig.out 2>&1; echo MIG_ST=$?
        for i in $(seq 50); do kill -0 $pid_ms 2>/dev/null || break; sleep 0.2; done
        kill -0 $pid_ms 2>/dev/null && echo SRC_ALIVE=1
        n1=$(grep -c '^C' {W}/ms.log); sleep 2; n2=$(grep -c '^C' {W}/ms.log)
        [ $n2 -gt $n1 ] && kill -0 $pid_ms 2>/dev/null && echo STILL_COUNTING=1
        sleep 3
        for i in $(seq 30); do kill -0 $dpid 2>/dev/null || break; sleep 0.2; done
        kill -0 $dpid 2>/dev/null && echo DST_ALIVE=1
        echo @@mig@@; cat {W}/mig.out; echo @@srcerr@@; cat {W}/ms.err; echo @@src@@; cat {W}/ms.log
        echo @@dsterr@@; cat {W}/md.err; echo @@dst@@; cat {W}/md.log
        echo @@end@@
        kill $dpid $pid_ms 2>/dev/null; wait $pid_ms; echo SRC_EXIT=$?; wait $dpid; echo DST_EXIT=$?
        {IP} link set vd netns dst 2>/dev/null; {IP} -n dst link set vd up 2>/dev/null
        true
    """


def test_live_migration_counter_goes_on(l1):
    out, rc = l1.host(migrate_script(), timeout=600)
    assert "MIG_ST=0" in out, out[-4000:]
    assert "SRC_ALIVE" not in out, "the source did not end after a successful migration"
    assert "DST_ALIVE=1" in out, "the guest is not running on the destination"
    mig, src, dst = section(out, "mig"), section(out, "src"), section(out, "dst")
    assert re.search(r"Migration: completed in \d+ ms, downtime [\d.]+ ms", mig), mig
    assert re.search(r"round 1: \d+ pages sent", section(out, "srcerr")), out[-1500:]
    assert "guest running here" in section(out, "dsterr")
    assert_continues(src, dst, "migration")
    down = float(re.search(r"downtime ([\d.]+) ms", mig).group(1))
    assert down < 1000, f"downtime {down} ms"
    assert "SRC_EXIT=7" in out, out[-300:]


def test_destination_killed_source_goes_on(l1):
    # the destination dies during the pre-copy (a 1 GiB guest takes seconds)
    fault = f"( sleep 2; kill -9 $dpid ) &"
    out, rc = l1.host(migrate_script(mem=1024, fault=fault, port=4445), timeout=600)
    assert "MIG_ST=1" in out, out[-4000:]
    err, src = section(out, "srcerr"), section(out, "src")
    assert "failed, the guest goes on here" in err, err[-1500:]
    assert "SRC_ALIVE=1" in out
    assert "STILL_COUNTING=1" in out, src[-1500:]


def test_link_drop_source_goes_on(l1):
    # the link goes down in the middle: the source notices (I/O timeout) and goes on
    fault = f"( sleep 2; {IP} -n dst link set vd down ) &"
    out, rc = l1.host(migrate_script(mem=1024, fault=fault, port=4446), timeout=600)
    assert "MIG_ST=1" in out, out[-4000:]
    err = section(out, "srcerr")
    assert "failed, the guest goes on here" in err, err[-1500:]
    assert "SRC_ALIVE=1" in out
    assert "STILL_COUNTING=1" in out, out[-1500:]


def test_destination_cpu_lacking_a_feature_is_refused(l1):
    # the destination pretends it has no SSE4.2 (CPUID 1 ECX bit 20)
    out, rc = l1.host(migrate_script(env_dst="DOMUS_TEST_HIDE_CPUID=1.0.ecx:0x100000",
                                     port=4447), timeout=600)
    assert "MIG_ST=1" in out, out[-4000:]
    mig, src, dst = section(out, "mig"), section(out, "srcerr"), section(out, "dsterr")
    assert "lacks features the guest uses" in mig + src, mig + src[-1000:]
    assert "leaf 0x1.0 ecx bits 0x00100000" in dst
    # refused before any memory was sent
    assert not re.search(r"round \d+:", src), src[-1500:]
    assert "SRC_ALIVE=1" in out
    assert "DST_ALIVE" not in out, "the destination stayed after refusing"


def test_migration_loses_no_disk_write(l1):
    # The guest writes its counter into sector (i % 200) of its disk with
    # fsync before printing it; the disk is shared storage (the same path in
    # both "hosts"). After the migration every number printed is on disk.
    disk_cl = ("i=0;while,:;do,echo,$i|dd,of=/dev/vda,bs=512,seek=$((i%200)),conv=fsync,"
               "2>/dev/null;echo,C$i;i=$((i+1));sleep,0.05;done")
    global COUNTER
    saved, COUNTER = COUNTER, disk_cl
    try:
        script = migrate_script(port=4448, disk=f"--disk {W}/mdisk.img,size=4M")
    finally:
        COUNTER = saved
    script = f"rm -f {W}/mdisk.img\n" + script + f"""
        last=$(grep -o '^C[0-9]*' {W}/md.log | tail -1 | tr -d C)
        bad=0; n=$((last - 150)); [ $n -lt 0 ] && n=0
        while [ $n -le $last ]; do
            v=$(dd if={W}/mdisk.img bs=512 skip=$((n % 200)) count=1 2>/dev/null | head -1)
            [ "$v" = "$n" ] || {{ bad=$((bad + 1)); echo "sector $((n % 200)): '$v', wanted $n"; }}
            n=$((n + 1))
        done
        echo "DISK_LAST=$last DISK_BAD=$bad"
    """
    out, rc = l1.host(script, timeout=600)
    assert "MIG_ST=0" in out, out[-4000:]
    assert_continues(section(out, "src"), section(out, "dst"), "migration with a disk")
    m = re.search(r"DISK_LAST=(\d+) DISK_BAD=(\d+)", out)
    assert m and int(m.group(1)) > 20, out[-2000:]
    assert m.group(2) == "0", out[-3000:]
