/* SPDX-License-Identifier: MIT */
/* fuzz_virtio_console.c: libFuzzer target: virtio-console serving both of its
 * queues from rings a hostile driver laid out, with host input arriving. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console/chardev.h"
#include "devices/virtio/console.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* Guest RAM: exactly this big and malloc'd, so ASan sees any byte the device
 * touches beyond it. */
#define RAM_SIZE	(64 * 1024)
#define HDR_SIZE	16
#define ROUNDS		8

/* Header:
 *  [0], [1]   queue sizes (rx, tx): 1 << (b & 15), invalid ones included
 *  [2]        bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 reset after round 3,
 *             bit 3 DRIVER_OK clear at first
 *  [3]        per round, bit i: host input arrives (input_ready) in round i
 *  [4..15]    desc, avail, used gpa of rx then tx (le16 each)
 * Then: le16 n, n bytes of host input, and the first bytes of guest RAM. */

static uint8_t *ram;

struct fuzz_cd {
	struct chardev cd;
	const uint8_t *in;
	size_t in_len, in_pos;
	size_t out_total;
	bool emerg;		/* inside config_write: the byte is the device's own */
	uint8_t acc;
};

static volatile uint8_t sink;

static void fz_write(struct chardev *cd, const void *buf, size_t len)
{
	struct fuzz_cd *f = (struct fuzz_cd *)cd;
	const uint8_t *p = buf;

	/* every byte handed out lies in RAM; read them all (ASan checks) */
	if (f->emerg)
		CHECK(len == 1);
	else
		CHECK(len > 0 && p >= ram && len <= (size_t)(ram + RAM_SIZE - p));
	for (size_t i = 0; i < len; i++)
		f->acc ^= p[i];
	f->out_total += len;
}

static size_t fz_read(struct chardev *cd, void *buf, size_t len)
{
	struct fuzz_cd *f = (struct fuzz_cd *)cd;
	size_t n = f->in_len - f->in_pos;

	if (n > len)
		n = len;
	CHECK(n == 0 || ((uint8_t *)buf >= ram && n <= (size_t)(ram + RAM_SIZE - (uint8_t *)buf)));
	memcpy(buf, f->in + f->in_pos, n);
	f->in_pos += n;
	return n;
}

static const struct chardev_ops fz_ops = { .write = fz_write, .read = fz_read };

static int needs_reset;

static void fz_signal_queue(struct virtio_dev *vdev, unsigned q)
{
	(void)vdev;
	CHECK(q < 2);
}

static void fz_needs_reset(struct virtio_dev *vdev)
{
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	needs_reset++;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void enable(struct virtio_dev *v, const struct gmem *mem, const uint8_t *hdr,
		   uint64_t features)
{
	for (unsigned q = 0; q < 2; q++) {
		const uint8_t *g = hdr + 4 + 6 * q;

		vq_enable(&v->vqs[q], mem, (uint16_t)(1u << (hdr[q] & 15)), le16(g), le16(g + 2),
			  le16(g + 4), features);
	}
	v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem mem = { .fd = -1 };
	struct fuzz_cd f = { .cd.ops = &fz_ops };
	struct virtio_dev *v;
	uint64_t features = 0;
	size_t n, image;
	uint32_t emerg = 'e';

	if (size < HDR_SIZE + 2)
		return 0;
	if (ram == NULL) {
		ram = malloc(RAM_SIZE);
		CHECK(ram != NULL);
	}
	n = le16(data + HDR_SIZE);
	if (n > size - HDR_SIZE - 2)
		n = size - HDR_SIZE - 2;
	f.in = data + HDR_SIZE + 2;
	f.in_len = 0;	/* input arrives round by round */
	image = size - HDR_SIZE - 2 - n;
	if (image > RAM_SIZE)
		image = RAM_SIZE;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + HDR_SIZE + 2 + n, image);
	mem.size = RAM_SIZE;
	mem.base = ram;
	mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = ram };
	mem.nr_regions = 1;
	if (data[2] & 1)
		features |= VQ_FEATURE_INDIRECT_DESC;
	if (data[2] & 2)
		features |= VQ_FEATURE_EVENT_IDX;

	v = virtio_console_create(&f.cd);
	CHECK(v != NULL);
	v->signal_queue = fz_signal_queue;
	v->signal_needs_reset = fz_needs_reset;
	needs_reset = 0;
	enable(v, &mem, data, features);
	if (data[2] & 8)
		v->status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;

	for (unsigned round = 0; round < ROUNDS; round++) {
		if (data[3] & (1u << round)) {
			/* a slice of the host input arrives */
			size_t add = (n + ROUNDS - 1) / ROUNDS;
			bool was_empty = f.in_pos == f.in_len;

			f.in_len = f.in_len + add < n ? f.in_len + add : n;
			if (was_empty && f.cd.input_ready)
				f.cd.input_ready(f.cd.dev);
		}
		pthread_mutex_lock(&v->lock);
		v->ops->queue_notify(v, round & 1 ? VIRTIO_CONSOLE_RXQ : VIRTIO_CONSOLE_TXQ);
		if (round == 2) {
			f.emerg = true;
			v->ops->config_write(v, VIRTIO_CONSOLE_EMERG_WR, &emerg, 4);
			f.emerg = false;
			CHECK(f.out_total > 0);
		}
		if (round == 3 && (data[2] & 4)) {
			/* the transport's device reset, then the driver again */
			v->ops->reset(v);
			for (unsigned q = 0; q < 2; q++)
				vq_reset(&v->vqs[q]);
			v->status = 0;
			enable(v, &mem, data, features);
		}
		pthread_mutex_unlock(&v->lock);
		CHECK(f.in_pos <= f.in_len);
		/* a broken ring is reported, and only once per breakage */
		for (unsigned q = 0; q < 2; q++)
			CHECK(!v->vqs[q].broken || needs_reset > 0);
		CHECK(needs_reset <= 2 * 2);
	}
	sink = f.acc;
	v->ops->destroy(v);
	CHECK(f.cd.input_ready == NULL);
	return 0;
}
