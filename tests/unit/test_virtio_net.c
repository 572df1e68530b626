/* SPDX-License-Identifier: MIT */
/* test_virtio_net.c: virtio-net against a back end that is one end of a
 * datagram socket pair (the test holds the other: the "wire"), and a driver
 * laying out the three queues in a malloc'd fake RAM, well-behaved and
 * hostile. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/net/netdev.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/ev.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

#define F_NEXT		1
#define F_WRITE		2

#define RAM_SIZE	(4u << 20)
#define RING_GPA(q)	(0x1000 + 0x4000 * (uint64_t)(q))
#define DATA_GPA	0x20000
#define QSIZE		64
#define HDR		12

#define RXQ		VIRTIO_NET_RXQ
#define TXQ		VIRTIO_NET_TXQ
#define CTRLQ		VIRTIO_NET_CTRLQ

/* --- a back end: a socket pair ------------------------------------------------- */

struct fake_nd {
	struct netdev nd;
	int wire;		/* the test's end */
	unsigned offloads_set;
	int set_calls;
};

static int fake_set_offloads(struct netdev *nd, unsigned off)
{
	struct fake_nd *f = (struct fake_nd *)nd;

	f->offloads_set = off;
	f->set_calls++;
	return 0;
}

static void fake_close(struct netdev *nd)
{
	(void)nd;
}

static const struct netdev_ops fake_nd_ops = {
	.name = "fake",
	.set_offloads = fake_set_offloads,
	.close = fake_close,
};

/* --- a driver ------------------------------------------------------------------ */

struct drvq {
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t next_desc;
	uint16_t seen_used;
};

struct t {
	struct gmem mem;
	uint8_t *ram;
	uint64_t data;
	struct drvq q[3];
	struct virtio_dev *vdev;
	struct fake_nd fn;
	struct ev_loop *loop;
	int signals[3];
	int config_signals;
	int needs_reset;
};

static struct t *cur;

static void fake_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	assert_ptr_equal(vdev, cur->vdev);
	assert_true(q < 3);
	cur->signals[q]++;
}

static void fake_signal_config(struct virtio_dev *vdev)
{
	assert_ptr_equal(vdev, cur->vdev);
	cur->config_signals++;
}

static void fake_needs_reset(struct virtio_dev *vdev)
{
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	cur->needs_reset++;
}

static void wr16(struct t *t, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(t->ram + gpa, &v, 2);
}

static uint16_t rd16(struct t *t, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, t->ram + gpa, 2);
	return le16toh(v);
}

static uint32_t rd32(struct t *t, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, t->ram + gpa, 4);
	return le32toh(v);
}

static void set_desc(struct t *t, unsigned q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint64_t gpa = t->q[q].desc + 16 * (uint64_t)i;
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);

	memcpy(t->ram + gpa, &a, 8);
	memcpy(t->ram + gpa + 8, &l, 4);
	wr16(t, gpa + 12, flags);
	wr16(t, gpa + 14, next);
}

static uint64_t alloc_buf(struct t *t, uint32_t len)
{
	uint64_t gpa = t->data;

	t->data += (len + 15) & ~15u;
	assert_true(t->data < RAM_SIZE);
	return gpa;
}

static void enable_queue(struct t *t, unsigned q)
{
	struct drvq *d = &t->q[q];

	d->desc = RING_GPA(q);
	d->avail = d->desc + 16 * QSIZE;
	d->used = (d->avail + 6 + 2 * QSIZE + 3) & ~3ULL;
	d->avail_idx = d->next_desc = d->seen_used = 0;
	memset(t->ram + d->desc, 0, 0x4000);
	assert_int_equal(vq_enable(&t->vdev->vqs[q], &t->mem, QSIZE, d->desc, d->avail, d->used, 0),
			 0);
}

static void publish(struct t *t, unsigned q, uint16_t head)
{
	struct drvq *d = &t->q[q];

	wr16(t, d->avail + 4 + 2 * (uint64_t)(d->avail_idx % QSIZE), head);
	d->avail_idx++;
	wr16(t, d->avail + 2, d->avail_idx);
}

