/* SPDX-License-Identifier: MIT */
/* test_virtqueue.c: the split virtqueue against a well-behaved and a hostile driver. */
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

#include "common/buf.h"
#include "devices/virtio/queue.h"
#include "vmm/gmem.h"

#define F_NEXT		1
#define F_WRITE		2
#define F_INDIRECT	4

/* Fake guest RAM: one malloc'd region at gpa 0, exactly this big, so ASan
 * flags any access the queue makes outside it. */
#define RAM_SIZE	(1u << 20)
#define RING_GPA	0x1000		/* descriptor table; avail and used follow */
#define DATA_GPA	0x80000		/* buffers and indirect tables */

/* --- a driver ------------------------------------------------------------------ */

struct drv {
	struct gmem mem;
	uint8_t *ram;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;		/* the driver's avail->idx */
	uint16_t next_desc;		/* descriptors are handed out round-robin */
	uint64_t data;			/* next free data gpa */
	struct virtqueue vq;
	struct vq_req *req;
};

static void wr16(struct drv *d, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(d->ram + gpa, &v, 2);
}

static void wr32(struct drv *d, uint64_t gpa, uint32_t v)
{
	v = htole32(v);
	memcpy(d->ram + gpa, &v, 4);
}

static void wr64(struct drv *d, uint64_t gpa, uint64_t v)
{
	v = htole64(v);
	memcpy(d->ram + gpa, &v, 8);
}

static uint16_t rd16(struct drv *d, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, d->ram + gpa, 2);
	return le16toh(v);
}

static uint32_t rd32(struct drv *d, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, d->ram + gpa, 4);
	return le32toh(v);
}

/* A descriptor at (gpa): in the ring's table or in an indirect table. */
static void put_desc(struct drv *d, uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	wr64(d, gpa, addr);
	wr32(d, gpa + 8, len);
	wr16(d, gpa + 12, flags);
	wr16(d, gpa + 14, next);
}

static void set_desc(struct drv *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc(d, d->desc + 16 * (uint64_t)i, addr, len, flags, next);
}

static uint64_t drv_alloc(struct drv *d, uint64_t len)
{
	uint64_t gpa = d->data;

	d->data += (len + 15) & ~15ULL;
	if (d->data > RAM_SIZE - 0x10000)
		d->data = DATA_GPA;	/* recycle: tests never keep buffers that long */
	return gpa;
}

/* Lay out a queue of (size) entries and enable it with (features). */
static void drv_setup(struct drv *d, uint16_t size, uint64_t features)
{
	memset(d->ram, 0, RAM_SIZE);
	d->size = size;
	d->desc = RING_GPA;
	d->avail = d->desc + 16 * (uint64_t)size;
	d->used = (d->avail + 6 + 2 * (uint64_t)size + 3) & ~3ULL;
	d->avail_idx = 0;
	d->next_desc = 0;
	d->data = DATA_GPA;
	assert_int_equal(vq_enable(&d->vq, &d->mem, size, d->desc, d->avail, d->used, features),
			 0);
}

/* Make (head) available and publish the new avail->idx. */
static void drv_publish(struct drv *d, uint16_t head)
{
	wr16(d, d->avail + 4 + 2 * (uint64_t)(d->avail_idx % d->size), head);
	d->avail_idx++;
	wr16(d, d->avail + 2, d->avail_idx);
}

/* A direct chain: (nout) readable then (nin) writable buffers of (seg) bytes,
 * readable ones filled with their index. Returns the head. */
static uint16_t drv_chain(struct drv *d, unsigned nout, unsigned nin, uint32_t seg)
{
	unsigned n = nout + nin;
	uint16_t head = d->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t cur = (uint16_t)((head + i) % d->size);
		uint16_t next = (uint16_t)((cur + 1) % d->size);
		uint64_t buf = drv_alloc(d, seg);

		if (i < nout)
			memset(d->ram + buf, (int)i + 1, seg);
		set_desc(d, cur, buf, seg,
			 (uint16_t)((i >= nout ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0)), next);
	}
	d->next_desc = (uint16_t)((head + n) % d->size);
	return head;
}

