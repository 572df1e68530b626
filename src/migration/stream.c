/* SPDX-License-Identifier: MIT */
/* stream.c: framing of the VM state stream: buffered reads and writes over
 * a file or a socket, section headers, CRC-32C. Nothing here knows what a
 * section means; every length read is checked before it is used. */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"

#define WBUF_SIZE	(1u << 20)
#define RBUF_MIN	(256u << 10)
#define PAGE		4096u

/* --- CRC-32C --------------------------------------------------------------------- */
static uint32_t crc_table[8][256];

static void crc_init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
							     size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t len)
{
	static int mode;	/* 0 unknown, 1 table, 2 SSE 4.2 */

	if (mode == 0) {
		crc_init_table();
#if defined(__x86_64__)
		__builtin_cpu_init();
		mode = __builtin_cpu_supports("sse4.2") ? 2 : 1;
#else
		mode = 1;
#endif
	}
	crc = ~crc;
#if defined(__x86_64__)
	if (mode == 2)
		return ~crc32c_hw(crc, p, len);
#endif
	return ~crc32c_sw(crc, p, len);
}

/* --- little-endian helpers ------------------------------------------------------- */
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* --- the stream ------------------------------------------------------------------ */
int stream_open(struct stream *s, int fd, bool writing)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->writing = writing;
	s->cap = writing ? WBUF_SIZE : RBUF_MIN;
	s->buf = malloc(s->cap);
	return s->buf ? 0 : -ENOMEM;
}

void stream_close(struct stream *s)
{
	free(s->buf);
	free(s->desc);
	s->buf = NULL;
	s->desc = NULL;
}

static int write_all(struct stream *s, const void *p, size_t len)
{
	int r = fd_write_all(s->fd, p, len);

	if (r == 0)
		s->bytes_io += len;
	return r;
}

int stream_flush(struct stream *s)
{
	int r;

	if (s->len == 0)
		return 0;
	r = write_all(s, s->buf, s->len);
	s->len = 0;
	return r;
}

int stream_write_raw(struct stream *s, const void *p, size_t len)
{
	int r;

	s->offset += len;
	if (len <= s->cap - s->len) {
		memcpy(s->buf + s->len, p, len);
		s->len += len;
		return 0;
	}
	r = stream_flush(s);
	if (r < 0)
		return r;
	if (len >= s->cap / 2)
		return write_all(s, p, len);
	memcpy(s->buf, p, len);
	s->len = len;
	return 0;
}

int stream_put_header(struct stream *s)
{
	uint8_t h[16];

	memcpy(h, STREAM_MAGIC, 8);
	put32(h + 8, STREAM_VERSION);
	put32(h + 12, 0);
	return stream_write_raw(s, h, sizeof(h));
}

/* Header: tag u32, name_len u8, name, version u32, flags u32, length u64
 * [, bulk_len u64 when STREAM_F_BULK]. */
static size_t make_header(uint8_t *h, const char *name, uint32_t version, uint32_t flags,
			  uint64_t len, uint64_t bulk_len)
{
	size_t n = strlen(name), off = 0;

	put32(h, STREAM_SECT_TAG);
	h[4] = (uint8_t)n;
	memcpy(h + 5, name, n);
	off = 5 + n;
	put32(h + off, version);
	put32(h + off + 4, flags);
	put64(h + off + 8, len);
	off += 16;
	if (flags & STREAM_F_BULK) {
		put64(h + off, bulk_len);
		off += 8;
	}
	return off;
}

static int put_section(struct stream *s, const char *name, uint32_t version, uint32_t flags,
		       const void *data, size_t len, uint64_t bulk_len)
{
	uint8_t h[5 + STREAM_NAME_MAX + 24], c[4];
	size_t hl, nl = strlen(name);
	uint32_t crc;
	int r;

	if (nl == 0 || nl > STREAM_NAME_MAX || len > STREAM_SECTION_MAX)
		return -EINVAL;
	hl = make_header(h, name, version, flags, len, bulk_len);
	crc = crc32c(crc32c(0, h, hl), data, len);
	put32(c, crc);
	if ((r = stream_write_raw(s, h, hl)) < 0 || (r = stream_write_raw(s, data, len)) < 0 ||
	    (r = stream_write_raw(s, c, 4)) < 0)
		return r;
	if (strcmp(name, STREAM_END) != 0)
		s->nr_sections++;
	return 0;
}

