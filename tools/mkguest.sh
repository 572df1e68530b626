#!/bin/bash
# SPDX-License-Identifier: MIT
# mkguest.sh: build the default guest from Debian's packages.
#
#   tools/mkguest.sh [--fio] OUTDIR
#
# OUTDIR/vmlinuz     Debian's linux-image-cloud-amd64 kernel (bzImage), resolved at run time
# OUTDIR/initrd.img  busybox-static initramfs: /init mounts /proc /sys /dev, loads the
#                    virtio modules the kernel ships as modules (order from modules.dep),
#                    prints the marker "domus-guest: init ready" and starts busybox init
#                    with a root shell on the console. It carries e2fsprogs' mke2fs
#                    (mkfs.ext4) and e2fsck (fsck.ext4) with their shared libraries, so
#                    the guest can format and check a virtio disk.
# OUTDIR/modules/    the kernel's module tree (the nested test host takes kvm*.ko from it)
# OUTDIR/release     the kernel release string (uname -r inside the guest)
# OUTDIR/kernel.stamp  "package version" of the kernel in OUTDIR: while apt's candidate
#                    is the same, the kernel is not downloaded again
#
# With --fio, also (the default initrd stays lean; boot time is benchmarked):
# OUTDIR/initrd-fio.img  initrd.img with a second gzip'd cpio appended (Linux unpacks
#                    both): fio, iperf3 (bench/net) and their libraries, and bench/fiobench
# OUTDIR/fio/        the tree of that cpio (tests/hostvm/hostvm.sh --with-fio takes fio
#                    from here)
#
# Guest command line: "domus.exec=CMD,ARG,..." makes /init run "CMD ARG ..." after the
# marker, print "domus-guest: exec status N" and power off (benchmarks, tests).
#
# Nothing here is committed: the kernel comes from apt-get download + dpkg-deb -x,
# e2fsprogs and fio are the host's own installed binaries (ldd finds their libraries).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=modorder.sh

# shellcheck source-path=SCRIPTDIR source=modorder.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/modorder.sh"
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "mkguest: $*" >&2; exit 1; }
usage() { echo "usage: mkguest.sh [--fio] OUTDIR" >&2; exit 2; }

with_fio=0
while [ $# -gt 0 ]; do
	case $1 in
	--fio) with_fio=1 ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || usage
out=$1

PATH=$PATH:/sbin:/usr/sbin
for t in apt-cache apt-get dpkg-deb depmod cpio gzip file ldd mke2fs e2fsck; do
	command -v "$t" >/dev/null || die "$t is not installed (./dev.sh build installs what is missing)"
done
if [ $with_fio = 1 ]; then
	for t in fio gcc readelf objdump nm; do
		command -v "$t" >/dev/null || die "--fio needs $t, which is not installed"
	done
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.mkguest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Modules the default guest loads, in the order we want them considered; their
# dependencies are pulled in first, as modules.dep says. ext4 (with jbd2,
# mbcache, crc16) is built into Debian's cloud kernel today; it is listed so a
# kernel that makes it a module still mounts ext4. crc32c is what ext4 asks the
# crypto API for at mount time: a soft dependency modules.dep does not show.
WANT_MODULES="virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio-rng
virtio_balloon vmw_vsock_virtio_transport pvpanic-mmio pvpanic-pci button evdev
crc32c_generic ext4"

# --- the kernel: resolve the versioned package behind the metapackage -----------
meta=linux-image-cloud-amd64
pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || die "cannot resolve $meta with apt-cache (run apt-get update?)"
ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
stamp="$pkg $ver"
# The kernel package is 27 MB: keep what OUTDIR has while apt offers the same version.
if [ -f "$out/kernel.stamp" ] && [ "$(cat "$out/kernel.stamp")" = "$stamp" ] &&
	[ -f "$out/vmlinuz" ] && [ -f "$out/release" ] && [ -f "$out/modules/modules.dep" ]; then
	fresh=0
	kimg=$out/vmlinuz
	release=$(cat "$out/release")
	moddir=$out/modules