/* A chain of (n) segments on queue (q): the first (nout) device-readable and
 * filled from (data), the rest writable. Segment gpas to gpas[] if given. */
static uint16_t chain(struct t *t, unsigned q, unsigned nout, unsigned n, const uint32_t *lens,
		      const uint8_t *data, uint64_t *gpas)
{
	struct drvq *d = &t->q[q];
	uint16_t head = d->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t ci = (uint16_t)((head + i) % QSIZE);
		uint64_t b = alloc_buf(t, lens[i]);

		if (i < nout) {
			memcpy(t->ram + b, data, lens[i]);
			data += lens[i];
		} else {
			memset(t->ram + b, 0xcc, lens[i]);
		}
		if (gpas)
			gpas[i] = b;
		set_desc(t, q, ci, b, lens[i],
			 (uint16_t)((i >= nout ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0)),
			 (uint16_t)((ci + 1) % QSIZE));
	}
	d->next_desc = (uint16_t)((head + n) % QSIZE);
	return head;
}

/* One receive buffer of (len) bytes; its gpa. */
static uint64_t rx_buf(struct t *t, uint32_t len)
{
	uint64_t gpa;

	publish(t, RXQ, chain(t, RXQ, 0, 1, &len, NULL, &gpa));
	return gpa;
}

static uint16_t used_idx(struct t *t, unsigned q)
{
	return rd16(t, t->q[q].used + 2);
}

static uint32_t used_id(struct t *t, unsigned q, uint16_t i)
{
	return rd32(t, t->q[q].used + 4 + 8 * (uint64_t)(i % QSIZE));
}

static uint32_t used_len(struct t *t, unsigned q, uint16_t i)
{
	return rd32(t, t->q[q].used + 8 + 8 * (uint64_t)(i % QSIZE));
}

static void kick(struct t *t, unsigned q)
{
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->queue_notify(t->vdev, q);
	pthread_mutex_unlock(&t->vdev->lock);
}

/* Feature negotiation and DRIVER_OK, as the transport does it. */
static void bring_up(struct t *t, uint64_t features)
{
	for (unsigned q = 0; q < 3; q++)
		enable_queue(t, q);
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->driver_features = features & (t->vdev->host_features | VIRTIO_F_VERSION_1);
	t->vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	t->vdev->ops->driver_ok(t->vdev);
	pthread_mutex_unlock(&t->vdev->lock);
}

static struct t *make(bool vnet_hdr)
{
	struct t *t = calloc(1, sizeof(*t));
	int sp[2];
	struct err err = { 0 };

	assert_non_null(t);
	t->ram = calloc(1, RAM_SIZE);
	assert_non_null(t->ram);
	t->mem.fd = -1;
	t->mem.size = RAM_SIZE;
	t->mem.base = t->ram;
	t->mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = t->ram };
	t->mem.nr_regions = 1;
	t->data = DATA_GPA;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sp), 0);
	t->fn.nd.ops = &fake_nd_ops;
	t->fn.nd.fd = sp[0];
	t->fn.wire = sp[1];
	t->fn.nd.vnet_hdr = vnet_hdr;
	t->fn.nd.offloads = vnet_hdr ? NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6 : 0;
	t->fn.nd.mtu = 1500;
	memcpy(t->fn.nd.mac, "\x00\x16\x3e\x01\x02\x03", 6);
	t->loop = ev_loop_new();
	assert_non_null(t->loop);
	assert_int_equal(virtio_net_create(&t->fn.nd, t->loop, &t->vdev, &err), 0);
	t->vdev->signal_queue = fake_signal_queue;
	t->vdev->signal_config = fake_signal_config;
	t->vdev->signal_needs_reset = fake_needs_reset;
	cur = t;
	return t;
}

static int setup(void **state)
{
	*state = make(false);
	bring_up(*state, VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_MAC |
				 VIRTIO_NET_F_STATUS | VIRTIO_NET_F_CTRL_RX |
				 VIRTIO_NET_F_GUEST_ANNOUNCE);
	return 0;
}

static int setup_raw(void **state)
{
	*state = make(false);
	return 0;	/* the test negotiates */
}

