/* SPDX-License-Identifier: MIT */
/* uring.c: the disk I/O engine: requests batched into an io_uring, completions signalled
 * through an eventfd and delivered by disk_complete. */
#include "disk_int.h"

#include <errno.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/err.h"

/* Misaligned O_DIRECT requests are copied through a buffer at most this large; larger ones
 * fail (a guest that honours blk_size never sends them, and a hostile one must not make us
 * allocate its whole RAM several times over). */
#define BOUNCE_MAX (4u << 20)

/* WRITE_ZEROES on a file system without fallocate modes writes this, piece by piece. It
 * stays in .bss: never written, its pages are the kernel's zero page. */
#define ZERO_CHUNK (1u << 20)
static _Alignas(4096) char zero_buf[ZERO_CHUNK];

int disk_ring_init(struct disk *d, struct err *err)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SUBMIT_ALL };
	int r;

	d->slots = calloc(DISK_QUEUE_DEPTH, sizeof(*d->slots));
	if (d->slots == NULL)
		return err_setsys(err, ENOMEM, "disk %s", d->path);
	for (unsigned i = 0; i + 1 < DISK_QUEUE_DEPTH; i++)
		d->slots[i].next_free = &d->slots[i + 1];
	d->free = &d->slots[0];

	/* As many SQ entries as slots: a request never waits for room in the ring, and with
	 * the CQ twice as large, completions can't overflow it. SUBMIT_ALL (5.18) keeps one
	 * bad request from holding up the rest of a batch. */
	r = io_uring_queue_init_params(DISK_QUEUE_DEPTH, &d->ring, &p);
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		r = io_uring_queue_init_params(DISK_QUEUE_DEPTH, &d->ring, &p);
	}
	if (r == -EPERM || r == -ENOSYS)
		return err_set(err, -r,
			       "disk %s: io_uring is not available (disabled by "
			       "kernel.io_uring_disabled or a seccomp policy?)", d->path);
	if (r < 0)
		return err_setsys(err, -r, "disk %s: io_uring_setup", d->path);
	d->ring_ready = true;
	/* A registered file spares the kernel a file reference per request. */
	r = io_uring_register_files(&d->ring, &d->fd, 1);
	if (r < 0)
		return err_setsys(err, -r, "disk %s: io_uring_register_files", d->path);
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		return err_setsys(err, errno, "disk %s: eventfd", d->path);
	r = io_uring_register_eventfd(&d->ring, d->efd);
	if (r < 0)
		return err_setsys(err, -r, "disk %s: io_uring_register_eventfd", d->path);
	return 0;
}

static struct disk_slot *slot_get(struct disk *d)
{
	struct disk_slot *s = d->free;

	if (s == NULL)
		return NULL;
	d->free = s->next_free;
	d->inflight++;
	s->iov = NULL;
	s->bounce = NULL;
	return s;
}

static void slot_put(struct disk *d, struct disk_slot *s)
{
	if (s->iov != s->inline_iov)
		free(s->iov);
	free(s->bounce);
	s->iov = NULL;
	s->bounce = NULL;
	s->next_free = d->free;
	d->free = s;
	d->inflight--;
}

void disk_ring_exit(struct disk *d)
{
	if (d->ring_ready) {
		/* Buffers belong to the caller (guest memory): nothing may still write into
		 * them once we return, so wait for every request, submitting what is queued. */
		while (d->inflight > 0) {
			struct io_uring_cqe *cqe;
			int r = io_uring_submit_and_wait(&d->ring, 1);

			if (r < 0 && r != -EINTR && r != -EAGAIN)
				break;
			while (io_uring_peek_cqe(&d->ring, &cqe) == 0) {
				struct disk_slot *s = io_uring_cqe_get_data(cqe);

				io_uring_cqe_seen(&d->ring, cqe);
				slot_put(d, s);
			}
		}
		/* The ring's reference to the file would otherwise live on until the kernel
		 * frees the ring, asynchronously, and keep the lock with it. */
		io_uring_unregister_files(&d->ring);
		io_uring_queue_exit(&d->ring);
		d->ring_ready = false;
	}
	if (d->efd >= 0)
		close(d->efd);
	d->efd = -1;
	free(d->slots);
	d->slots = NULL;
}

