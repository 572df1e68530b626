/* SPDX-License-Identifier: MIT */
/* buf.h: a growable byte buffer, used for device state (save/restore) and
 * building tables. Appends record allocation failure in (b->failed) so callers
 * check once at the end. */
#ifndef DOMUS_BUF_H
#define DOMUS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* buf_append: copy (len) bytes from (p); on allocation failure sets b->failed. */
void buf_append(struct buf *b, const void *p, size_t len);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);	/* little endian */
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);

/* A bounds-checked reader over saved state. get_* return false (and leave *v
 * untouched) when fewer bytes remain than asked for. */
struct buf_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void buf_reader_init(struct buf_reader *r, const void *p, size_t len);
bool buf_get(struct buf_reader *r, void *out, size_t len);
bool buf_get_u8(struct buf_reader *r, uint8_t *v);
bool buf_get_u16(struct buf_reader *r, uint16_t *v);
bool buf_get_u32(struct buf_reader *r, uint32_t *v);
bool buf_get_u64(struct buf_reader *r, uint64_t *v);

#endif
