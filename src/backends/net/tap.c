/* SPDX-License-Identifier: MIT */
/* tap.c: TAP back ends. bridge=NAME: a TAP that domus creates (ioctls on
 * /dev/net/tun and an AF_INET socket, no `ip` command), up, with the bridge's
 * MTU, enslaved to the bridge. It is not persistent, so the kernel deletes it
 * with its last descriptor: when the VM ends, also by kill -9, nothing is left.
 * tap=NAME: an existing TAP, opened as it is.
 *
 * Both carry the virtio-net header (IFF_VNET_HDR, 12 bytes), so the guest's
 * checksum and segmentation offloads pass through the host kernel untouched. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "netdev.h"

#define TUN_DEVICE "/dev/net/tun"

struct tap {
	struct netdev nd;
};

static int tap_set_offloads(struct netdev *nd, unsigned off)
{
	unsigned long f = 0;

	if (off & NET_OFF_CSUM)
		f |= TUN_F_CSUM;
	/* segmentation needs checksum offload, as in virtio */
	if ((off & NET_OFF_CSUM) && (off & NET_OFF_TSO4))
		f |= TUN_F_TSO4;
	if ((off & NET_OFF_CSUM) && (off & NET_OFF_TSO6))
		f |= TUN_F_TSO6;
	if ((f & (TUN_F_TSO4 | TUN_F_TSO6)) && (off & NET_OFF_TSO_ECN))
		f |= TUN_F_TSO_ECN;
	return ioctl(nd->fd, TUNSETOFFLOAD, f) < 0 ? -errno : 0;
}

static void tap_close(struct netdev *nd)
{
	if (nd->fd >= 0)
		close(nd->fd);
	free(nd);
}

static const struct netdev_ops tap_ops = {
	.name = "tap",
	.set_offloads = tap_set_offloads,
	.close = tap_close,
};

/* sysfs_net_has: /sys/class/net/IF/ATTR exists. */
static bool sysfs_net_has(const char *ifname, const char *attr)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	return stat(path, &st) == 0;
}

static long sysfs_net_num(const char *ifname, const char *attr)
{
	char path[128], buf[32];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 0);
	fclose(f);
	return v;
}

/* check_host_side: the bridge or TAP named in (opts) is there and is what it
 * says, before anything is created. */
static int check_host_side(const struct net_opts *opts, struct err *err)
{
	const char *n = opts->ifname;

	if (if_nametoindex(n) == 0) {
		if (opts->kind == NET_BRIDGE)
			return err_set(err, ENODEV, "--net bridge=%s: no such bridge (create it "
				       "first: ip link add %s type bridge)", n, n);
		return err_set(err, ENODEV, "--net tap=%s: no such TAP device (create it first: "
			       "ip tuntap add %s mode tap)", n, n);
	}
	if (opts->kind == NET_BRIDGE && !sysfs_net_has(n, "bridge"))
		return err_set(err, EINVAL, "--net bridge=%s: %s is a network interface but not "
			       "a Linux bridge", n, n);
	if (opts->kind == NET_TAP) {
		long flags = sysfs_net_num(n, "tun_flags");
		if (flags < 0)
			return err_set(err, EINVAL, "--net tap=%s: %s is not a TAP device", n, n);
		if (!(flags & IFF_TAP))
			return err_set(err, EINVAL, "--net tap=%s: %s is a TUN (layer 3) device; a "
				       "NIC needs a TAP", n, n);
	}
	return 0;
}

static int open_tun(const char *what, struct err *err)
{
	int fd = open(TUN_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == EACCES || errno == EPERM)
		return err_set(err, errno, "%s: no permission to open %s (run as root, or use "
			       "--net user)", what, TUN_DEVICE);
	if (errno == ENOENT || errno == ENODEV)
		return err_set(err, errno, "%s: %s is missing (modprobe tun)", what, TUN_DEVICE);
	return err_setsys(err, errno, "%s: %s", what, TUN_DEVICE);
}

/* An ioctl on an interface by name, through a throwaway AF_INET socket. */
static int ifreq_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		r = -errno;
	close(s);
	return r;
}

static int set_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int r;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	r = ifreq_ioctl(SIOCGIFFLAGS, &ifr);
	if (r < 0 || (ifr.ifr_flags & IFF_UP))
		return r;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(SIOCSIFFLAGS, &ifr);
}

