/* SPDX-License-Identifier: MIT */
/* disk.c: opening disk backends: checks, creation of sparse images, locking, geometry. */
#include "disk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/err.h"

/* A sysfs attribute of the block device (devno): the device's own queue, or for a partition
 * its disk's ("../queue"). 0, or -errno when it cannot be read. */
static int sysfs_queue_u64(dev_t devno, const char *attr, uint64_t *out)
{
	static const char *const up[] = { "", "../" };
	char path[128], buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(up); i++) {
		unsigned long long v;
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%squeue/%s", major(devno),
			 minor(devno), up[i], attr);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (sscanf(buf, "%llu", &v) != 1)
			continue;
		*out = v;
		return 0;
	}
	return -ENOENT;
}

static bool is_pow2(uint64_t v)
{
	return v && (v & (v - 1)) == 0;
}

/* Write (path)'s directory into (dir). */
static void dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* Make an unnamed file in (dir): O_TMPFILE, or where the file system lacks it a file under a
 * temporary name written into (tmp). */
static int create_temp(const char *dir, char *tmp, size_t tmp_size)
{
	static unsigned counter;
	int fd;

	tmp[0] = '\0';
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd < 0 ? -errno : fd;
	for (int tries = 0; tries < 100; tries++) {
		snprintf(tmp, tmp_size, "%s/.domus-new-%d-%u", dir, (int)getpid(), counter++);
		fd = open(tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0666);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	tmp[0] = '\0';
	return -errno;
}

/* disk_create: create (path) as a sparse file of (size) bytes, atomically and never over an
 * existing file. Returns 0, -EEXIST without touching (err) if (path) exists (someone else
 * was quicker, or it is a dangling symlink), or another -errno with (err) set. */
static int disk_create(const char *path, uint64_t size, struct err *err)
{
	char dir[DISK_PATH_MAX], tmp[DISK_PATH_MAX + 64];
	int fd, dfd, r = 0;

	dir_of(path, dir, sizeof(dir));
	fd = create_temp(dir, tmp, sizeof(tmp));
	if (fd < 0)
		return err_setsys(err, -fd, "disk %s: cannot create it", path);
	if (ftruncate(fd, (off_t)size) < 0) {
		if (errno == EFBIG || errno == EINVAL)
			r = err_set(err, EFBIG, "disk %s: size %" PRIu64
				    " is too large for this file system", path, size);
		else
			r = err_setsys(err, errno, "disk %s: cannot create it", path);
		goto out;
	}
	/* The file's size must survive a crash once its name exists. */
	if (fsync(fd) < 0) {
		r = err_setsys(err, errno, "disk %s: cannot create it: fsync", path);
		goto out;
	}
	if (tmp[0] != '\0') {
		/* link(), unlike rename(), fails if the name exists: O_EXCL semantics. */
		if (link(tmp, path) < 0)
			r = -errno;
	} else {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
			r = -errno;
			/* Without /proc: needs CAP_DAC_READ_SEARCH, but try. */
			if (r == -ENOENT && linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
				r = 0;
		}
	}
	if (r == -EEXIST)
		goto out;
	if (r < 0) {
		r = err_setsys(err, -r, "disk %s: cannot create it", path);
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			r = err_setsys(err, errno, "disk %s: created, but fsync of %s failed", path,
				       dir);
		close(dfd);
	}
out:
	if (tmp[0] != '\0')
		unlink(tmp);
	close(fd);
	return r;
}

static int check_type(const char *path, const struct stat *st, struct err *err)
{
	if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode))
		return 0;
	if (S_ISDIR(st->st_mode))
		return err_set(err, EISDIR, "disk %s: is a directory", path);
	if (S_ISCHR(st->st_mode))
		return err_set(err, EINVAL,
			       "disk %s: is a character device (expected an image file or a block "
			       "device)", path);
	return err_set(err, EINVAL,
		       "disk %s: is a %s (expected an image file or a block device)", path,
		       S_ISFIFO(st->st_mode) ? "FIFO" : S_ISSOCK(st->st_mode) ? "socket" :
						"special file");
}

static bool same_identity(const struct disk *d, const struct stat *st)
{
	if (S_ISBLK(st->st_mode))
		return d->blkdev && d->rdev == st->st_rdev;
	return !d->blkdev && d->dev == st->st_dev && d->ino == st->st_ino;
}

/* Turn a failed open(2) into a message that says what to do. */
static int open_error(const char *path, int e, const struct disk_opts *o, struct err *err)
{
	switch (e) {
	case EACCES:
	case EPERM:
		if (faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) < 0)
			return err_set(err, e, "disk %s: no permission to read it", path);
		if (!o->readonly)
			return err_set(err, e, "disk %s: no permission to write it (add "
				       ",readonly to use it read-only)", path);
		break;
	case EROFS:
		return err_set(err, e, "disk %s: on a read-only file system (add ,readonly)", path);
	case EBUSY:
		return err_set(err, e,
			       "disk %s: in use (mounted, held by device-mapper or RAID, or opened "
			       "by another program)", path);
	case EINVAL:
		if (o->direct)
			return err_set(err, e,
				       "disk %s: the file system does not support direct I/O (drop "
				       ",direct)", path);
		break;
	}
	return err_setsys(err, e, "disk %s", path);
}

