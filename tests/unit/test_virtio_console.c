/* SPDX-License-Identifier: MIT */
/* test_virtio_console.c: virtio-console against a fake chardev and a driver
 * laying out both queues in a malloc'd fake RAM, well-behaved and hostile. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console/chardev.h"
#include "devices/virtio/console.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

#define F_NEXT		1
#define F_WRITE		2

/* Fake guest RAM at gpa 0, exactly this big so ASan sees any stray access. */
#define RAM_SIZE	(1u << 20)
#define RING_GPA(q)	(0x1000 + 0x4000 * (uint64_t)(q))
#define DATA_GPA	0x80000
#define QSIZE		16

#define RXQ		VIRTIO_CONSOLE_RXQ
#define TXQ		VIRTIO_CONSOLE_TXQ

/* --- a fake chardev: records output, serves scripted input ---------------------- */

struct fake_cd {
	struct chardev cd;
	uint8_t out[4096];
	size_t out_len;
	uint8_t in[4096];
	size_t in_len, in_pos;
	int reads;		/* read() calls */
	size_t max_asked;	/* the largest len a read() asked for */
};

static void fake_write(struct chardev *cd, const void *buf, size_t len)
{
	struct fake_cd *f = (struct fake_cd *)cd;

	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
}

static size_t fake_read(struct chardev *cd, void *buf, size_t len)
{
	struct fake_cd *f = (struct fake_cd *)cd;
	size_t n = f->in_len - f->in_pos;

	f->reads++;
	if (len > f->max_asked)
		f->max_asked = len;
	if (n > len)
		n = len;
	memcpy(buf, f->in + f->in_pos, n);
	f->in_pos += n;
	return n;
}

static const struct chardev_ops fake_ops = { .write = fake_write, .read = fake_read };

/* Host input arrives: append it and, like a real host side, nudge the device
 * if the buffer was empty. */
static void fake_input(struct fake_cd *f, const char *s)
{
	bool was_empty = f->in_pos == f->in_len;
	size_t len = strlen(s);

	assert_true(f->in_len + len <= sizeof(f->in));
	memcpy(f->in + f->in_len, s, len);
	f->in_len += len;
	if (was_empty && f->cd.input_ready)
		f->cd.input_ready(f->cd.dev);
}

/* --- a driver ------------------------------------------------------------------ */

struct drvq {
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t next_desc;
};

struct t {
	struct gmem mem;
	uint8_t *ram;
	uint64_t data;
	struct drvq q[2];
	struct virtio_dev *vdev;
	struct fake_cd fc;
	int signals[2];		/* used-buffer interrupts per queue */
	int needs_reset;	/* signal_needs_reset calls */
};

static struct t *cur;	/* the transport callbacks get only the device */

static void fake_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	assert_ptr_equal(vdev, cur->vdev);
	assert_true(q < 2);
	cur->signals[q]++;
}

