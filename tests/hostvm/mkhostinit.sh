#!/bin/bash
# SPDX-License-Identifier: MIT
# mkhostinit.sh: build the initramfs of the nested test host ("L1").
#
#   tests/hostvm/mkhostinit.sh [-g GUESTDIR] OUTDIR
#
# GUESTDIR (default: build/guest of this checkout, made by tools/mkguest.sh)
# provides the kernel's module tree; OUTDIR/hostinit.img is written (an
# uncompressed newc cpio: under TCG, unpacking it is cheaper than inflating it).
#
# The L1 /init:
#   - mounts /proc /sys /dev (devtmpfs) /dev/pts /tmp /run,
#   - loads virtio_pci + virtio_blk and irqbypass + kvm + kvm-amd (dependencies
#     first, from modules.dep; more with HOSTVM_MODULES="name ..."),
#   - mounts the payload disk (/dev/vda, ext4) read-only at /hv,
#   - makes the payload's dynamic binaries runnable: /lib64/ld-linux-x86-64.so.2
#     and /lib/x86_64-linux-gnu point into /hv/lib, LD_LIBRARY_PATH=/hv/lib,
#     /usr/share/qemu -> /hv/share/qemu (QEMU's firmware), PATH has /hv/bin,
#   - with "hostvm.scratch" on the command line (hostvm.sh --scratch), formats the
#     disk whose virtio serial is "hostvm-scratch" ext4 (the payload's mkfs.ext4)
#     and mounts it read-write at /scratch,
#   - checks /dev/kvm, then
#   - by default runs "sh /hv/run.sh" (cwd /tmp, stdin /dev/null, stdout and
#     stderr on the console), prints "HOSTVM-STATUS=<exit status>" and powers
#     off; with "hostvm.interactive" on the kernel command line it gives a root
#     shell on the console instead, prompt "hostvm# " (leaving it powers off).
#
# Lines /init prints itself start with "hostvm: "; a setup failure prints
# "hostvm: FATAL ..." and "HOSTVM-STATUS=setup-failed" and powers off.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../tools/modorder.sh
. "$top/tools/modorder.sh"
guest=$top/build/guest
while getopts g: o; do
	case $o in
	g) guest=$OPTARG ;;
	*) echo "usage: mkhostinit.sh [-g GUESTDIR] OUTDIR" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
out=${1:?usage: mkhostinit.sh [-g GUESTDIR] OUTDIR}

die() { echo "mkhostinit: $*" >&2; exit 1; }

moddir=$guest/modules
[ -f "$moddir/modules.dep" ] || die "no $moddir/modules.dep (run tools/mkguest.sh $guest)"
release=$(cat "$guest/release" 2>/dev/null) || die "no $guest/release"

bb=
for c in /bin/busybox /usr/bin/busybox "$(command -v busybox || true)"; do
	[ -x "$c" ] && file -L "$c" | grep -q 'statically linked' && { bb=$c; break; }
done
[ -n "$bb" ] || die "busybox-static is not installed"

WANT="virtio_pci virtio_blk irqbypass kvm kvm-amd ${HOSTVM_MODULES:-}"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.mkhostinit.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- module load order (dependencies first) -------------------------------------
for m in $WANT; do
	p=$(mod_path_of "$m")
	if [ -z "$p" ]; then
		# Built into the kernel is fine too.
		n=$(mod_name_re "$m")
		grep -Eq "/${n}\\.ko$" "$moddir/modules.builtin" 2>/dev/null && continue
		die "module $m is not in $moddir"
	fi
	mod_visit "$p"
done

# --- the tree ---------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,hv,lib,lib64,usr/bin,usr/sbin,usr/share,usr/lib}
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
mkdir -p "$root/lib/modules/$release"
mod_install "$root" "$release"
# Dynamic binaries of the payload: loader and libraries live in /hv/lib.
ln -s /hv/lib/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
ln -s /hv/lib "$root/lib/x86_64-linux-gnu"
ln -s /hv/lib "$root/usr/lib/x86_64-linux-gnu"
ln -s /hv/share/qemu "$root/usr/share/qemu"
ln -s /hv/share/seabios "$root/usr/share/seabios"