int stream_put_section(struct stream *s, const char *name, uint32_t version, const void *data,
		       size_t len)
{
	return put_section(s, name, version, 0, data, len, 0);
}

int stream_put_bulk(struct stream *s, const char *name, uint32_t version, const void *desc,
		    size_t desc_len, uint64_t bulk_len)
{
	static const uint8_t zero[PAGE];
	int r = put_section(s, name, version, STREAM_F_BULK, desc, desc_len, bulk_len);

	if (r < 0)
		return r;
	if (s->offset % PAGE)
		r = stream_write_raw(s, zero, PAGE - s->offset % PAGE);
	return r;
}

int stream_put_end(struct stream *s)
{
	uint8_t n[4];

	put32(n, s->nr_sections);
	return put_section(s, STREAM_END, 1, 0, n, 4, 0);
}

/* --- reading --------------------------------------------------------------------- */

/* Have [pos, pos + n) buffered: 0, -EIO at end of file, or -errno. */
static int fill(struct stream *s, size_t n)
{
	if (s->len - s->pos >= n)
		return 0;
	if (s->pos > 0) {
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->len -= s->pos;
		s->pos = 0;
	}
	if (n > s->cap) {
		uint8_t *b = realloc(s->buf, n);
		if (b == NULL)
			return -ENOMEM;
		s->buf = b;
		s->cap = n;
	}
	while (s->len < n) {
		ssize_t got = read(s->fd, s->buf + s->len, s->cap - s->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		s->len += (size_t)got;
		s->bytes_io += (uint64_t)got;
	}
	return 0;
}

static const uint8_t *take(struct stream *s, size_t n)
{
	const uint8_t *p = s->buf + s->pos;

	s->pos += n;
	s->offset += n;
	return p;
}

int stream_get_header(struct stream *s, struct err *err)
{
	const uint8_t *h;
	int r = fill(s, 16);

	if (r == -EIO)
		return err_set(err, EINVAL, "not a domus VM state stream (too short)");
	if (r < 0)
		return err_setsys(err, -r, "reading the state stream");
	h = take(s, 16);
	if (memcmp(h, STREAM_MAGIC, 8) != 0)
		return err_set(err, EINVAL, "not a domus VM state stream (bad magic)");
	if (get32(h + 8) != STREAM_VERSION)
		return err_set(err, ENOTSUP,
			       "VM state stream format version %u, this domus reads version %u",
			       get32(h + 8), STREAM_VERSION);
	if (get32(h + 12) != 0)
		return err_set(err, ENOTSUP, "VM state stream has unknown header flags 0x%x",
			       get32(h + 12));
	return 0;
}

static int read_err(struct err *err, int r, const char *what)
{
	if (r == -EIO)
		return err_set(err, EINVAL, "VM state stream truncated (in %s)", what);
	return err_setsys(err, -r, "reading the VM state stream (%s)", what);
}

int stream_get_section(struct stream *s, struct section *sec, struct err *err)
{
	size_t nl, hl;
	const uint8_t *h;
	uint32_t crc;
	uint64_t len;
	int r;

	memset(sec, 0, sizeof(*sec));
	if ((r = fill(s, 5)) < 0)
		return read_err(err, r, "a section header");
	h = s->buf + s->pos;
	if (get32(h) != STREAM_SECT_TAG)
		return err_set(err, EINVAL, "VM state stream corrupt: no section at offset %llu",
			       (unsigned long long)s->offset);
	nl = h[4];
	if (nl == 0 || nl > STREAM_NAME_MAX)
		return err_set(err, EINVAL, "VM state stream corrupt: bad section name length %zu",
			       nl);
	if ((r = fill(s, 5 + nl + 16)) < 0)
		return read_err(err, r, "a section header");
	h = s->buf + s->pos;
	for (size_t i = 0; i < nl; i++)
		if (h[5 + i] < 0x21 || h[5 + i] > 0x7e)
			return err_set(err, EINVAL, "VM state stream corrupt: bad section name");
	memcpy(sec->name, h + 5, nl);
	sec->name[nl] = '\0';
	sec->version = get32(h + 5 + nl);
	sec->flags = get32(h + 5 + nl + 4);
	len = get64(h + 5 + nl + 8);
	hl = 5 + nl + 16;
	/* Prevents allocating or waiting for a length the writer never meant. */
	if (len > STREAM_SECTION_MAX || (sec->flags & ~STREAM_F_BULK))
		return err_set(err, EINVAL, "VM state stream corrupt: section '%s' has length %llu "
					    "or flags 0x%x",
			       sec->name, (unsigned long long)len, sec->flags);
	if (sec->flags & STREAM_F_BULK) {
		if ((r = fill(s, hl + 8)) < 0)
			return read_err(err, r, sec->name);
		sec->bulk_len = get64(s->buf + s->pos + hl);
		hl += 8;
	}
	if ((r = fill(s, hl + (size_t)len + 4)) < 0)
		return read_err(err, r, sec->name);
	h = s->buf + s->pos;
	crc = crc32c(0, h, hl + (size_t)len);
	if (crc != get32(h + hl + len))
		return err_set(err, EINVAL, "VM state stream corrupt: section '%s' fails its CRC",
			       sec->name);
	take(s, hl);
	sec->data = take(s, (size_t)len);
	sec->len = (size_t)len;
	take(s, 4);
	if (sec->flags & STREAM_F_BULK) {
		/* the padding to the page boundary */
		uint64_t pad = s->offset % PAGE ? PAGE - s->offset % PAGE : 0;
		/* the descriptor lives in the buffer: keep a copy while the
		 * padding is consumed (which may refill the buffer) */
		uint8_t *copy = realloc(s->desc, len ? len : 1);
		if (copy == NULL)
			return err_set(err, ENOMEM, "out of memory");
		s->desc = copy;
		memcpy(copy, sec->data, len);
		sec->data = copy;
		r = stream_skip(s, pad);
		if (r < 0)
			return read_err(err, r, sec->name);
		sec->bulk_offset = s->offset;
		s->nr_sections++;
		return 1;
	}
	if (strcmp(sec->name, STREAM_END) == 0) {
		if (sec->len != 4 || get32(sec->data) != s->nr_sections)
			return err_set(err, EINVAL, "VM state stream corrupt: the end marker counts "
						    "%u sections, %u were read",
				       sec->len == 4 ? get32(sec->data) : 0, s->nr_sections);
		return 0;
	}
	s->nr_sections++;
	return 1;
}

int stream_read_raw(struct stream *s, void *p, size_t len)
{
	uint8_t *q = p;
	size_t have = s->len - s->pos;

	if (have > len)
		have = len;
	memcpy(q, s->buf + s->pos, have);
	take(s, have);
	q += have;
	len -= have;
	int r = fd_read_all(s->fd, q, len);
	if (r == 0) {
		s->offset += len;
		s->bytes_io += len;
	}
	return r;
}

int stream_skip(struct stream *s, uint64_t len)
{
	size_t have = s->len - s->pos;
	uint8_t tmp[4096];

	if (have > len)
		have = (size_t)len;
	take(s, have);
	len -= have;
	if (len == 0)
		return 0;
	if (lseek(s->fd, (off_t)len, SEEK_CUR) >= 0) {
		s->offset += len;
		return 0;
	}
	while (len > 0) {
		size_t n = len > sizeof(tmp) ? sizeof(tmp) : (size_t)len;
		int r = stream_read_raw(s, tmp, n);
		if (r < 0)
			return r;
		len -= n;
	}
	return 0;
}