/* An indirect chain in one ring descriptor: a table of (nout + nin) entries. */
static uint16_t drv_indirect(struct drv *d, unsigned nout, unsigned nin, uint32_t seg)
{
	unsigned n = nout + nin;
	uint64_t table = drv_alloc(d, 16 * (uint64_t)n);
	uint16_t head = d->next_desc;

	for (unsigned i = 0; i < n; i++)
		put_desc(d, table + 16 * (uint64_t)i, drv_alloc(d, seg), seg,
			 (uint16_t)((i >= nout ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0)),
			 (uint16_t)(i + 1));
	set_desc(d, head, table, 16 * n, F_INDIRECT, 0);
	d->next_desc = (uint16_t)((head + 1) % d->size);
	return head;
}

static uint16_t used_idx(struct drv *d)
{
	return rd16(d, d->used + 2);
}

static uint32_t used_id(struct drv *d, uint16_t i)
{
	return rd32(d, d->used + 4 + 8 * (uint64_t)(i % d->size));
}

static uint32_t used_len(struct drv *d, uint16_t i)
{
	return rd32(d, d->used + 8 + 8 * (uint64_t)(i % d->size));
}

static void set_used_event(struct drv *d, uint16_t v)
{
	wr16(d, d->avail + 4 + 2 * (uint64_t)d->size, v);
}

static uint16_t avail_event(struct drv *d)
{
	return rd16(d, d->used + 4 + 8 * (uint64_t)d->size);
}

/* Every segment must lie inside the fake RAM. */
static void check_inside(struct drv *d, const struct vq_req *req)
{
	for (unsigned i = 0; i < req->nr_out + req->nr_in; i++) {
		const uint8_t *p = req->iov[i].iov_base;

		assert_true(p >= d->ram && p < d->ram + RAM_SIZE);
		assert_true(req->iov[i].iov_len <= (size_t)(d->ram + RAM_SIZE - p));
	}
}

static int setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	d->ram = malloc(RAM_SIZE);
	d->req = malloc(sizeof(*d->req));
	if (d->ram == NULL || d->req == NULL)
		return -1;
	memset(d->ram, 0, RAM_SIZE);
	d->mem.fd = -1;
	d->mem.size = RAM_SIZE;
	d->mem.base = d->ram;
	d->mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = d->ram };
	d->mem.nr_regions = 1;
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;

	free(d->req);
	free(d->ram);
	free(d);
	return 0;
}

/* --- a well-behaved driver ----------------------------------------------------- */

static void test_simple(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = d->req;
	uint16_t head;

	drv_setup(d, 16, 0);
	head = drv_chain(d, 2, 1, 100);
	drv_publish(d, head);

	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->head, head);
	assert_int_equal(req->nr_out, 2);
	assert_int_equal(req->nr_in, 1);
	assert_int_equal(req->out_len, 200);
	assert_int_equal(req->in_len, 100);
	check_inside(d, req);
	/* in chain order, at the addresses the driver gave */
	assert_ptr_equal(vq_req_out(req)[0].iov_base, d->ram + DATA_GPA);
	assert_int_equal(((uint8_t *)vq_req_out(req)[0].iov_base)[0], 1);
	assert_int_equal(((uint8_t *)vq_req_out(req)[1].iov_base)[99], 2);
	assert_ptr_equal(vq_req_in(req)[0].iov_base, d->ram + DATA_GPA + 2 * 112);
	memset(vq_req_in(req)[0].iov_base, 0xee, 50);

	assert_int_equal(vq_pop(&d->vq, req), 0);	/* nothing more */
	vq_push(&d->vq, head, 50);
	assert_int_equal(used_idx(d), 0);		/* not visible before the flush */
	vq_flush(&d->vq);
	assert_int_equal(used_idx(d), 1);
	assert_int_equal(used_id(d, 0), head);
	assert_int_equal(used_len(d, 0), 50);
	assert_false(d->vq.broken);
	/* a head the queue never handed out is a device bug: nothing written */
	vq_push(&d->vq, 16, 1);
	assert_true(d->vq.broken);
	vq_flush(&d->vq);
	assert_int_equal(used_idx(d), 1);
}

static void test_empty_and_disabled(void **state)
{
	struct drv *d = *state;
	struct virtqueue vq;

	vq_reset(&vq);
	assert_int_equal(vq_pop(&vq, d->req), 0);
	vq_push(&vq, 0, 0);
	vq_flush(&vq);
	assert_false(vq_should_notify(&vq));
	assert_false(vq_enable_notify(&vq));

	drv_setup(d, 8, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&d->vq, d->req), 0);
	assert_false(vq_should_notify(&d->vq));
	assert_false(d->vq.broken);
}

