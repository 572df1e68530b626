/* SPDX-License-Identifier: MIT */
/* blk.c: virtio-blk (virtio 1.2, section 5.2) on a disk backend.
 *
 * Data path: a queue kick (a KVM ioeventfd, served on the event loop) pops
 * every available request, turns each into one disk request whose buffers
 * are the guest's own pages (no copy), and hands the whole batch to io_uring
 * with one system call. Completions arrive on the disk's eventfd, on the same
 * loop: the status byte is written, the chain returned, and each queue that
 * got something back interrupts once per batch.
 *
 * Everything in a request comes from the guest and is checked here or by the
 * queue: the chain lies in guest RAM (vq_pop), the header is copied out before
 * use, sector ranges are checked for overflow and against the disk's size,
 * discard ranges one by one. A request we cannot answer (no writable byte for
 * the status) is returned with nothing written rather than trusted. */
#include "blk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backends/disk/disk.h"
#include "common/err.h"
#include "common/ev.h"
#include "common/iov.h"
#include "virtio.h"

/* Feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX		(1ULL << 2)
#define VIRTIO_BLK_F_RO			(1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE		(1ULL << 6)
#define VIRTIO_BLK_F_FLUSH		(1ULL << 9)
#define VIRTIO_BLK_F_TOPOLOGY		(1ULL << 10)
#define VIRTIO_BLK_F_MQ			(1ULL << 12)
#define VIRTIO_BLK_F_DISCARD		(1ULL << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES	(1ULL << 14)

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_T_DISCARD		11
#define VIRTIO_BLK_T_WRITE_ZEROES	13

#define VIRTIO_BLK_S_OK			0
#define VIRTIO_BLK_S_IOERR		1
#define VIRTIO_BLK_S_UNSUPP		2

#define VIRTIO_BLK_WZ_FLAG_UNMAP	1u

#define BLK_QUEUE_SIZE		256
/* Data segments per request: a chain may hold VQ_MAX_SEGS with an indirect
 * table; the header and the status take two. */
#define BLK_SEG_MAX		(VQ_MAX_SEGS - 2)
/* One discard or write-zeroes range per request, at most 1 GiB: a block
 * device's BLKDISCARD runs synchronously on the loop, so it must stay short.
 * Linux splits larger ones. */
#define BLK_DISCARD_SEG_MAX	1
/* Times blk_process looks again after re-enabling notifications. */
#define BLK_ROUNDS_MAX		16
#define BLK_DISCARD_SECTORS_MAX	((1u << 30) / DISK_SECTOR)

/* The config space (5.2.4), little-endian like our hosts, up to the write
 * zeroes fields; the fields after them (secure erase, zoned) are not offered. */
struct blk_config {
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct blk_config) == 60, "virtio-blk config layout");

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
} __attribute__((packed));

struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
} __attribute__((packed));

/* A request handed to the disk, until it completes. */
struct blk_io {
	struct blk_io *next_free;
	uint8_t *status;	/* the chain's last writable byte, in guest RAM */
	uint32_t data_len;	/* IN: bytes the guest receives besides the status */
	uint16_t head;
	uint16_t q;
	uint32_t type;
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct disk *disk;
	struct ev_loop *loop;
	struct blk_config config;
	char serial[DISK_SERIAL_MAX];	/* NUL-padded, not terminated when 20 long */
	struct blk_io io[DISK_QUEUE_DEPTH];
	struct blk_io *free;
	unsigned nr_free;
	bool stalled;		/* stopped popping: every io was in flight */
	uint64_t touched;	/* queues that got chains back in this completion batch */
	struct virtio_blk_stats stats;
	struct vq_req req;	/* ~16 KiB, the chain being handled */
	struct iovec data[VQ_MAX_SEGS];	/* its data part */
};

_Static_assert(VIRTIO_MAX_QUEUES <= 64, "touched is a 64-bit mask");

/* --- requests ---------------------------------------------------------------------- */

