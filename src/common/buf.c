/* SPDX-License-Identifier: MIT */
/* buf.c: growable byte buffer and its bounds-checked reader. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_append(struct buf *b, const void *p, size_t len)
{
	if (b->failed || len == 0)
		return;
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2) {
				b->failed = true;
				return;
			}
			cap *= 2;
		}
		uint8_t *n = realloc(b->data, cap);
		if (n == NULL) {
			b->failed = true;
			return;
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_append(b, &v, 1);
}

void buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	buf_append(b, x, 2);
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	buf_put_u16(b, (uint16_t)v);
	buf_put_u16(b, (uint16_t)(v >> 16));
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	buf_put_u32(b, (uint32_t)v);
	buf_put_u32(b, (uint32_t)(v >> 32));
}

void buf_reader_init(struct buf_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

bool buf_get(struct buf_reader *r, void *out, size_t len)
{
	if (len > r->len - r->off)
		return false;
	memcpy(out, r->p + r->off, len);
	r->off += len;
	return true;
}

bool buf_get_u8(struct buf_reader *r, uint8_t *v)
{
	return buf_get(r, v, 1);
}

bool buf_get_u16(struct buf_reader *r, uint16_t *v)
{
	uint8_t x[2];
	if (!buf_get(r, x, 2))
		return false;
	*v = (uint16_t)(x[0] | x[1] << 8);
	return true;
}

bool buf_get_u32(struct buf_reader *r, uint32_t *v)
{
	uint16_t lo, hi;
	if (r->len - r->off < 4 || !buf_get_u16(r, &lo) || !buf_get_u16(r, &hi))
		return false;
	*v = (uint32_t)lo | (uint32_t)hi << 16;
	return true;
}

bool buf_get_u64(struct buf_reader *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (r->len - r->off < 8 || !buf_get_u32(r, &lo) || !buf_get_u32(r, &hi))
		return false;
	*v = (uint64_t)lo | (uint64_t)hi << 32;
	return true;
}