static void test_indirect(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = d->req;
	uint16_t head;

	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	head = drv_indirect(d, 3, 2, 64);
	drv_publish(d, head);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->head, head);
	assert_int_equal(req->nr_out, 3);
	assert_int_equal(req->nr_in, 2);
	assert_int_equal(req->out_len, 192);
	assert_int_equal(req->in_len, 128);
	check_inside(d, req);

	/* Direct descriptors followed by an indirect one are valid ("Indirect Descriptors");
	 * WRITE on the descriptor naming the table is ignored. */
	uint64_t table = drv_alloc(d, 32);
	put_desc(d, table, drv_alloc(d, 10), 10, F_NEXT, 1);
	put_desc(d, table + 16, drv_alloc(d, 20), 20, F_WRITE, 0);
	set_desc(d, 4, drv_alloc(d, 5), 5, F_NEXT, 5);
	set_desc(d, 5, table, 32, F_INDIRECT | F_WRITE, 0);
	drv_publish(d, 4);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->nr_out, 2);
	assert_int_equal(req->nr_in, 1);
	assert_int_equal(req->out_len, 15);
	assert_int_equal(req->in_len, 20);

	/* The largest chain accepted: VQ_MAX_SEGS segments in one table. */
	head = drv_indirect(d, VQ_MAX_SEGS / 2, VQ_MAX_SEGS / 2, 8);
	drv_publish(d, head);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->nr_out + req->nr_in, VQ_MAX_SEGS);
	assert_int_equal(req->in_len, 8 * VQ_MAX_SEGS / 2);
	check_inside(d, req);
	assert_false(d->vq.broken);
}

/* Zero-length buffers carry nothing: no segment, and their address is not used. */
static void test_zero_length(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = d->req;

	drv_setup(d, 8, 0);
	set_desc(d, 0, UINT64_MAX, 0, F_NEXT, 1);
	set_desc(d, 1, DATA_GPA, 4, F_NEXT, 2);
	set_desc(d, 2, RAM_SIZE * 4ULL, 0, F_WRITE | F_NEXT, 3);
	set_desc(d, 3, DATA_GPA + 16, 4, F_WRITE, 0);
	drv_publish(d, 0);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->nr_out, 1);
	assert_int_equal(req->nr_in, 1);
	assert_ptr_equal(vq_req_in(req)[0].iov_base, d->ram + DATA_GPA + 16);

	/* only zero-length buffers: an empty request */
	set_desc(d, 4, 0, 0, 0, 0);
	drv_publish(d, 4);
	assert_int_equal(vq_pop(&d->vq, req), 1);
	assert_int_equal(req->nr_out + req->nr_in, 0);
}

/* 16-bit indices wrap: 70000 requests, one at a time and in batches. */
static void test_wraparound(void **state)
{
	struct drv *d = *state;
	struct vq_req *req = d->req;
	unsigned done = 0;

	drv_setup(d, 8, VQ_FEATURE_EVENT_IDX);
	while (done < 70000) {
		unsigned batch = done % 3 == 0 || done > 70000 - 8 ? 1 : 8;
		uint16_t heads[8];

		for (unsigned i = 0; i < batch; i++) {
			heads[i] = drv_chain(d, 1, 0, 16);
			drv_publish(d, heads[i]);
		}
		for (unsigned i = 0; i < batch; i++) {
			assert_int_equal(vq_pop(&d->vq, req), 1);
			assert_int_equal(req->head, heads[i]);
			vq_push(&d->vq, req->head, (uint32_t)(done + i));
		}
		assert_int_equal(vq_pop(&d->vq, req), 0);
		vq_flush(&d->vq);
		done += batch;
		assert_int_equal(used_idx(d), (uint16_t)done);
		assert_int_equal(used_id(d, (uint16_t)(done - 1)), heads[batch - 1]);
		assert_int_equal(used_len(d, (uint16_t)(done - 1)), done - 1);
		/* the device asks to be kicked for the next slot */
		assert_int_equal(avail_event(d), (uint16_t)done);
	}
	assert_int_equal(d->vq.last_avail, (uint16_t)70000);
	assert_false(d->vq.broken);
}

static void push_flush(struct drv *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vq_push(&d->vq, 0, 0);
	vq_flush(&d->vq);
}