static struct blk_io *io_get(struct virtio_blk *b)
{
	struct blk_io *io = b->free;

	b->free = io->next_free;
	b->nr_free--;
	return io;
}

static void io_put(struct virtio_blk *b, struct blk_io *io)
{
	io->next_free = b->free;
	b->free = io;
	b->nr_free++;
}

/* Answer a request now: status, chain back. (written) counts the data bytes
 * the device put in the chain besides the status. */
static void blk_finish(struct virtio_blk *b, unsigned q, uint16_t head, uint8_t *status,
		       uint8_t st, uint32_t written)
{
	*status = st;
	if (st != VIRTIO_BLK_S_OK)
		b->stats.errors++;
	vq_push(&b->vdev.vqs[q], head, written + 1);
}

static uint8_t status_of(int e)
{
	return e == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

/* sector_range: the byte range of (len) bytes at (sector), if it lies on the disk. */
static bool sector_range(const struct virtio_blk *b, uint64_t sector, uint64_t len,
			 uint64_t *offset)
{
	uint64_t end;

	if (sector > UINT64_MAX / DISK_SECTOR)
		return false;
	*offset = sector * DISK_SECTOR;
	return !ckd_add(&end, *offset, len) && end <= disk_size(b->disk);
}

/* Hand (rq) to the disk; on refusal answer the request at once. */
static void blk_submit(struct virtio_blk *b, unsigned q, uint16_t head, uint8_t *status,
		       uint32_t type, uint32_t data_len, struct disk_req *rq)
{
	struct blk_io *io = io_get(b);
	int r;

	io->status = status;
	io->data_len = data_len;
	io->head = head;
	io->q = (uint16_t)q;
	io->type = type;
	rq->cookie = io;
	r = disk_submit(b->disk, rq);
	if (r < 0) {
		io_put(b, io);
		blk_finish(b, q, head, status, status_of(r), 0);
	}
}

/* DISCARD and WRITE_ZEROES: one range in the data part. */
static void blk_ranges(struct virtio_blk *b, unsigned q, uint16_t head, uint8_t *status,
		       uint32_t type, const struct iovec *data, unsigned n, uint64_t len)
{
	struct disk_req rq = { .op = type == VIRTIO_BLK_T_DISCARD ? DISK_DISCARD : DISK_WRITE_ZEROES };
	struct blk_range range;
	uint32_t max_sectors = type == VIRTIO_BLK_T_DISCARD ? b->config.max_discard_sectors :
							      b->config.max_write_zeroes_sectors;

	if (len == 0 || len % sizeof(range) != 0 || len / sizeof(range) > BLK_DISCARD_SEG_MAX)
		goto ioerr;
	iov_to_buf(data, n, 0, &range, sizeof(range));
	/* Unknown flags, and unmap on a discard, are refused (5.2.6.2). */
	if ((range.flags & ~VIRTIO_BLK_WZ_FLAG_UNMAP) ||
	    (type == VIRTIO_BLK_T_DISCARD && range.flags)) {
		blk_finish(b, q, head, status, VIRTIO_BLK_S_UNSUPP, 0);
		return;
	}
	if (range.num_sectors == 0 || range.num_sectors > max_sectors)
		goto ioerr;
	rq.len = (uint64_t)range.num_sectors * DISK_SECTOR;
	if (!sector_range(b, range.sector, rq.len, &rq.offset))
		goto ioerr;
	if (range.flags & VIRTIO_BLK_WZ_FLAG_UNMAP)
		rq.flags |= DISK_REQ_UNMAP;
	if (type == VIRTIO_BLK_T_DISCARD)
		b->stats.discard_req++;
	else
		b->stats.zero_req++;
	blk_submit(b, q, head, status, type, 0, &rq);
	return;
ioerr:
	blk_finish(b, q, head, status, VIRTIO_BLK_S_IOERR, 0);
}

/* blk_handle: one chain: header (readable), data, status (the last writable byte). */
static void blk_handle(struct virtio_blk *b, unsigned q, struct vq_req *req)
{
	struct iovec *out = vq_req_out(req), *in = vq_req_in(req), *last;
	struct disk_req rq = { 0 };
	struct blk_hdr hdr;
	uint8_t *status;
	uint64_t len;
	unsigned n;

	if (req->nr_in == 0) {
		/* Nowhere to put a status: the driver broke the protocol. Return
		 * the chain untouched so the ring keeps moving. */
		b->stats.errors++;
		vq_push(&b->vdev.vqs[q], req->head, 0);
		return;
	}
	last = &in[req->nr_in - 1];
	status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (req->out_len < sizeof(hdr)) {
		blk_finish(b, q, req->head, status, VIRTIO_BLK_S_IOERR, 0);
		return;
	}
	iov_to_buf(out, req->nr_out, 0, &hdr, sizeof(hdr));

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		len = req->in_len - 1;
		if (len % DISK_SECTOR != 0 || !sector_range(b, hdr.sector, len, &rq.offset))
			break;
		if (len == 0) {
			blk_finish(b, q, req->head, status, VIRTIO_BLK_S_OK, 0);
			return;
		}
		n = iov_slice(in, req->nr_in, 0, len, b->data);
		rq.op = DISK_READ;
		rq.iov = b->data;
		rq.iovcnt = n;
		b->stats.rd_req++;
		blk_submit(b, q, req->head, status, hdr.type, (uint32_t)len, &rq);
		return;
	case VIRTIO_BLK_T_OUT:
		len = req->out_len - sizeof(hdr);
		if (len % DISK_SECTOR != 0 || !sector_range(b, hdr.sector, len, &rq.offset))
			break;
		if (len == 0) {
			blk_finish(b, q, req->head, status, VIRTIO_BLK_S_OK, 0);
			return;
		}
		n = iov_slice(out, req->nr_out, sizeof(hdr), len, b->data);
		rq.op = DISK_WRITE;
		rq.iov = b->data;
		rq.iovcnt = n;
		b->stats.wr_req++;
		blk_submit(b, q, req->head, status, hdr.type, 0, &rq);
		return;
	case VIRTIO_BLK_T_FLUSH:
		b->stats.flush_req++;
		if (disk_readonly(b->disk)) {
			/* nothing of ours to make durable */
			blk_finish(b, q, req->head, status, VIRTIO_BLK_S_OK, 0);
			return;
		}
		rq.op = DISK_FLUSH;
		blk_submit(b, q, req->head, status, hdr.type, 0, &rq);
		return;
	case VIRTIO_BLK_T_GET_ID: {
		size_t w;

		n = iov_slice(in, req->nr_in, 0, req->in_len - 1, b->data);
		w = iov_from_buf(b->data, n, 0, b->serial, sizeof(b->serial));
		blk_finish(b, q, req->head, status, VIRTIO_BLK_S_OK, (uint32_t)w);
		return;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if ((hdr.type == VIRTIO_BLK_T_DISCARD && !disk_can_discard(b->disk)) ||
		    (hdr.type == VIRTIO_BLK_T_WRITE_ZEROES && disk_readonly(b->disk))) {
			blk_finish(b, q, req->head, status, VIRTIO_BLK_S_UNSUPP, 0);
			return;
		}
		len = req->out_len - sizeof(hdr);
		n = iov_slice(out, req->nr_out, sizeof(hdr), len, b->data);
		blk_ranges(b, q, req->head, status, hdr.type, b->data, n, len);
		return;
	default:
		blk_finish(b, q, req->head, status, VIRTIO_BLK_S_UNSUPP, 0);
		return;
	}
	blk_finish(b, q, req->head, status, VIRTIO_BLK_S_IOERR, 0);
}

/* blk_process: take what queue (q) has, as long as there are free ios. */
static void blk_process(struct virtio_blk *b, unsigned q)
{
	struct virtqueue *vq = &b->vdev.vqs[q];
	int r = 0;

	if (!vq->enabled)
		return;
	for (unsigned round = 0;; round++) {
		vq_disable_notify(vq);
		while (b->nr_free > 0 && (r = vq_pop(vq, &b->req)) == 1)
			blk_handle(b, q, &b->req);
		if (r < 0)
			break;
		if (b->nr_free == 0) {
			/* Resumed when completions free ios; kicks stay off meanwhile. */
			b->stalled = true;
			break;
		}
		if (!vq_enable_notify(vq))
			break;
		if (round == BLK_ROUNDS_MAX) {
			/* Buffers keep coming while we look: finish this call and
			 * come back through the loop, so one queue can't hold it. */
			if (b->vdev.retry_queue)
				b->vdev.retry_queue(&b->vdev, q);
			break;
		}
	}
	/* One system call for the whole batch. A refusal (the kernel out of
	 * memory, say) leaves them queued for the next kick or completion. */
	disk_kick(b->disk);
	virtio_queue_done(&b->vdev, q);
	if (r < 0)
		virtio_queue_broken(&b->vdev, q);
}

static void blk_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	blk_process(vdev->priv, q);
}