/* create_bridge_port: the new TAP's host side, configured and enslaved. */
static int create_bridge_port(struct tap *t, const struct net_opts *opts, struct err *err)
{
	const char *br = opts->ifname, *tap = t->nd.ifname;
	struct ifreq ifr = { 0 };
	long mtu = sysfs_net_num(br, "mtu");
	int r;

	/* The host side's MAC: the guest's with the first byte 0xfe. A bridge
	 * takes the lowest port MAC as its own when none was set: 0xfe keeps
	 * the TAP from ever being that, and from equalling the guest's. */
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tap);
	ifr.ifr_hwaddr.sa_family = 1;	/* ARPHRD_ETHER */
	memcpy(ifr.ifr_hwaddr.sa_data, t->nd.mac, 6);
	ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
	r = ifreq_ioctl(SIOCSIFHWADDR, &ifr);
	if (r < 0)
		return err_set(err, -r, "--net bridge=%s: cannot set the MAC of %s: %s", br, tap,
			       strerror(-r));
	if (mtu > 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tap);
		ifr.ifr_mtu = (int)mtu;
		r = ifreq_ioctl(SIOCSIFMTU, &ifr);
		if (r < 0)
			return err_set(err, -r, "--net bridge=%s: cannot set the MTU of %s to %ld: %s",
				       br, tap, mtu, strerror(-r));
		t->nd.mtu = (unsigned)mtu;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", br);
	ifr.ifr_ifindex = (int)if_nametoindex(tap);
	r = ifreq_ioctl(SIOCBRADDIF, &ifr);
	if (r < 0)
		return err_set(err, -r, "--net bridge=%s: cannot add %s to the bridge: %s", br,
			       tap, strerror(-r));
	r = set_up(tap);
	if (r < 0)
		return err_set(err, -r, "--net bridge=%s: cannot bring %s up: %s", br, tap,
			       strerror(-r));
	return 0;
}

int netdev_tap_open(const struct net_opts *opts, unsigned index, struct netdev **out,
		    struct err *err)
{
	char what[IF_NAMESIZE + 16];
	struct ifreq ifr = { 0 };
	int hdr = NET_VNET_HDR_LEN;
	struct tap *t;
	int r;

	snprintf(what, sizeof(what), "--net %s=%s", opts->kind == NET_BRIDGE ? "bridge" : "tap",
		 opts->ifname);
	r = check_host_side(opts, err);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return err_set(err, ENOMEM, "%s: out of memory", what);
	t->nd.ops = &tap_ops;
	t->nd.vnet_hdr = true;
	t->nd.offloads = NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6 | NET_OFF_TSO_ECN;
	t->nd.mtu = 1500;
	memcpy(t->nd.mac, opts->mac, 6);
	t->nd.fd = open_tun(what, err);
	if (t->nd.fd < 0) {
		r = t->nd.fd;
		t->nd.fd = -1;
		goto fail;
	}

	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (opts->kind == NET_BRIDGE)
		/* Named like Xen's vifDOMID.N: which process and which NIC. */
		snprintf(ifr.ifr_name, IFNAMSIZ, "domus%u.%u", (unsigned)getpid(), index);
	else
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", opts->ifname);
	if (ioctl(t->nd.fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		if (r == -EPERM || r == -EACCES)
			err_set(err, -r, "%s: no permission to %s a TAP device (needs "
				"CAP_NET_ADMIN, or a TAP made for this user; or use --net user)",
				what, opts->kind == NET_BRIDGE ? "create" : "attach to");
		else if (r == -EBUSY)
			err_set(err, -r, "%s: %s is in use by another process", what, ifr.ifr_name);
		else if (r == -EINVAL && opts->kind == NET_TAP)
			err_set(err, -r, "%s: %s cannot be attached as a single-queue TAP with a "
				"virtio-net header (made with multi_queue, or not a TAP?)", what,
				ifr.ifr_name);
		else
			err_set(err, -r, "%s: TUNSETIFF %s: %s", what, ifr.ifr_name, strerror(-r));
		goto fail;
	}
	snprintf(t->nd.ifname, sizeof(t->nd.ifname), "%s", ifr.ifr_name);
	if (ioctl(t->nd.fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(t->nd.fd, TUNSETOFFLOAD, 0UL) < 0) {
		r = err_setsys(err, errno, "%s: cannot set up the virtio-net header on %s", what,
			       t->nd.ifname);
		goto fail;
	}
	if (opts->kind == NET_BRIDGE) {
		r = create_bridge_port(t, opts, err);
		if (r < 0)
			goto fail;
	} else {
		long mtu = sysfs_net_num(t->nd.ifname, "mtu");
		if (mtu > 0)
			t->nd.mtu = (unsigned)mtu;
		/* An administrator's TAP that is still down: bring it up if we
		 * may; if not, the guest simply sees no traffic until they do. */
		(void)set_up(t->nd.ifname);
	}
	*out = &t->nd;
	return 0;
fail:
	tap_close(&t->nd);	/* the kernel deletes a TAP we created */
	return r;
}
