/* SPDX-License-Identifier: MIT */
/* stream.h: the VM state stream (docs/migration-stream.md): a header, then
 * named, versioned, length-prefixed and CRC-checked sections, then an end
 * marker. The same framing is used for snapshot files and for live
 * migration over a socket; a stream is read and written through a buffer
 * over a file descriptor. */
#ifndef DOMUS_STREAM_H
#define DOMUS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define STREAM_MAGIC		"DOMUS-VM"	/* 8 bytes, no NUL */
#define STREAM_VERSION		1
#define STREAM_SECT_TAG		0x54434553u	/* "SECT" little endian */
#define STREAM_NAME_MAX		47
/* Sections carry device and vCPU state (kilobytes) or batches of pages
 * (a few MiB): more than this is a corrupt or hostile length. */
#define STREAM_SECTION_MAX	(64u << 20)

/* Section flags */
#define STREAM_F_BULK		1u	/* a descriptor, then bulk data at a page-aligned
					   file offset, outside the CRC (guest RAM) */

/* The end section's name. */
#define STREAM_END		"end"

struct stream {
	int fd;
	bool writing;
	uint8_t *buf;
	size_t cap;
	size_t pos, len;	/* reader: [pos, len) buffered; writer: len buffered */
	uint64_t offset;	/* stream bytes written or consumed so far */
	uint32_t nr_sections;	/* sections seen (end excluded) */
	uint64_t bytes_io;	/* bytes that went through the fd */
	uint8_t *desc;		/* reader: copy of the last bulk descriptor */
};

/* A section as read: (data, len) stays valid until the next stream call. */
struct section {
	char name[STREAM_NAME_MAX + 1];
	uint32_t version;
	uint32_t flags;
	const uint8_t *data;
	size_t len;
	uint64_t bulk_offset;	/* STREAM_F_BULK: stream offset of the bulk data */
	uint64_t bulk_len;	/* STREAM_F_BULK: its length */
};

/* stream_open: a stream over (fd) (not owned) for writing or reading. */
int stream_open(struct stream *s, int fd, bool writing);
void stream_close(struct stream *s);

/* --- writing ------------------------------------------------------------------- */
/* stream_put_header: magic and format version. */
int stream_put_header(struct stream *s);
/* stream_put_section: one section (name) at (version) with (len) bytes. */
int stream_put_section(struct stream *s, const char *name, uint32_t version, const void *data,
		       size_t len);
/* stream_put_bulk: a STREAM_F_BULK section: (desc) is CRC-checked like any
 * payload; then zero padding up to a multiple of 4096 bytes of the stream,
 * then (bulk_len) bytes the caller writes with stream_write_raw(). */
int stream_put_bulk(struct stream *s, const char *name, uint32_t version, const void *desc,
		    size_t desc_len, uint64_t bulk_len);
/* stream_write_raw: (len) bytes as they are (the bulk data). */
int stream_write_raw(struct stream *s, const void *p, size_t len);
/* stream_put_end: the end marker (it counts the sections before it). */
int stream_put_end(struct stream *s);
/* stream_flush: write out what is buffered. Returns 0 or -errno. */
int stream_flush(struct stream *s);

/* --- reading ------------------------------------------------------------------- */
/* stream_get_header: check magic and version; one line in (err) otherwise. */
int stream_get_header(struct stream *s, struct err *err);
/* stream_get_section: the next section into (sec). Returns 1 with a
 * section, 0 at the end marker (its count checked), or -errno with one line
 * in (err): truncated, bad tag, bad name, too long, CRC mismatch. For a bulk
 * section the reader stops after the descriptor and its padding: the caller
 * consumes exactly bulk_len bytes with stream_read_raw() or
 * stream_skip(). */
int stream_get_section(struct stream *s, struct section *sec, struct err *err);
/* stream_read_raw: exactly (len) bytes, or -EIO (truncated) / -errno. */
int stream_read_raw(struct stream *s, void *p, size_t len);
/* stream_skip: consume (len) bytes (seeks when the fd allows). */
int stream_skip(struct stream *s, uint64_t len);

/* crc32c: CRC-32C (Castagnoli), continuing from (crc) (0 to start). */
uint32_t crc32c(uint32_t crc, const void *p, size_t len);

#endif