static void fake_needs_reset(struct virtio_dev *vdev)
{
	assert_ptr_equal(vdev, cur->vdev);
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

/* Lay out queue (q) afresh and enable it, as the transport would. */
static void enable_queue(struct t *t, unsigned q)
{
	struct drvq *d = &t->q[q];

	d->desc = RING_GPA(q);
	d->avail = d->desc + 16 * QSIZE;
	d->used = (d->avail + 6 + 2 * QSIZE + 3) & ~3ULL;
	d->avail_idx = d->next_desc = 0;
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

/* A chain of (n) segments of lens[i] bytes on queue (q); the first (nout) are
 * device-readable, filled from (text) in order. Returns the head; the
 * segments' gpas go to gpas[] if not NULL. */
static uint16_t chain(struct t *t, unsigned q, unsigned nout, unsigned n, const uint32_t *lens,
		      const char *text, uint64_t *gpas)
{
	struct drvq *d = &t->q[q];
	uint16_t head = d->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t cur_i = (uint16_t)((head + i) % QSIZE);
		uint64_t b = alloc_buf(t, lens[i]);

		if (i < nout) {
			memcpy(t->ram + b, text, lens[i]);
			text += lens[i];
		} else {
			memset(t->ram + b, 0xcc, lens[i]);
		}
		if (gpas)
			gpas[i] = b;
		set_desc(t, q, cur_i, b, lens[i],
			 (uint16_t)((i >= nout ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0)),
			 (uint16_t)((cur_i + 1) % QSIZE));
	}
	d->next_desc = (uint16_t)((head + n) % QSIZE);
	return head;
}

/* One writable buffer of (len) bytes on the receive queue; its gpa. */
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

/* The transport's kick: device lock held. */
static void kick(struct t *t, unsigned q)
{
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->queue_notify(t->vdev, q);
	pthread_mutex_unlock(&t->vdev->lock);
}

/* The transport's device reset (status 0). */
static void device_reset(struct t *t)
{
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->reset(t->vdev);
	for (unsigned q = 0; q < 2; q++)
		vq_reset(&t->vdev->vqs[q]);
	t->vdev->status = 0;
	pthread_mutex_unlock(&t->vdev->lock);
}

static void driver_ok(struct t *t)
{
	enable_queue(t, RXQ);
	enable_queue(t, TXQ);
	t->vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->ram = calloc(1, RAM_SIZE);
	if (t->ram == NULL)
		return -1;
	t->mem.fd = -1;
	t->mem.size = RAM_SIZE;
	t->mem.base = t->ram;
	t->mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = t->ram };
	t->mem.nr_regions = 1;
	t->data = DATA_GPA;
	t->fc.cd.ops = &fake_ops;
	t->vdev = virtio_console_create(&t->fc.cd);
	if (t->vdev == NULL)
		return -1;
	t->vdev->signal_queue = fake_signal_queue;
	t->vdev->signal_needs_reset = fake_needs_reset;
	cur = t;
	driver_ok(t);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	t->vdev->ops->destroy(t->vdev);
	/* destroy detached the chardev */
	assert_null(t->fc.cd.input_ready);
	free(t->ram);
	free(t);
	return 0;
}

/* --- tests --------------------------------------------------------------------- */

static void test_identity(void **state)
{
	struct t *t = *state;
	struct virtio_dev *v = t->vdev;

	assert_int_equal(v->ops->device_id, 3);
	assert_int_equal(v->ops->class_code, 0x078000);
	assert_int_equal(v->nr_queues, 2);
	assert_true(v->queue_max >= QSIZE);
	assert_int_equal(v->config_size, 12);
	assert_int_equal(v->host_features & VIRTIO_CONSOLE_F_MULTIPORT, 0);
	assert_int_equal(v->host_features & VIRTIO_CONSOLE_F_SIZE, 0);
	assert_ptr_equal(t->fc.cd.dev, v->priv);
	assert_non_null(t->fc.cd.input_ready);
}

static void test_tx_chains(void **state)
{
	struct t *t = *state;
	const uint32_t a[] = { 3, 3 }, b[] = { 6 }, c[] = { 1, 3, 2 };

	publish(t, TXQ, chain(t, TXQ, 2, 2, a, "hello ", NULL));
	publish(t, TXQ, chain(t, TXQ, 1, 1, b, "world,", NULL));
	publish(t, TXQ, chain(t, TXQ, 3, 3, c, " again", NULL));
	kick(t, TXQ);
	assert_int_equal(t->fc.out_len, 18);
	assert_memory_equal(t->fc.out, "hello world, again", 18);
	assert_int_equal(used_idx(t, TXQ), 3);
	for (uint16_t i = 0; i < 3; i++)
		assert_int_equal(used_len(t, TXQ, i), 0);
	assert_int_equal(used_id(t, TXQ, 0), 0);
	assert_int_equal(used_id(t, TXQ, 1), 2);
	assert_int_equal(used_id(t, TXQ, 2), 3);
	assert_int_equal(t->signals[TXQ], 1);
	assert_int_equal(t->needs_reset, 0);
	assert_int_equal(t->fc.reads, 0);	/* no receive buffers: input not touched */

	/* a kick with nothing new: no output, no interrupt */
	kick(t, TXQ);
	assert_int_equal(t->fc.out_len, 18);
	assert_int_equal(t->signals[TXQ], 1);
}

