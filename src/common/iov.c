/* SPDX-License-Identifier: MIT */
/* iov.c: scatter-list helpers shared by the virtio devices. */
#include "iov.h"

#include <string.h>

unsigned iov_slice(const struct iovec *src, unsigned cnt, uint64_t skip, uint64_t len,
		   struct iovec *dst)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len > 0; i++) {
		uint64_t l = src[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		dst[n].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[n].iov_len = l;
		n++;
		len -= l;
		skip = 0;
	}
	return n;
}

/* Copy between (iov, cnt) from byte (skip) and (buf), (len) bytes at most,
 * in the direction (to_buf) says. */
static size_t iov_copy(const struct iovec *iov, unsigned cnt, uint64_t skip, uint8_t *buf,
		       size_t len, int to_buf)
{
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
		l -= skip;
		if (l > len - done)
			l = len - done;
		if (to_buf)
			memcpy(buf + done, p, l);
		else
			memcpy(p, buf + done, l);
		done += l;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *src, unsigned cnt, uint64_t skip, void *dst, size_t len)
{
	return iov_copy(src, cnt, skip, dst, len, 1);
}

size_t iov_from_buf(const struct iovec *dst, unsigned cnt, uint64_t skip, const void *src,
		    size_t len)
{
	return iov_copy(dst, cnt, skip, (uint8_t *)src, len, 0);
}
