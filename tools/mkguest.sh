#!/bin/bash
# SPDX-License-Identifier: MIT
# mkguest.sh: build the default guest from Debian's packages.
#
#   tools/mkguest.sh OUTDIR
#
# OUTDIR/vmlinuz     Debian's linux-image-cloud-amd64 kernel (bzImage), resolved at run time
# OUTDIR/initrd.img  busybox-static initramfs: /init mounts /proc /sys /dev, loads the
#                    virtio modules the kernel ships as modules (order from modules.dep),
#                    prints the marker "domus-guest: init ready" and starts busybox init
#                    with a root shell on the console.
# OUTDIR/modules/    the kernel's module tree (the nested test host takes kvm*.ko from it)
# OUTDIR/release     the kernel release string (uname -r inside the guest)
#
# Nothing here is committed: everything comes from apt-get download + dpkg-deb -x.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=modorder.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/modorder.sh"

out=${1:?usage: mkguest.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.mkguest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Modules the default guest loads, in the order we want them considered; their
# dependencies are pulled in first, as modules.dep says.
WANT_MODULES="virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio-rng
virtio_balloon vmw_vsock_virtio_transport pvpanic-mmio pvpanic-pci button"

die() { echo "mkguest: $*" >&2; exit 1; }

# --- the kernel: resolve the versioned package behind the metapackage -----------
meta=linux-image-cloud-amd64
pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || die "cannot resolve $meta with apt-cache (run apt-get update?)"
(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
	(cd "$work" && apt-get update -q >/dev/null && apt-get download -q "$pkg" >/dev/null) ||
	die "apt-get download $pkg failed"
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/k"
kimg=$(ls "$work"/k/boot/vmlinuz-* | head -n1)
release=${kimg##*/vmlinuz-}
moddir="$work/k/lib/modules/$release"
[ -d "$moddir" ] || die "no modules in $pkg"
# The .deb ships no modules.dep: make one.
depmod -b "$work/k" "$release"

# --- module load order from modules.dep (dependencies first) ----------------------
for m in $WANT_MODULES; do
	p=$(mod_path_of "$m")
	[ -n "$p" ] || die "module $m not in $pkg"
	mod_visit "$p"
done

# --- the initramfs ----------------------------------------------------------------
bb=$(command -v busybox || true)
[ -x /bin/busybox ] && bb=/bin/busybox
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || die "busybox-static is not installed"
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,lib/modules,usr/bin,usr/sbin,run}
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
mod_install "$root" "$release"

cat > "$root/init" <<'INIT'
#!/bin/sh
# domus default guest: first process. Mount the API file systems, load the
# virtio drivers, then hand over to busybox init (so poweroff and reboot work).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
rel=$(uname -r)
while read -r m; do
	insmod "/lib/modules/$rel/$m" 2>/dev/null
done < /etc/modules.order
hostname domus-guest
echo "domus-guest: init ready"
# Benchmarks and tests boot with "domus.autopoweroff" to measure a whole
# boot-to-exit cycle without typing anything.
case " $(cat /proc/cmdline) " in
*" domus.autopoweroff "*) poweroff -f ;;
esac
exec /bin/init
INIT
chmod +x "$root/init"
cat > "$root/etc/inittab" <<'TAB'
::sysinit:/bin/true
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/bin/reboot
::shutdown:/bin/sync
TAB
cat > "$root/etc/profile" <<'PROF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='\h:\w# '
PROF
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

(cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -1 > "$work/initrd.img"

# --- publish atomically ---------------------------------------------------------
rm -rf "$out/modules.new"
mv "$moddir" "$out/modules.new"
rm -rf "$out/modules"
mv "$out/modules.new" "$out/modules"
cp "$kimg" "$work/vmlinuz"
echo "$release" > "$work/release"
mv "$work/vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img.tmp" && mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$work/release" "$out/release"
echo "mkguest: $pkg ($release) -> $out/vmlinuz, $out/initrd.img"
