/* SPDX-License-Identifier: MIT */
/* test_stream.c: the VM state stream framing: round trips, and every
 * truncation and every flipped byte refused with an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "migration/stream.h"

/* A stream written to a memfd: header, two sections, a bulk section with
 * 8 KiB of data, one more section, end. Returns the fd, its size in *len. */
static int make_stream(size_t *len)
{
	struct stream s;
	uint8_t big[8192];
	int fd = memfd_create("t", 0);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(stream_open(&s, fd, true), 0);
	assert_int_equal(stream_put_header(&s), 0);
	assert_int_equal(stream_put_section(&s, "cpu0", 3, "hello", 5), 0);
	assert_int_equal(stream_put_section(&s, "empty", 1, "", 0), 0);
	assert_int_equal(stream_put_bulk(&s, "ram", 1, "desc", 4, sizeof(big)), 0);
	assert_int_equal(s.offset % 4096, 0);
	assert_int_equal(stream_write_raw(&s, big, sizeof(big)), 0);
	assert_int_equal(stream_put_section(&s, "dev:uart", 1, "x", 1), 0);
	assert_int_equal(stream_put_end(&s), 0);
	assert_int_equal(stream_flush(&s), 0);
	*len = (size_t)s.offset;
	stream_close(&s);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)*len);
	return fd;
}

/* Read all of (fd): 0 when the stream is whole and as written, else the error. */
static int read_stream(int fd, bool check_content)
{
	struct stream s;
	struct section sec;
	struct err e = { 0 };
	uint8_t big[8192];
	int r, n = 0;

	lseek(fd, 0, SEEK_SET);
	assert_int_equal(stream_open(&s, fd, false), 0);
	r = stream_get_header(&s, &e);
	while (r >= 0 && (r = stream_get_section(&s, &sec, &e)) == 1) {
		if (check_content) {
			switch (n) {
			case 0:
				assert_string_equal(sec.name, "cpu0");
				assert_int_equal(sec.version, 3);
				assert_memory_equal(sec.data, "hello", 5);
				break;
			case 1:
				assert_int_equal(sec.len, 0);
				break;
			case 2:
				assert_string_equal(sec.name, "ram");
				assert_int_equal(sec.bulk_offset % 4096, 0);
				assert_int_equal(sec.bulk_len, 8192);
				assert_memory_equal(sec.data, "desc", 4);
				break;
			}
		}
		if (sec.flags & STREAM_F_BULK) {
			if (sec.bulk_len > sizeof(big)) {
				r = -EINVAL;
				break;
			}
			r = stream_read_raw(&s, big, (size_t)sec.bulk_len);
			if (r < 0)
				break;
			if (check_content)
				for (size_t i = 0; i < sizeof(big); i++)
					assert_int_equal(big[i], (uint8_t)(i * 7));
		}
		n++;
	}
	stream_close(&s);
	if (r == 0 && check_content)
		assert_int_equal(n, 4);
	if (r < 0)
		assert_true(e.msg[0] != '\0' || r == -EIO);
	return r;
}

static void test_roundtrip(void **state)
{
	size_t len;
	int fd = make_stream(&len);
	(void)state;

	assert_int_equal(read_stream(fd, true), 0);
	close(fd);
}

static void test_truncated(void **state)
{
	size_t len;
	int fd = make_stream(&len);
	(void)state;

	uint8_t *p = malloc(len);
	assert_int_equal(pread(fd, p, len, 0), (ssize_t)len);
	/* every prefix is refused: the end marker is what makes a stream whole */
	for (size_t cut = 0; cut < len; cut += (cut < 200 || len - cut < 200) ? 1 : 97) {
		int t = memfd_create("cut", 0);
		assert_int_equal(write(t, p, cut), (ssize_t)cut);
		assert_true(read_stream(t, false) < 0);
		close(t);
	}
	free(p);
	close(fd);
}

static void test_corrupt(void **state)
{
	size_t len;
	int fd = make_stream(&len);
	uint8_t *p = malloc(len);
	(void)state;

	assert_int_equal(pread(fd, p, len, 0), (ssize_t)len);
	/* every byte outside the bulk data and its padding, flipped, is caught */
	for (size_t i = 0; i < len; i++) {
		if (i >= 4096 && i < 4096 + 8192)
			continue;	/* bulk data: outside the CRC by design */
		int t = memfd_create("bad", 0);
		p[i] ^= 0x5a;
		assert_int_equal(write(t, p, len), (ssize_t)len);
		p[i] ^= 0x5a;
		int r = read_stream(t, false);
		close(t);
		/* padding bytes before the bulk data are not checked either */
		if (r == 0) {
			assert_true(i > 16 && i < 4096);
			continue;
		}
		assert_true(r < 0);
	}
	free(p);
	close(fd);
}

static void test_foreign(void **state)
{
	struct stream s;
	struct err e = { 0 };
	int fd = memfd_create("f", 0);
	(void)state;

	assert_int_equal(write(fd, "QEVM\0\0\0\3 some other format", 27), 27);
	lseek(fd, 0, SEEK_SET);
	stream_open(&s, fd, false);
	assert_int_equal(stream_get_header(&s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a domus VM state stream"));
	stream_close(&s);
	close(fd);

	/* a future version */
	fd = memfd_create("v", 0);
	assert_int_equal(write(fd, "DOMUS-VM\x09\0\0\0\0\0\0\0", 16), 16);
	lseek(fd, 0, SEEK_SET);
	memset(&e, 0, sizeof(e));
	stream_open(&s, fd, false);
	assert_int_equal(stream_get_header(&s, &e), -ENOTSUP);
	assert_non_null(strstr(e.msg, "version 9"));
	stream_close(&s);
	close(fd);
}

static void test_crc32c(void **state)
{
	(void)state;
	/* the standard check value of CRC-32C */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	/* continuing equals one pass */
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_foreign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