else
	fresh=1
	(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		(cd "$work" && apt-get update -q >/dev/null && apt-get download -q "$pkg" >/dev/null) ||
		die "apt-get download $pkg failed"
	dpkg-deb -x "$work"/"$pkg"_*.deb "$work/k"
	rm -f "$work"/"$pkg"_*.deb
	kimg=$(ls "$work"/k/boot/vmlinuz-* | head -n1)
	release=${kimg##*/vmlinuz-}
	moddir="$work/k/lib/modules/$release"
	[ -d "$moddir" ] || die "no modules in $pkg"
	# The .deb ships no modules.dep: make one.
	depmod -b "$work/k" "$release"
fi

# --- module load order from modules.dep (dependencies first) ----------------------
for m in $WANT_MODULES; do
	p=$(mod_path_of "$m")
	if [ -z "$p" ]; then
		grep -Eq "/$(mod_name_re "$m")\\.ko$" "$moddir/modules.builtin" 2>/dev/null && continue
		die "module $m is neither in $pkg nor built into its kernel"
	fi
	mod_visit "$p"
done

# --- copying dynamic executables --------------------------------------------------
# Libraries go where Debian's binaries look for them without any environment:
# the loader at /lib64, everything else under its soname in /lib/x86_64-linux-gnu.
libdir=lib/x86_64-linux-gnu
copy_libs() { # ELF TREE: the libraries ldd lists for ELF into TREE
	local line name path
	mkdir -p "$2/$libdir" "$2/lib64"
	while read -r line; do
		case $line in
		*'=> not found'*) die "$1: ${line%% *} not found" ;;
		*'=> /'*)
			name=${line%% =>*}; path=${line#*=> }; path=${path%% (*}
			[ -e "$2/$libdir/$name" ] || cp -L "$path" "$2/$libdir/$name" ;;
		/*ld-linux-x86-64*)
			[ -e "$2/lib64/ld-linux-x86-64.so.2" ] || cp -L "${line%% (*}" "$2/lib64/ld-linux-x86-64.so.2" ;;
		esac
	done < <(ldd "$1")
}

# --- the initramfs ----------------------------------------------------------------
bb=$(command -v busybox || true)
[ -x /bin/busybox ] && bb=/bin/busybox
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || die "busybox-static is not installed"
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,lib/modules,usr/bin,usr/sbin,run,mnt}
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
# busybox's applets the disk tests use; a busybox built without them would
# leave the tests failing in the guest with "not found", so fail here instead.
for a in fstrim sync sha256sum blkdiscard du mount umount udhcpc ip ping nc; do
	[ -L "$root/bin/$a" ] || die "busybox has no $a applet"
done
mod_install "$root" "$release"

# e2fsprogs: busybox's mke2fs makes ext2 only. The real one replaces its link.
mke2fs=$(command -v mke2fs) e2fsck=$(command -v e2fsck)
rm -f "$root/bin/mke2fs"
cp -L "$mke2fs" "$root/sbin/mke2fs"
cp -L "$e2fsck" "$root/sbin/e2fsck"
for n in mkfs.ext2 mkfs.ext3 mkfs.ext4; do ln -s mke2fs "$root/sbin/$n"; done
for n in fsck.ext2 fsck.ext3 fsck.ext4; do ln -s e2fsck "$root/sbin/$n"; done
copy_libs "$mke2fs" "$root"
copy_libs "$e2fsck" "$root"
# The host's defaults (ext4 features, inode size), so a guest's mkfs.ext4 makes
# what the host's would; both tools look for mounted file systems in /etc/mtab.
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
ln -s /proc/mounts "$root/etc/mtab"

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
# The ACPI power button (domus shutdown, QEMU's system_powerdown) arrives as
# an input event: busybox acpid runs /etc/acpi/PWRF/00000080, which powers off.
acpid -l /dev/null 2>/dev/null
echo "domus-guest: init ready"
# Benchmarks and tests boot with "domus.autopoweroff" to measure a whole
# boot-to-exit cycle without typing anything, or with "domus.exec=CMD,ARG,..."
# to run one command unattended (commas stand for spaces: the kernel command
# line has no simpler quoting) and power off after it.
for w in $(cat /proc/cmdline); do
	case $w in
	domus.autopoweroff) poweroff -f ;;
	domus.exec=*)
		cd /tmp
		sh -c "$(echo "${w#domus.exec=}" | tr , ' ')" < /dev/null
		echo "domus-guest: exec status $?"
		sync
		poweroff -f ;;
	esac
done
exec /bin/init
INIT
chmod +x "$root/init"
# A second root shell on the second console (domus run --virtio-console),
# when the VM has one.
# init starts us as a session leader with no controlling terminal (its
# /dev/console never becomes one), so opening hvc0 makes it ours: job control
# works there. (setsid would fork again and init would respawn a second one.)
cat > "$root/bin/hvc-shell" <<'HVC'
#!/bin/sh
[ -c /dev/hvc0 ] || exec sleep 2147483647
exec /bin/sh -l <>/dev/hvc0 >&0 2>&1
HVC
chmod +x "$root/bin/hvc-shell"
cat > "$root/etc/inittab" <<'TAB'
::sysinit:/bin/true
::respawn:/bin/cttyhack /bin/sh -l
::respawn:/bin/hvc-shell
::ctrlaltdel:/bin/reboot
::shutdown:/bin/sync
TAB
mkdir -p "$root/etc/acpi/PWRF"
printf '#!/bin/sh\necho "domus-guest: power button"\nexec poweroff\n' > "$root/etc/acpi/PWRF/00000080"
chmod +x "$root/etc/acpi/PWRF/00000080"
# busybox udhcpc hands the lease to this script, which applies it: eth0 gets
# its address, default route and resolver (bridge and NAT tests, benchmarks).
mkdir -p "$root/etc/udhcpc"
cat > "$root/etc/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case $1 in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up ;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do ip route add default via "$r" dev "$interface"; break; done
	: > /etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
	echo "domus-guest: dhcp $interface $ip/${mask:-24}" ;;
esac
exit 0
DHCP
chmod +x "$root/etc/udhcpc/default.script"
cat > "$root/etc/profile" <<'PROF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='\h:\w# '
PROF
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

mkcpio() { # DIR: newc archive of DIR's paths read from stdin (NUL-separated), gzip'd
	(cd "$1" && cpio --null -o -H newc --quiet -R 0:0) | gzip -1 -n
}
(cd "$root" && find . -print0 | sort -z) | mkcpio "$root" > "$work/initrd.img"

# --- fio, for benchmarks (--fio) --------------------------------------------------
# Debian's fio links the libraries of every storage back end it supports (ceph,
# gluster, nbd, RDMA, pmem): 80 MB with their own dependencies, which the guest
# would inflate into RAM at each boot. The benchmark uses io_uring/libaio on a
# local disk, so those libraries are replaced by stubs generated here: the
# symbols fio takes from them, under the same sonames and symbol versions (fio
# is linked with BIND_NOW, so all must resolve at start), each one ending the
# process with a message should it ever be called.
FIO_KEEP='^(libc|libm|libz|libaio|libnuma|liburing|libpthread|libdl|librt)\.so'
mkstub() { # SONAME REAL-LIBRARY EXE OUTPUT
	local so=$1 real=$2 exe=$3 dst=$4 d=$work/stub/$1
	mkdir -p "$d"
	nm -D --defined-only "$real" | awk '{print $NF}' | sed 's/@.*//' | sort -u > "$d/defined"
	# objdump -T: "... *UND* 0000000000000000 (VERSION) name" or "... Base name"
	objdump -T "$exe" | awk '/\*UND\*/ {v = $(NF-1); gsub(/[()]/, "", v); print $NF, v}' |
		awk 'NR == FNR {def[$1] = 1; next} ($1 in def)' "$d/defined" - | sort -u > "$d/syms"
	[ -s "$d/syms" ] || die "fio needs $so but takes no symbol from it"
	{
		echo '#include <unistd.h>'
		echo 'static void stub(const char *m) { int n = 0; while (m[n]) n++; (void)!write(2, m, n); _exit(127); }'
		awk -v so="$so" '{printf "void %s(void) { stub(\"fio: %s: %s is a stub in this guest\\n\"); }\n", $1, $1, so}' "$d/syms"
	} > "$d/stub.c"
	awk '$2 != "Base" {v[$2] = v[$2] " " $1 ";"} END {for (k in v) printf "%s {%s };\n", k, v[k]}' \
		"$d/syms" > "$d/map"
	local vs=()
	[ -s "$d/map" ] && vs=(-Wl,--version-script="$d/map")
	gcc -shared -fPIC -O1 -o "$dst" "$d/stub.c" -Wl,-soname,"$so" "${vs[@]}" ||
		die "cannot build the stub $so"
}
if [ $with_fio = 1 ]; then
	fio=$(command -v fio)
	ft=$work/fio
	mkdir -p "$ft/usr/bin" "$ft/bin" "$ft/$libdir" "$ft/lib64"
	cp -L "$fio" "$ft/usr/bin/fio"
	cp "$top/bench/fiobench" "$ft/bin/fiobench"
	chmod +x "$ft/bin/fiobench"
	# iperf3 for bench/net, with its libraries as they are (5 MB, no stubs
	# needed: it links only what it uses).
	iperf3=$(command -v iperf3) || die "--fio needs iperf3, which is not installed"
	cp -L "$iperf3" "$ft/usr/bin/iperf3"
	copy_libs "$iperf3" "$ft"
	ldd_fio=$(ldd "$fio")
	for so in $(readelf -d "$fio" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
		path=$(awk -v n="$so" '$1 == n && $3 ~ /^\// {print $3; exit}' <<<"$ldd_fio")
		[ -n "$path" ] || die "fio: $so not found"
		if [[ $so =~ $FIO_KEEP ]]; then
			cp -L "$path" "$ft/$libdir/$so"
			copy_libs "$path" "$ft"
		else
			mkstub "$so" "$path" "$fio" "$ft/$libdir/$so"
		fi
	done
	copy_libs "$ft/$libdir/libc.so.6" "$ft" # the loader
	# Run it with only these libraries (the tree's loader and library path), so a
	# missing symbol or library shows here, not in the guest.
	"$ft/lib64/ld-linux-x86-64.so.2" --library-path "$ft/$libdir" "$ft/usr/bin/fio" \
		--name=check --filename="$work/fio-check" --size=1M --rw=write --ioengine=psync \
		--output-format=json >/dev/null 2>"$work/fio-check.err" ||
		die "fio with the stub libraries does not run: $(head -c 300 "$work/fio-check.err")"
	# The appended archive holds what initrd.img lacks (directories are repeated:
	# the kernel creates each before its files and ignores ones that exist).
	(cd "$ft" && find . | sort | while read -r f; do
		if [ -d "$f" ] || [ ! -e "$root/$f" ]; then printf '%s\0' "$f"; fi
	done) | mkcpio "$ft" > "$work/fio.cpio.gz"
	cat "$work/initrd.img" "$work/fio.cpio.gz" > "$work/initrd-fio.img"
fi

# --- publish atomically ---------------------------------------------------------
if [ $fresh = 1 ]; then
	rm -rf "$out/modules.new"
	mv "$moddir" "$out/modules.new"
	rm -rf "$out/modules"
	mv "$out/modules.new" "$out/modules"
	cp "$kimg" "$work/vmlinuz"
	echo "$release" > "$work/release"
	mv "$work/vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
	mv "$work/release" "$out/release"
	echo "$stamp" > "$out/kernel.stamp"
fi
mv "$work/initrd.img" "$out/initrd.img.tmp" && mv "$out/initrd.img.tmp" "$out/initrd.img"
made="$out/initrd.img ($(stat -c %s "$out/initrd.img") bytes)"
if [ $with_fio = 1 ]; then
	rm -rf "$out/fio"
	mv "$work/fio" "$out/fio"
	mv "$work/initrd-fio.img" "$out/initrd-fio.img.tmp" && mv "$out/initrd-fio.img.tmp" "$out/initrd-fio.img"
	made="$made, $out/initrd-fio.img ($(stat -c %s "$out/initrd-fio.img") bytes)"
fi
echo "mkguest: $pkg ($release) -> $out/vmlinuz, $made"