static int setup_vnet(void **state)
{
	*state = make(true);
	return 0;	/* each test negotiates */
}

static int teardown(void **state)
{
	struct t *t = *state;

	t->vdev->ops->destroy(t->vdev);
	close(t->fn.nd.fd);
	close(t->fn.wire);
	ev_loop_free(t->loop);
	free(t->ram);
	free(t);
	return 0;
}

/* A frame of (len) bytes with a recognisable pattern. */
static void pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Send a frame from the wire (with (hdr) in front if not NULL). */
static void wire_send(struct t *t, const uint8_t *frame, size_t len)
{
	assert_int_equal(send(t->fn.wire, frame, len, 0), (ssize_t)len);
}

/* --- tests --------------------------------------------------------------------- */

static void test_identity_and_config(void **state)
{
	struct t *t = *state;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
	uint16_t status, pairs, mtu;

	assert_int_equal(t->vdev->ops->device_id, 1);
	assert_int_equal(t->vdev->nr_queues, 3);
	assert_true(t->vdev->host_features & VIRTIO_NET_F_MRG_RXBUF);
	assert_true(t->vdev->host_features & VIRTIO_NET_F_CTRL_VQ);
	/* no vnet header: no offloads can pass through */
	assert_false(t->vdev->host_features & VIRTIO_NET_F_CSUM);
	assert_false(t->vdev->host_features & VIRTIO_NET_F_GUEST_TSO4);
	t->vdev->ops->config_read(t->vdev, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg, "\x00\x16\x3e\x01\x02\x03", 6);
	memcpy(&status, cfg + 6, 2);
	memcpy(&pairs, cfg + 8, 2);
	memcpy(&mtu, cfg + 10, 2);
	assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(pairs, 1);
	assert_int_equal(mtu, 1500);
	/* link down: the config changes and the guest is told */
	virtio_net_set_link(t->vdev, false);
	t->vdev->ops->config_read(t->vdev, 6, &status, 2);
	assert_int_equal(status, 0);
	assert_int_equal(t->config_signals, 1);
	virtio_net_set_link(t->vdev, false);	/* no change, no interrupt */
	assert_int_equal(t->config_signals, 1);
}