static void test_notify_event_idx(void **state)
{
	struct drv *d = *state;

	drv_setup(d, 8, VQ_FEATURE_EVENT_IDX);
	wr16(d, d->avail, 1);		/* NO_INTERRUPT is ignored with event idx */
	set_used_event(d, 0);
	push_flush(d, 1);		/* used 0 -> 1: element 0 is used_event */
	assert_true(vq_should_notify(&d->vq));
	assert_false(vq_should_notify(&d->vq));	/* nothing new */
	push_flush(d, 1);		/* 1 -> 2: not asked for */
	assert_false(vq_should_notify(&d->vq));
	set_used_event(d, 2);
	push_flush(d, 1);		/* 2 -> 3 */
	assert_true(vq_should_notify(&d->vq));
	set_used_event(d, 4);
	push_flush(d, 3);		/* 3 -> 6 crosses 4 */
	assert_true(vq_should_notify(&d->vq));
	set_used_event(d, 10);
	push_flush(d, 3);		/* 6 -> 9 */
	assert_false(vq_should_notify(&d->vq));
	push_flush(d, 2);		/* 9 -> 11: crossed 10 in between calls */
	assert_true(vq_should_notify(&d->vq));
	/* across the 16-bit wrap */
	set_used_event(d, 0xffff);
	d->vq.used_idx = d->vq.used_published = d->vq.signalled_used = 0xfffe;
	push_flush(d, 2);		/* 0xfffe -> 0 */
	assert_true(vq_should_notify(&d->vq));
	assert_int_equal(used_idx(d), 0);
}

static void test_notify_flags(void **state)
{
	struct drv *d = *state;

	drv_setup(d, 8, 0);
	set_used_event(d, 12345);	/* ignored without event idx */
	push_flush(d, 1);
	assert_true(vq_should_notify(&d->vq));
	assert_false(vq_should_notify(&d->vq));
	wr16(d, d->avail, 1);		/* VIRTQ_AVAIL_F_NO_INTERRUPT */
	push_flush(d, 1);
	assert_false(vq_should_notify(&d->vq));
	wr16(d, d->avail, 0);
	push_flush(d, 2);
	assert_true(vq_should_notify(&d->vq));
}

/* Available buffer notification suppression while the device is busy. */
static void test_kick_suppression(void **state)
{
	struct drv *d = *state;
	uint16_t head;

	drv_setup(d, 8, 0);
	vq_disable_notify(&d->vq);
	assert_int_equal(rd16(d, d->used), 1);		/* VIRTQ_USED_F_NO_NOTIFY */
	assert_false(vq_enable_notify(&d->vq));
	assert_int_equal(rd16(d, d->used), 0);
	vq_disable_notify(&d->vq);
	drv_publish(d, drv_chain(d, 1, 0, 8));	/* arrives while kicks are off */
	assert_true(vq_enable_notify(&d->vq));	/* so the device looks again */
	assert_int_equal(vq_pop(&d->vq, d->req), 1);

	drv_setup(d, 8, VQ_FEATURE_EVENT_IDX);
	head = drv_chain(d, 1, 0, 8);
	drv_publish(d, head);
	vq_disable_notify(&d->vq);
	assert_int_equal(rd16(d, d->used), 0);		/* flags stay 0 with event idx */
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	assert_int_equal(vq_pop(&d->vq, d->req), 0);
	assert_int_equal(avail_event(d), 0);		/* not advanced while off */
	assert_false(vq_enable_notify(&d->vq));
	assert_int_equal(avail_event(d), 1);
	drv_publish(d, drv_chain(d, 1, 0, 8));
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	assert_int_equal(vq_pop(&d->vq, d->req), 0);
	assert_int_equal(avail_event(d), 2);
}

