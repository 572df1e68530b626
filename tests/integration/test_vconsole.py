# SPDX-License-Identifier: MIT
"""--virtio-console: a second console, the guest's /dev/hvc0, on a UNIX socket,
for both engines: the default guest runs a root shell there."""
from test_disks import host_ok


def test_a_shell_on_hvc0_through_the_socket(runner):
    d = runner.workdir
    sock, log, fifo, got = f"{d}/vc.sock", f"{d}/vc.log", f"{d}/vc.in", f"{d}/vc.out"
    script = f"""
        rm -f {sock} {fifo} {got}; mkfifo {fifo}
        domus run --engine {runner.engine} --virtio-console {sock} < {fifo} > {log} 2>&1 &
        pid=$!
        exec 3> {fifo}
        for i in $(seq 1200); do grep -q 'init ready' {log} && break; sleep 0.25; done
        for i in $(seq 40); do [ -S {sock} ] && break; sleep 0.25; done
        [ -S {sock} ] || {{ echo "no socket {sock}"; cat {log}; kill -9 $pid; exit 1; }}
        # a command for the shell on hvc0; its answer comes back on the socket
        ( sleep 2; printf 'echo hvc''-shell-$((6*7)) $(tty)\n'; sleep 30 ) |
            socat - UNIX-CONNECT:{sock} > {got} &
        cpid=$!
        for i in $(seq 600); do grep -q 'hvc-shell-42' {got} && break; sleep 0.25; done
        printf 'poweroff -f\n' >&3
        for i in $(seq 240); do kill -0 $pid 2>/dev/null || break; sleep 0.25; done
        kill -9 $pid 2>/dev/null    # stuck: fail below, don't hang
        wait $pid; echo "EXIT=$?"
        kill $cpid 2>/dev/null
        exec 3>&-
        echo "HOST-GOT: $(grep -a -o 'hvc-shell-42 /dev/[a-z0-9]*' {got})"
    """
    out = host_ok(runner, script, timeout=400)
    assert "EXIT=0" in out, out
    assert "HOST-GOT: hvc-shell-42 /dev/hvc0" in out, out
