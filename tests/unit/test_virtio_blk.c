/* SPDX-License-Identifier: MIT */
/* test_virtio_blk.c: virtio-blk against a real disk backend (a temp file) and a
 * driver that writes rings into fake guest RAM: well-formed requests, and the
 * malformed ones a hostile guest sends. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/disk/disk.h"
#include "common/err.h"
#include "common/ev.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/virtio.h"
#include "vmm/gmem.h"

#define RAM_SIZE	(4u << 20)
#define DISK_SIZE	(1u << 20)
#define QSIZE		256

#define F_NEXT		1
#define F_WRITE		2

#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define T_DISCARD	11
#define T_WRITE_ZEROES	13

#define S_OK		0
#define S_IOERR		1
#define S_UNSUPP	2
#define S_UNTOUCHED	0xee

struct q {
	uint64_t desc, avail, used;
	uint16_t avail_idx, next_desc, used_seen;
};

struct t {
	uint8_t *ram;
	struct gmem mem;
	char path[64];
	struct disk *disk;
	struct ev_loop *loop;
	struct virtio_dev *vdev;
	struct q q[3];
	unsigned nq;
	uint64_t data;		/* next free buffer gpa */
	int signals, needs_reset;
};

static void on_signal(struct virtio_dev *vdev, unsigned q)
{
	struct t *t = vdev->transport;

	(void)q;
	t->signals++;
}

static void on_needs_reset(struct virtio_dev *vdev)
{
	struct t *t = vdev->transport;

	t->needs_reset++;
}

static uint64_t alloc_buf(struct t *t, uint64_t len)
{
	uint64_t gpa = t->data;

	t->data += (len + 63) & ~63ULL;
	assert_true(t->data <= RAM_SIZE);
	return gpa;
}

static void put16(struct t *t, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(t->ram + gpa, &v, 2);
}

static uint16_t get16(struct t *t, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, t->ram + gpa, 2);
	return le16toh(v);
}

static uint32_t get32(struct t *t, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, t->ram + gpa, 4);
	return le32toh(v);
}

static void set_desc(struct t *t, struct q *q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint64_t gpa = q->desc + 16 * (uint64_t)i;
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);

	memcpy(t->ram + gpa, &a, 8);
	memcpy(t->ram + gpa + 8, &l, 4);
	put16(t, gpa + 12, flags);
	put16(t, gpa + 14, next);
}

static void publish(struct t *t, struct q *q, uint16_t head)
{
	put16(t, q->avail + 4 + 2 * (uint64_t)(q->avail_idx % QSIZE), head);
	q->avail_idx++;
	put16(t, q->avail + 2, q->avail_idx);
}

/* A segment of a request: (len) bytes at (gpa), device-writable or not. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Queue a chain of (n) segments on queue (qi); returns its head. */
static uint16_t add_chain(struct t *t, unsigned qi, const struct seg *s, unsigned n)
{
	struct q *q = &t->q[qi];
	uint16_t head = q->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % QSIZE);
		uint16_t flags = (uint16_t)((s[i].write ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0));
		set_desc(t, q, d, s[i].gpa, s[i].len, flags, (uint16_t)((d + 1) % QSIZE));
	}
	q->next_desc = (uint16_t)((head + n) % QSIZE);
	publish(t, q, head);
	return head;
}

/* A header in guest RAM. */
static uint64_t hdr(struct t *t, uint32_t type, uint64_t sector)
{
	uint64_t gpa = alloc_buf(t, 16);
	uint32_t ty = htole32(type), zero = 0;
	uint64_t sec = htole64(sector);

	memcpy(t->ram + gpa, &ty, 4);
	memcpy(t->ram + gpa + 4, &zero, 4);
	memcpy(t->ram + gpa + 8, &sec, 8);
	return gpa;
}

static uint64_t status_byte(struct t *t)
{
	uint64_t gpa = alloc_buf(t, 1);

	t->ram[gpa] = S_UNTOUCHED;
	return gpa;
}

static void kick(struct t *t, unsigned qi)
{
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->queue_notify(t->vdev, qi);
	pthread_mutex_unlock(&t->vdev->lock);
}

/* Run the event loop until queue (qi) has returned (n) more chains. */
static void wait_used(struct t *t, unsigned qi, unsigned n)
{
	struct q *q = &t->q[qi];

	for (int tries = 0; tries < 500; tries++) {
		if ((uint16_t)(get16(t, q->used + 2) - q->used_seen) >= n)
			break;
		assert_true(ev_run_once(t->loop, 10) >= 0);
	}
	assert_int_equal((uint16_t)(get16(t, q->used + 2) - q->used_seen), n);
}