/* --- completions --------------------------------------------------------------------- */

static void blk_io_done(void *cookie, int64_t result, void *arg)
{
	struct virtio_blk *b = arg;
	struct blk_io *io = cookie;
	uint32_t written = 0;

	if (result >= 0) {
		*io->status = VIRTIO_BLK_S_OK;
		if (io->type == VIRTIO_BLK_T_IN) {
			written = io->data_len;
			b->stats.rd_bytes += io->data_len;
		} else if (io->type == VIRTIO_BLK_T_OUT) {
			b->stats.wr_bytes += (uint64_t)result;
		}
	} else {
		*io->status = status_of((int)result);
		b->stats.errors++;
	}
	vq_push(&b->vdev.vqs[io->q], io->head, written + 1);
	b->touched |= 1ULL << io->q;
	io_put(b, io);
}

/* Completions of a device being reset or destroyed: the queues are gone. */
static void blk_io_drop(void *cookie, int64_t result, void *arg)
{
	(void)result;
	io_put(arg, cookie);
}

static void blk_on_complete(struct ev_loop *loop, int fd, uint32_t events, void *arg)
{
	struct virtio_blk *b = arg;
	struct virtio_dev *vdev = &b->vdev;

	(void)loop;
	(void)fd;
	(void)events;
	pthread_mutex_lock(&vdev->lock);
	b->touched = 0;
	disk_complete(b->disk, blk_io_done, b);
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (b->touched & (1ULL << q))
			virtio_queue_done(vdev, q);
	if (b->stalled && b->nr_free > 0) {
		b->stalled = false;
		if ((vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vdev->status & VIRTIO_STATUS_NEEDS_RESET))
			for (unsigned q = 0; q < vdev->nr_queues; q++)
				blk_process(b, q);
	}
	pthread_mutex_unlock(&vdev->lock);
}

