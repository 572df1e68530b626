/* SPDX-License-Identifier: MIT */
/* queue.h: the split virtqueue (virtio 1.x) shared by every virtio device. */
#ifndef DOMUS_VIRTIO_QUEUE_H
#define DOMUS_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct gmem;
struct buf;
struct buf_reader;

/* Largest queue size the split ring allows (the 16-bit indices must tell a
 * full ring from an empty one). */
#define VQ_MAX_SIZE		32768

/* Most segments (non-empty descriptors) in one chain, direct and indirect
 * together; also the most entries an indirect table may have. IOV_MAX on
 * Linux, so a chain's halves can go to preadv/pwritev as they are. Devices
 * advertise less (seg_max) and a driver never gets near it. */
#define VQ_MAX_SEGS		1024

/* The negotiated feature bits vq_enable() looks at (virtio 1.2, "Reserved
 * Feature Bits"): VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX. */
#define VQ_FEATURE_INDIRECT_DESC	(1ULL << 28)
#define VQ_FEATURE_EVENT_IDX		(1ULL << 29)

/* One split virtqueue. The transport calls vq_enable() when the driver
 * enables the queue and vq_reset() when it resets the device; the device
 * calls vq_pop/vq_push/vq_flush/vq_should_notify. No lock inside: one thread
 * services a given queue at a time, different queues may run concurrently.
 * Fields are read-only outside queue.c. */
struct virtqueue {
	const struct gmem *mem;
	uint16_t size;			/* power of two, <= VQ_MAX_SIZE; 0 while disabled */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;			/* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;			/* VIRTIO_F_INDIRECT_DESC negotiated */
	bool enabled;			/* vq_enable() succeeded */
	bool broken;			/* a malformed ring was seen: device must go NEEDS_RESET */
	bool notify_off;		/* vq_disable_notify(): the driver is asked not to kick */
	uint16_t last_avail;		/* next avail index we will consume */
	uint16_t used_idx;		/* next used index we will write (shadow) */
	uint16_t used_published;	/* the used->idx the driver can see */
	uint16_t signalled_used;	/* used_published at the last vq_should_notify() */
	/* host pointers to the rings, validated once at vq_enable */
	uint8_t *desc;			/* 16 * size bytes */
	uint8_t *avail;			/* 6 + 2 * size: flags, idx, ring[size], used_event */
	uint8_t *used;			/* 6 + 8 * size: flags, idx, ring[size], avail_event */
};

/* One descriptor chain, translated to host addresses and range-checked: every
 * iovec lies inside guest RAM. The device-readable segments come first, in
 * chain order, then the device-writable ones: see vq_req_out()/vq_req_in().
 * Zero-length descriptors add no segment. About 16 KiB: keep one in the
 * device's state (heap), not on a small stack. Plain data, may be copied. */
struct vq_req {
	uint16_t head;			/* chain head: pass to vq_push() */
	unsigned nr_out;		/* device-readable segments: iov[0, nr_out) */
	unsigned nr_in;			/* device-writable: iov[nr_out, nr_out + nr_in) */
	uint64_t out_len, in_len;	/* byte totals of each part */
	struct iovec iov[VQ_MAX_SEGS];
};

/* vq_req_out: the device-readable segments (the device must not write them). */
static inline struct iovec *vq_req_out(struct vq_req *req)
{
	return req->iov;
}

/* vq_req_in: the device-writable segments. */
static inline struct iovec *vq_req_in(struct vq_req *req)
{
	return req->iov + req->nr_out;
}

/* vq_enable: start using the rings the driver set up: (size) entries with the
 * descriptor table at (desc_gpa), the available ring at (avail_gpa) and the
 * used ring at (used_gpa), in (mem), with the negotiated (features) (only
 * VQ_FEATURE_* matter). Checks the size is a power of two <= VQ_MAX_SIZE and
 * each ring is aligned as the spec demands (16, 2, 4) and lies in one RAM
 * region with the spec's full size, event fields included, and that no two
 * rings overlap; caches the host pointers. Indices start at 0. Returns 0,
 * -EINVAL for a bad size, alignment or overlapping rings, -EFAULT for a ring outside RAM; on error the queue stays
 * disabled (the transport may set NEEDS_RESET). (mem) must outlive the queue. */
