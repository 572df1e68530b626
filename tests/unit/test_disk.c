/* SPDX-License-Identifier: MIT */
/* test_disk.c: disk backends on temporary files: creation, refusals, locks, duplicates, and
 * I/O through the io_uring engine (plus a loop device when run as root). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "backends/disk/disk.h"
#include "backends/disk/disk_int.h"	/* to look at the fd and fallback flags */
#include "common/err.h"

#define MIB (1ULL << 20)

static char dir[512];		/* a fresh directory under $TMPDIR */
static char ddir[512];		/* one under /var/tmp (or the build dir) for O_DIRECT */

static const char *in(const char *base, const char *name)
{
	static char buf[4][1024];
	static unsigned k;
	char *p = buf[k++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", base, name);
	return p;
}

static struct disk_opts opts(const char *path)
{
	struct disk_opts o;

	memset(&o, 0, sizeof(o));
	snprintf(o.path, sizeof(o.path), "%s", path);
	return o;
}

/* Open, expecting success. */
static struct disk *open_ok(const struct disk_opts *o)
{
	struct err e = { 0 };
	struct disk *d = NULL;

	if (disk_open(o, NULL, 0, &d, &e) != 0)
		fail_msg("disk_open %s: %s", o->path, e.msg);
	assert_non_null(d);
	return d;
}

/* Open, expecting -(code) and a message containing (needle). */
static void open_bad(const struct disk_opts *o, struct disk *const *opened, unsigned n,
		     int code, const char *needle)
{
	struct err e = { 0 };
	struct disk *d = (struct disk *)1;
	int r = disk_open(o, opened, n, &d, &e);

	if (r != -code || strstr(e.msg, needle) == NULL)
		fail_msg("disk_open %s: %d '%s', expected %d '...%s...'", o->path, r, e.msg,
			 -code, needle);
	assert_null(d);
	assert_null(strchr(e.msg, '\n'));
}

static void make_file(const char *path, uint64_t size, int fill)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	char buf[65536];

	assert_true(fd >= 0);
	memset(buf, fill, sizeof(buf));
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static uint64_t file_hash(const char *path)
{
	uint64_t h = 1469598103934665603ULL;
	unsigned char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
	close(fd);
	return h;
}

static uint64_t blocks_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks;
}

/* Completions, recorded by cookie (an index into results). */
#define MAXREQ 1024
static int64_t results[MAXREQ];
static unsigned ndone;

static void record(void *cookie, int64_t result, void *arg)
{
	(void)arg;
	results[(uintptr_t)cookie] = result;
	ndone++;
}

/* Kick and wait until (n) completions have arrived, the way an event loop would. */
static void run(struct disk *d, unsigned n)
{
	assert_int_equal(disk_kick(d), 0);
	while (ndone < n) {
		struct pollfd p = { .fd = disk_event_fd(d), .events = POLLIN };

		assert_int_equal(poll(&p, 1, 10000), 1);
		disk_complete(d, record, NULL);
	}
	assert_int_equal(ndone, n);
	assert_int_equal(disk_inflight(d), 0);
}

static void reset_results(void)
{
	for (unsigned i = 0; i < MAXREQ; i++)
		results[i] = INT64_MIN;
	ndone = 0;
}

/* One request, waited for; returns its result. */
static int64_t do_req(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len,
		      unsigned flags)
{
	struct iovec v = { buf, len };
	struct disk_req rq = { .op = op, .flags = flags, .offset = off, .iov = &v, .iovcnt = 1,
			       .len = len, .cookie = (void *)0 };
	int r;

	reset_results();
	r = disk_submit(d, &rq);
	if (r < 0)
		return r;
	run(d, 1);
	return results[0];
}

