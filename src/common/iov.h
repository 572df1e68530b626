/* SPDX-License-Identifier: MIT */
/* iov.h: scatter lists: a byte range of one as another, and copies between a
 * scatter list and a flat buffer at an offset. Every function stops at the
 * end of the list, so a list shorter than asked for is never overrun. */
#ifndef DOMUS_IOV_H
#define DOMUS_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* iov_slice: (dst) = the bytes [skip, skip + len) of (src, cnt), or as many
 * of them as (src) holds. Returns the segments written: never more than cnt,
 * so (dst) needs room for cnt. */
unsigned iov_slice(const struct iovec *src, unsigned cnt, uint64_t skip, uint64_t len,
		   struct iovec *dst);

/* iov_to_buf: copy up to (len) bytes at byte (skip) of (src, cnt) into (dst);
 * returns the bytes copied. */
size_t iov_to_buf(const struct iovec *src, unsigned cnt, uint64_t skip, void *dst, size_t len);

/* iov_from_buf: copy up to (len) bytes of (src) to byte (skip) of (dst, cnt);
 * returns the bytes copied. */
size_t iov_from_buf(const struct iovec *dst, unsigned cnt, uint64_t skip, const void *src,
		    size_t len);

#endif
