/* SPDX-License-Identifier: MIT */
/* net.h: virtio-net (device id 1) on a host back end (backends/net). */
#ifndef DOMUS_VIRTIO_NET_H
#define DOMUS_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

struct virtio_dev;
struct netdev;
struct ev_loop;
struct err;

/* Feature bits (virtio 1.2, "Network Device"). */
#define VIRTIO_NET_F_CSUM		(1ULL << 0)
#define VIRTIO_NET_F_GUEST_CSUM		(1ULL << 1)
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS (1ULL << 2)
#define VIRTIO_NET_F_MTU		(1ULL << 3)
#define VIRTIO_NET_F_MAC		(1ULL << 5)
#define VIRTIO_NET_F_GUEST_TSO4		(1ULL << 7)
#define VIRTIO_NET_F_GUEST_TSO6		(1ULL << 8)
#define VIRTIO_NET_F_GUEST_ECN		(1ULL << 9)
#define VIRTIO_NET_F_GUEST_UFO		(1ULL << 10)
#define VIRTIO_NET_F_HOST_TSO4		(1ULL << 11)
#define VIRTIO_NET_F_HOST_TSO6		(1ULL << 12)
#define VIRTIO_NET_F_HOST_ECN		(1ULL << 13)
#define VIRTIO_NET_F_MRG_RXBUF		(1ULL << 15)
#define VIRTIO_NET_F_STATUS		(1ULL << 16)
#define VIRTIO_NET_F_CTRL_VQ		(1ULL << 17)
#define VIRTIO_NET_F_CTRL_RX		(1ULL << 18)
#define VIRTIO_NET_F_GUEST_ANNOUNCE	(1ULL << 21)
#define VIRTIO_NET_F_CTRL_MAC_ADDR	(1ULL << 23)

/* Queues: one receive/transmit pair and the control queue. */
#define VIRTIO_NET_RXQ		0
#define VIRTIO_NET_TXQ		1
#define VIRTIO_NET_CTRLQ	2

/* Config space: mac[6], le16 status, le16 max_virtqueue_pairs, le16 mtu. */
#define VIRTIO_NET_CONFIG_SIZE	12
#define VIRTIO_NET_S_LINK_UP	1
#define VIRTIO_NET_S_ANNOUNCE	2

/* The virtio-net header (virtio 1.x, always with num_buffers). */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

/* Control queue commands (class, command) the device answers. */
#define VIRTIO_NET_CTRL_RX		0
#define VIRTIO_NET_CTRL_MAC		1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET	0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET	1
#define VIRTIO_NET_CTRL_ANNOUNCE	3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK	0
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS	5
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET 0
#define VIRTIO_NET_OK			0
#define VIRTIO_NET_ERR			1

/* Counters since the device was created (domstats). */
struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_dropped;
};

/* virtio_net_create: a virtio-net device on back end (nd) (borrowed: it must
 * outlive the device), whose descriptor (loop) watches. Returns 0 or -errno
 * with (err) set. Destroy with vdev->ops->destroy after the transport. */
int virtio_net_create(struct netdev *nd, struct ev_loop *loop, struct virtio_dev **out,
		      struct err *err);

/* virtio_net_set_link: carrier up or down, as the guest sees it (a config
 * interrupt tells it). Any thread. */
void virtio_net_set_link(struct virtio_dev *vdev, bool up);

/* virtio_net_announce: after a migration or a restore, make the network
 * learn where the guest's MAC is now: the guest announces itself (gratuitous
 * ARP and neighbour advertisements) if its driver can, else we send a RARP
 * from its MAC, as QEMU does. */
void virtio_net_announce(struct virtio_dev *vdev);

void virtio_net_get_stats(struct virtio_dev *vdev, struct virtio_net_stats *out);

#endif