/* The used element for the (k)th chain returned since the last take. */
static uint32_t used_len(struct t *t, unsigned qi, unsigned k)
{
	struct q *q = &t->q[qi];

	return get32(t, q->used + 4 + 8 * (uint64_t)((q->used_seen + k) % QSIZE) + 4);
}

static void take(struct t *t, unsigned qi, unsigned n)
{
	t->q[qi].used_seen = (uint16_t)(t->q[qi].used_seen + n);
}

/* One request, start to end: returns the status byte, (*len) the used length. */
static uint8_t request(struct t *t, uint32_t type, uint64_t sector, uint64_t data_gpa,
		       uint32_t data_len, bool data_write, uint32_t *len)
{
	uint64_t st = status_byte(t);
	struct seg s[3] = { { hdr(t, type, sector), 16, false } };
	unsigned n = 1;

	if (data_len)
		s[n++] = (struct seg){ data_gpa, data_len, data_write };
	s[n++] = (struct seg){ st, 1, true };
	add_chain(t, 0, s, n);
	kick(t, 0);
	wait_used(t, 0, 1);
	if (len)
		*len = used_len(t, 0, 0);
	take(t, 0, 1);
	return t->ram[st];
}

static void setup_disk(struct t *t, bool readonly, const char *serial)
{
	struct disk_opts o = { .readonly = readonly };
	struct err err = { 0 };
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/test_virtio_blk.XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	snprintf(o.path, sizeof(o.path), "%s", t->path);
	snprintf(o.serial, sizeof(o.serial), "%s", serial);
	assert_int_equal(disk_open(&o, NULL, 0, &t->disk, &err), 0);
	t->loop = ev_loop_new();
	assert_non_null(t->loop);
	assert_int_equal(virtio_blk_create(t->disk, t->nq, t->loop, &t->vdev, &err), 0);
	t->vdev->transport = t;
	t->vdev->signal_queue = on_signal;
	t->vdev->signal_needs_reset = on_needs_reset;
	t->vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	for (unsigned i = 0; i < t->nq; i++) {
		struct q *q = &t->q[i];
		q->desc = 0x1000 + i * 0x8000;
		q->avail = q->desc + 16 * QSIZE;
		q->used = (q->avail + 6 + 2 * QSIZE + 3) & ~3ULL;
		assert_int_equal(vq_enable(&t->vdev->vqs[i], &t->mem, QSIZE, q->desc, q->avail,
					   q->used, 0), 0);
	}
}

static int setup_common(void **state, bool readonly, const char *serial, unsigned nq)
{
	struct t *t = calloc(1, sizeof(*t));

	t->nq = nq;

	t->ram = calloc(1, RAM_SIZE);
	t->mem.fd = -1;
	t->mem.size = RAM_SIZE;
	t->mem.base = t->ram;
	t->mem.regions[0] = (struct gmem_region){ .gpa = 0, .size = RAM_SIZE, .hva = t->ram };
	t->mem.nr_regions = 1;
	t->data = 0x20000;
	setup_disk(t, readonly, serial);
	*state = t;
	return 0;
}

static int setup_rw(void **state)
{
	return setup_common(state, false, "sn-42", 2);
}

static int setup_ro(void **state)
{
	return setup_common(state, true, "", 2);
}

static int setup_rw3(void **state)
{
	return setup_common(state, false, "", 3);
}

static int teardown(void **state)
{
	struct t *t = *state;

	t->vdev->ops->destroy(t->vdev);
	disk_close(t->disk);
	ev_loop_free(t->loop);
	unlink(t->path);
	free(t->ram);
	free(t);
	return 0;
}

static uint64_t config_u64(struct t *t, unsigned off)
{
	uint64_t v = 0;

	t->vdev->ops->config_read(t->vdev, off, &v, 8);
	return v;
}

static uint32_t config_u32(struct t *t, unsigned off)
{
	uint32_t v = 0;

	t->vdev->ops->config_read(t->vdev, off, &v, 4);
	return v;
}