static void test_enable_checks(void **state)
{
	struct drv *d = *state;
	struct virtqueue *vq = &d->vq;
	const struct gmem *m = &d->mem;

	assert_int_equal(vq_enable(vq, m, 0, 0x1000, 0x2000, 0x3000, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 3, 0x1000, 0x2000, 0x3000, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 40000, 0x1000, 0x2000, 0x3000, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 8, 0x1008, 0x2000, 0x3000, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2001, 0x3000, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2000, 0x3002, 0), -EINVAL);
	assert_false(vq->enabled);
	assert_int_equal(vq_pop(vq, d->req), 0);
	/* outside RAM, straddling its end by one byte, each ring in turn */
	assert_int_equal(vq_enable(vq, m, 8, RAM_SIZE, 0x2000, 0x3000, 0), -EFAULT);
	assert_int_equal(vq_enable(vq, m, 8, RAM_SIZE - 16 * 8 + 16, 0x2000, 0x3000, 0),
			 -EFAULT);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, RAM_SIZE - 6 - 2 * 8 + 2, 0x3000, 0),
			 -EFAULT);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2000, RAM_SIZE - 6 - 8 * 8 + 2, 0),
			 -EFAULT);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2000, UINT64_MAX - 3, 0), -EFAULT);
	assert_false(vq->enabled);
	/* ending exactly at RAM's end is fine (event fields included) */
	assert_int_equal(vq_enable(vq, m, 8, RAM_SIZE - 16 * 8, 0x2000, 0x3000, 0), 0);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, RAM_SIZE - 6 - 2 * 8, 0x3000, 0), 0);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2000, RAM_SIZE - 6 - 8 * 8 - 2, 0), 0);
	assert_true(vq->enabled);
	/* rings that overlap, each pair, by one byte */
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x1000 + 16 * 8 - 2, 0x3000, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2000, 0x1000 + 16 * 8 - 4, 0), -EINVAL);
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x2000, 0x2000 + 6 + 2 * 8 + 2 - 4, 0),
			 -EINVAL);
	assert_false(vq->enabled);
	/* touching is fine */
	assert_int_equal(vq_enable(vq, m, 8, 0x1000, 0x1000 + 16 * 8, 0x1000 + 16 * 8 + 24, 0), 0);
	/* the biggest queue */
	assert_int_equal(vq_enable(vq, m, VQ_MAX_SIZE, 0, 0x80000, 0x90010, 0), 0);
	assert_int_equal(vq_pop(vq, d->req), 0);
}

/* --- a hostile driver ---------------------------------------------------------- */

/* The chain must be refused and the queue broken for good; then a reset and
 * a fresh set-up make the queue work again. */
static void expect_broken(struct drv *d)
{
	uint16_t used = used_idx(d), last = d->vq.last_avail;
	uint64_t features = (d->vq.indirect ? VQ_FEATURE_INDIRECT_DESC : 0) |
			    (d->vq.event_idx ? VQ_FEATURE_EVENT_IDX : 0);

	assert_int_equal(vq_pop(&d->vq, d->req), -EINVAL);
	assert_true(d->vq.broken);
	assert_int_equal(d->vq.last_avail, last);	/* not consumed */
	assert_int_equal(vq_pop(&d->vq, d->req), -EINVAL);
	assert_false(vq_enable_notify(&d->vq));
	assert_int_equal(used_idx(d), used);

	vq_reset(&d->vq);
	assert_false(d->vq.broken);
	drv_setup(d, 8, features);
	uint16_t head = drv_chain(d, 1, 1, 32);
	drv_publish(d, head);
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	vq_push(&d->vq, head, 32);
	vq_flush(&d->vq);
	assert_int_equal(used_idx(d), 1);
}

static void test_bad_head(void **state)
{
	struct drv *d = *state;

	drv_setup(d, 8, 0);
	drv_publish(d, 8);
	expect_broken(d);
	drv_setup(d, 8, 0);
	drv_publish(d, 0xffff);
	expect_broken(d);
}

static void test_bad_next(void **state)
{
	struct drv *d = *state;

	drv_setup(d, 8, 0);
	set_desc(d, 0, DATA_GPA, 8, F_NEXT, 8);
	drv_publish(d, 0);
	expect_broken(d);
}

static void test_loops(void **state)
{
	struct drv *d = *state;

	/* a -> b -> a */
	drv_setup(d, 8, 0);
	set_desc(d, 2, DATA_GPA, 8, F_NEXT, 5);
	set_desc(d, 5, DATA_GPA, 8, F_NEXT, 2);
	drv_publish(d, 2);
	expect_broken(d);
	/* a -> a, including with zero-length descriptors (no segments) */
	drv_setup(d, 8, 0);
	set_desc(d, 3, 0, 0, F_NEXT, 3);
	drv_publish(d, 3);
	expect_broken(d);
	/* longer than the queue: every entry, then back to the start */
	drv_setup(d, 4, 0);
	for (uint16_t i = 0; i < 4; i++)
		set_desc(d, i, DATA_GPA, 8, F_NEXT, (uint16_t)((i + 1) % 4));
	drv_publish(d, 0);
	expect_broken(d);
	/* the longest chain without a loop is fine */
	drv_setup(d, 4, 0);
	for (uint16_t i = 0; i < 4; i++)
		set_desc(d, i, DATA_GPA, 8, i < 3 ? F_NEXT : 0, (uint16_t)(i + 1));
	drv_publish(d, 0);
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	assert_int_equal(d->req->nr_out, 4);
	/* a loop inside an indirect table */
	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	put_desc(d, DATA_GPA, DATA_GPA + 0x1000, 8, F_NEXT, 1);
	put_desc(d, DATA_GPA + 16, DATA_GPA + 0x1000, 8, F_NEXT, 0);
	set_desc(d, 0, DATA_GPA, 32, F_INDIRECT, 0);
	drv_publish(d, 0);
	expect_broken(d);
}

