# SPDX-License-Identifier: MIT
"""--net: virtio-net on a TAP on a Linux bridge, on an existing TAP, and behind
libslirp's NAT, for both engines (qemu on this host, kvm in the nested test
host). Every network here lives in a namespace the test creates: a bridge with
192.168.77.1/24 (and a DHCP server), or slirp's 10.0.2.0/24 with no route out.

Each guest runs a script from a small read-only disk (domus.exec=sh,/dev/vda),
so one shell script on the runner's host drives host and guests alike."""
import os
import shlex

import pytest

from test_disks import host_ok

MIB = 100   # the TCP transfers, each way


def need_root(runner):
    if runner.name == "local" and os.geteuid() != 0:
        pytest.skip("network namespaces and TAPs need root on this host")


def guest_disk(path, script):
    """Shell commands writing (script) as a guest's script disk at (path)."""
    return (f"cat > {path} <<'GUEST_EOF'\n{script}\nexit 0\nGUEST_EOF\n"
            f"truncate -s 64K {path}\n")


def ns_setup(dhcp=True):
    """A namespace $ns with bridge br0 (192.168.77.1/24), optionally serving
    DHCP (busybox udhcpd, leases .100-.150); removed on exit with all in it."""
    s = """
# iproute2's ip by path: busybox's sh (the nested test host's) would
# otherwise run its own ip applet, which has no namespaces
ipbin=$(which ip)
ip() { "$ipbin" "$@"; }
ns=dnt$$
w=$(mktemp -d)
cleanup() {
    for p in $(ip netns pids $ns 2>/dev/null); do kill -9 $p 2>/dev/null; done
    ip netns del $ns 2>/dev/null; rm -rf $w
}
trap cleanup EXIT
ip netns add $ns || exit 1
in_ns() { ip netns exec $ns "$@"; }
ip -n $ns link set lo up
ip -n $ns link add br0 type bridge
ip -n $ns addr add 192.168.77.1/24 dev br0
ip -n $ns link set br0 up
"""
    if dhcp:
        s += """
touch $w/leases
printf 'start 192.168.77.100\\nend 192.168.77.150\\ninterface br0\\nlease_file %s\\npidfile %s\\nopt subnet 255.255.255.0\\nopt router 192.168.77.1\\n' $w/leases $w/udhcpd.pid > $w/udhcpd.conf
in_ns busybox udhcpd -f $w/udhcpd.conf > $w/udhcpd.log 2>&1 &
"""
    return s


def run_guest(runner, net, script, name="g", memory="256", bg=False):
    """Shell commands that boot a guest in $ns running (script), its console in $w/NAME.log."""
    cmd = (f"in_ns domus run --engine {runner.engine} --memory {memory} "
           f"--disk $w/{name}.sh,readonly {net} "
           f"--cmdline 'console=ttyS0 quiet domus.exec=sh,/dev/vda' "
           f"< /dev/null > $w/{name}.log 2>&1")
    s = guest_disk(f"$w/{name}.sh", script)
    if bg:
        return s + f"{cmd} &\n{name}_pid=$!\n"
    return s + f"{cmd}\necho {name.upper()}-EXIT=$?\necho '--- {name}:'; cat $w/{name}.log\n"


def test_bridge_dhcp_ping_and_100mib_each_way(runner):
    need_root(runner)
    guest = f"""
udhcpc -i eth0 -n -q -t 15 -T 2 || {{ echo DHCP-FAILED; exit 1; }}
ping -c 3 -W 5 192.168.77.1 > /dev/null && echo PING-OK
echo "MAC $(cat /sys/class/net/eth0/address)"
dd if=/dev/urandom of=/tmp/up bs=1M count={MIB} 2>/dev/null
echo "UP-SUM $(sha256sum /tmp/up | cut -d' ' -f1)"
nc 192.168.77.1 5001 < /tmp/up && echo UP-SENT
rm -f /tmp/up
for i in $(seq 20); do nc 192.168.77.1 5002 > /tmp/down && break; sleep 1; done
echo "DOWN-SUM $(sha256sum /tmp/down | cut -d' ' -f1) $(wc -c < /tmp/down)"
"""
    script = ns_setup() + f"""
dd if=/dev/urandom of=$w/down bs=1M count={MIB} 2>/dev/null
echo "HOST-DOWN-SUM $(sha256sum $w/down | cut -d' ' -f1)"
in_ns socat -u TCP-LISTEN:5001,reuseaddr CREATE:$w/up &
in_ns socat -u OPEN:$w/down TCP-LISTEN:5002,reuseaddr &
""" + run_guest(runner, "--net bridge=br0,mac=00:16:3e:12:34:56", guest, memory="512") + """
echo "HOST-UP-SUM $(sha256sum $w/up | cut -d' ' -f1)"
echo "LINKS: $(ip -n $ns -o link show | grep -c domus)"
"""
    out = host_ok(runner, script, timeout=900)
    assert "G-EXIT=0" in out, out
    assert "domus-guest: dhcp eth0 192.168.77.1" in out, out   # .100-.150
    assert "PING-OK" in out, out
    up = [l.split()[1] for l in out.splitlines() if l.startswith(("UP-SUM", "HOST-UP-SUM"))]
    down = [l.split()[1] for l in out.splitlines()
            if l.startswith(("DOWN-SUM", "HOST-DOWN-SUM"))]
    assert len(up) == 2 and up[0] == up[1], out
    assert len(down) == 2 and down[0] == down[1], out
    assert f"DOWN-SUM {down[0]} {MIB << 20}" in out, out
    assert "MAC 00:16:3e:12:34:56" in out, out
    assert "LINKS: 0" in out, out             # the TAP went with domus


