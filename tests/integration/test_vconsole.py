# SPDX-License-Identifier: MIT
"""--virtio-console: a second console, the guest's /dev/hvc0, on a UNIX socket,
for both engines; bytes go both ways, exactly."""
import shlex

from test_disks import host_ok


def test_hvc0_both_ways_over_the_socket(runner):
    d = runner.workdir
    sock, log, fifo, got = f"{d}/vc.sock", f"{d}/vc.log", f"{d}/vc.in", f"{d}/vc.out"
    # The guest's side: raw mode (no echo of what the host sends), then one
    # line out and exactly 12 bytes in. Markers are split so the echo of the
    # command can't match them.
    # hvc0 stays open on fd 4 throughout: a tty's modes go back to the
    # defaults (echo, line buffering) when its last user closes it.
    guest = ("exec 4<>/dev/hvc0 && stty raw -echo <&4 && echo from-guest-on-hvc0 >&4"
             " && echo GOT''=$(head -c 12 <&4); exec 4<&-\n")
    script = f"""
        rm -f {sock} {fifo} {got}; mkfifo {fifo}
        domus run --engine {runner.engine} --virtio-console {sock} < {fifo} > {log} 2>&1 &
        pid=$!
        exec 3> {fifo}
        for i in $(seq 1200); do grep -q 'init ready' {log} && break; sleep 0.25; done
        sleep 1
        [ -S {sock} ] || {{ echo "no socket {sock}"; cat {log}; kill -9 $pid; exit 1; }}
        # the host's side: connected before the guest writes; sends 12 bytes
        ( sleep 2; printf from-host-12; sleep 30 ) | socat - UNIX-CONNECT:{sock} > {got} &
        cpid=$!
        printf %s {shlex.quote(guest)} >&3
        for i in $(seq 600); do grep -q 'GOT=' {log} && grep -q from-guest {got} && break; sleep 0.25; done
        printf 'poweroff -f\\n' >&3
        for i in $(seq 240); do kill -0 $pid 2>/dev/null || break; sleep 0.25; done
        kill -9 $pid 2>/dev/null    # stuck: fail below, don't hang
        wait $pid; echo "EXIT=$?"
        kill $cpid 2>/dev/null
        exec 3>&-
        echo "HOST-GOT=$(cat {got})"
        grep -a 'GOT=' {log} | tail -1
    """
    out = host_ok(runner, script, timeout=400)
    assert "EXIT=0" in out, out
    assert "HOST-GOT=from-guest-on-hvc0" in out, out
    assert "GOT=from-host-12" in out, out
