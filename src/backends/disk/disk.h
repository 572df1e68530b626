/* SPDX-License-Identifier: MIT */
/* disk.h: disk backends for virtio-blk: a raw image file ("file-backed VBD") or a host block
 * device such as an LVM LV ("dedicated-resource VBD"), with asynchronous I/O through io_uring. */
#ifndef DOMUS_DISK_H
#define DOMUS_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct err;

#define DISK_PATH_MAX	4096	/* PATH_MAX, with its NUL */
#define DISK_SERIAL_MAX	20	/* virtio-blk's ID string: 20 bytes, NUL-padded */
#define DISK_QUEUE_DEPTH 256	/* requests in flight (queued + submitted) per disk */
#define DISK_SECTOR	512

/* What the user asked for with --disk (cli/disk_args.c parses it). */
struct disk_opts {
	char path[DISK_PATH_MAX];
	bool readonly;		/* opened O_RDONLY: the file is never written */
	bool direct;		/* O_DIRECT: bypass the host page cache */
	bool size_given;	/* size= was given: create the file if missing, else check */
	uint64_t size;		/* bytes, a multiple of DISK_SECTOR, when size_given */
	char serial[DISK_SERIAL_MAX + 1];	/* "" when not given */
	/* An incoming live migration: the source still holds the lock (and a
	 * block device's O_EXCL): open without them; disk_lock() takes the
	 * lock at the switch-over. */
	bool unlocked;
	/* shared: several VMs may write it at once (a domain's "w!" disk, a
	 * cluster file system's): no lock, no O_EXCL; who may share is the
	 * domain layer's check. */
	bool shared;
};

struct disk;

/* disk_open: validate and open (o) before the guest starts. A missing file is created sparse
 * with size= (atomically: made under a temporary name and linked into place, so a failure
 * leaves nothing behind and an existing file is never replaced), else refused; an existing
 * file or device is never modified here, and size= must match its size. Refused: directories,
 * character devices, FIFOs, sockets, sizes that are not a whole number of blocks, files a
 * lock shows in use (an exclusive lock for writable disks, shared for read-only, both as OFD
 * locks over the whole file; block devices are also opened O_EXCL when writable, which fails
 * if they are mounted or held). (opened, nopened) are the disks this VM opened before, so
 * that a file given twice is reported as such rather than as locked by another process; two
 * read-only disks may share a file. Returns 0 and (*out), or -errno with one line in (err)
 * naming the path. */
int disk_open(const struct disk_opts *o, struct disk *const *opened, unsigned nopened,
	      struct disk **out, struct err *err);

/* disk_check_duplicates: -EINVAL with (err) set if two of (disks) are the same file or
 * device (compared by device and inode, or by device number for block devices, so other
 * paths, hard links and symlinks are caught) and at least one of them is writable. */
int disk_check_duplicates(struct disk *const *disks, unsigned n, struct err *err);

/* disk_unlock / disk_lock: release the disk's lock and take it again (the
 * switch-over of a live migration: the source lets go just before the
 * destination takes it). disk_lock: 0 or -EBUSY with (err) set. */
void disk_unlock(struct disk *d);
int disk_lock(struct disk *d, struct err *err);

/* disk_close: wait for the requests in flight (without calling back: after it returns no
 * buffer is touched any more), release the lock and close. NULL is ok. */
void disk_close(struct disk *d);

/* Properties for the device's config space. */
const char *disk_path(const struct disk *d);
const char *disk_serial(const struct disk *d);
/* disk_created: disk_open made the file (size= for a missing one): a caller that gives up
 * before the guest starts removes it again, so a refused command leaves nothing behind. */
bool disk_created(const struct disk *d);		/* "" when not given */
uint64_t disk_size(const struct disk *d);		/* bytes, a multiple of block size */
/* disk_block_size: the logical block size to advertise (VIRTIO_BLK_F_BLK_SIZE): 512 for
 * files, the device's for block devices, and at least the O_DIRECT offset alignment with
 * direct. Requests must be aligned to it in direct mode. */