/* Take a whole-file OFD lock: shared for read-only, exclusive for writable. OFD locks belong
 * to the open file, conflict with POSIX locks of other processes too, and go with close. */
static int lock_disk(struct disk *d, struct err *err)
{
	struct flock fl = {
		.l_type = d->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};

	if (fcntl(d->fd, F_OFD_SETLK, &fl) == 0) {
		d->locked = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EACCES)
		return err_set(err, EBUSY, "disk %s: in use by another process (it holds a lock on "
			       "it%s)", d->path, d->readonly ? " for writing" : "");
	/* File systems without locks (NFS mounted nolock, some FUSE): go on unlocked. */
	if (errno == ENOLCK || errno == EOPNOTSUPP || errno == ENOSYS)
		return 0;
	return err_setsys(err, errno, "disk %s: lock", d->path);
}

/* The O_DIRECT alignments of (d->fd): file offsets/lengths and buffer addresses. */
static int direct_align(struct disk *d, const struct stat *st, unsigned *off_align,
			unsigned *mem_align, struct err *err)
{
	uint64_t lbs = 0;

#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_offset_align == 0)
			return err_set(err, EINVAL,
				       "disk %s: the file system does not support direct I/O (drop "
				       ",direct)", d->path);
		*off_align = stx.stx_dio_offset_align;
		*mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
		return 0;
	}
#endif
	/* Older kernels: the classic rule, everything aligned to the logical block size of
	 * the device underneath; 4096 covers every common device when we can't find it. */
	if (d->blkdev) {
		int v;

		if (ioctl(d->fd, BLKSSZGET, &v) == 0 && v > 0)
			lbs = (uint64_t)v;
	} else {
		sysfs_queue_u64(st->st_dev, "logical_block_size", &lbs);
	}
	if (!is_pow2(lbs) || lbs > 65536)
		lbs = 4096;
	*off_align = (unsigned)lbs;
	*mem_align = (unsigned)lbs;
	return 0;
}

/* Size, block size, discard. */
static int disk_geometry(struct disk *d, const struct stat *st, const struct disk_opts *o,
			 struct err *err)
{
	unsigned bs = DISK_SECTOR;
	int r;

	d->mem_align = 1;
	if (d->blkdev) {
		uint64_t v = 0;
		int lbs;

		if (ioctl(d->fd, BLKGETSIZE64, &v) < 0)
			return err_setsys(err, errno, "disk %s: BLKGETSIZE64", d->path);
		if (ioctl(d->fd, BLKSSZGET, &lbs) < 0)
			return err_setsys(err, errno, "disk %s: BLKSSZGET", d->path);
		if (lbs > 0 && is_pow2((unsigned)lbs))
			bs = (unsigned)lbs;
		d->size = v;
		v = 0;
		r = sysfs_queue_u64(st->st_rdev, "discard_max_bytes", &v);
		d->can_discard = !d->readonly && r == 0 && v > 0;
	} else {
		d->size = (uint64_t)st->st_size;
		/* Every Linux file system we care about punches holes; where one doesn't, a
		 * discard completes without effect (it is a hint). */
		d->can_discard = !d->readonly;
	}
	if (o->direct) {
		unsigned off_align = 0, mem_align = 0;

		r = direct_align(d, st, &off_align, &mem_align, err);
		if (r < 0)
			return r;
		if (!is_pow2(off_align) || off_align > 65536 || !is_pow2(mem_align))
			return err_set(err, EINVAL, "disk %s: unusable direct I/O alignment "
				       "%u/%u (drop ,direct)", d->path, off_align, mem_align);
		if (off_align > bs)
			bs = off_align;
		d->mem_align = mem_align;
	}
	d->block_size = bs;

	if (o->size_given && o->size != d->size)
		return err_set(err, EINVAL,
			       "disk %s: its size is %" PRIu64 " bytes, not the %" PRIu64
			       " of size= (resize it yourself, or drop size=)", d->path, d->size,
			       o->size);
	if (d->size == 0)
		return err_set(err, EINVAL, "disk %s: is empty", d->path);
	if (d->size % bs != 0)
		return err_set(err, EINVAL,
			       "disk %s: its size (%" PRIu64 " bytes) is not a multiple of the "
			       "%u-byte block size", d->path, d->size, bs);
	return 0;
}

int disk_open(const struct disk_opts *o, struct disk *const *opened, unsigned nopened,
	      struct disk **out, struct err *err)
{
	const char *path = o->path;
	struct disk *d = NULL;
	struct stat st, fst;
	bool created = false;
	int flags, r;