int vq_enable(struct virtqueue *vq, const struct gmem *mem, uint16_t size, uint64_t desc_gpa,
	      uint64_t avail_gpa, uint64_t used_gpa, uint64_t features);

/* vq_reset: back to disabled, all state cleared (device reset or queue reset).
 * The queue is usable again after vq_enable(), even if it was broken. */
void vq_reset(struct virtqueue *vq);

/* vq_pop: take the next available chain into *req. Returns 1 with a chain,
 * 0 when the ring is empty or the queue is not enabled, -EINVAL when the
 * driver broke the ring: the avail index moved by more than the queue size,
 * or the chain is malformed (head or next out of range, a loop or a chain
 * longer than its table, more than VQ_MAX_SEGS segments, a readable
 * descriptor after a writable one, INDIRECT not negotiated, nested, combined
 * with NEXT, or a table that is empty, not a multiple of 16 bytes or longer
 * than VQ_MAX_SEGS entries, a buffer not inside one RAM region). Then
 * vq->broken is set, the chain is not consumed, and every later call returns
 * -EINVAL until vq_reset(): the device should set DEVICE_NEEDS_RESET. *req is
 * undefined unless 1 is returned. When the ring is empty and notifications
 * are on, publishes avail_event (event idx) and looks once more, so a buffer
 * added meanwhile is not missed. */
int vq_pop(struct virtqueue *vq, struct vq_req *req);

/* vq_push: return chain (head) with (written) bytes written to its writable
 * part. The used element is written but not visible to the driver until
 * vq_flush(). A head >= size (a device bug) marks the queue broken instead. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/* vq_unpop: give back the chain the last vq_pop() returned, not pushed:
 * it will be popped again (a device quiescing for a snapshot with a chain
 * it holds). Only for the most recent pop. */
void vq_unpop(struct virtqueue *vq);

/* vq_flush: make the pushed elements visible (publish used->idx). The
 * device's writes to the buffers and the used elements are ordered before it. */
void vq_flush(struct virtqueue *vq);

/* vq_should_notify: after vq_flush(), whether to send a used buffer
 * notification (interrupt) for what was published since the last call. With
 * event idx: whether used->idx crossed the driver's used_event on its way
 * from its value at the last call; else unless the driver set
 * VIRTQ_AVAIL_F_NO_INTERRUPT. False when nothing new was published. */
bool vq_should_notify(struct virtqueue *vq);

/* vq_disable_notify: ask the driver not to send available buffer
 * notifications (kicks) while the device is busy draining the queue; a hint
 * the driver may ignore. With event idx this only stops vq_pop() from
 * advancing avail_event. */
void vq_disable_notify(struct virtqueue *vq);

/* vq_enable_notify: ask for kicks again. Returns true if buffers arrived
 * meanwhile (the driver may not have kicked for them): pop them now. */
bool vq_enable_notify(struct virtqueue *vq);

/* vq_save: append the queue's state (enabled, features, broken, notify,
 * size, ring addresses, indices) to (out), for snapshots and migration. The
 * used elements and used->idx live in guest RAM. Returns 0 or -ENOMEM. */
int vq_save(const struct virtqueue *vq, struct buf *out);

/* vq_load: read state written by vq_save() from (r), validate it (as
 * vq_enable() does for an enabled queue) and apply it, with rings in (mem).
 * Returns 0, or -EINVAL when the state is truncated or malformed: then the
 * queue is left reset. */
int vq_load(struct virtqueue *vq, const struct gmem *mem, struct buf_reader *r);

#endif