def test_two_guests_on_one_bridge(runner):
    need_root(runner)
    a = """
ip link set eth0 up; ip addr add 192.168.77.11/24 dev eth0
echo "A-GOT $(nc -l -p 7000)"
"""
    b = """
ip link set eth0 up; ip addr add 192.168.77.12/24 dev eth0
for i in $(seq 60); do ping -c 1 -W 1 192.168.77.11 > /dev/null && break; done && echo B-PING-OK
for i in $(seq 30); do echo "hello-from-b-$((6*7))" | nc 192.168.77.11 7000 && break; sleep 1; done
"""
    script = (ns_setup(dhcp=False) + run_guest(runner, "--net bridge=br0", a, "a", bg=True)
              + run_guest(runner, "--net bridge=br0", b, "b", bg=True) + """
wait $a_pid; echo A-EXIT=$?
wait $b_pid; echo B-EXIT=$?
cat $w/a.log $w/b.log
""")
    out = host_ok(runner, script, timeout=900)
    assert "A-EXIT=0" in out and "B-EXIT=0" in out, out
    assert "B-PING-OK" in out, out
    assert "A-GOT hello-from-b-42" in out, out


def test_existing_tap(runner):
    need_root(runner)
    guest = """
ip link set eth0 up; ip addr add 192.168.77.20/24 dev eth0
ping -c 3 -W 5 192.168.77.1 > /dev/null && echo PING-OK
"""
    script = ns_setup(dhcp=False) + """
ip -n $ns tuntap add tapx mode tap vnet_hdr
ip -n $ns link set tapx master br0
ip -n $ns link set tapx up
""" + run_guest(runner, "--net tap=tapx", guest) + """
echo "TAP-STILL: $(ip -n $ns -o link show tapx | grep -c tapx)"
"""
    out = host_ok(runner, script, timeout=600)
    assert "G-EXIT=0" in out and "PING-OK" in out, out
    assert "TAP-STILL: 1" in out, out   # an administrator's TAP stays


def test_user_nat_dhcp_and_host_forward(runner):
    need_root(runner)   # only for the namespace: the NAT itself needs no root
    guest = """
udhcpc -i eth0 -n -q -t 15 -T 2 || { echo DHCP-FAILED; exit 1; }
ping -c 2 -W 5 10.0.2.2 > /dev/null && echo GATEWAY-OK
echo "nat-hello-$((6*7))" | nc -l -p 7000
"""
    script = ns_setup(dhcp=False) + run_guest(
        runner, "--net user,hostfwd=tcp:127.0.0.1:2222-:7000", guest, bg=True) + """
got=
for i in $(seq 600); do
    got=$(in_ns socat -u TCP:127.0.0.1:2222 - 2>/dev/null) && [ -n "$got" ] && break
    sleep 0.5
done
echo "HOST-GOT: $got"
wait $g_pid; echo G-EXIT=$?
cat $w/g.log
"""
    out = host_ok(runner, script, timeout=600)
    assert "domus-guest: dhcp eth0 10.0.2.15/24" in out, out
    assert "GATEWAY-OK" in out, out
    assert "HOST-GOT: nat-hello-42" in out, out
    assert "G-EXIT=0" in out, out


@pytest.mark.parametrize("net, message", [
    ("bridge=nosuchbr0", "no such bridge"),
    ("bridge=lo", "not a Linux bridge"),
    ("tap=nosuchtap", "no such TAP device"),
    ("bridge=br0,mac=00:16:3e:12:34", "bad MAC address"),
    ("bridge=br0,mac=01:16:3e:12:34:56", "multicast"),
    ("bridge=br0,mac=00:16:3e:12:34:zz", "bad MAC address"),
    ("bridge=br0,color=red", "unknown option"),
    ("bridge=br0,hostfwd=tcp::1-:2", "user (NAT) mode only"),
    ("user,hostfwd=tcp:127.0.0.1:99999-:22", "bad hostfwd"),
    ("vde=/tmp/x", "expected bridge=NAME, tap=NAME or user"),
])
def test_bad_net_is_refused_and_leaves_nothing(runner, net, message):
    """Refused before the guest starts, with one line; no TAP is left behind."""
    need_root(runner)
    script = ns_setup(dhcp=False) + f"""
before=$(ip -n $ns -o link show | wc -l)
in_ns domus run --engine {runner.engine} --net {shlex.quote(net)} < /dev/null > $w/out 2>&1
echo "EXIT=$?"
echo "LINES=$(grep -c . $w/out)"
cat $w/out
after=$(ip -n $ns -o link show | wc -l)
echo "SAME-LINKS=$([ "$before" = "$after" ] && echo yes || echo no)"
"""
    out, rc = runner.host(script, timeout=120)
    assert rc == 0, out
    assert "EXIT=1" in out or "EXIT=2" in out, out
    assert "LINES=1" in out, out
    assert message in out, out
    assert "SAME-LINKS=yes" in out, out


def test_no_permission_to_create_a_tap(runner):
    """As an unprivileged user, bridge= fails with a clear message."""
    need_root(runner)
    if runner.name != "local":
        pytest.skip("the nested test host has only root (the check is engine-independent "
                    "and runs on this host)")
    script = ns_setup(dhcp=False) + f"""
in_ns setpriv --reuid=65534 --regid=65534 --clear-groups \\
    domus run --engine {runner.engine} --net bridge=br0 < /dev/null > $w/out 2>&1
echo "EXIT=$?"
cat $w/out
echo "LINKS: $(ip -n $ns -o link show | grep -c domus)"
"""
    out = host_ok(runner, script, timeout=120)
    assert "EXIT=1" in out, out
    assert "no permission" in out, out
    assert "LINKS: 0" in out, out
