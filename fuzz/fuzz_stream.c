/* SPDX-License-Identifier: MIT */
/* fuzz_stream.c: libFuzzer target: arbitrary bytes as a VM state stream (a
 * snapshot file or a migration stream). The reader must refuse or accept,
 * never crash, hang or read out of bounds. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "migration/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct stream s;
	struct section sec;
	struct err e = { 0 };
	int r;

	if (fd < 0)
		fd = memfd_create("fuzz", 0);
	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	lseek(fd, 0, SEEK_SET);
	if (stream_open(&s, fd, false) < 0)
		return 0;
	r = stream_get_header(&s, &e);
	while (r >= 0 && (r = stream_get_section(&s, &sec, &e)) == 1) {
		/* touch the payload so ASan sees any out-of-bounds view */
		uint8_t sum = 0;
		for (size_t i = 0; i < sec.len; i++)
			sum ^= sec.data[i];
		__asm__ __volatile__("" : : "r"(sum));
		if (sec.flags & STREAM_F_BULK)
			r = stream_skip(&s, sec.bulk_len);
	}
	if (r < 0 && r != -EIO && e.msg[0] == '\0')
		abort();	/* every refusal says why */
	stream_close(&s);
	return 0;
}
