/* SPDX-License-Identifier: MIT */
/* fuzz_virtio_net.c: libFuzzer target: virtio-net serving its three queues from
 * rings a hostile driver laid out, with frames arriving from the back end
 * between kicks; and the --net parser on the same bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net/netdev.h"
#include "cli/net_args.h"
#include "common/err.h"
#include "common/ev.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* Guest RAM: exactly this big and malloc'd, so ASan sees any byte the device
 * touches beyond it. */
#define RAM_SIZE	(64 * 1024)
#define HDR_SIZE	24
#define ROUNDS		8

/* Header:
 *  [0..2]     queue sizes (rx, tx, ctrl): 1 << (b & 15), invalid ones included
 *  [3]        bit 0 INDIRECT_DESC, 1 EVENT_IDX, 2 MRG_RXBUF, 3 vnet header back
 *             end (+ GUEST_TSO4/CSUM), 4 reset after round 3, 5 DRIVER_OK late
 *  [4]        per round, bit i: a frame arrives from the back end in round i
 *  [5]        frame length unit (frames are (b + 1) * 64 bytes, capped)
 *  [6..23]    desc, avail, used gpa of rx, tx, ctrl (le16 each)
 * Then: le16 n, n bytes of a --net value, and the first bytes of guest RAM
 * (frames are cut from the whole input). */

static uint8_t *ram;
static int needs_reset;

static void fz_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	(void)vdev;
	CHECK(q < 3);
}

static void fz_signal_config(struct virtio_dev *vdev)
{
	(void)vdev;
}

static void fz_needs_reset(struct virtio_dev *vdev)
{
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	needs_reset++;
}

static int fz_set_offloads(struct netdev *nd, unsigned off)
{
	(void)nd;
	CHECK(off <= 15);
	return 0;
}

static void fz_close(struct netdev *nd)
{
	(void)nd;
}

static const struct netdev_ops fz_nd_ops = { .name = "fuzz", .set_offloads = fz_set_offloads,
					     .close = fz_close };

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void enable(struct virtio_dev *v, const struct gmem *mem, const uint8_t *hdr,
		   uint64_t features)
{
	for (unsigned q = 0; q < 3; q++) {
		const uint8_t *g = hdr + 6 + 6 * q;

		vq_enable(&v->vqs[q], mem, (uint16_t)(1u << (hdr[q] & 15)), le16(g), le16(g + 2),
			  le16(g + 4), features);
	}
	v->driver_features = features;
	v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	v->ops->driver_ok(v);
}

static void fuzz_net_args(const uint8_t *p, size_t n)
{
	char spec[512];
	struct net_opts o;
	struct err err = { 0 };

	if (n >= sizeof(spec))
		n = sizeof(spec) - 1;
	memcpy(spec, p, n);
	spec[n] = '\0';
	if (net_args_parse(spec, &o, &err) == 0) {
		CHECK(o.nr_fwd <= NET_HOSTFWD_MAX);
		CHECK(o.kind == NET_USER || o.ifname[0] != '\0');
		CHECK(!o.mac_given || !(o.mac[0] & 1));
	} else {
		CHECK(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem mem = { .fd = -1 };
	struct netdev nd = { .ops = &fz_nd_ops, .mtu = 1500 };
	struct virtio_dev *v;
	struct ev_loop *loop;
	struct err err = { 0 };
	uint64_t features = 0;
	size_t n, image, flen;
	int sp[2];
	uint8_t sink[2048];

	if (size < HDR_SIZE + 2)
		return 0;
	if (ram == NULL) {
		ram = malloc(RAM_SIZE);
		CHECK(ram != NULL);
	}
	n = le16(data + HDR_SIZE);
	if (n > size - HDR_SIZE - 2)
		n = size - HDR_SIZE - 2;
	fuzz_net_args(data + HDR_SIZE + 2, n);
	image = size - HDR_SIZE - 2 - n;
	if (image > RAM_SIZE)
		image = RAM_SIZE;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + HDR_SIZE + 2 + n, image);
	mem.size = RAM_SIZE;
	mem.base = ram;
	mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = ram };
	mem.nr_regions = 1;
	if (data[3] & 1)
		features |= VQ_FEATURE_INDIRECT_DESC;
	if (data[3] & 2)
		features |= VQ_FEATURE_EVENT_IDX;
	if (data[3] & 4)
		features |= VIRTIO_NET_F_MRG_RXBUF;
	if (data[3] & 8) {
		nd.vnet_hdr = true;
		nd.offloads = NET_OFF_CSUM | NET_OFF_TSO4;
		features |= VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4;
	}
	features |= VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_GUEST_ANNOUNCE | VIRTIO_F_VERSION_1;
	flen = ((size_t)data[5] + 1) * 64;
	if (flen > size)
		flen = size;

	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sp) == 0);
	nd.fd = sp[0];
	loop = ev_loop_new();
	CHECK(loop != NULL);
	CHECK(virtio_net_create(&nd, loop, &v, &err) == 0);
	v->signal_queue = fz_signal_queue;
	v->signal_config = fz_signal_config;
	v->signal_needs_reset = fz_needs_reset;
	needs_reset = 0;
	pthread_mutex_lock(&v->lock);
	if (!(data[3] & 32))
		enable(v, &mem, data, features);
	pthread_mutex_unlock(&v->lock);

	for (unsigned round = 0; round < ROUNDS; round++) {
		if (data[4] & (1u << round)) {
			/* a frame from the wire: a slice of the input */
			size_t off = (round * 131) % size;
			size_t len = flen < size - off ? flen : size - off;
			if (send(sp[1], data + off, len, 0) < 0) {
				/* the queue toward the device is full: a lost frame */
			}
			ev_run_once(loop, 0);
		}
		pthread_mutex_lock(&v->lock);
		if (round == 1 && (data[3] & 32))
			enable(v, &mem, data, features);
		v->ops->queue_notify(v, round % 3);
		if (round == 3 && (data[3] & 16)) {
			/* the transport's device reset, then the driver again */
			v->ops->reset(v);
			for (unsigned q = 0; q < 3; q++)
				vq_reset(&v->vqs[q]);
			v->status = 0;
			enable(v, &mem, data, features);
		}
		pthread_mutex_unlock(&v->lock);
		if (round == 4)
			virtio_net_announce(v);
		/* whatever went out is well-formed as far as a socket cares */
		while (recv(sp[1], sink, sizeof(sink), MSG_DONTWAIT) > 0) {
		}
		for (unsigned q = 0; q < 3; q++)
			CHECK(!v->vqs[q].broken || needs_reset > 0);
	}
	v->ops->destroy(v);
	ev_loop_free(loop);
	close(sp[0]);
	close(sp[1]);
	return 0;
}