static void test_tx_writable_segment(void **state)
{
	struct t *t = *state;
	const uint32_t lens[] = { 4, 8 };
	uint64_t gpas[2];
	uint8_t cc[8];

	/* readable then writable: the readable part is sent, the writable part
	 * left alone, and the chain returned with 0 bytes written */
	publish(t, TXQ, chain(t, TXQ, 1, 2, lens, "ping", gpas));
	kick(t, TXQ);
	assert_int_equal(t->fc.out_len, 4);
	assert_memory_equal(t->fc.out, "ping", 4);
	memset(cc, 0xcc, sizeof(cc));
	assert_memory_equal(t->ram + gpas[1], cc, 8);
	assert_int_equal(used_idx(t, TXQ), 1);
	assert_int_equal(used_len(t, TXQ, 0), 0);
	assert_int_equal(t->needs_reset, 0);
}

static void test_rx_lossless(void **state)
{
	struct t *t = *state;
	const uint32_t two[] = { 3, 5 };
	uint64_t b1, b2, g[2];

	/* input with no receive buffer: the device must not read it */
	fake_input(&t->fc, "abcdefghij");
	assert_int_equal(t->fc.reads, 0);
	kick(t, RXQ);
	assert_int_equal(t->fc.reads, 0);

	/* two 4-byte buffers: filled exactly, the rest stays on the host side */
	b1 = rx_buf(t, 4);
	b2 = rx_buf(t, 4);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 2);
	assert_int_equal(used_len(t, RXQ, 0), 4);
	assert_int_equal(used_len(t, RXQ, 1), 4);
	assert_memory_equal(t->ram + b1, "abcd", 4);
	assert_memory_equal(t->ram + b2, "efgh", 4);
	assert_int_equal(t->fc.in_pos, 8);
	assert_true(t->fc.max_asked <= 4);	/* never asked for more than fits */
	assert_int_equal(t->signals[RXQ], 1);

	/* a chain of two writable segments: the remaining 2 bytes, partially
	 * filling it; returned at once with what it holds */
	publish(t, RXQ, chain(t, RXQ, 0, 2, two, NULL, g));
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 3);
	assert_int_equal(used_len(t, RXQ, 2), 2);
	assert_memory_equal(t->ram + g[0], "ij", 2);
	assert_int_equal(t->fc.in_pos, 10);

	/* a buffer while there is no input: kept, not returned empty */
	b1 = rx_buf(t, 16);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 3);
	/* input arrives (input_ready): fills the kept buffer */
	fake_input(&t->fc, "XYZ");
	assert_int_equal(used_idx(t, RXQ), 4);
	assert_int_equal(used_len(t, RXQ, 3), 3);
	assert_memory_equal(t->ram + b1, "XYZ", 3);

	/* a whole chain's writable segments get filled, in order */
	fake_input(&t->fc, "0123456789");	/* no buffer: waits */
	assert_int_equal(t->fc.in_pos, 13);
	publish(t, RXQ, chain(t, RXQ, 0, 2, two, NULL, g));
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 5);
	assert_int_equal(used_len(t, RXQ, 4), 8);
	assert_memory_equal(t->ram + g[0], "012", 3);
	assert_memory_equal(t->ram + g[1], "34567", 5);
	b2 = rx_buf(t, 8);
	kick(t, RXQ);
	assert_int_equal(used_len(t, RXQ, 5), 2);
	assert_memory_equal(t->ram + b2, "89", 2);
	assert_int_equal(t->fc.in_pos, t->fc.in_len);	/* every byte delivered */
	assert_int_equal(t->needs_reset, 0);
}