cat > "$root/init" <<'INIT'
#!/bin/sh
# domus nested test host (L1): first process.
export PATH=/hv/bin:/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/hv/lib
export HOME=/root TERM=${TERM:-vt100}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
hostname hostvm
# Kernel messages stay in dmesg: on the console they would interleave with the
# output of the programs under test ("hostvm.verbose" keeps them).
case " $(cat /proc/cmdline) " in
*" hostvm.verbose "*) ;;
*) dmesg -n 1 ;;
esac
export HV_KERNEL=/hv/guest/vmlinuz HV_INITRD=/hv/guest/initrd.img
# hostvm.sh --with-fio: the default initrd plus fio (tools/mkguest.sh --fio)
export HV_INITRD_FIO=/hv/guest/initrd-fio.img

fatal() {
	echo "hostvm: FATAL $*"
	echo "HOSTVM-STATUS=setup-failed"
	sleep 0.2
	poweroff -f
}

rel=$(uname -r)
while read -r m; do
	insmod "/lib/modules/$rel/$m" || echo "hostvm: insmod $m failed"
done < /etc/modules.order

# virtio-blk probes synchronously, but give udev-less /dev a moment anyway.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
# Disks are known by their virtio serial numbers (hostvm.sh sets them): names
# follow PCI probe order, and QEMU places -device disks before -drive if=virtio.
disk_by_serial() {
	for f in /sys/block/vd*/serial; do
		[ "$(cat "$f" 2>/dev/null)" = "$1" ] && { f=${f%/serial}; echo "/dev/${f##*/}"; return; }
	done
}
pd=$(disk_by_serial hostvm-payload)
[ -n "$pd" ] || pd=/dev/vda
if [ -b "$pd" ]; then
	mount -t ext4 -o ro,noload "$pd" /hv || fatal "cannot mount the payload disk $pd"
else
	echo "hostvm: no payload disk (/dev/vda)"
fi

case " $(cat /proc/cmdline) " in
*" hostvm.scratch "*)
	sd=$(disk_by_serial hostvm-scratch)
	[ -n "$sd" ] || fatal "no scratch disk (virtio serial hostvm-scratch)"
	# Inode tables are left to be zeroed lazily (a fresh sparse file reads as
	# zeros anyway) and noinit_itable stops the kernel thread that would zero
	# them in the background, which would disturb whatever runs on /scratch.
	# No discard: the file behind it is sparse already.
	MKE2FS_CONFIG=/hv/etc/mke2fs.conf mkfs.ext4 -q -F -m 0 \
		-E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$sd" ||
		fatal "mkfs.ext4 $sd failed"
	mkdir -p /scratch
	mount -t ext4 -o noatime,noinit_itable "$sd" /scratch || fatal "cannot mount $sd on /scratch"
	echo "hostvm: scratch disk $sd ($(($(cat /sys/block/${sd#/dev/}/size) / 2048)) MiB) on /scratch"
	;;
esac

[ -c /dev/kvm ] || fatal "no /dev/kvm (kvm_amd did not load: is the CPU model missing +svm?)"
chmod 666 /dev/kvm
# shmem huge pages (docs/performance.md) stay at Debian's default here: twice
# an L1 stopped making progress with them on; bench/boot turns them on per run.

case " $(cat /proc/cmdline) " in
*" hostvm.interactive "*)
	cat > /etc/profile <<'PROF'
export PATH=/hv/bin:/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/hv/lib
export PS1='hostvm# ' PS2=''
PROF
	echo "hostvm: interactive shell ready"
	# A session leader with the console as controlling tty, so Ctrl-C works.
	setsid cttyhack sh -l
	sync
	poweroff -f
	;;
esac

if [ -f /hv/run.sh ]; then
	cd /tmp
	sh /hv/run.sh < /dev/null
	st=$?
else
	echo "hostvm: no /hv/run.sh"
	st=127
fi
echo "HOSTVM-STATUS=$st"
# Let the UART drain before the power goes.
sleep 0.2
poweroff -f
INIT
chmod +x "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
touch "$root/etc/profile"

(cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) > "$work/hostinit.img"
mv "$work/hostinit.img" "$out/hostinit.img"
# shellcheck disable=SC2154 # mod_order: set by tools/modorder.sh
echo "mkhostinit: $release, modules: ${mod_order[*]##*/} -> $out/hostinit.img" >&2