static void test_offloads_follow_the_driver(void **state)
{
	struct t *t = *state;

	assert_true(t->vdev->host_features & VIRTIO_NET_F_GUEST_TSO4);
	assert_true(t->vdev->host_features & VIRTIO_NET_F_HOST_TSO6);
	bring_up(t, VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_MRG_RXBUF |
			    VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
	assert_int_equal(t->fn.offloads_set, NET_OFF_CSUM | NET_OFF_TSO4);
}

static void test_tx_strips_our_header(void **state)
{
	struct t *t = *state;
	uint8_t pkt[HDR + 100], got[200];
	const uint32_t lens[] = { HDR, 60, 40 };

	memset(pkt, 0, HDR);
	pattern(pkt + HDR, 100, 1);
	publish(t, TXQ, chain(t, TXQ, 3, 3, lens, pkt, NULL));
	kick(t, TXQ);
	assert_int_equal(recv(t->fn.wire, got, sizeof(got), MSG_DONTWAIT), 100);
	assert_memory_equal(got, pkt + HDR, 100);
	assert_int_equal(used_idx(t, TXQ), 1);
	assert_int_equal(used_len(t, TXQ, 0), 0);
	/* the completion interrupt comes a little later, from the loop */
	assert_int_equal(t->signals[TXQ], 0);
	for (int i = 0; i < 20 && t->signals[TXQ] == 0; i++)
		ev_run_once(t->loop, 50);
	assert_int_equal(t->signals[TXQ], 1);
}

static void test_tx_interrupt_skipped_when_guest_reaped(void **state)
{
	struct t *t = *state;
	uint8_t pkt[HDR + 60], got[200];
	const uint32_t lens[] = { HDR + 60 };

	memset(pkt, 0, sizeof(pkt));
	/* event idx: the driver wants an interrupt at used index 0 ... */
	enable_queue(t, TXQ);
	assert_int_equal(vq_enable(&t->vdev->vqs[TXQ], &t->mem, QSIZE, t->q[TXQ].desc,
				   t->q[TXQ].avail, t->q[TXQ].used, VQ_FEATURE_EVENT_IDX), 0);
	wr16(t, t->q[TXQ].avail + 4 + 2 * QSIZE, 0);	/* used_event */
	publish(t, TXQ, chain(t, TXQ, 1, 1, lens, pkt, NULL));
	kick(t, TXQ);
	assert_int_equal(recv(t->fn.wire, got, sizeof(got), MSG_DONTWAIT), 60);
	/* ... but reaps the completion itself before the delay is over and
	 * moves used_event past it: no interrupt is sent */
	wr16(t, t->q[TXQ].avail + 4 + 2 * QSIZE, 1);
	for (int i = 0; i < 10; i++)
		ev_run_once(t->loop, 20);
	assert_int_equal(t->signals[TXQ], 0);
}

static void test_tx_with_vnet_header_passes_it_on(void **state)
{
	struct t *t = *state;
	uint8_t pkt[HDR + 64], got[200];
	const uint32_t lens[] = { HDR + 64 };

	bring_up(t, VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_CSUM);
	pattern(pkt, sizeof(pkt), 9);
	publish(t, TXQ, chain(t, TXQ, 1, 1, lens, pkt, NULL));
	kick(t, TXQ);
	assert_int_equal(recv(t->fn.wire, got, sizeof(got), MSG_DONTWAIT), HDR + 64);
	assert_memory_equal(got, pkt, HDR + 64);
}

static void test_tx_runt_and_giant_are_dropped(void **state)
{
	struct t *t = *state;
	uint8_t hdr[HDR] = { 0 }, got[64];
	const uint32_t only_hdr[] = { HDR };
	struct virtio_net_stats st;

	publish(t, TXQ, chain(t, TXQ, 1, 1, only_hdr, hdr, NULL));
	/* a chain of 70 KiB: larger than any frame */
	uint8_t *big = calloc(1, 70 * 1024);
	const uint32_t big_len[] = { 70 * 1024 };
	publish(t, TXQ, chain(t, TXQ, 1, 1, big_len, big, NULL));
	free(big);
	kick(t, TXQ);
	assert_int_equal(recv(t->fn.wire, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(used_idx(t, TXQ), 2);	/* both returned */
	virtio_net_get_stats(t->vdev, &st);
	assert_int_equal(st.tx_dropped, 2);
	assert_int_equal(st.tx_packets, 0);
	assert_int_equal(t->needs_reset, 0);
}

static void test_rx_one_buffer(void **state)
{
	struct t *t = *state;
	uint8_t frame[1000];
	struct virtio_net_hdr h;
	uint64_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = rx_buf(t, 2048);
	pattern(frame, sizeof(frame), 3);
	wire_send(t, frame, sizeof(frame));
	/* the back end's watch fires on the loop */
	assert_true(ev_run_once(t->loop, 100) >= 1);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_id(t, RXQ, 0), 0);
	assert_int_equal(used_len(t, RXQ, 0), HDR + 1000);
	memcpy(&h, t->ram + b[0], HDR);
	assert_int_equal(h.num_buffers, 1);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_type, 0);
	assert_memory_equal(t->ram + b[0] + HDR, frame, 1000);
	assert_int_equal(t->signals[RXQ], 1);
}

static void test_rx_mergeable_spans_buffers(void **state)
{
	struct t *t = *state;
	uint8_t frame[1400], got[1400];
	uint64_t b[8];
	struct virtio_net_hdr h;

	for (int i = 0; i < 8; i++)
		b[i] = rx_buf(t, 512);
	pattern(frame, sizeof(frame), 5);
	wire_send(t, frame, sizeof(frame));
	kick(t, RXQ);
	/* 12 + 1400 bytes: 512 + 512 + 388 */
	assert_int_equal(used_idx(t, RXQ), 3);
	assert_int_equal(used_len(t, RXQ, 0), 512);
	assert_int_equal(used_len(t, RXQ, 1), 512);
	assert_int_equal(used_len(t, RXQ, 2), 388);
	memcpy(&h, t->ram + b[0], HDR);
	assert_int_equal(h.num_buffers, 3);
	memcpy(got, t->ram + b[0] + HDR, 500);
	memcpy(got + 500, t->ram + b[1], 512);
	memcpy(got + 1012, t->ram + b[2], 388);
	assert_memory_equal(got, frame, 1400);
	/* the next frame starts in the first buffer not used */
	wire_send(t, frame, 100);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 4);
	assert_int_equal(used_id(t, RXQ, 3), 3);
	memcpy(&h, t->ram + b[3], HDR);
	assert_int_equal(h.num_buffers, 1);
}

