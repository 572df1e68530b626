/* SPDX-License-Identifier: MIT */
/* fuzz_virtqueue.c: libFuzzer target: a device draining a virtqueue a hostile driver laid out. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "devices/virtio/queue.h"
#include "vmm/gmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* Guest RAM: exactly this big and malloc'd, so ASan sees any byte the queue
 * hands out beyond it. */
#define RAM_SIZE	(64 * 1024)
#define HDR_SIZE	12
#define MAX_STEPS	1024		/* device iterations per input */
#define TOUCH_BUDGET	(4u << 20)	/* bytes touched in full per input; then ends only */
#define MAX_PENDING	64		/* chains popped but not yet pushed */

/* Header:
 *  [0]      queue size: 1 << (b & 15), so invalid sizes come up too
 *  [1]      bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 desc ring outside RAM,
 *           bit 3 use vq_disable_notify/vq_enable_notify, bit 4 push in reverse order
 *  [2..7]   desc, avail, used gpa (le16 each)
 *  [8]      chains kept pending before they are pushed (0..MAX_PENDING-1)
 *  [9]      step at which the state is saved and loaded into a new queue (0: never)
 *  [10..11] n: the input ends with n 3-byte guest writes (le16 gpa, value), one
 *           applied per step, as a driver running concurrently would
 * The rest is the first bytes of guest RAM (the remainder is zero). */

static uint8_t *ram;
static struct vq_req *req;
static size_t touched;
static volatile uint8_t sink;

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Every segment lies in RAM; read every readable byte, write every writable
 * one (under ASan, an out-of-bounds translation is caught either way). */
static void use_chain(struct vq_req *r)
{
	uint64_t out = 0, in = 0;
	uint8_t acc = 0;

	CHECK(r->nr_out + r->nr_in <= VQ_MAX_SEGS);
	for (unsigned i = 0; i < r->nr_out + r->nr_in; i++) {
		uint8_t *p = r->iov[i].iov_base;
		size_t len = r->iov[i].iov_len;

		CHECK(len > 0);
		CHECK(p >= ram && p < ram + RAM_SIZE && len <= (size_t)(ram + RAM_SIZE - p));
		if (i < r->nr_out)
			out += len;
		else
			in += len;
		if (touched + len > TOUCH_BUDGET) {
			/* a contiguous range: its two ends are enough for ASan */
			acc ^= p[0] ^ p[len - 1];
			if (i >= r->nr_out)
				p[0] = p[len - 1] = 0x5a;
			continue;
		}
		touched += len;
		if (i < r->nr_out) {
			for (size_t j = 0; j < len; j++)
				acc ^= p[j];
		} else {
			memset(p, 0x5a, len);
		}
	}
	CHECK(out == r->out_len && in == r->in_len);
	sink = acc;
}

static void save_load(struct virtqueue *vq, const struct gmem *mem)
{
	struct virtqueue n;
	struct buf b;
	struct buf_reader r;

	buf_init(&b);
	CHECK(vq_save(vq, &b) == 0);
	buf_reader_init(&r, b.data, b.len);
	CHECK(vq_load(&n, mem, &r) == 0);
	CHECK(r.off == r.len);
	CHECK(n.enabled == vq->enabled && n.broken == vq->broken && n.size == vq->size);
	CHECK(n.last_avail == vq->last_avail && n.used_idx == vq->used_idx);
	CHECK(n.used_published == vq->used_published && n.signalled_used == vq->signalled_used);
	CHECK(n.desc == vq->desc && n.avail == vq->avail && n.used == vq->used);
	*vq = n;
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem mem = { .fd = -1 };
	struct virtqueue vq;
	uint16_t pending[MAX_PENDING];
	uint32_t written[MAX_PENDING];
	unsigned nr_pending = 0, keep, save_at;
	const uint8_t *writes;
	size_t nr_writes, image;
	uint64_t features = 0, desc;
	uint8_t flags;
	int r;

	if (size < HDR_SIZE)
		return 0;
	if (ram == NULL) {
		ram = malloc(RAM_SIZE);
		req = malloc(sizeof(*req));
		CHECK(ram != NULL && req != NULL);
	}
	touched = 0;
	flags = data[1];
	keep = data[8] % MAX_PENDING;
	save_at = data[9];
	nr_writes = le16(data + 10);
	if (nr_writes > (size - HDR_SIZE) / 3)
		nr_writes = (size - HDR_SIZE) / 3;
	writes = data + size - 3 * nr_writes;
	image = size - HDR_SIZE - 3 * nr_writes;
	if (image > RAM_SIZE)
		image = RAM_SIZE;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + HDR_SIZE, image);

	mem.size = RAM_SIZE;
	mem.base = ram;
	mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = ram };
	mem.nr_regions = 1;

	if (flags & 1)
		features |= VQ_FEATURE_INDIRECT_DESC;
	if (flags & 2)
		features |= VQ_FEATURE_EVENT_IDX;
	desc = le16(data + 2);
	if (flags & 4)
		desc += RAM_SIZE;
	memset(&vq, 0xa5, sizeof(vq));	/* vq_enable must not depend on prior contents */
	r = vq_enable(&vq, &mem, (uint16_t)(1u << (data[0] & 15)), desc, le16(data + 4),
		      le16(data + 6), features);
	if (r < 0) {
		CHECK(!vq.enabled);
		CHECK(vq_pop(&vq, req) == 0);
		return 0;
	}

	for (unsigned step = 1; step <= MAX_STEPS; step++) {
		if (step == save_at)
			save_load(&vq, &mem);
		if (nr_writes > 0) {
			ram[le16(writes)] = writes[2];
			writes += 3;
			nr_writes--;
		}
		if (flags & 8 && step % 5 == 0)
			vq_disable_notify(&vq);
		r = vq_pop(&vq, req);
		CHECK(r == -EINVAL || r == 0 || r == 1);
		if (r < 0) {
			CHECK(vq.broken);
			CHECK(vq_pop(&vq, req) < 0);
			break;
		}
		CHECK(!vq.broken);
		if (r == 1) {
			CHECK(req->head < vq.size);
			use_chain(req);
			pending[nr_pending] = req->head;
			written[nr_pending] =
				req->in_len > UINT32_MAX ? UINT32_MAX : (uint32_t)req->in_len;
			nr_pending++;
		}
		if (nr_pending > keep || (r == 0 && nr_pending > 0) || nr_pending == MAX_PENDING) {
			for (unsigned i = 0; i < nr_pending; i++) {
				unsigned j = flags & 16 ? nr_pending - 1 - i : i;
				vq_push(&vq, pending[j], written[j]);
			}
			nr_pending = 0;
			vq_flush(&vq);
			(void)vq_should_notify(&vq);
		}
		if (r == 0) {
			if (flags & 8 && vq_enable_notify(&vq))
				continue;
			if (nr_writes == 0)
				break;
		}
	}
	CHECK(!vq.broken || vq_pop(&vq, req) < 0);
	vq_reset(&vq);
	return 0;
}