static void test_rx_readable_segment(void **state)
{
	struct t *t = *state;
	const uint32_t lens[] = { 4, 4 };
	uint64_t g[2];

	/* a receive chain with a readable part: that part is not written */
	fake_input(&t->fc, "rxrx");
	publish(t, RXQ, chain(t, RXQ, 1, 2, lens, "RRRR", g));
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_len(t, RXQ, 0), 4);
	assert_memory_equal(t->ram + g[0], "RRRR", 4);
	assert_memory_equal(t->ram + g[1], "rxrx", 4);

	/* no writable part at all: returned empty, the queue goes on */
	fake_input(&t->fc, "z");
	publish(t, RXQ, chain(t, RXQ, 1, 1, lens, "RRRR", NULL));
	uint64_t b = rx_buf(t, 4);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 3);
	assert_int_equal(used_len(t, RXQ, 1), 0);
	assert_int_equal(used_len(t, RXQ, 2), 1);
	assert_memory_equal(t->ram + b, "z", 1);
}

static void test_rx_before_driver_ok(void **state)
{
	struct t *t = *state;
	uint64_t b;

	t->vdev->status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	b = rx_buf(t, 8);
	fake_input(&t->fc, "early");
	assert_int_equal(t->fc.reads, 0);
	assert_int_equal(used_idx(t, RXQ), 0);
	/* DRIVER_OK, then any kick delivers what waited */
	t->vdev->status |= VIRTIO_STATUS_DRIVER_OK;
	kick(t, TXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_len(t, RXQ, 0), 5);
	assert_memory_equal(t->ram + b, "early", 5);
}