static void test_rx_waits_for_buffers_and_loses_nothing(void **state)
{
	struct t *t = *state;
	uint8_t frame[1400];
	struct virtio_net_stats st;

	/* one small buffer: too little for a frame of the MTU; the small
	 * frame still goes in (read aside first, then copied) */
	rx_buf(t, 256);
	pattern(frame, sizeof(frame), 7);
	wire_send(t, frame, 200);
	wire_send(t, frame, 1400);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_len(t, RXQ, 0), HDR + 200);
	/* the big one waits for buffers ... */
	rx_buf(t, 256);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	/* ... and goes once there are enough */
	for (int i = 0; i < 6; i++)
		rx_buf(t, 256);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1 + 6);	/* 12 + 1400 in 256-byte buffers */
	virtio_net_get_stats(t->vdev, &st);
	assert_int_equal(st.rx_packets, 2);
	assert_int_equal(st.rx_dropped, 0);
	assert_int_equal(st.rx_bytes, 1600);
}

static void test_rx_without_mergeable_one_chain_per_frame(void **state)
{
	struct t *t = *state;
	uint8_t frame[1000];
	struct virtio_net_stats st;
	uint64_t gpas[2];
	const uint32_t lens[] = { HDR, 1518 };

	bring_up(t, VIRTIO_NET_F_CTRL_VQ);
	/* a chain too small for this frame: the frame is dropped, as a NIC
	 * would, and the chain goes back empty */
	rx_buf(t, 100);
	pattern(frame, sizeof(frame), 11);
	wire_send(t, frame, sizeof(frame));
	kick(t, RXQ);
	virtio_net_get_stats(t->vdev, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_len(t, RXQ, 0), 0);
	/* a proper chain (header + MTU-sized buffer) takes the next frame */
	publish(t, RXQ, chain(t, RXQ, 0, 2, lens, NULL, gpas));
	wire_send(t, frame, sizeof(frame));
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 2);
	assert_int_equal(used_id(t, RXQ, 1), 1);
	assert_int_equal(used_len(t, RXQ, 1), HDR + 1000);
	assert_memory_equal(t->ram + gpas[1], frame, 1000);
}

static void test_rx_hostile_chains(void **state)
{
	struct t *t = *state;
	uint8_t frame[300], rd[4] = { 0 };
	const uint32_t ro[] = { 64 };

	/* a device-readable-only chain, then one too short for the header */
	publish(t, RXQ, chain(t, RXQ, 1, 1, ro, rd, NULL));
	rx_buf(t, 8);
	rx_buf(t, 2048);
	pattern(frame, sizeof(frame), 13);
	wire_send(t, frame, sizeof(frame));
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 3);
	assert_int_equal(used_len(t, RXQ, 0), 0);
	assert_int_equal(used_len(t, RXQ, 1), 0);
	assert_int_equal(used_len(t, RXQ, 2), HDR + 300);
	/* a head out of range breaks the ring: NEEDS_RESET, no crash */
	wr16(t, t->q[RXQ].avail + 4 + 2 * (uint64_t)(t->q[RXQ].avail_idx % QSIZE), QSIZE + 5);
	t->q[RXQ].avail_idx++;
	wr16(t, t->q[RXQ].avail + 2, t->q[RXQ].avail_idx);
	wire_send(t, frame, 100);
	kick(t, RXQ);
	assert_int_equal(t->needs_reset, 1);
}