static bool is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/domus-test-disk-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	/* lets the unprivileged child of test_unreadable in */
	chmod(dir, 0755);
	snprintf(ddir, sizeof(ddir), "/var/tmp/domus-test-disk-XXXXXX");
	if (mkdtemp(ddir) == NULL)
		snprintf(ddir, sizeof(ddir), "%s", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (strcmp(ddir, dir) != 0)
		nftw(ddir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static unsigned entries_in(const char *path)
{
	char cmd[1100];
	FILE *f;
	unsigned n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	pclose(f);
	return n;
}

static void test_create_sparse(void **state)
{
	struct disk_opts o = opts(in(dir, "new.img"));
	struct stat st;
	struct disk *d;

	(void)state;
	o.size_given = true;
	o.size = 1ULL << 30;
	d = open_ok(&o);
	assert_int_equal(stat(o.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_true((uint64_t)st.st_size == 1ULL << 30);
	assert_true(st.st_blocks <= 64);	/* sparse: nothing allocated */
	assert_true(disk_size(d) == 1ULL << 30);
	assert_int_equal(disk_block_size(d), 512);
	assert_false(disk_readonly(d));
	assert_true(disk_can_discard(d));
	assert_false(disk_is_blkdev(d));
	assert_string_equal(disk_path(d), o.path);
	disk_close(d);
	/* no temporary left behind */
	assert_int_equal(entries_in(dir), 1);

	/* opened again with the same size=: fine, and not modified */
	d = open_ok(&o);
	disk_close(d);
	/* with another size: refused, not resized */
	o.size = 2ULL << 30;
	open_bad(&o, NULL, 0, EINVAL, "its size is 1073741824 bytes, not the 2147483648 of size=");
	assert_int_equal(stat(o.path, &st), 0);
	assert_true((uint64_t)st.st_size == 1ULL << 30);
	unlink(o.path);
}

static void test_create_failures(void **state)
{
	struct disk_opts o = opts(in(dir, "huge.img"));

	(void)state;
	/* ext4 and tmpfs cap files far below 2^63 - 512: ftruncate fails, nothing remains */
	o.size_given = true;
	o.size = (uint64_t)INT64_MAX & ~511ULL;
	open_bad(&o, NULL, 0, EFBIG, "is too large for this file system");
	assert_int_equal(access(o.path, F_OK), -1);
	assert_int_equal(entries_in(dir), 0);

	o = opts(in(dir, "no/such/dir.img"));
	o.size_given = true;
	o.size = MIB;
	open_bad(&o, NULL, 0, ENOENT, "cannot create it: No such file or directory");

	/* a dangling symlink is not followed to create its target */
	assert_int_equal(symlink(in(dir, "target.img"), in(dir, "dangling")), 0);
	o = opts(in(dir, "dangling"));
	o.size_given = true;
	o.size = MIB;
	open_bad(&o, NULL, 0, ENOENT, "a dangling symbolic link");
	assert_int_equal(access(in(dir, "target.img"), F_OK), -1);
	unlink(in(dir, "dangling"));
}

static void test_refusals(void **state)
{
	struct disk_opts o;

	(void)state;
	o = opts(in(dir, "missing.img"));
	open_bad(&o, NULL, 0, ENOENT,
		 "missing.img: No such file or directory (give size= to create it)");
	o.readonly = true;
	o.size_given = true;
	o.size = MIB;
	open_bad(&o, NULL, 0, ENOENT, "a read-only disk is not created");
	assert_int_equal(access(o.path, F_OK), -1);

	o = opts(dir);
	open_bad(&o, NULL, 0, EISDIR, "is a directory");

	o = opts("/dev/null");
	open_bad(&o, NULL, 0, EINVAL, "is a character device");

	assert_int_equal(mkfifo(in(dir, "fifo"), 0600), 0);
	o = opts(in(dir, "fifo"));
	open_bad(&o, NULL, 0, EINVAL, "is a FIFO");
	unlink(o.path);

	make_file(in(dir, "odd.img"), 1000, 0);
	o = opts(in(dir, "odd.img"));
	open_bad(&o, NULL, 0, EINVAL, "its size (1000 bytes) is not a multiple of the 512-byte");
	make_file(in(dir, "empty.img"), 0, 0);
	o = opts(in(dir, "empty.img"));
	open_bad(&o, NULL, 0, EINVAL, "is empty");
	unlink(in(dir, "odd.img"));
	unlink(in(dir, "empty.img"));
}

/* Run (fn) as nobody in a child; returns its exit status. */
static int as_nobody(void (*fn)(int wfd), char *msg, size_t msg_size)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(99);
		fn(p[1]);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, msg_size - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void try_open_rw(int wfd)
{
	struct disk_opts o = opts(in(dir, "mode0.img"));
	struct err e = { 0 };
	struct disk *d;

	if (disk_open(&o, NULL, 0, &d, &e) == 0)
		_exit(1);
	(void)!write(wfd, e.msg, strlen(e.msg));
}

static void try_open_ro_file_rw(int wfd)
{
	struct disk_opts o = opts(in(dir, "mode444.img"));
	struct err e = { 0 };
	struct disk *d;

	if (disk_open(&o, NULL, 0, &d, &e) == 0)
		_exit(1);
	(void)!write(wfd, e.msg, strlen(e.msg));
	/* read-only works */
	o.readonly = true;
	if (disk_open(&o, NULL, 0, &d, &e) != 0)
		_exit(2);
	disk_close(d);
}

static void test_unreadable(void **state)
{
	char msg[600];

	(void)state;
	make_file(in(dir, "mode0.img"), MIB, 0);
	make_file(in(dir, "mode444.img"), MIB, 0);
	chmod(in(dir, "mode0.img"), 0);
	chmod(in(dir, "mode444.img"), 0444);
	if (geteuid() == 0) {
		/* root ignores modes: test as nobody */
		assert_int_equal(as_nobody(try_open_rw, msg, sizeof(msg)), 0);
		assert_non_null(strstr(msg, "mode0.img: no permission to read it"));
		assert_int_equal(as_nobody(try_open_ro_file_rw, msg, sizeof(msg)), 0);
		assert_non_null(strstr(msg, "mode444.img: no permission to write it (add "
					    ",readonly"));
	} else {
		struct disk_opts o = opts(in(dir, "mode0.img"));
		struct disk *d;

		open_bad(&o, NULL, 0, EACCES, "no permission to read it");
		o = opts(in(dir, "mode444.img"));
		open_bad(&o, NULL, 0, EACCES, "no permission to write it");
		o.readonly = true;
		d = open_ok(&o);
		disk_close(d);
	}
	unlink(in(dir, "mode0.img"));
	unlink(in(dir, "mode444.img"));
}

static void test_readonly(void **state)
{
	struct disk_opts o = opts(in(dir, "ro.img"));
	char buf[4096], zero[4096] = { 0 };
	uint64_t h;
	struct stat st0, st1;
	struct disk *d;
	int fl;

	(void)state;
	make_file(o.path, 4 * MIB, 0x5a);
	h = file_hash(o.path);
	assert_int_equal(stat(o.path, &st0), 0);
	o.readonly = true;
	d = open_ok(&o);
	assert_true(disk_readonly(d));
	assert_false(disk_can_discard(d));
	/* never even opened for writing */
	fl = fcntl(d->fd, F_GETFL);
	assert_int_equal(fl & O_ACCMODE, O_RDONLY);

	struct iovec v = { zero, sizeof(zero) };
	struct disk_req w = { .op = DISK_WRITE, .offset = 0, .iov = &v, .iovcnt = 1 };
	assert_int_equal(disk_submit(d, &w), -EROFS);
	w.op = DISK_DISCARD;
	w.len = 4096;
	assert_int_equal(disk_submit(d, &w), -EROFS);
	w.op = DISK_WRITE_ZEROES;
	assert_int_equal(disk_submit(d, &w), -EROFS);
	assert_int_equal(disk_inflight(d), 0);
	assert_int_equal(do_req(d, DISK_FLUSH, 0, NULL, 0, 0), 0);
	assert_int_equal(do_req(d, DISK_READ, 4096, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(buf[0], 0x5a);
	disk_close(d);
	assert_true(file_hash(o.path) == h);
	assert_int_equal(stat(o.path, &st1), 0);
	assert_true(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
		    st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
	unlink(o.path);
}

static unsigned char pattern(uint64_t off)
{
	return (unsigned char)((off * 7 + (off >> 12)) ^ 0xa5);
}

static void test_roundtrip(void **state)
{
	struct disk_opts o = opts(in(dir, "rw.img"));
	enum { NREQ = 200, NSEG = 16, SEG = 4096, REQ = NSEG * SEG };
	static unsigned char wbuf[NREQ][NSEG][SEG + 64], rbuf[NREQ * REQ];
	struct iovec iov[NSEG];
	struct disk *d;

	(void)state;
	o.size_given = true;
	o.size = 64 * MIB;
	d = open_ok(&o);
	reset_results();
	/* many requests in flight, each with many discontiguous segments (more than the
	 * inline ones), all in one kick; the iovec array is reused at once */
	for (unsigned r = 0; r < NREQ; r++) {
		uint64_t off = (uint64_t)r * REQ;

		for (unsigned s = 0; s < NSEG; s++) {
			unsigned char *p = wbuf[r][s] + (s % 2) * 64;

			for (unsigned i = 0; i < SEG; i++)
				p[i] = pattern(off + s * SEG + i);
			iov[s] = (struct iovec){ p, SEG };
		}
		struct disk_req rq = { .op = DISK_WRITE, .offset = off, .iov = iov,
				       .iovcnt = NSEG, .cookie = (void *)(uintptr_t)r };
		assert_int_equal(disk_submit(d, &rq), 0);
		memset(iov, 0xff, sizeof(iov));
	}
	assert_int_equal(disk_inflight(d), NREQ);
	run(d, NREQ);
	for (unsigned r = 0; r < NREQ; r++)
		assert_int_equal(results[r], REQ);

	/* read back in other pieces: 3 segments per request, some adjacent (merged) */
	reset_results();
	for (unsigned r = 0; r < NREQ; r++) {
		unsigned char *p = rbuf + (size_t)r * REQ;
		struct iovec v[3] = { { p, 512 }, { p + 512, REQ / 2 - 512 },
				      { p + REQ / 2, REQ / 2 } };
		struct disk_req rq = { .op = DISK_READ, .offset = (uint64_t)r * REQ, .iov = v,
				       .iovcnt = 3, .cookie = (void *)(uintptr_t)r };

		assert_int_equal(disk_submit(d, &rq), 0);
	}
	run(d, NREQ);
	for (unsigned r = 0; r < NREQ; r++)
		assert_int_equal(results[r], REQ);
	for (size_t i = 0; i < sizeof(rbuf); i++)
		if (rbuf[i] != pattern(i))
			fail_msg("byte %zu: %#x, expected %#x", i, rbuf[i], pattern(i));

	/* flush */
	assert_int_equal(do_req(d, DISK_FLUSH, 0, NULL, 0, 0), 0);
	disk_close(d);
	unlink(o.path);
}

static void test_queue_full_and_ranges(void **state)
{
	struct disk_opts o = opts(in(dir, "q.img"));
	static char buf[DISK_QUEUE_DEPTH + 1][512];
	struct iovec v[DISK_QUEUE_DEPTH + 1];
	struct disk *d;

	(void)state;
	o.size_given = true;
	o.size = MIB;
	d = open_ok(&o);
	reset_results();
	for (unsigned i = 0; i <= DISK_QUEUE_DEPTH; i++) {
		v[i] = (struct iovec){ buf[i], 512 };
		struct disk_req rq = { .op = DISK_READ, .offset = i * 512ULL, .iov = &v[i],
				       .iovcnt = 1, .cookie = (void *)(uintptr_t)i };
		assert_int_equal(disk_submit(d, &rq), i < DISK_QUEUE_DEPTH ? 0 : -EAGAIN);
	}
	run(d, DISK_QUEUE_DEPTH);
	for (unsigned i = 0; i < DISK_QUEUE_DEPTH; i++)
		assert_int_equal(results[i], 512);

	/* out of range or malformed: refused before anything is queued */
	struct disk_req rq = { .op = DISK_READ, .offset = MIB - 256, .iov = v, .iovcnt = 1 };
	assert_int_equal(disk_submit(d, &rq), -EINVAL);	/* straddles the end */
	rq.offset = MIB;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);	/* at the end */
	rq.op = DISK_WRITE;
	rq.offset = UINT64_MAX - 100;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);	/* wraps */
	rq.offset = 0;
	rq.iovcnt = 0;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);
	rq.iovcnt = 1025;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);
	struct iovec huge[2] = { { buf[0], SIZE_MAX }, { buf[1], 2 } };
	rq.iov = huge;
	rq.iovcnt = 2;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);	/* length overflows */
	rq.op = DISK_DISCARD;
	rq.offset = MIB - 512;
	rq.len = 1024;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);
	rq.op = DISK_WRITE_ZEROES;
	rq.len = 0;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);
	rq.op = (enum disk_op)42;
	assert_int_equal(disk_submit(d, &rq), -EINVAL);
	assert_int_equal(disk_inflight(d), 0);
	disk_close(d);
	unlink(o.path);
}