static void test_hostile_tx(void **state)
{
	struct t *t = *state;
	const uint32_t one[] = { 2 };

	/* a good chain, then a head beyond the table */
	publish(t, TXQ, chain(t, TXQ, 1, 1, one, "ok", NULL));
	publish(t, TXQ, 200);
	kick(t, TXQ);
	assert_int_equal(t->fc.out_len, 2);
	assert_int_equal(used_idx(t, TXQ), 1);	/* the good one is still returned */
	assert_true(t->vdev->vqs[TXQ].broken);
	assert_int_equal(t->needs_reset, 1);
	assert_true(t->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	/* further kicks do nothing harmful */
	kick(t, TXQ);
	assert_int_equal(t->fc.out_len, 2);

	/* after a reset, a descriptor loop (0 → 1 → 0) */
	device_reset(t);
	driver_ok(t);
	t->data = DATA_GPA;
	set_desc(t, TXQ, 0, alloc_buf(t, 4), 4, F_NEXT, 1);
	set_desc(t, TXQ, 1, alloc_buf(t, 4), 4, F_NEXT, 0);
	publish(t, TXQ, 0);
	kick(t, TXQ);
	assert_true(t->vdev->vqs[TXQ].broken);
	assert_int_equal(t->fc.out_len, 2);
	assert_int_equal(used_idx(t, TXQ), 0);

	/* and a buffer outside RAM */
	device_reset(t);
	driver_ok(t);
	set_desc(t, TXQ, 0, RAM_SIZE - 2, 4, 0, 0);
	publish(t, TXQ, 0);
	kick(t, TXQ);
	assert_true(t->vdev->vqs[TXQ].broken);
	assert_int_equal(t->fc.out_len, 2);
}

static void test_hostile_rx(void **state)
{
	struct t *t = *state;
	int signalled;

	/* a self-loop on the receive queue, found when input arrives */
	set_desc(t, RXQ, 0, DATA_GPA, 4, F_WRITE | F_NEXT, 0);
	publish(t, RXQ, 0);
	fake_input(&t->fc, "lost?");
	assert_true(t->vdev->vqs[RXQ].broken);
	assert_int_equal(t->needs_reset, 1);
	assert_int_equal(t->fc.reads, 0);	/* nothing taken from the host side */
	signalled = t->needs_reset;
	/* a broken queue is left alone: no new NEEDS_RESET per input or kick */
	t->fc.in_pos = t->fc.in_len;
	fake_input(&t->fc, "more");
	kick(t, RXQ);
	assert_int_equal(t->needs_reset, signalled);
	/* the transmit queue still works */
	const uint32_t one[] = { 2 };
	publish(t, TXQ, chain(t, TXQ, 1, 1, one, "tx", NULL));
	kick(t, TXQ);
	assert_int_equal(t->fc.out_len, 2);
}

static void test_reset(void **state)
{
	struct t *t = *state;
	uint64_t b;

	/* a receive buffer held for input, then the driver resets */
	rx_buf(t, 8);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 0);
	device_reset(t);
	/* input while reset: stays on the host side */
	fake_input(&t->fc, "after reset");
	kick(t, RXQ);
	assert_int_equal(t->fc.reads, 1);	/* only the empty read of before */
	assert_int_equal(t->fc.in_pos, 0);
	/* a new driver: new rings; the old held chain is not used */
	driver_ok(t);
	b = rx_buf(t, 32);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_id(t, RXQ, 0), 0);
	assert_int_equal(used_len(t, RXQ, 0), 11);
	assert_memory_equal(t->ram + b, "after reset", 11);
	assert_int_equal(t->needs_reset, 0);

	/* a broken queue is usable again after reset */
	publish(t, TXQ, 99);
	kick(t, TXQ);
	assert_true(t->vdev->vqs[TXQ].broken);
	device_reset(t);
	driver_ok(t);
	assert_false(t->vdev->vqs[TXQ].broken);
	const uint32_t one[] = { 3 };
	publish(t, TXQ, chain(t, TXQ, 1, 1, one, "new", NULL));
	kick(t, TXQ);
	assert_memory_equal(t->fc.out, "new", 3);
}

static void test_config(void **state)
{
	struct t *t = *state;
	struct virtio_dev *v = t->vdev;
	uint8_t buf[12];
	uint32_t w = htole32('Q');

	memset(buf, 0xff, sizeof(buf));
	v->ops->config_read(v, 0, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	/* emerg_wr: one output byte, usable before the driver is ready */
	v->status = 0;
	v->ops->config_write(v, VIRTIO_CONSOLE_EMERG_WR, &w, 4);
	assert_int_equal(t->fc.out_len, 1);
	assert_int_equal(t->fc.out[0], 'Q');
	/* other fields are read-only */
	v->ops->config_write(v, 0, &w, 4);
	v->ops->config_write(v, 4, &w, 4);
	assert_int_equal(t->fc.out_len, 1);
}

static void test_no_chardev(void **state)
{
	struct t *t = *state;
	struct virtio_dev *v = virtio_console_create(NULL);
	uint32_t w = 'x';

	(void)t;
	assert_non_null(v);
	v->signal_queue = fake_signal_queue;
	v->signal_needs_reset = fake_needs_reset;
	v->status = VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_lock(&v->lock);
	v->ops->queue_notify(v, RXQ);	/* queues disabled: nothing to do */
	v->ops->queue_notify(v, TXQ);
	v->ops->config_write(v, VIRTIO_CONSOLE_EMERG_WR, &w, 4);
	pthread_mutex_unlock(&v->lock);
	v->ops->destroy(v);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_tx_chains),
		T(test_tx_writable_segment),
		T(test_rx_lossless),
		T(test_rx_readable_segment),
		T(test_rx_before_driver_ok),
		T(test_hostile_tx),
		T(test_hostile_rx),
		T(test_reset),
		T(test_config),
		T(test_no_chardev),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
