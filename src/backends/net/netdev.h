/* SPDX-License-Identifier: MIT */
/* netdev.h: the host side of a virtual NIC. Every back end looks the same to
 * virtio-net: a non-blocking file descriptor that carries one Ethernet frame per
 * read or write, optionally preceded by a virtio-net header (a TAP with
 * IFF_VNET_HDR), so offloads pass through and frames move between guest buffers
 * and the kernel without a copy. The user-mode (NAT) back end runs libslirp on
 * its own thread behind a datagram socket pair, so it has the same shape. */
#ifndef DOMUS_NETDEV_H
#define DOMUS_NETDEV_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct err;

#define NET_NICS_MAX		8	/* --net per VM: eth0..eth7 */
#define NET_HOSTFWD_MAX		16	/* hostfwd= rules per user NIC */
/* The virtio-net header in front of every frame (virtio 1.x: always with
 * num_buffers), so 12 bytes. */
#define NET_VNET_HDR_LEN	12
/* Largest frame a back end hands over: a 64 KiB GSO packet plus Ethernet and
 * VLAN headers. */
#define NET_FRAME_MAX		(65535 + 14 + 4)

enum net_backend_kind { NET_BRIDGE, NET_TAP, NET_USER };

struct net_hostfwd {
	bool udp;
	struct in_addr host_addr;	/* INADDR_ANY when left empty, as in QEMU */
	uint16_t host_port;
	struct in_addr guest_addr;	/* INADDR_ANY: the guest's DHCP address */
	uint16_t guest_port;
};

/* One --net (or a domain's vif), parsed. */
struct net_opts {
	enum net_backend_kind kind;
	char ifname[IF_NAMESIZE];	/* bridge= or tap= name */
	uint8_t mac[6];
	bool mac_given;
	struct net_hostfwd fwd[NET_HOSTFWD_MAX];
	unsigned nr_fwd;
};

/* Offloads, in TUN_F_* terms: what the guest may receive without the host
 * segmenting or checksumming first. */
#define NET_OFF_CSUM	0x01
#define NET_OFF_TSO4	0x02
#define NET_OFF_TSO6	0x04
#define NET_OFF_TSO_ECN	0x08

struct netdev;

struct netdev_ops {
	const char *name;
	/* set_offloads: tell the back end what the guest accepts (NET_OFF_*). */
	int (*set_offloads)(struct netdev *nd, unsigned off);
	void (*close)(struct netdev *nd);
};

struct netdev {
	const struct netdev_ops *ops;
	int fd;			/* non-blocking; a frame per read/write */
	bool vnet_hdr;		/* frames carry a NET_VNET_HDR_LEN header */
	unsigned offloads;	/* NET_OFF_* the back end can take (0 without vnet_hdr) */
	unsigned mtu;		/* of the link (the bridge's): offered to the guest */
	char ifname[IF_NAMESIZE];	/* the host interface, if there is one */
	uint8_t mac[6];		/* the guest's */
};

/* netdev_open: the back end (opts) describes, checked before any guest runs:
 * an unknown bridge, a bridge= name that is not a bridge, a tap= that does not
 * exist or is not a TAP, no permission for /dev/net/tun → -errno and one line
 * in (err); nothing is left behind. (index) numbers the NIC (TAP names). A TAP
 * domus creates is not persistent: the kernel removes it when the last
 * descriptor closes, also when domus is killed. */
int netdev_open(const struct net_opts *opts, unsigned index, struct netdev **out,
		struct err *err);
void netdev_close(struct netdev *nd);

/* net_random_mac: 00:16:3e:xx:xx:xx (the prefix Xen's tools use), random. */
void net_random_mac(uint8_t mac[6]);

/* Back ends (tap.c, slirp.c). */
int netdev_tap_open(const struct net_opts *opts, unsigned index, struct netdev **out,
		    struct err *err);
int netdev_slirp_open(const struct net_opts *opts, struct netdev **out, struct err *err);

#endif