static void test_discard_and_zeroes(void **state)
{
	struct disk_opts o = opts(in(dir, "dz.img"));
	static unsigned char data[4 * MIB], back[4 * MIB];
	uint64_t b0, b1, b2;
	struct disk *d;

	(void)state;
	o.size_given = true;
	o.size = 16 * MIB;
	d = open_ok(&o);
	memset(data, 0x77, sizeof(data));
	assert_int_equal(do_req(d, DISK_WRITE, 4 * MIB, data, sizeof(data), 0), sizeof(data));
	assert_int_equal(do_req(d, DISK_FLUSH, 0, NULL, 0, 0), 0);
	b0 = blocks_of(o.path);
	assert_true(b0 >= 4 * MIB / 512);

	/* discard punches a hole: fewer blocks, reads as zeros */
	assert_int_equal(do_req(d, DISK_DISCARD, 4 * MIB, NULL, 2 * MIB, 0), 0);
	b1 = blocks_of(o.path);
	assert_true(b1 <= b0 - 2 * MIB / 512);
	assert_int_equal(do_req(d, DISK_READ, 4 * MIB, back, 2 * MIB, 0), 2 * MIB);
	assert_true(is_zero(back, 2 * MIB));

	/* write zeroes without unmap: zeros, still allocated (ZERO_RANGE) */
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, 6 * MIB, NULL, MIB, 0), 0);
	assert_int_equal(do_req(d, DISK_READ, 6 * MIB, back, 2 * MIB, 0), 2 * MIB);
	assert_true(is_zero(back, MIB));
	assert_int_equal(back[MIB], 0x77);
	assert_false(d->no_zero_range);
	b2 = blocks_of(o.path);
	assert_true(b2 == b1);
	/* with unmap: punched */
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, 7 * MIB, NULL, MIB, DISK_REQ_UNMAP), 0);
	assert_int_equal(do_req(d, DISK_READ, 7 * MIB, back, MIB, 0), MIB);
	assert_true(is_zero(back, MIB));
	assert_true(blocks_of(o.path) <= b2 - MIB / 512);
	disk_close(d);
	unlink(o.path);
}