/* A control command: class, cmd, data; returns the ack byte. */
static uint8_t ctrl(struct t *t, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t buf[64];
	uint64_t gpas[2];
	const uint32_t lens[] = { 2 + len, 1 };

	buf[0] = cls;
	buf[1] = cmd;
	if (len)
		memcpy(buf + 2, data, len);
	uint16_t before = used_idx(t, CTRLQ);
	publish(t, CTRLQ, chain(t, CTRLQ, 1, 2, lens, buf, gpas));
	kick(t, CTRLQ);
	assert_int_equal(used_idx(t, CTRLQ), (uint16_t)(before + 1));
	assert_int_equal(used_len(t, CTRLQ, before), 1);
	return t->ram[gpas[1]];
}

static void test_control_queue(void **state)
{
	struct t *t = *state;
	uint8_t on = 1, mac[6] = { 0x02, 0, 0, 0, 0, 7 }, mcast[6] = { 0x01, 0, 0, 0, 0, 1 };
	uint8_t table[4 + 6 + 4] = { 1, 0, 0, 0, 0x02, 1, 2, 3, 4, 5, 0, 0, 0, 0 };
	uint8_t cfg[6];
	uint64_t offl = VIRTIO_NET_F_GUEST_TSO4;

	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_RX, 0, &on, 1), VIRTIO_NET_OK);
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_RX, 0, &on, 0), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 6),
			 VIRTIO_NET_OK);
	t->vdev->ops->config_read(t->vdev, 0, cfg, 6);
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mcast, 6),
			 VIRTIO_NET_ERR);
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			      sizeof(table)), VIRTIO_NET_OK);
	table[0] = 9;	/* more entries than bytes */
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table,
			      sizeof(table)), VIRTIO_NET_ERR);
	/* offloads the driver did not negotiate are refused */
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_GUEST_OFFLOADS, 0, &offl, 8), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(t, 77, 0, NULL, 0), VIRTIO_NET_ERR);
	/* announce: status bit + config interrupt, cleared by the ack */
	virtio_net_announce(t->vdev);
	uint16_t st;
	t->vdev->ops->config_read(t->vdev, 6, &st, 2);
	assert_true(st & VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(t->config_signals, 1);
	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
			 VIRTIO_NET_OK);
	t->vdev->ops->config_read(t->vdev, 6, &st, 2);
	assert_int_equal(st, VIRTIO_NET_S_LINK_UP);
}

static void test_reset_forgets_held_buffers(void **state)
{
	struct t *t = *state;
	uint8_t frame[100];

	for (int i = 0; i < 4; i++)
		rx_buf(t, 2048);
	kick(t, RXQ);	/* held, nothing to receive yet */
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->reset(t->vdev);
	for (unsigned q = 0; q < 3; q++)
		vq_reset(&t->vdev->vqs[q]);
	t->vdev->status = 0;
	pthread_mutex_unlock(&t->vdev->lock);
	/* new rings: the frame lands in the new first buffer */
	bring_up(t, VIRTIO_NET_F_MRG_RXBUF);
	uint64_t b = rx_buf(t, 2048);
	pattern(frame, sizeof(frame), 17);
	wire_send(t, frame, sizeof(frame));
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_id(t, RXQ, 0), 0);
	assert_memory_equal(t->ram + b + HDR, frame, 100);
}

/* Migration: quiesce gives held buffers back to the ring, the frame waiting
 * for buffers travels in the state, and a second device (the destination)
 * given the queues' and the device's state delivers it into the same
 * buffers, with the MAC the driver set. */