static void test_config(void **state)
{
	struct t *t = *state;
	uint16_t nq = 0;

	assert_int_equal(config_u64(t, 0), DISK_SIZE / 512);	/* capacity */
	assert_int_equal(config_u32(t, 12), 1022);		/* seg_max */
	assert_int_equal(config_u32(t, 20), 512);		/* blk_size */
	t->vdev->ops->config_read(t->vdev, 34, &nq, 2);
	assert_int_equal(nq, 2);
	assert_true(t->vdev->host_features & (1ULL << 9));	/* FLUSH */
	assert_true(t->vdev->host_features & (1ULL << 12));	/* MQ */
	assert_true(t->vdev->host_features & (1ULL << 13));	/* DISCARD */
	assert_true(t->vdev->host_features & (1ULL << 14));	/* WRITE_ZEROES */
	assert_false(t->vdev->host_features & (1ULL << 5));	/* not RO */
}

static void test_write_read(void **state)
{
	struct t *t = *state;
	uint64_t w = alloc_buf(t, 4096), r = alloc_buf(t, 4096);
	uint8_t file[4096];
	uint32_t len;
	int fd;

	for (unsigned i = 0; i < 4096; i++)
		t->ram[w + i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(request(t, T_OUT, 8, w, 4096, false, &len), S_OK);
	assert_int_equal(len, 1);
	assert_int_equal(request(t, T_IN, 8, r, 4096, true, &len), S_OK);
	assert_int_equal(len, 4097);
	assert_memory_equal(t->ram + r, t->ram + w, 4096);
	/* it is in the file, at sector 8 */
	fd = open(t->path, O_RDONLY);
	assert_int_equal(pread(fd, file, sizeof(file), 8 * 512), 4096);
	close(fd);
	assert_memory_equal(file, t->ram + w, 4096);
	assert_int_equal(request(t, T_FLUSH, 0, 0, 0, false, &len), S_OK);
	assert_true(t->signals > 0);
}

/* The header and data split across descriptors in ways Linux never uses. */
static void test_split_header_and_data(void **state)
{
	struct t *t = *state;
	uint64_t h = hdr(t, T_OUT, 2), st = status_byte(t);
	uint64_t d1 = alloc_buf(t, 100), d2 = alloc_buf(t, 412);
	uint64_t r = alloc_buf(t, 512);
	struct seg s[] = {
		{ h, 10, false }, { h + 10, 6, false }, { d1, 100, false }, { d2, 412, false },
		{ st, 1, true },
	};

	memset(t->ram + d1, 0xa1, 100);
	memset(t->ram + d2, 0xb2, 412);
	add_chain(t, 0, s, 5);
	kick(t, 0);
	wait_used(t, 0, 1);
	take(t, 0, 1);
	assert_int_equal(t->ram[st], S_OK);
	assert_int_equal(request(t, T_IN, 2, r, 512, true, NULL), S_OK);
	assert_memory_equal(t->ram + r, t->ram + d1, 100);
	assert_memory_equal(t->ram + r + 100, t->ram + d2, 412);
}

static void test_get_id(void **state)
{
	struct t *t = *state;
	uint64_t id = alloc_buf(t, 20);
	uint32_t len;

	memset(t->ram + id, 0x55, 20);
	assert_int_equal(request(t, T_GET_ID, 0, id, 20, true, &len), S_OK);
	assert_int_equal(len, 21);
	assert_memory_equal(t->ram + id, "sn-42\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	/* a short buffer gets what fits */
	assert_int_equal(request(t, T_GET_ID, 0, id, 3, true, &len), S_OK);
	assert_int_equal(len, 4);
}

static void test_bad_ranges(void **state)
{
	struct t *t = *state;
	uint64_t b = alloc_buf(t, 4096);
	const uint64_t cap = DISK_SIZE / 512;

	assert_int_equal(request(t, T_IN, cap, b, 512, true, NULL), S_IOERR);
	assert_int_equal(request(t, T_IN, cap - 1, b, 1024, true, NULL), S_IOERR);
	assert_int_equal(request(t, T_OUT, UINT64_MAX / 512 + 1, b, 512, false, NULL), S_IOERR);
	assert_int_equal(request(t, T_OUT, UINT64_MAX, b, 512, false, NULL), S_IOERR);
	assert_int_equal(request(t, T_IN, 0, b, 100, true, NULL), S_IOERR);	/* not sectors */
	assert_int_equal(request(t, 99, 0, b, 512, true, NULL), S_UNSUPP);
	assert_int_equal(request(t, T_IN, cap - 1, b, 512, true, NULL), S_OK);	/* the last one */
	assert_int_equal(t->needs_reset, 0);
}

static void test_malformed_requests(void **state)
{
	struct t *t = *state;
	uint64_t st = status_byte(t), b = alloc_buf(t, 512);

	/* a header of 8 bytes: refused, with the status written */
	{
		struct seg s[] = { { hdr(t, T_IN, 0), 8, false }, { st, 1, true } };
		add_chain(t, 0, s, 2);
		kick(t, 0);
		wait_used(t, 0, 1);
		take(t, 0, 1);
		assert_int_equal(t->ram[st], S_IOERR);
	}
	/* no writable byte at all: returned untouched, the ring goes on */
	{
		struct seg s[] = { { hdr(t, T_IN, 0), 16, false }, { b, 512, false } };
		add_chain(t, 0, s, 2);
		kick(t, 0);
		wait_used(t, 0, 1);
		assert_int_equal(used_len(t, 0, 0), 0);
		take(t, 0, 1);
	}
	assert_int_equal(request(t, T_IN, 0, b, 512, true, NULL), S_OK);
	assert_int_equal(t->needs_reset, 0);
}

static void test_broken_ring(void **state)
{
	struct t *t = *state;
	struct q *q = &t->q[0];
	uint64_t h = hdr(t, T_IN, 0);

	/* a descriptor that points at itself */
	set_desc(t, q, 0, h, 16, F_NEXT, 0);
	publish(t, q, 0);
	kick(t, 0);
	assert_int_equal(t->needs_reset, 1);
	/* kicks after that do nothing more, and nothing crashes */
	kick(t, 0);
	assert_int_equal(get16(t, q->used + 2), 0);
}

static void test_discard_and_zeroes(void **state)
{
	struct t *t = *state;
	uint64_t w = alloc_buf(t, 65536), r = alloc_buf(t, 65536), range = alloc_buf(t, 32);
	struct stat before, after;
	uint64_t sec = htole64(128);
	uint32_t n = htole32(128), flags = 0;

	memset(t->ram + w, 0x5a, 65536);
	assert_int_equal(request(t, T_OUT, 128, w, 65536, false, NULL), S_OK);
	assert_int_equal(request(t, T_FLUSH, 0, 0, 0, false, NULL), S_OK);
	assert_int_equal(stat(t->path, &before), 0);

	memcpy(t->ram + range, &sec, 8);
	memcpy(t->ram + range + 8, &n, 4);
	memcpy(t->ram + range + 12, &flags, 4);
	assert_int_equal(request(t, T_DISCARD, 0, range, 16, false, NULL), S_OK);
	assert_int_equal(stat(t->path, &after), 0);
	assert_true(after.st_blocks < before.st_blocks);	/* the image stays sparse */
	assert_int_equal(request(t, T_IN, 128, r, 65536, true, NULL), S_OK);
	for (unsigned i = 0; i < 65536; i++)
		assert_int_equal(t->ram[r + i], 0);

	/* unmap on a discard, unknown flags, two ranges, zero sectors, beyond the end */
	flags = htole32(1);
	memcpy(t->ram + range + 12, &flags, 4);
	assert_int_equal(request(t, T_DISCARD, 0, range, 16, false, NULL), S_UNSUPP);
	flags = htole32(4);
	memcpy(t->ram + range + 12, &flags, 4);
	assert_int_equal(request(t, T_WRITE_ZEROES, 0, range, 16, false, NULL), S_UNSUPP);
	flags = 0;
	memcpy(t->ram + range + 12, &flags, 4);
	memcpy(t->ram + range + 16, t->ram + range, 16);
	assert_int_equal(request(t, T_DISCARD, 0, range, 32, false, NULL), S_IOERR);
	assert_int_equal(request(t, T_DISCARD, 0, range, 10, false, NULL), S_IOERR);
	n = 0;
	memcpy(t->ram + range + 8, &n, 4);
	assert_int_equal(request(t, T_DISCARD, 0, range, 16, false, NULL), S_IOERR);
	sec = htole64(DISK_SIZE / 512 - 1);
	n = htole32(2);
	memcpy(t->ram + range, &sec, 8);
	memcpy(t->ram + range + 8, &n, 4);
	assert_int_equal(request(t, T_WRITE_ZEROES, 0, range, 16, false, NULL), S_IOERR);

	/* write zeroes with unmap over written data reads back as zeros */
	assert_int_equal(request(t, T_OUT, 256, w, 4096, false, NULL), S_OK);
	sec = htole64(256);
	n = htole32(8);
	flags = htole32(1);
	memcpy(t->ram + range, &sec, 8);
	memcpy(t->ram + range + 8, &n, 4);
	memcpy(t->ram + range + 12, &flags, 4);
	assert_int_equal(request(t, T_WRITE_ZEROES, 0, range, 16, false, NULL), S_OK);
	memset(t->ram + r, 0xff, 4096);
	assert_int_equal(request(t, T_IN, 256, r, 4096, true, NULL), S_OK);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(t->ram[r + i], 0);
}

static void test_readonly(void **state)
{
	struct t *t = *state;
	uint64_t b = alloc_buf(t, 4096), id = alloc_buf(t, 20);
	struct stat before, after;

	assert_true(t->vdev->host_features & (1ULL << 5));	/* RO */
	assert_false(t->vdev->host_features & (1ULL << 13));
	assert_false(t->vdev->host_features & (1ULL << 14));
	assert_int_equal(stat(t->path, &before), 0);
	memset(t->ram + b, 0x77, 4096);
	assert_int_equal(request(t, T_OUT, 0, b, 4096, false, NULL), S_IOERR);
	assert_int_equal(request(t, T_WRITE_ZEROES, 0, b, 16, false, NULL), S_UNSUPP);
	assert_int_equal(request(t, T_DISCARD, 0, b, 16, false, NULL), S_UNSUPP);
	assert_int_equal(request(t, T_FLUSH, 0, 0, 0, false, NULL), S_OK);
	assert_int_equal(request(t, T_IN, 0, b, 4096, true, NULL), S_OK);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(t->ram[b + i], 0);
	assert_int_equal(stat(t->path, &after), 0);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	/* no serial: 20 zero bytes */
	memset(t->ram + id, 0x55, 20);
	assert_int_equal(request(t, T_GET_ID, 0, id, 20, true, NULL), S_OK);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(t->ram[id + i], 0);
}

/* Three queues of 128 requests and 256 ios: the device stops popping and
 * resumes as completions come back; every request is answered once. */
static void test_more_requests_than_ios(void **state)
{
	struct t *t = *state;
	uint64_t sts[3][QSIZE];
	struct virtio_blk_stats stats;

	for (unsigned qi = 0; qi < 3; qi++) {
		for (unsigned i = 0; i < QSIZE / 2; i++) {
			/* 2 descriptors per chain: QSIZE / 2 chains fill the table */
			uint64_t b = alloc_buf(t, 513);
			sts[qi][i] = b;	/* data and status in one writable buffer */
			t->ram[b + 512] = S_UNTOUCHED;
			struct seg s[] = { { hdr(t, T_IN, i), 16, false }, { b, 513, true } };
			add_chain(t, qi, s, 2);
		}
	}
	kick(t, 0);
	kick(t, 1);
	kick(t, 2);	/* no io left: stalls */
	assert_int_equal(disk_inflight(t->disk), DISK_QUEUE_DEPTH);
	wait_used(t, 0, QSIZE / 2);
	wait_used(t, 1, QSIZE / 2);
	wait_used(t, 2, QSIZE / 2);
	for (unsigned qi = 0; qi < 3; qi++)
		for (unsigned i = 0; i < QSIZE / 2; i++)
			assert_int_equal(t->ram[sts[qi][i] + 512], S_OK);
	virtio_blk_stats(t->vdev, &stats);
	assert_int_equal(stats.rd_req, 3 * QSIZE / 2);
	assert_int_equal(stats.errors, 0);
}

/* A reset with requests in flight waits for them and answers nobody. */
static void test_reset_drains(void **state)
{
	struct t *t = *state;
	uint64_t b = alloc_buf(t, 4096), st = status_byte(t);
	struct seg s[] = { { hdr(t, T_IN, 0), 16, false }, { b, 4096, true }, { st, 1, true } };

	add_chain(t, 0, s, 3);
	kick(t, 0);
	pthread_mutex_lock(&t->vdev->lock);
	t->vdev->ops->reset(t->vdev);
	pthread_mutex_unlock(&t->vdev->lock);
	assert_int_equal(disk_inflight(t->disk), 0);
	assert_int_equal(ev_run_once(t->loop, 50) >= 0, 1);
	assert_int_equal(get16(t, t->q[0].used + 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_write_read, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_split_header_and_data, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_get_id, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ranges, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_zeroes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_more_requests_than_ios, setup_rw3, teardown),
		cmocka_unit_test_setup_teardown(test_reset_drains, setup_rw, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