/* tmpfs has PUNCH_HOLE but not ZERO_RANGE: zeroing without unmap falls back to writing
 * zeros, in pieces (3 MiB > the 1 MiB zero buffer). */
static void test_zeroes_fallback(void **state)
{
	static unsigned char data[3 * MIB + 4096], back[3 * MIB + 4096];
	struct disk_opts o;
	struct statfs sf;
	struct disk *d;

	(void)state;
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != 0x01021994 /* TMPFS_MAGIC */) {
		printf("# skip: /dev/shm is not a tmpfs\n");
		return;
	}
	o = opts("");
	snprintf(o.path, sizeof(o.path), "/dev/shm/domus-test-disk-%d.img", (int)getpid());
	o.size_given = true;
	o.size = 8 * MIB;
	d = open_ok(&o);
	memset(data, 0x33, sizeof(data));
	assert_int_equal(do_req(d, DISK_WRITE, 0, data, sizeof(data), 0), sizeof(data));
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, 512, NULL, 3 * MIB, 0), 0);
	assert_true(d->no_zero_range);
	assert_int_equal(do_req(d, DISK_READ, 0, back, sizeof(back), 0), sizeof(back));
	assert_int_equal(back[0], 0x33);
	assert_true(is_zero(back + 512, 3 * MIB));
	assert_int_equal(back[3 * MIB + 512], 0x33);
	/* the next one goes straight to the fallback */
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, 0, NULL, 512, 0), 0);
	disk_close(d);
	unlink(o.path);
}