static void test_too_many_segments(void **state)
{
	struct drv *d = *state;
	uint64_t table = DATA_GPA;

	/* 63 direct segments + a full indirect table = VQ_MAX_SEGS + 63 */
	drv_setup(d, 64, VQ_FEATURE_INDIRECT_DESC);
	for (uint16_t i = 0; i < 63; i++)
		set_desc(d, i, DATA_GPA + 0x10000, 8, F_NEXT, (uint16_t)(i + 1));
	for (unsigned i = 0; i < VQ_MAX_SEGS; i++)
		put_desc(d, table + 16 * i, DATA_GPA + 0x10000, 8,
			 i + 1 < VQ_MAX_SEGS ? F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(d, 63, table, 16 * VQ_MAX_SEGS, F_INDIRECT, 0);
	drv_publish(d, 0);
	expect_broken(d);
}

static void test_indirect_abuse(void **state)
{
	struct drv *d = *state;
	const uint32_t bad_len[] = { 0, 8, 15, 17, 16 * (VQ_MAX_SEGS + 1), UINT32_MAX & ~15u };

	/* not negotiated */
	drv_setup(d, 8, 0);
	drv_publish(d, drv_indirect(d, 1, 1, 8));
	expect_broken(d);
	/* nested */
	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	put_desc(d, DATA_GPA, DATA_GPA + 0x100, 8, F_NEXT, 1);
	put_desc(d, DATA_GPA + 16, DATA_GPA, 32, F_INDIRECT, 0);
	set_desc(d, 0, DATA_GPA, 32, F_INDIRECT, 0);
	drv_publish(d, 0);
	expect_broken(d);
	/* INDIRECT together with NEXT */
	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	put_desc(d, DATA_GPA, DATA_GPA + 0x100, 8, 0, 0);
	set_desc(d, 0, DATA_GPA, 16, F_INDIRECT | F_NEXT, 1);
	set_desc(d, 1, DATA_GPA + 0x100, 8, 0, 0);
	drv_publish(d, 0);
	expect_broken(d);
	/* empty, partial, too large */
	for (unsigned i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
		put_desc(d, DATA_GPA, DATA_GPA + 0x100, 8, 0, 0);
		set_desc(d, 0, DATA_GPA, bad_len[i], F_INDIRECT, 0);
		drv_publish(d, 0);
		expect_broken(d);
	}
	/* a table outside RAM, straddling its end, wrapping around */
	const uint64_t bad_addr[] = { RAM_SIZE, RAM_SIZE - 16, UINT64_MAX - 15 };
	for (unsigned i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
		drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
		set_desc(d, 0, bad_addr[i], 32, F_INDIRECT, 0);
		drv_publish(d, 0);
		expect_broken(d);
	}
	/* next beyond the table's end */
	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	put_desc(d, DATA_GPA, DATA_GPA + 0x100, 8, F_NEXT, 2);
	put_desc(d, DATA_GPA + 16, DATA_GPA + 0x100, 8, 0, 0);
	set_desc(d, 0, DATA_GPA, 32, F_INDIRECT, 0);
	drv_publish(d, 0);
	expect_broken(d);
}

static void test_bad_ranges(void **state)
{
	struct drv *d = *state;
	const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ UINT64_MAX - 4, 16 },		/* addr + len overflows */
		{ UINT64_MAX, 1 },
		{ RAM_SIZE + 0x1000ULL, 16 },	/* beyond RAM */
		{ RAM_SIZE, 1 },
		{ RAM_SIZE - 8, 16 },		/* straddles RAM's end */
		{ 0, UINT32_MAX },		/* longer than RAM */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (uint16_t flags = 0; flags <= F_WRITE; flags += F_WRITE) {
			drv_setup(d, 8, 0);
			set_desc(d, 0, DATA_GPA, 8, F_NEXT, 1);
			set_desc(d, 1, bad[i].addr, bad[i].len, flags, 0);
			drv_publish(d, 0);
			expect_broken(d);
		}
	}
	/* the last byte of RAM is fine */
	drv_setup(d, 8, 0);
	set_desc(d, 0, RAM_SIZE - 1, 1, F_WRITE, 0);
	drv_publish(d, 0);
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	*(uint8_t *)vq_req_in(d->req)[0].iov_base = 1;
}