static enum disk_zero_step zero_first(const struct disk *d, bool unmap)
{
	if (unmap && !d->no_punch)
		return ZERO_PUNCH;
	if (!d->no_zero_range)
		return ZERO_RANGE;
	return ZERO_WRITE;
}

/* Fill (sqe) with the next piece of (s). Requests go to registered file 0. */
static void slot_prep(struct disk_slot *s, struct io_uring_sqe *sqe)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	const int zero_range = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	switch (s->op) {
	case DISK_READ:
		/* One segment (most 4 KiB requests): the plain op spares the kernel the iovec
		 * import. */
		if (s->subcnt == 1 && s->sub[0].iov_len <= INT_MAX)
			io_uring_prep_read(sqe, 0, s->sub[0].iov_base, (unsigned)s->sub[0].iov_len,
					   s->offset);
		else
			io_uring_prep_readv(sqe, 0, s->sub, s->subcnt, s->offset);
		break;
	case DISK_WRITE:
		if (s->subcnt == 1 && s->sub[0].iov_len <= INT_MAX)
			io_uring_prep_write(sqe, 0, s->sub[0].iov_base,
					    (unsigned)s->sub[0].iov_len, s->offset);
		else
			io_uring_prep_writev(sqe, 0, s->sub, s->subcnt, s->offset);
		break;
	case DISK_FLUSH:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	case DISK_DISCARD:
		io_uring_prep_fallocate(sqe, 0, punch, (off_t)s->offset, (off_t)s->remaining);
		break;
	case DISK_WRITE_ZEROES:
		if (s->zstep == ZERO_PUNCH)
			io_uring_prep_fallocate(sqe, 0, punch, (off_t)s->offset,
						(off_t)s->remaining);
		else if (s->zstep == ZERO_RANGE)
			io_uring_prep_fallocate(sqe, 0, zero_range, (off_t)s->offset,
						(off_t)s->remaining);
		else
			io_uring_prep_write(sqe, 0, zero_buf,
					    s->remaining < ZERO_CHUNK ? (unsigned)s->remaining
								      : ZERO_CHUNK,
					    s->offset);
		break;
	default:	/* SLOT_PRESET */
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, s);
		return;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, s);
}

/* Requests the caller checked, and with a free slot, always find an SQE: there are as many
 * SQ entries as slots. Still, don't trust that blindly. */
static struct io_uring_sqe *get_sqe(struct disk *d)
{
	return io_uring_get_sqe(&d->ring);
}

/* [off, off + len) inside the disk, and aligned to the block size if (aligned). */
static int check_range(const struct disk *d, uint64_t off, uint64_t len, bool aligned)
{
	uint64_t end;

	if (len == 0 || ckd_add(&end, off, len) || end > d->size)
		return -EINVAL;
	if (aligned && ((off | len) & (d->block_size - 1)))
		return -EINVAL;
	return 0;
}

/* Copy (rq)'s segments into (s), merging adjacent ones; decide whether O_DIRECT needs a
 * bounce buffer. */
static int slot_set_iov(struct disk *d, struct disk_slot *s, const struct disk_req *rq,
			uint64_t total)
{
	bool misaligned = false;
	unsigned n = 0;

	if (rq->iovcnt <= DISK_INLINE_IOV) {
		s->iov = s->inline_iov;
	} else {
		s->iov = malloc(rq->iovcnt * sizeof(*s->iov));
		if (s->iov == NULL)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < rq->iovcnt; i++) {
		const struct iovec *v = &rq->iov[i];

		if (v->iov_len == 0)
			continue;
		if (n > 0 && (char *)s->iov[n - 1].iov_base + s->iov[n - 1].iov_len ==
				     (char *)v->iov_base)
			s->iov[n - 1].iov_len += v->iov_len;
		else
			s->iov[n++] = *v;
	}
	s->iovcnt = n;
	s->sub = s->iov;
	s->subcnt = n;
	if (!d->direct)
		return 0;

	for (unsigned i = 0; i < n && !misaligned; i++)
		misaligned = ((uintptr_t)s->iov[i].iov_base & (d->mem_align - 1)) ||
			     (s->iov[i].iov_len & (d->block_size - 1));
	if (!misaligned)
		return 0;
	if (total > BOUNCE_MAX)
		return -EINVAL;
	if (posix_memalign(&s->bounce, d->mem_align < 4096 ? 4096 : d->mem_align, total))
		return -ENOMEM;
	s->biov.iov_base = s->bounce;
	s->biov.iov_len = total;
	s->sub = &s->biov;
	s->subcnt = 1;
	if (rq->op == DISK_WRITE) {
		char *p = s->bounce;

		for (unsigned i = 0; i < n; i++) {
			memcpy(p, s->iov[i].iov_base, s->iov[i].iov_len);
			p += s->iov[i].iov_len;
		}
	}
	return 0;
}