static void test_duplicates(void **state)
{
	struct disk_opts a = opts(in(dir, "dup.img")), b;
	struct disk *da, *db, *dc;
	struct err e = { 0 };

	(void)state;
	make_file(a.path, MIB, 0);
	assert_int_equal(link(a.path, in(dir, "dup-hard.img")), 0);
	assert_int_equal(symlink("dup.img", in(dir, "dup-sym.img")), 0);
	da = open_ok(&a);

	b = opts(in(dir, "dup-hard.img"));
	open_bad(&b, &da, 1, EINVAL, "dup-hard.img: the same file as disk ");
	b = opts(in(dir, "dup-sym.img"));
	open_bad(&b, &da, 1, EINVAL, "dup-sym.img: the same file as disk ");
	b.readonly = true;	/* read-only next to writable: still refused */
	open_bad(&b, &da, 1, EINVAL, "only read-only disks may share one");
	disk_close(da);

	/* two read-only views are fine */
	a.readonly = true;
	da = open_ok(&a);
	struct disk *ds[2] = { da, NULL };
	assert_int_equal(disk_open(&b, ds, 1, &db, &e), 0);
	ds[1] = db;
	assert_int_equal(disk_check_duplicates(ds, 2, &e), 0);
	/* where locks are missing, disk_check_duplicates still sees a writable pair */
	db->readonly = false;
	assert_int_equal(disk_check_duplicates(ds, 2, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "the same file as disk"));
	db->readonly = true;
	/* a different file is no duplicate */
	make_file(in(dir, "other.img"), MIB, 0);
	b = opts(in(dir, "other.img"));
	dc = open_ok(&b);
	ds[1] = dc;
	assert_int_equal(disk_check_duplicates(ds, 2, NULL), 0);
	disk_close(dc);
	disk_close(db);
	disk_close(da);
	unlink(in(dir, "other.img"));
	unlink(in(dir, "dup-sym.img"));
	unlink(in(dir, "dup-hard.img"));
	unlink(a.path);
}