static void test_write_then_read(void **state)
{
	struct drv *d = *state;

	drv_setup(d, 8, 0);
	set_desc(d, 0, DATA_GPA, 8, F_NEXT, 1);
	set_desc(d, 1, DATA_GPA + 16, 8, F_WRITE | F_NEXT, 2);
	set_desc(d, 2, DATA_GPA + 32, 8, 0, 0);
	drv_publish(d, 0);
	expect_broken(d);
	/* the same inside an indirect table */
	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	put_desc(d, DATA_GPA, DATA_GPA + 0x100, 8, F_WRITE | F_NEXT, 1);
	put_desc(d, DATA_GPA + 16, DATA_GPA + 0x100, 8, 0, 0);
	set_desc(d, 0, DATA_GPA, 32, F_INDIRECT, 0);
	drv_publish(d, 0);
	expect_broken(d);
	/* and across it: a writable direct buffer, then a readable one in the table */
	drv_setup(d, 8, VQ_FEATURE_INDIRECT_DESC);
	put_desc(d, DATA_GPA, DATA_GPA + 0x100, 8, 0, 0);
	set_desc(d, 0, DATA_GPA + 0x200, 8, F_WRITE | F_NEXT, 1);
	set_desc(d, 1, DATA_GPA, 16, F_INDIRECT, 0);
	drv_publish(d, 0);
	expect_broken(d);
}

static void test_avail_jump(void **state)
{
	struct drv *d = *state;

	/* more than size new entries at once */
	drv_setup(d, 8, 0);
	wr16(d, d->avail + 2, 9);
	expect_broken(d);
	/* exactly size is fine */
	drv_setup(d, 8, 0);
	for (int i = 0; i < 8; i++)
		drv_publish(d, drv_chain(d, 1, 0, 8));
	for (int i = 0; i < 8; i++)
		assert_int_equal(vq_pop(&d->vq, d->req), 1);
	/* going backwards looks like a jump of almost 65536 */
	wr16(d, d->avail + 2, 7);
	expect_broken(d);
	/* the same with event idx */
	drv_setup(d, 8, VQ_FEATURE_EVENT_IDX);
	wr16(d, d->avail + 2, 0x8000);
	expect_broken(d);
}

/* Two RAM regions with a hole between them, as below and above 4 GiB. */
static void test_two_regions(void **state)
{
	struct drv *d = *state;
	struct gmem saved = d->mem;

	d->mem.regions[0].size = RAM_SIZE / 2;
	d->mem.regions[1] = (struct gmem_region){
		.gpa = 0x100000000ULL, .size = RAM_SIZE / 2, .hva = d->ram + RAM_SIZE / 2,
	};
	d->mem.nr_regions = 2;
	drv_setup(d, 8, 0);
	/* in the second region */
	set_desc(d, 0, 0x100000000ULL + 0x100, 64, F_WRITE, 0);
	drv_publish(d, 0);
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	assert_ptr_equal(vq_req_in(d->req)[0].iov_base, d->ram + RAM_SIZE / 2 + 0x100);
	/* straddling the end of the first region (contiguous on the host!) */
	set_desc(d, 1, RAM_SIZE / 2 - 8, 16, 0, 0);
	drv_publish(d, 1);
	assert_int_equal(vq_pop(&d->vq, d->req), -EINVAL);
	/* in the hole */
	vq_reset(&d->vq);
	drv_setup(d, 8, 0);
	set_desc(d, 0, 0x80000000ULL, 16, 0, 0);
	drv_publish(d, 0);
	assert_int_equal(vq_pop(&d->vq, d->req), -EINVAL);
	d->mem = saved;
}

/* --- state ------------------------------------------------------------------- */