/* --- device ops ---------------------------------------------------------------------- */

static void blk_config_read(struct virtio_dev *vdev, unsigned off, void *data, unsigned size)
{
	struct virtio_blk *b = vdev->priv;

	memcpy(data, (const uint8_t *)&b->config + off, size);
}

static void blk_config_write(struct virtio_dev *vdev, unsigned off, const void *data,
			     unsigned size)
{
	/* Only 'writeback' is writable, and only with CONFIG_WCE, which we
	 * don't offer: the cache mode is fixed (flushes are honoured). */
	(void)vdev;
	(void)off;
	(void)data;
	(void)size;
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *b = vdev->priv;

	/* Requests in flight write into guest buffers and would complete into
	 * queues that no longer exist: wait for them, answer nobody. */
	disk_drain(b->disk, blk_io_drop, b);
	b->stalled = false;
}

/* Snapshot or migration: every request in flight completes into the used
 * rings (and its buffers), as if the disk had just answered. Chains the
 * device had not taken yet stay in the avail rings: the transport kicks the
 * queues again after a load, and after a resume (virtio_pci_quiesce). */
static void blk_quiesce(struct virtio_dev *vdev)
{
	struct virtio_blk *b = vdev->priv;

	b->touched = 0;
	disk_drain(b->disk, blk_io_done, b);
	for (unsigned q = 0; q < vdev->nr_queues; q++)
		if (b->touched & (1ULL << q))
			virtio_queue_done(vdev, q);
	b->stalled = false;
}