static void test_locks(void **state)
{
	struct disk_opts o = opts(in(dir, "lock.img"));
	struct disk *d, *d2, *d3;
	int status;
	pid_t pid;

	(void)state;
	make_file(o.path, MIB, 0);
	d = open_ok(&o);
	/* another writer (an open outside of (opened), like another process) */
	open_bad(&o, NULL, 0, EBUSY, "lock.img: in use by another process");
	o.readonly = true;
	open_bad(&o, NULL, 0, EBUSY, "in use by another process (it holds a lock on it for "
		 "writing)");
	/* another process, for real */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err e = { 0 };
		struct disk *x;

		o.readonly = false;
		_exit(disk_open(&o, NULL, 0, &x, &e) == -EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	disk_close(d);

	/* readers share; a writer is then refused; closing releases */
	d2 = open_ok(&o);
	d3 = open_ok(&o);
	o.readonly = false;
	open_bad(&o, NULL, 0, EBUSY, "in use by another process");
	disk_close(d2);
	disk_close(d3);
	d = open_ok(&o);
	disk_close(d);
	unlink(o.path);
}

static void test_direct(void **state)
{
	struct disk_opts o = opts(in(ddir, "direct.img"));
	struct err e = { 0 };
	unsigned char *buf, *back;
	struct disk *d;
	unsigned bs;

	(void)state;
	o.size_given = true;
	o.size = 16 * MIB;
	o.direct = true;
	if (disk_open(&o, NULL, 0, &d, &e) < 0) {
		printf("# skip: O_DIRECT in %s: %s\n", ddir, e.msg);
		assert_non_null(strstr(e.msg, "direct"));
		return;
	}
	bs = disk_block_size(d);
	assert_true(bs >= 512 && (bs & (bs - 1)) == 0);
	printf("# O_DIRECT in %s: block size %u, memory alignment %u\n", ddir, bs, d->mem_align);
	assert_int_equal(fcntl(d->fd, F_GETFL) & O_DIRECT, O_DIRECT);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 2 * MIB), 0);
	assert_int_equal(posix_memalign((void **)&back, 4096, 8 * MIB), 0);
	for (size_t i = 0; i < 2 * MIB; i++)
		buf[i] = (unsigned char)(i * 13);

	/* aligned: straight through */
	assert_int_equal(do_req(d, DISK_WRITE, MIB, buf, MIB, 0), MIB);
	memset(back, 0, MIB);
	assert_int_equal(do_req(d, DISK_READ, MIB, back, MIB, 0), MIB);
	assert_memory_equal(buf, back, MIB);
	/* misaligned buffers: bounced, same result */
	assert_int_equal(do_req(d, DISK_WRITE, 4 * MIB, buf + 1, 64 * 1024, 0), 64 * 1024);
	memset(back, 0, MIB);
	assert_int_equal(do_req(d, DISK_READ, 4 * MIB, back + 3, 64 * 1024, 0), 64 * 1024);
	assert_memory_equal(buf + 1, back + 3, 64 * 1024);
	/* misaligned offset or length: refused */
	assert_int_equal(do_req(d, DISK_READ, bs / 2, back, bs, 0), -EINVAL);
	assert_int_equal(do_req(d, DISK_READ, 0, back, bs + bs / 2, 0), -EINVAL);
	/* bounced up to 4 MiB; beyond, a misaligned request is refused */
	assert_int_equal(do_req(d, DISK_READ, 0, back + 1, 2 * MIB, 0), 2 * MIB);
	assert_int_equal(do_req(d, DISK_READ, 0, back + 1, 5 * MIB, 0), -EINVAL);
	assert_int_equal(do_req(d, DISK_FLUSH, 0, NULL, 0, 0), 0);
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, MIB, NULL, 4096, 0), 0);
	assert_int_equal(do_req(d, DISK_READ, MIB, back, 8192, 0), 8192);
	assert_true(is_zero(back, 4096));
	assert_memory_equal(back + 4096, buf + 4096, 4096);
	disk_close(d);
	free(buf);
	free(back);
	unlink(o.path);
}

