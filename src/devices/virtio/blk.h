/* SPDX-License-Identifier: MIT */
/* blk.h: virtio-blk, a paravirtualized disk on a disk backend (backends/disk). */
#ifndef DOMUS_VIRTIO_BLK_H
#define DOMUS_VIRTIO_BLK_H

#include <stdint.h>

struct virtio_dev;
struct disk;
struct ev_loop;
struct err;

/* Counters, for dominfo/domblkstat-style reports. */
struct virtio_blk_stats {
	uint64_t rd_req, rd_bytes;
	uint64_t wr_req, wr_bytes;
	uint64_t flush_req;
	uint64_t discard_req, zero_req;
	uint64_t errors;	/* requests answered with an error status */
};

/* virtio_blk_create: a virtio-blk device on (disk) with (nr_queues) request queues
 * (1..VIRTIO_MAX_QUEUES; one per vCPU is what Linux uses best), whose completions are
 * served on (loop). The disk stays the caller's: the device is destroyed (on reboot, say)
 * without closing it, after waiting for its requests in flight. Returns 0 and (*out) ready
 * for a transport, or -errno with (err) set. */
int virtio_blk_create(struct disk *disk, unsigned nr_queues, struct ev_loop *loop,
		      struct virtio_dev **out, struct err *err);

/* virtio_blk_stats: a copy of the counters (takes the device lock). */
void virtio_blk_stats(struct virtio_dev *vdev, struct virtio_blk_stats *out);

#endif
