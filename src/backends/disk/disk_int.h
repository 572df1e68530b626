/* SPDX-License-Identifier: MIT */
/* disk_int.h: what disk.c (opening, validation) and uring.c (the I/O engine) share. */
#ifndef DOMUS_DISK_INT_H
#define DOMUS_DISK_INT_H

#include <liburing.h>
#include <sys/types.h>

#include "disk.h"

/* Most requests have few segments (a Linux guest's 4 KiB reads have one); longer lists are
 * allocated per request. */
#define DISK_INLINE_IOV 8

/* How a WRITE_ZEROES is being carried out; on EOPNOTSUPP the next one is tried. */
enum disk_zero_step { ZERO_PUNCH, ZERO_RANGE, ZERO_WRITE };

/* One request in flight. */
struct disk_slot {
	struct disk_slot *next_free;
	void *cookie;
	int op;			/* enum disk_op, or SLOT_PRESET */
	int64_t preset;		/* SLOT_PRESET: the result, already known */
	enum disk_zero_step zstep;
	bool unmap;
	uint64_t offset;	/* where the next piece goes */
	uint64_t remaining;	/* bytes still to transfer (or to discard/zero) */
	uint64_t total;		/* READ/WRITE: the result on success */
	struct iovec *iov;	/* the caller's segments (copied, adjacent ones merged) */
	unsigned iovcnt;
	struct iovec *sub;	/* what the next readv/writev transfers: into iov or &biov */
	unsigned subcnt;
	void *bounce;		/* direct with misaligned buffers: an aligned copy */
	struct iovec biov;
	struct iovec inline_iov[DISK_INLINE_IOV];
};

#define SLOT_PRESET (-1)

struct disk {
	char *path;
	char serial[DISK_SERIAL_MAX + 1];	/* "" when not given */
	int fd;
	uint64_t size;
	unsigned block_size;	/* advertised logical block size */
	unsigned mem_align;	/* O_DIRECT buffer alignment (1 without direct) */
	bool readonly;
	bool direct;
	bool blkdev;
	bool can_discard;
	bool created;		/* disk_open made the file */
	bool locked;		/* false where the file system has no locks (see disks.md) */
	bool shared;		/* opened with disk_opts.shared: never locked */
	dev_t dev;		/* identity: (dev, ino) for files, rdev for block devices */
	ino_t ino;
	dev_t rdev;

	/* the engine (uring.c) */
	struct io_uring ring;
	bool ring_ready;
	int efd;
	struct disk_slot *slots;
	struct disk_slot *free;
	unsigned inflight;
	bool no_punch;		/* the file system refused FALLOC_FL_PUNCH_HOLE */
	bool no_zero_range;	/* ... FALLOC_FL_ZERO_RANGE */
};

/* disk_ring_init: set up the ring for (d->fd): 0, or -errno with (err) set. */
int disk_ring_init(struct disk *d, struct err *err);
/* disk_ring_exit: wait for what is in flight and tear the ring down. */
void disk_ring_exit(struct disk *d);

#endif