static int submit_rw(struct disk *d, const struct disk_req *rq)
{
	struct io_uring_sqe *sqe;
	struct disk_slot *s;
	uint64_t total = 0;
	int r;

	if (rq->iov == NULL || rq->iovcnt == 0 || rq->iovcnt > IOV_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < rq->iovcnt; i++)
		if (ckd_add(&total, total, rq->iov[i].iov_len))
			return -EINVAL;
	r = check_range(d, rq->offset, total, d->direct);
	if (r < 0)
		return r;
	s = slot_get(d);
	if (s == NULL)
		return -EAGAIN;
	r = slot_set_iov(d, s, rq, total);
	if (r < 0)
		goto fail;
	sqe = get_sqe(d);
	if (sqe == NULL) {
		r = -EAGAIN;
		goto fail;
	}
	s->op = rq->op;
	s->cookie = rq->cookie;
	s->offset = rq->offset;
	s->remaining = total;
	s->total = total;
	slot_prep(s, sqe);
	return 0;
fail:
	slot_put(d, s);
	return r;
}

/* FLUSH, DISCARD and WRITE_ZEROES. */
static int submit_other(struct disk *d, const struct disk_req *rq)
{
	struct io_uring_sqe *sqe;
	struct disk_slot *s;
	int r;

	if (rq->op != DISK_FLUSH) {
		if (d->readonly)
			return -EROFS;
		if (rq->op == DISK_DISCARD && !d->can_discard)
			return -EOPNOTSUPP;
		/* Block devices want whole logical blocks for discard and zeroing. */
		r = check_range(d, rq->offset, rq->len, d->direct || d->blkdev);
		if (r < 0)
			return r;
	}
	s = slot_get(d);
	if (s == NULL)
		return -EAGAIN;
	sqe = get_sqe(d);
	if (sqe == NULL) {
		slot_put(d, s);
		return -EAGAIN;
	}
	s->op = rq->op;
	s->cookie = rq->cookie;
	s->offset = rq->offset;
	s->remaining = rq->len;
	s->unmap = rq->flags & DISK_REQ_UNMAP;
	if (rq->op == DISK_FLUSH && d->readonly) {
		/* Nothing was written: nothing to make durable, and the file stays untouched. */
		s->op = SLOT_PRESET;
		s->preset = 0;
	} else if (rq->op == DISK_DISCARD && d->blkdev) {
		/* io_uring has no discard for block devices before Linux 6.12: BLKDISCARD,
		 * synchronously; the device bounds the time with max_discard_sectors. */
		uint64_t range[2] = { rq->offset, rq->len };

		s->op = SLOT_PRESET;
		s->preset = ioctl(d->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	} else if (rq->op == DISK_DISCARD && d->no_punch) {
		s->op = SLOT_PRESET;	/* a hint the file system can't take */
		s->preset = 0;
	} else if (rq->op == DISK_WRITE_ZEROES) {
		s->zstep = zero_first(d, s->unmap);
	}
	slot_prep(s, sqe);
	return 0;
}

int disk_submit(struct disk *d, const struct disk_req *rq)
{
	switch (rq->op) {
	case DISK_WRITE:
		if (d->readonly)
			return -EROFS;
		return submit_rw(d, rq);
	case DISK_READ:
		return submit_rw(d, rq);
	case DISK_FLUSH:
	case DISK_DISCARD:
	case DISK_WRITE_ZEROES:
		return submit_other(d, rq);
	}
	return -EINVAL;
}

int disk_kick(struct disk *d)
{
	int r;

	if (io_uring_sq_ready(&d->ring) == 0)
		return 0;
	do
		r = io_uring_submit(&d->ring);
	while (r == -EINTR);
	return r < 0 ? r : 0;
}

int disk_event_fd(const struct disk *d)
{
	return d->efd;
}

unsigned disk_inflight(const struct disk *d)
{
	return d->inflight;
}

static void iov_advance(struct iovec **iov, unsigned *cnt, size_t n)
{
	while (n > 0 && *cnt > 0) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (char *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
}

/* Queue the next piece of (s); false if there is no room, which can't happen (see
 * get_sqe), with (*result) set to an error. */
static bool resubmit(struct disk *d, struct disk_slot *s, int64_t *result)
{
	struct io_uring_sqe *sqe = get_sqe(d);

	if (sqe == NULL) {
		*result = -EIO;
		return false;
	}
	slot_prep(s, sqe);
	return true;
}

/* Handle one CQE result for (s): true if (s) continues (resubmitted), else false with the
 * request's final (*result). */
static bool slot_done(struct disk *d, struct disk_slot *s, int res, int64_t *result)
{
	*result = res < 0 ? res : 0;
	switch (s->op) {
	case DISK_READ:
	case DISK_WRITE:
		if (res <= 0) {
			*result = res < 0 ? res : -EIO;	/* 0: the file shrank under us */
			return false;
		}
		if ((uint64_t)res < s->remaining) {
			/* Short transfer (signal, or more than the kernel's 2 GiB per call):
			 * carry on from where it stopped. */
			iov_advance(&s->sub, &s->subcnt, (size_t)res);
			s->offset += (uint64_t)res;
			s->remaining -= (uint64_t)res;
			return resubmit(d, s, result);
		}
		if (s->op == DISK_READ && s->bounce) {
			const char *p = s->bounce;

			for (unsigned i = 0; i < s->iovcnt; i++) {
				memcpy(s->iov[i].iov_base, p, s->iov[i].iov_len);
				p += s->iov[i].iov_len;
			}
		}
		*result = (int64_t)s->total;
		return false;
	case DISK_DISCARD:
		if (res == -EOPNOTSUPP) {
			d->no_punch = true;
			*result = 0;
		}
		return false;
	case DISK_WRITE_ZEROES:
		if (res == -EOPNOTSUPP && s->zstep != ZERO_WRITE) {
			if (s->zstep == ZERO_PUNCH)
				d->no_punch = true;
			else
				d->no_zero_range = true;
			s->zstep = zero_first(d, s->unmap);
			return resubmit(d, s, result);
		}
		if (res < 0 || s->zstep != ZERO_WRITE)
			return false;
		if (res == 0) {
			*result = -EIO;
			return false;
		}
		s->offset += (uint64_t)res;
		s->remaining -= (uint64_t)res;
		return s->remaining > 0 && resubmit(d, s, result);
	case DISK_FLUSH:
		return false;
	default:	/* SLOT_PRESET */
		*result = s->preset;
		return false;
	}
}

static void drop_completion(void *cookie, int64_t result, void *arg)
{
	(void)cookie;
	(void)result;
	(void)arg;
}

void disk_complete(struct disk *d, disk_cb cb, void *arg)
{
	bool more = false;
	unsigned budget;
	uint64_t v;

	/* Clear the eventfd before looking: a CQE posted after this read signals it again. */
	if (read(d->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: no signal pending; look anyway. */
	}
	/* Only what is there now: callbacks that submit more can't keep us here forever. */
	budget = io_uring_cq_ready(&d->ring);
	while (budget-- > 0) {
		struct io_uring_cqe *cqe;
		struct disk_slot *s;
		int64_t result;
		void *cookie;
		int res;

		if (io_uring_peek_cqe(&d->ring, &cqe) != 0)
			break;
		s = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		/* Seen before the callback, which may submit and see completions itself. */
		io_uring_cqe_seen(&d->ring, cqe);
		if (slot_done(d, s, res, &result)) {
			more = true;
			continue;
		}
		cookie = s->cookie;
		slot_put(d, s);
		cb(cookie, result, arg);
	}
	if (more)
		disk_kick(d);
}

void disk_drain(struct disk *d, disk_cb cb, void *arg)
{
	while (d->inflight > 0) {
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait(&d->ring, 1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;	/* the ring is unusable: disk_close still waits in the kernel */
		if (io_uring_peek_cqe(&d->ring, &cqe) != 0)
			continue;
		/* disk_complete continues short transfers itself and resubmits them. */
		disk_complete(d, cb ? cb : drop_completion, arg);
	}
}