static void blk_destroy(struct virtio_dev *vdev)
{
	struct virtio_blk *b = vdev->priv;

	ev_del(b->loop, disk_event_fd(b->disk));
	disk_drain(b->disk, blk_io_drop, b);
	pthread_mutex_destroy(&vdev->lock);
	free(b);
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = 2,
	.class_code = 0x010000,	/* mass storage, SCSI: what virtio-blk uses */
	.queue_notify = blk_queue_notify,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.reset = blk_reset,
	.destroy = blk_destroy,
	.quiesce = blk_quiesce,
};

void virtio_blk_stats(struct virtio_dev *vdev, struct virtio_blk_stats *out)
{
	struct virtio_blk *b = vdev->priv;

	pthread_mutex_lock(&vdev->lock);
	*out = b->stats;
	pthread_mutex_unlock(&vdev->lock);
}

int virtio_blk_create(struct disk *disk, unsigned nr_queues, struct ev_loop *loop,
		      struct virtio_dev **out, struct err *err)
{
	struct virtio_blk *b;
	unsigned bs = disk_block_size(disk);
	int r;

	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES)
		return err_set(err, EINVAL, "virtio-blk: %u queues (1..%d)", nr_queues,
			       VIRTIO_MAX_QUEUES);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return err_set(err, ENOMEM, "virtio-blk: out of memory");
	b->disk = disk;
	b->loop = loop;
	for (unsigned i = 0; i < DISK_QUEUE_DEPTH; i++)
		io_put(b, &b->io[i]);
	/* NUL-padded to 20 bytes, not terminated when it fills them (5.2.6) */
	memcpy(b->serial, disk_serial(disk), strnlen(disk_serial(disk), sizeof(b->serial)));

	b->config.capacity = disk_size(disk) / DISK_SECTOR;
	b->config.seg_max = BLK_SEG_MAX;
	b->config.blk_size = bs;
	b->config.num_queues = (uint16_t)nr_queues;
	b->vdev.host_features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
				VIRTIO_BLK_F_MQ;
	if (disk_readonly(disk)) {
		b->vdev.host_features |= VIRTIO_BLK_F_RO;
	} else {
		b->vdev.host_features |= VIRTIO_BLK_F_WRITE_ZEROES;
		b->config.max_write_zeroes_sectors = BLK_DISCARD_SECTORS_MAX;
		b->config.max_write_zeroes_seg = BLK_DISCARD_SEG_MAX;
		b->config.write_zeroes_may_unmap = 1;
	}
	if (disk_can_discard(disk)) {
		b->vdev.host_features |= VIRTIO_BLK_F_DISCARD;
		b->config.max_discard_sectors = BLK_DISCARD_SECTORS_MAX;
		b->config.max_discard_seg = BLK_DISCARD_SEG_MAX;
		b->config.discard_sector_alignment = bs / DISK_SECTOR;
	}

	b->vdev.ops = &blk_ops;
	b->vdev.priv = b;
	b->vdev.nr_queues = (uint16_t)nr_queues;
	b->vdev.queue_max = BLK_QUEUE_SIZE;
	b->vdev.config_size = sizeof(b->config);
	pthread_mutex_init(&b->vdev.lock, NULL);
	r = ev_add(loop, disk_event_fd(disk), EPOLLIN, blk_on_complete, b);
	if (r < 0) {
		pthread_mutex_destroy(&b->vdev.lock);
		free(b);
		return err_set(err, -r, "virtio-blk %s: cannot watch its completions", disk_path(disk));
	}
	*out = &b->vdev;
	return 0;
}