static int sh(const char *cmd, char *out, size_t size)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	while (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	return pclose(f) == 0 ? 0 : -1;
}

static void test_blkdev(void **state)
{
	char cmd[1200], loop[64];
	const char *img = in(dir, "loop-backing.img");
	static unsigned char buf[MIB], back[MIB];
	struct disk_opts o;
	struct disk *d, *d2;
	uint64_t b0;

	(void)state;
	if (geteuid() != 0) {
		printf("# skip: the block device test needs root (losetup)\n");
		return;
	}
	make_file(img, 32 * MIB, 0x11);
	snprintf(cmd, sizeof(cmd), "losetup -f --show '%s' 2>/dev/null", img);
	if (sh(cmd, loop, sizeof(loop)) < 0 || loop[0] != '/') {
		printf("# skip: losetup failed (no loop devices here?)\n");
		unlink(img);
		return;
	}
	o = opts(loop);
	d = open_ok(&o);
	assert_true(disk_is_blkdev(d));
	assert_true(disk_size(d) == 32 * MIB);
	assert_int_equal(disk_block_size(d), 512);
	/* the device is claimed (O_EXCL): a second writer is refused */
	open_bad(&o, NULL, 0, EBUSY, "in use");
	open_bad(&o, &d, 1, EINVAL, "the same device as disk");

	memset(buf, 0x42, sizeof(buf));
	assert_int_equal(do_req(d, DISK_WRITE, MIB, buf, MIB, 0), MIB);
	assert_int_equal(do_req(d, DISK_FLUSH, 0, NULL, 0, 0), 0);
	assert_int_equal(do_req(d, DISK_READ, MIB, back, MIB, 0), MIB);
	assert_memory_equal(buf, back, MIB);
	/* a loop device over a file on ext4 or tmpfs discards by punching the file */
	if (disk_can_discard(d)) {
		b0 = blocks_of(img);
		assert_int_equal(do_req(d, DISK_DISCARD, 8 * MIB, NULL, 8 * MIB, 0), 0);
		assert_true(blocks_of(img) <= b0 - 8 * MIB / 512);
	} else {
		printf("# note: %s does not support discard\n", loop);
		assert_int_equal(do_req(d, DISK_DISCARD, 8 * MIB, NULL, 8 * MIB, 0),
				 -EOPNOTSUPP);
	}
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, MIB, NULL, 4096, 0), 0);
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, MIB + 4096, NULL, 4096, DISK_REQ_UNMAP), 0);
	assert_int_equal(do_req(d, DISK_READ, MIB, back, MIB, 0), MIB);
	assert_true(is_zero(back, 8192));
	assert_int_equal(back[8192], 0x42);
	/* discard and zeroing take whole blocks on a device */
	assert_int_equal(do_req(d, DISK_WRITE_ZEROES, 100, NULL, 512, 0), -EINVAL);
	disk_close(d);

	/* read-only opens share the device */
	o.readonly = true;
	d = open_ok(&o);
	d2 = open_ok(&o);
	assert_false(disk_can_discard(d));
	disk_close(d2);
	disk_close(d);

	snprintf(cmd, sizeof(cmd), "losetup -d '%s'", loop);
	assert_int_equal(system(cmd), 0);
	unlink(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_sparse),
		cmocka_unit_test(test_create_failures),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_queue_full_and_ranges),
		cmocka_unit_test(test_discard_and_zeroes),
		cmocka_unit_test(test_zeroes_fallback),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_direct),
		cmocka_unit_test(test_blkdev),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