unsigned disk_block_size(const struct disk *d);
bool disk_readonly(const struct disk *d);
/* disk_can_discard: DISK_DISCARD does something (writable, and a file or a block device
 * whose queue supports discard). DISK_WRITE_ZEROES always works on writable disks. */
bool disk_can_discard(const struct disk *d);
bool disk_is_blkdev(const struct disk *d);

enum disk_op {
	DISK_READ,		/* readv at offset into iov */
	DISK_WRITE,		/* writev at offset from iov */
	DISK_FLUSH,		/* fdatasync: everything completed before is durable */
	DISK_DISCARD,		/* hint: [offset, offset + len) is unused */
	DISK_WRITE_ZEROES,	/* [offset, offset + len) reads as zeros afterwards */
};

/* disk_req flags */
#define DISK_REQ_UNMAP	1u	/* WRITE_ZEROES may deallocate (virtio-blk's unmap flag) */

struct disk_req {
	enum disk_op op;
	unsigned flags;
	uint64_t offset;		/* bytes; READ, WRITE, DISCARD, WRITE_ZEROES */
	const struct iovec *iov;	/* READ, WRITE: copied, the buffers must stay valid */
	unsigned iovcnt;		/*   until completion; 1..IOV_MAX */
	uint64_t len;			/* DISCARD, WRITE_ZEROES: bytes */
	void *cookie;			/* handed back on completion */
};

/* disk_submit: queue one request; nothing reaches the kernel before disk_kick. Returns 0
 * (exactly one completion will follow), or without queuing anything: -EAGAIN when
 * DISK_QUEUE_DEPTH requests are in flight (retry after disk_complete), -EROFS for WRITE,
 * DISCARD and WRITE_ZEROES on a read-only disk, -EOPNOTSUPP for DISCARD when
 * !disk_can_discard, -EINVAL for a range beyond the disk's end, an empty request, more than
 * IOV_MAX segments, an unknown op, or an offset or length that is not a multiple of the block
 * size with direct (and for DISCARD and WRITE_ZEROES on block devices). With direct, buffers
 * that are not aligned for O_DIRECT are bounced (up to 4 MiB per request; larger: -EINVAL).
 * DISCARD on a block device runs BLKDISCARD here, synchronously. */
int disk_submit(struct disk *d, const struct disk_req *rq);

/* disk_kick: hand everything queued since the last kick to the kernel in one system call.
 * Call it once per batch of disk_submit. Returns 0, or -errno if the kernel refused the
 * batch (the requests stay queued and the next kick retries). */
int disk_kick(struct disk *d);

/* disk_event_fd: an eventfd that becomes readable when completions are ready; add it to
 * the event loop and call disk_complete when it fires. */
int disk_event_fd(const struct disk *d);

/* disk_cb: (result) is the request's length in bytes for READ and WRITE (short transfers
 * are continued internally), 0 for the others, or -errno. */
typedef void (*disk_cb)(void *cookie, int64_t result, void *arg);

/* disk_complete: deliver the completions ready now, calling cb(cookie, result, arg) for each.
 * The callback may call disk_submit and disk_kick, not disk_complete or disk_close. */
void disk_complete(struct disk *d, disk_cb cb, void *arg);

/* disk_drain: submit what is queued and wait until nothing is in flight, delivering every
 * completion through cb(cookie, result, arg) (cb may be NULL to drop them). For a device
 * reset, a reboot or a snapshot: afterwards the disk touches no buffer. The callback must
 * not submit. Blocks for as long as the host takes to finish the I/O. */
void disk_drain(struct disk *d, disk_cb cb, void *arg);

/* disk_inflight: requests submitted whose completion has not been delivered. */
unsigned disk_inflight(const struct disk *d);

/* Threads: a disk is not locked; the caller serializes all calls on one disk (e.g. under the
 * device's lock). io_uring runs completion work in the thread that submitted, so submitting
 * from the event-loop thread keeps vCPUs from being interrupted by completions. */

#endif