static void test_save_load(void **state)
{
	struct drv *d = *state;
	struct virtqueue n;
	struct buf b;
	struct buf_reader r;

	drv_setup(d, 16, VQ_FEATURE_EVENT_IDX | VQ_FEATURE_INDIRECT_DESC);
	d->vq.last_avail = d->vq.used_idx = d->vq.used_published = d->vq.signalled_used = 0xfffd;
	d->avail_idx = 0xfffd;
	for (int i = 0; i < 5; i++)
		drv_publish(d, drv_chain(d, 1, 1, 8));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(&d->vq, d->req), 1);
		vq_push(&d->vq, d->req->head, 8);
	}
	vq_flush(&d->vq);
	vq_push(&d->vq, 0, 1);		/* pushed, not yet flushed */
	vq_disable_notify(&d->vq);

	buf_init(&b);
	assert_int_equal(vq_save(&d->vq, &b), 0);
	buf_reader_init(&r, b.data, b.len);
	assert_int_equal(vq_load(&n, &d->mem, &r), 0);
	assert_int_equal(r.off, r.len);
	assert_int_equal(n.size, 16);
	assert_int_equal(n.desc_gpa, d->desc);
	assert_int_equal(n.avail_gpa, d->avail);
	assert_int_equal(n.used_gpa, d->used);
	assert_true(n.event_idx && n.indirect && n.enabled && n.notify_off && !n.broken);
	assert_int_equal(n.last_avail, 0);
	assert_int_equal(n.used_idx, 1);
	assert_int_equal(n.used_published, 0);
	assert_int_equal(n.signalled_used, 0xfffd);
	assert_ptr_equal(n.desc, d->vq.desc);
	/* the restored queue carries on where the old one stopped */
	d->vq = n;
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	assert_int_equal(vq_pop(&d->vq, d->req), 1);
	assert_int_equal(vq_pop(&d->vq, d->req), 0);
	vq_flush(&d->vq);
	assert_int_equal(used_idx(d), 1);
	buf_free(&b);

	/* a disabled queue */
	vq_reset(&d->vq);
	buf_init(&b);
	assert_int_equal(vq_save(&d->vq, &b), 0);
	buf_reader_init(&r, b.data, b.len);
	assert_int_equal(vq_load(&n, &d->mem, &r), 0);
	assert_false(n.enabled);
	buf_free(&b);

	/* a broken queue stays broken */
	drv_setup(d, 8, 0);
	drv_publish(d, 9);
	assert_int_equal(vq_pop(&d->vq, d->req), -EINVAL);
	buf_init(&b);
	assert_int_equal(vq_save(&d->vq, &b), 0);
	buf_reader_init(&r, b.data, b.len);
	assert_int_equal(vq_load(&n, &d->mem, &r), 0);
	assert_true(n.broken);
	assert_int_equal(vq_pop(&n, d->req), -EINVAL);
	buf_free(&b);
}

static void test_load_malformed(void **state)
{
	struct drv *d = *state;
	struct virtqueue n;
	struct buf b;
	struct buf_reader r;

	drv_setup(d, 8, 0);
	buf_init(&b);
	assert_int_equal(vq_save(&d->vq, &b), 0);
	/* every truncation */
	for (size_t len = 0; len < b.len; len++) {
		memset(&n, 0xa5, sizeof(n));
		buf_reader_init(&r, b.data, len);
		assert_int_equal(vq_load(&n, &d->mem, &r), -EINVAL);
		assert_false(n.enabled);
	}
	/* unknown flags, bad size, rings outside RAM, junk in a disabled queue */
	const struct {
		size_t off;
		uint8_t val;
	} bad[] = {
		{ 0, 0x21 }, { 1, 3 }, { 1, 0 }, { 10, 0xff }, { 18, 0x40 }, { 26, 1 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t copy[64];

		memcpy(copy, b.data, b.len);
		copy[bad[i].off] = bad[i].val;
		buf_reader_init(&r, copy, b.len);
		assert_int_equal(vq_load(&n, &d->mem, &r), -EINVAL);
		assert_false(n.enabled);
	}
	uint8_t off[64] = { 0 };
	off[27] = 1;			/* disabled, but last_avail set */
	buf_reader_init(&r, off, b.len);
	assert_int_equal(vq_load(&n, &d->mem, &r), -EINVAL);
	buf_free(&b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_simple),
		T(test_empty_and_disabled),
		T(test_indirect),
		T(test_zero_length),
		T(test_wraparound),
		T(test_notify_event_idx),
		T(test_notify_flags),
		T(test_kick_suppression),
		T(test_enable_checks),
		T(test_bad_head),
		T(test_bad_next),
		T(test_loops),
		T(test_too_many_segments),
		T(test_indirect_abuse),
		T(test_bad_ranges),
		T(test_write_then_read),
		T(test_avail_jump),
		T(test_two_regions),
		T(test_save_load),
		T(test_load_malformed),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