static void test_quiesce_save_load_moves_a_waiting_frame(void **state)
{
	struct t *t = *state;
	uint8_t frame[1400], mac[6] = { 0x02, 0, 0, 0, 0, 9 }, cfg[6], got[1400];
	uint64_t b[7];
	struct buf qs, ds;
	struct err err = { 0 };

	assert_int_equal(ctrl(t, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 6),
			 VIRTIO_NET_OK);
	b[0] = rx_buf(t, 256);
	pattern(frame, sizeof(frame), 23);
	wire_send(t, frame, sizeof(frame));
	kick(t, RXQ);	/* read aside; the 256-byte chain held, waiting for more */
	assert_int_equal(used_idx(t, RXQ), 0);

	buf_init(&qs);
	buf_init(&ds);
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->quiesce(t->vdev);
	for (unsigned q = 0; q < 3; q++)
		assert_int_equal(vq_save(&t->vdev->vqs[q], &qs), 0);
	assert_int_equal(t->vdev->ops->save(t->vdev, &ds), 0);
	pthread_mutex_unlock(&t->vdev->lock);

	/* every truncation of the device's state is refused */
	for (size_t n = 0; n < ds.len; n++) {
		struct buf_reader r;
		buf_reader_init(&r, ds.data, n);
		assert_int_equal(t->vdev->ops->load(t->vdev, &r), -EINVAL);
	}

	/* the destination: a new device on the same RAM and another wire */
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sp), 0);
	struct fake_nd fn2 = t->fn;
	fn2.nd.fd = sp[0];
	fn2.wire = sp[1];
	struct virtio_dev *src = t->vdev, *dst;
	assert_int_equal(virtio_net_create(&fn2.nd, t->loop, &dst, &err), 0);
	dst->signal_queue = fake_signal_queue;
	dst->signal_config = fake_signal_config;
	dst->signal_needs_reset = fake_needs_reset;
	t->vdev = dst;
	pthread_mutex_lock(&dst->lock);
	dst->driver_features = src->driver_features;
	dst->status = src->status;
	struct buf_reader r;
	buf_reader_init(&r, qs.data, qs.len);
	for (unsigned q = 0; q < 3; q++)
		assert_int_equal(vq_load(&dst->vqs[q], &t->mem, &r), 0);
	buf_reader_init(&r, ds.data, ds.len);
	assert_int_equal(dst->ops->load(dst, &r), 0);
	assert_int_equal(r.off, r.len);
	pthread_mutex_unlock(&dst->lock);
	src->ops->destroy(src);
	close(t->fn.nd.fd);
	close(t->fn.wire);
	t->fn = fn2;

	dst->ops->config_read(dst, 0, cfg, 6);
	assert_memory_equal(cfg, mac, 6);
	for (int i = 1; i < 7; i++)
		b[i] = rx_buf(t, 256);
	kick(t, RXQ);
	/* 12 + 1400 bytes from the first buffer on: nothing lost, none skipped */
	assert_int_equal(used_idx(t, RXQ), 6);
	assert_int_equal(used_id(t, RXQ, 0), 0);
	memcpy(got, t->ram + b[0] + HDR, 244);
	for (int i = 1; i < 6; i++)
		memcpy(got + 244 + 256 * (i - 1), t->ram + b[i], i < 5 ? 256 : 1400 - 244 - 1024);
	assert_memory_equal(got, frame, sizeof(frame));
	buf_free(&qs);
	buf_free(&ds);
}

/* A guest that cannot announce itself: a RARP from its MAC goes out. */
static void test_announce_without_guest_support_sends_rarp(void **state)
{
	struct t *t = *state;
	uint8_t f[128];

	bring_up(t, VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_MAC);
	virtio_net_announce(t->vdev);
	assert_int_equal(t->config_signals, 0);
	ssize_t n = recv(t->fn.wire, f, sizeof(f), MSG_DONTWAIT);
	assert_int_equal(n, 60);	/* without a vnet header: the frame alone */
	assert_memory_equal(f, "\xff\xff\xff\xff\xff\xff", 6);
	assert_memory_equal(f + 6, t->fn.nd.mac, 6);
	assert_int_equal(f[12], 0x80);
	assert_int_equal(f[13], 0x35);
	assert_int_equal(f[21], 3);	/* reverse request */
	assert_memory_equal(f + 22, t->fn.nd.mac, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offloads_follow_the_driver, setup_vnet, teardown),
		cmocka_unit_test_setup_teardown(test_tx_strips_our_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_interrupt_skipped_when_guest_reaped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_with_vnet_header_passes_it_on, setup_vnet,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_runt_and_giant_are_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_one_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable_spans_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers_and_loses_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_without_mergeable_one_chain_per_frame,
						setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_rx_hostile_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_forgets_held_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_save_load_moves_a_waiting_frame, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_announce_without_guest_support_sends_rarp,
						setup_raw, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