	*out = NULL;
	if (path[0] == '\0')
		return err_set(err, EINVAL, "disk: empty path");
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return err_setsys(err, errno, "disk %s", path);
		if (!o->size_given)
			return err_set(err, ENOENT, "disk %s: No such file or directory (give "
				       "size= to create it)", path);
		if (o->readonly)
			return err_set(err, ENOENT, "disk %s: No such file or directory (a "
				       "read-only disk is not created)", path);
		r = disk_create(path, o->size, err);
		if (r < 0 && r != -EEXIST)
			return r;
		created = r == 0;
		if (stat(path, &st) < 0) {
			if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
				return err_set(err, ENOENT, "disk %s: a dangling symbolic link",
					       path);
			return err_setsys(err, errno, "disk %s", path);
		}
	}
	r = check_type(path, &st, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < nopened; i++) {
		const struct disk *p = opened[i];

		if (p && same_identity(p, &st) && (!p->readonly || !o->readonly))
			return err_set(err, EINVAL,
				       "disk %s: the same %s as disk %s (only read-only disks may "
				       "share one)", path, S_ISBLK(st.st_mode) ? "device" : "file",
				       p->path);
	}

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return err_setsys(err, ENOMEM, "disk %s", path);
	d->fd = -1;
	d->efd = -1;
	d->readonly = o->readonly;
	d->direct = o->direct;
	memcpy(d->serial, o->serial, sizeof(d->serial));
	d->blkdev = S_ISBLK(st.st_mode);
	d->path = strdup(path);
	if (d->path == NULL) {
		r = err_setsys(err, ENOMEM, "disk %s", path);
		goto fail;
	}

	/* O_NONBLOCK so that a FIFO swapped in after stat() can't block us; cleared below
	 * because io_uring would pass it on to every request. O_EXCL on a block device claims
	 * it: the open fails if it is mounted or used by the kernel. */
	flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (o->direct)
		flags |= O_DIRECT;
	if (d->blkdev && !o->readonly && !o->unlocked && !o->shared)
		flags |= O_EXCL;
	d->fd = open(path, flags);
	if (d->fd < 0) {
		r = open_error(path, errno, o, err);
		goto fail;
	}
	if (fstat(d->fd, &fst) < 0) {
		r = err_setsys(err, errno, "disk %s", path);
		goto fail;
	}
	if (fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		r = err_set(err, EAGAIN, "disk %s: replaced while being opened", path);
		goto fail;
	}
	d->dev = fst.st_dev;
	d->ino = fst.st_ino;
	d->rdev = fst.st_rdev;
	if (fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		r = err_setsys(err, errno, "disk %s: fcntl", path);
		goto fail;
	}
	d->shared = o->shared;
	r = o->unlocked || o->shared ? 0 : lock_disk(d, err);
	if (r < 0)
		goto fail;
	r = disk_geometry(d, &fst, o, err);
	if (r < 0)
		goto fail;
	r = disk_ring_init(d, err);
	if (r < 0)
		goto fail;
	d->created = created;
	*out = d;
	return 0;
fail:
	disk_close(d);
	/* Refused after all: what we made for it goes (nothing else was touched). */
	if (created)
		unlink(path);
	return r;
}

int disk_check_duplicates(struct disk *const *disks, unsigned n, struct err *err)
{
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = i + 1; j < n; j++) {
			const struct disk *a = disks[i], *b = disks[j];
			bool same = a->blkdev ? b->blkdev && a->rdev == b->rdev
					      : !b->blkdev && a->dev == b->dev && a->ino == b->ino;

			if (same && (!a->readonly || !b->readonly))
				return err_set(err, EINVAL,
					       "disk %s: the same %s as disk %s (only read-only "
					       "disks may share one)", b->path,
					       a->blkdev ? "device" : "file", a->path);
		}
	}
	return 0;
}

void disk_unlock(struct disk *d)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (d && d->locked) {
		fcntl(d->fd, F_OFD_SETLK, &fl);
		d->locked = false;
	}
}

int disk_lock(struct disk *d, struct err *err)
{
	if (d == NULL || d->locked || d->shared)
		return 0;
	return lock_disk(d, err);
}

void disk_close(struct disk *d)
{
	if (d == NULL)
		return;
	disk_ring_exit(d);
	if (d->fd >= 0) {
		/* Explicitly: close() drops the lock only with the last reference to the open
		 * file, and a child that inherited it across fork (before exec) holds one. */
		if (d->locked) {
			struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

			fcntl(d->fd, F_OFD_SETLK, &fl);
		}
		close(d->fd);
	}
	free(d->path);
	free(d);
}

const char *disk_path(const struct disk *d)
{
	return d->path;
}

bool disk_created(const struct disk *d)
{
	return d->created;
}

const char *disk_serial(const struct disk *d)
{
	return d->serial;
}

uint64_t disk_size(const struct disk *d)
{
	return d->size;
}

unsigned disk_block_size(const struct disk *d)
{
	return d->block_size;
}

bool disk_readonly(const struct disk *d)
{
	return d->readonly;
}

bool disk_can_discard(const struct disk *d)
{
	return d->can_discard;
}

bool disk_is_blkdev(const struct disk *d)
{
	return d->blkdev;
}
