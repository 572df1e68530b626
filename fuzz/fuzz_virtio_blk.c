/* SPDX-License-Identifier: MIT */
/* fuzz_virtio_blk.c: libFuzzer target: virtio-blk serving requests from rings a
 * hostile driver laid out, on a real disk backend (a memfd behind
 * /proc/self/fd) with real io_uring completions. Whatever the input, the device
 * must touch only guest RAM (ASan), stay within the disk, and leave nothing in
 * flight. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/disk/disk.h"
#include "common/err.h"
#include "common/ev.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

#define RAM_SIZE	(64 * 1024)
#define DISK_BYTES	(256 * 1024)
#define HDR_SIZE	9
#define MAX_KICKS	8

/* Header:
 *  [0]     bits 0-3: queue size 1 << (b & 15) (invalid sizes come up too);
 *          bit 4 INDIRECT_DESC, bit 5 EVENT_IDX, bit 6 queue 1 instead of 0,
 *          bit 7 reset the device in the middle
 *  [1..6]  desc, avail, used gpa (le16 each)
 *  [7]     kicks (1..MAX_KICKS)
 *  [8]     offset, in 16-byte units, of guest writes applied between kicks:
 *          the input's tail from there on is (le16 gpa, value) triples
 * The rest is the first bytes of guest RAM. */

static uint8_t *ram;
static struct gmem mem;
static struct disk *disk;
static struct ev_loop *loop;
static struct virtio_dev *vdev;
static bool broken;

static void on_signal(struct virtio_dev *v, unsigned q)
{
	(void)v;
	(void)q;
}

static void on_needs_reset(struct virtio_dev *v)
{
	(void)v;
	broken = true;
}

static void setup_once(void)
{
	struct disk_opts o = { 0 };
	struct err err = { 0 };
	int fd;

	ram = malloc(RAM_SIZE);
	CHECK(ram);
	mem.fd = -1;
	mem.size = RAM_SIZE;
	mem.base = ram;
	mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = ram };
	mem.nr_regions = 1;
	fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, DISK_BYTES) == 0);
	snprintf(o.path, sizeof(o.path), "/proc/self/fd/%d", fd);
	snprintf(o.serial, sizeof(o.serial), "fuzz");
	CHECK(disk_open(&o, NULL, 0, &disk, &err) == 0);
	loop = ev_loop_new();
	CHECK(loop);
	CHECK(virtio_blk_create(disk, 2, loop, &vdev, &err) == 0);
	vdev->signal_queue = on_signal;
	vdev->signal_needs_reset = on_needs_reset;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Deliver completions until nothing is in flight. */
static void settle(void)
{
	for (int i = 0; i < 1000 && disk_inflight(disk) > 0; i++)
		CHECK(ev_run_once(loop, 100) >= 0);
	CHECK(disk_inflight(disk) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *writes = NULL;
	size_t nwrites = 0;
	uint64_t features;
	unsigned q, kicks;
	uint16_t qsize;

	if (ram == NULL)
		setup_once();
	if (size < HDR_SIZE)
		return 0;
	qsize = (uint16_t)(1u << (data[0] & 15));
	features = (data[0] & 0x10 ? 1ULL << 28 : 0) | (data[0] & 0x20 ? 1ULL << 29 : 0);
	q = data[0] & 0x40 ? 1 : 0;
	kicks = data[7] % MAX_KICKS + 1;
	if ((size_t)data[8] * 16 + HDR_SIZE < size) {
		writes = data + HDR_SIZE + (size_t)data[8] * 16;
		nwrites = (size_t)(data + size - writes) / 3;
		size = (size_t)(writes - data);
	}
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + HDR_SIZE, size - HDR_SIZE < RAM_SIZE ? size - HDR_SIZE : RAM_SIZE);

	pthread_mutex_lock(&vdev->lock);
	vdev->ops->reset(vdev);
	for (unsigned i = 0; i < vdev->nr_queues; i++)
		vq_reset(&vdev->vqs[i]);
	broken = false;
	vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	if (vq_enable(&vdev->vqs[q], &mem, qsize, le16(data + 1), le16(data + 3), le16(data + 5),
		      features) < 0) {
		pthread_mutex_unlock(&vdev->lock);
		return 0;
	}
	pthread_mutex_unlock(&vdev->lock);

	for (unsigned k = 0; k < kicks; k++) {
		pthread_mutex_lock(&vdev->lock);
		vdev->ops->queue_notify(vdev, q);
		if ((data[0] & 0x80) && k == kicks / 2)
			vdev->ops->reset(vdev);	/* requests in flight: drained, dropped */
		pthread_mutex_unlock(&vdev->lock);
		/* completions come while the driver keeps writing */
		CHECK(ev_run_once(loop, 0) >= 0);
		for (size_t w = k; w < nwrites; w += kicks) {
			uint16_t gpa = le16(writes + 3 * w);
			ram[gpa % RAM_SIZE] = writes[3 * w + 2];
		}
	}
	settle();
	(void)broken;
	return 0;
}
