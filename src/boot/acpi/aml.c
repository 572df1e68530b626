/* SPDX-License-Identifier: MIT */
/* aml.c: encoding of the AML subset the DSDT uses (ACPI 6.x, chapters 19-20). */
#include "aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes, from the AML grammar. */
#define AML_ZERO_OP		0x00
#define AML_ONE_OP		0x01
#define AML_NAME_OP		0x08
#define AML_BYTE_PREFIX		0x0a
#define AML_WORD_PREFIX		0x0b
#define AML_DWORD_PREFIX	0x0c
#define AML_STRING_PREFIX	0x0d
#define AML_QWORD_PREFIX	0x0e
#define AML_SCOPE_OP		0x10
#define AML_BUFFER_OP		0x11
#define AML_PACKAGE_OP		0x12
#define AML_METHOD_OP		0x14
#define AML_DUAL_NAME_PREFIX	0x2e
#define AML_MULTI_NAME_PREFIX	0x2f
#define AML_EXT_OP_PREFIX	0x5b
#define AML_DEVICE_OP		0x82	/* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR		0x5c
#define AML_PARENT_PREFIX_CHAR	0x5e
#define AML_ARG0_OP		0x68
#define AML_RETURN_OP		0xa4
#define AML_ONES_OP		0xff

/* Resource descriptor tags (ACPI 6.x, 6.4). Small items: type 0, name in
 * bits 6:3, length in bits 2:0. Large items: bit 7 set, then a 16-bit length. */
#define RES_IRQ2		0x22	/* IRQ, 2 bytes of data: no flags byte */
#define RES_IRQ3		0x23	/* IRQ, 3 bytes of data */
#define RES_IO			0x47
#define RES_END_TAG		0x79
#define RES_MEMORY32_FIXED	0x86
#define RES_DWORD_ADDR		0x87
#define RES_WORD_ADDR		0x88
#define RES_EXT_IRQ		0x89
#define RES_QWORD_ADDR		0x8a

/* Address space descriptor resource types and general flags. */
#define ADDR_TYPE_MEMORY	0
#define ADDR_TYPE_IO		1
#define ADDR_TYPE_BUS		2
#define ADDR_GEN_MIN_FIXED	(1u << 2)
#define ADDR_GEN_MAX_FIXED	(1u << 3)
#define ADDR_IO_ENTIRE_RANGE	3u
#define ADDR_MEM_READ_WRITE	1u

static void fail(struct buf *b)
{
	b->failed = true;
}

int aml_pkglen_encode(size_t len, uint8_t out[4])
{
	/* One byte holds 6 bits; longer forms put the count of extra bytes in
	 * bits 7:6, the low nibble in bits 3:0 and 8 more bits per extra byte. */
	if (len <= 0x3f) {
		out[0] = (uint8_t)len;
		return 1;
	}
	if (len > AML_PKGLEN_MAX)
		return -EINVAL;

	int extra = len <= 0xfff ? 1 : len <= 0xfffff ? 2 : 3;

	out[0] = (uint8_t)(extra << 6 | (len & 0x0f));
	for (int i = 1; i <= extra; i++)
		out[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
	return extra + 1;
}

size_t aml_pkglen_total(size_t body_len)
{
	static const size_t max[4] = { 0x3f, 0xfff, 0xfffff, AML_PKGLEN_MAX };

	if (body_len > AML_PKGLEN_MAX)
		return 0;
	/* The length counts its own encoding, so the smallest encoding that
	 * fits the body plus itself wins. */
	for (size_t n = 1; n <= 4; n++)
		if (body_len + n <= max[n - 1])
			return body_len + n;
	return 0;
}

/* emit_pkg: (op) PkgLength (contents): the common shape of every object that
 * nests. (contents) already holds the name and fixed fields, if any. */
static void emit_pkg(struct buf *b, const uint8_t *op, size_t oplen, const struct buf *contents)
{
	uint8_t enc[4];
	size_t total = aml_pkglen_total(contents->len);
	int n;

	if (contents->failed || total == 0 || (n = aml_pkglen_encode(total, enc)) < 0) {
		fail(b);
		return;
	}
	buf_append(b, op, oplen);
	buf_append(b, enc, (size_t)n);
	buf_append(b, contents->data, contents->len);
}

/* append_buf: copy (src) into (dst), carrying over its failure. */
static void append_buf(struct buf *dst, const struct buf *src)
{
	if (src->failed)
		fail(dst);
	else
		buf_append(dst, src->data, src->len);
}

/* --- names ------------------------------------------------------------------ */

static bool seg_char_ok(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* encode_seg: the (n) characters at (s) as a padded NameSeg; false if invalid. */
static bool encode_seg(const char *s, size_t n, uint8_t out[4])
{
	if (n < 1 || n > 4)
		return false;
	for (size_t i = 0; i < 4; i++) {
		if (i >= n) {
			out[i] = '_';
			continue;
		}
		if (!seg_char_ok(s[i], i == 0))
			return false;
		out[i] = (uint8_t)s[i];
	}
	return true;
}

void aml_name_seg(struct buf *b, const char *seg)
{
	uint8_t out[4];

	if (!encode_seg(seg, strlen(seg), out)) {
		fail(b);
		return;
	}
	buf_append(b, out, sizeof(out));
}

void aml_name_path(struct buf *b, const char *path)
{
	struct buf prefix, segs;
	const char *p = path;
	size_t nsegs = 0;

	buf_init(&prefix);
	buf_init(&segs);
	if (*p == '\\') {
		buf_put_u8(&prefix, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			buf_put_u8(&prefix, AML_PARENT_PREFIX_CHAR);
			p++;
		}
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		uint8_t seg[4];

		/* An empty segment ("A..B", trailing '.') is malformed. */
		if (!encode_seg(p, n, seg) || (dot && dot[1] == '\0')) {
			fail(&segs);
			break;
		}
		buf_append(&segs, seg, sizeof(seg));
		nsegs++;
		p += n + (dot ? 1 : 0);
	}

	/* A bare "" names nothing; "\" alone is the root: NullName after it. */
	if (nsegs == 0 && prefix.len == 0)
		fail(&segs);
	if (nsegs > 255)
		fail(&segs);
	if (prefix.failed || segs.failed) {
		fail(b);
		goto out;
	}
	append_buf(b, &prefix);
	if (nsegs == 0) {
		buf_put_u8(b, AML_ZERO_OP);	/* NullName */
	} else if (nsegs == 2) {
		buf_put_u8(b, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		buf_put_u8(b, AML_MULTI_NAME_PREFIX);
		buf_put_u8(b, (uint8_t)nsegs);
	}
	append_buf(b, &segs);
out:
	buf_free(&prefix);
	buf_free(&segs);
}

/* --- data objects ------------------------------------------------------------- */

void aml_integer(struct buf *b, uint64_t v)
{
	if (v == 0) {
		buf_put_u8(b, AML_ZERO_OP);
	} else if (v == 1) {
		buf_put_u8(b, AML_ONE_OP);
	} else if (v == UINT64_MAX) {
		buf_put_u8(b, AML_ONES_OP);
	} else if (v <= UINT8_MAX) {
		buf_put_u8(b, AML_BYTE_PREFIX);
		buf_put_u8(b, (uint8_t)v);
	} else if (v <= UINT16_MAX) {
		buf_put_u8(b, AML_WORD_PREFIX);
		buf_put_u16(b, (uint16_t)v);
	} else if (v <= UINT32_MAX) {
		buf_put_u8(b, AML_DWORD_PREFIX);
		buf_put_u32(b, (uint32_t)v);
	} else {
		buf_put_u8(b, AML_QWORD_PREFIX);
		buf_put_u64(b, v);
	}
}

void aml_dword(struct buf *b, uint32_t v)
{
	buf_put_u8(b, AML_DWORD_PREFIX);
	buf_put_u32(b, v);
}

void aml_string(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7f) {
			fail(b);
			return;
		}
	}
	buf_put_u8(b, AML_STRING_PREFIX);
	buf_append(b, s, n + 1);	/* with the NUL terminator */
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int aml_eisaid_encode(const char *id, uint32_t *out)
{
	unsigned int c[3], h[4];

	if (strlen(id) != 7)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		c[i] = (unsigned int)(id[i] - '@');	/* 'A' = 1 .. 'Z' = 26: 5 bits */
	}
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(id[3 + i]);

		if (d < 0)
			return -EINVAL;
		h[i] = (unsigned int)d;
	}
	/* Byte 0: 0, letter 1, top 2 bits of letter 2; byte 1: low 3 bits of
	 * letter 2, letter 3; bytes 2-3: the product number, most significant
	 * nibble first. Stored little endian, so byte 0 is bits 7:0. */
	uint32_t b0 = c[0] << 2 | c[1] >> 3;
	uint32_t b1 = (c[1] & 7) << 5 | c[2];
	uint32_t b2 = h[0] << 4 | h[1];
	uint32_t b3 = h[2] << 4 | h[3];

	*out = b0 | b1 << 8 | b2 << 16 | b3 << 24;
	return 0;
}

void aml_eisaid(struct buf *b, const char *id)
{
	uint32_t v;

	if (aml_eisaid_encode(id, &v) < 0) {
		fail(b);
		return;
	}
	aml_dword(b, v);
}

void aml_package(struct buf *b, unsigned int count, const struct buf *elements)
{
	static const uint8_t op = AML_PACKAGE_OP;
	struct buf c;

	/* NumElements is one byte; longer lists would need VarPackageOp. */
	if (count > 255) {
		fail(b);
		return;
	}
	buf_init(&c);
	buf_put_u8(&c, (uint8_t)count);
	append_buf(&c, elements);
	emit_pkg(b, &op, 1, &c);
	buf_free(&c);
}

void aml_buffer(struct buf *b, const struct buf *data)
{
	static const uint8_t op = AML_BUFFER_OP;
	struct buf c;

	buf_init(&c);
	aml_integer(&c, data->len);	/* BufferSize */
	append_buf(&c, data);
	emit_pkg(b, &op, 1, &c);
	buf_free(&c);
}

void aml_resource_template(struct buf *b, const struct buf *descs)
{
	static const uint8_t end[2] = { RES_END_TAG, 0 };
	struct buf c;

	buf_init(&c);
	append_buf(&c, descs);
	buf_append(&c, end, sizeof(end));
	aml_buffer(b, &c);
	buf_free(&c);
}

/* --- named objects and control ------------------------------------------------- */

void aml_name(struct buf *b, const char *name, const struct buf *value)
{
	struct buf c;

	buf_init(&c);
	buf_put_u8(&c, AML_NAME_OP);
	aml_name_path(&c, name);
	if (value->len == 0)
		fail(&c);
	append_buf(&c, value);
	append_buf(b, &c);
	buf_free(&c);
}

void aml_name_integer(struct buf *b, const char *name, uint64_t v)
{
	struct buf val;

	buf_init(&val);
	aml_integer(&val, v);
	aml_name(b, name, &val);
	buf_free(&val);
}

void aml_name_string(struct buf *b, const char *name, const char *s)
{
	struct buf val;

	buf_init(&val);
	aml_string(&val, s);
	aml_name(b, name, &val);
	buf_free(&val);
}

void aml_name_eisaid(struct buf *b, const char *name, const char *id)
{
	struct buf val;

	buf_init(&val);
	aml_eisaid(&val, id);
	aml_name(b, name, &val);
	buf_free(&val);
}

/* named_pkg: (op) PkgLength NameString [flags] body. */
static void named_pkg(struct buf *b, const uint8_t *op, size_t oplen, const char *name,
		      const uint8_t *flags, const struct buf *body)
{
	struct buf c;

	buf_init(&c);
	aml_name_path(&c, name);
	if (flags)
		buf_put_u8(&c, *flags);
	append_buf(&c, body);
	emit_pkg(b, op, oplen, &c);
	buf_free(&c);
}

void aml_scope(struct buf *b, const char *name, const struct buf *body)
{
	static const uint8_t op = AML_SCOPE_OP;

	named_pkg(b, &op, 1, name, NULL, body);
}

void aml_device(struct buf *b, const char *name, const struct buf *body)
{
	static const uint8_t op[2] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };

	named_pkg(b, op, 2, name, NULL, body);
}

void aml_method(struct buf *b, const char *name, unsigned int nargs, bool serialized,
		const struct buf *body)
{
	static const uint8_t op = AML_METHOD_OP;
	/* MethodFlags: bits 2:0 ArgCount, bit 3 SerializeFlag, 7:4 SyncLevel. */
	uint8_t flags = (uint8_t)(nargs | (serialized ? 1u << 3 : 0));

	if (nargs > 7) {
		fail(b);
		return;
	}
	named_pkg(b, &op, 1, name, &flags, body);
}

void aml_return(struct buf *b, const struct buf *value)
{
	if (value->failed || value->len == 0) {
		fail(b);
		return;
	}
	buf_put_u8(b, AML_RETURN_OP);
	append_buf(b, value);
}

void aml_return_integer(struct buf *b, uint64_t v)
{
	struct buf val;

	buf_init(&val);
	aml_integer(&val, v);
	aml_return(b, &val);
	buf_free(&val);
}

void aml_arg(struct buf *b, unsigned int n)
{
	if (n > 6) {
		fail(b);
		return;
	}
	buf_put_u8(b, (uint8_t)(AML_ARG0_OP + n));
}

/* --- resource descriptors -------------------------------------------------------- */

void aml_res_io(struct buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	if (max < min) {
		fail(b);
		return;
	}
	buf_put_u8(b, RES_IO);
	buf_put_u8(b, 1);	/* _DEC: the device decodes all 16 address bits */
	buf_put_u16(b, min);
	buf_put_u16(b, max);
	buf_put_u8(b, align);
	buf_put_u8(b, len);
}

void aml_res_irq(struct buf *b, unsigned int irq)
{
	if (irq > 15) {
		fail(b);
		return;
	}
	buf_put_u8(b, RES_IRQ2);
	buf_put_u16(b, (uint16_t)(1u << irq));
}

void aml_res_irq_flags(struct buf *b, unsigned int irq, unsigned int flags)
{
	uint8_t info = 0;

	if (irq > 15) {
		fail(b);
		return;
	}
	/* _HE bit 0, _LL bit 3, _SHR bit 4, wake capable bit 5. */
	if (flags & AML_IRQ_EDGE)
		info |= 1u << 0;
	if (flags & AML_IRQ_ACTIVE_LOW)
		info |= 1u << 3;
	if (flags & AML_IRQ_SHARED)
		info |= 1u << 4;
	if (flags & AML_IRQ_WAKE)
		info |= 1u << 5;
	buf_put_u8(b, RES_IRQ3);
	buf_put_u16(b, (uint16_t)(1u << irq));
	buf_put_u8(b, info);
}

void aml_res_memory32_fixed(struct buf *b, uint32_t base, uint32_t len, bool writable)
{
	buf_put_u8(b, RES_MEMORY32_FIXED);
	buf_put_u16(b, 9);	/* bytes after the length field */
	buf_put_u8(b, writable ? 1 : 0);
	buf_put_u32(b, base);
	buf_put_u32(b, len);
}

void aml_res_ext_irq(struct buf *b, uint32_t gsi, unsigned int flags)
{
	/* Bit 0: consumer; _HE bit 1, _LL bit 2, _SHR bit 3, wake bit 4. */
	uint8_t info = 1;

	if (flags & AML_IRQ_EDGE)
		info |= 1u << 1;
	if (flags & AML_IRQ_ACTIVE_LOW)
		info |= 1u << 2;
	if (flags & AML_IRQ_SHARED)
		info |= 1u << 3;
	if (flags & AML_IRQ_WAKE)
		info |= 1u << 4;
	buf_put_u8(b, RES_EXT_IRQ);
	buf_put_u16(b, 6);	/* flags, table length, one 32-bit interrupt */
	buf_put_u8(b, info);
	buf_put_u8(b, 1);
	buf_put_u32(b, gsi);
}

/* put_width: (v) as a little-endian field of (width) bytes (2, 4 or 8). */
static void put_width(struct buf *b, unsigned int width, uint64_t v)
{
	if (width == 2)
		buf_put_u16(b, (uint16_t)v);
	else if (width == 4)
		buf_put_u32(b, (uint32_t)v);
	else
		buf_put_u64(b, v);
}

/* addr_space: a Word/DWord/QWord address space descriptor for a range the
 * device produces, min and max fixed, positive decode, no translation. */
static void addr_space(struct buf *b, unsigned int width, uint8_t type, uint8_t type_flags,
		       uint64_t min, uint64_t max)
{
	uint8_t tag = width == 2 ? RES_WORD_ADDR : width == 4 ? RES_DWORD_ADDR : RES_QWORD_ADDR;
	uint64_t limit = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;
	uint64_t len = max - min + 1;

	/* The length must fit the field: 0..0xffff as a WordBusNumber would
	 * need 0x10000, which a word cannot hold. */
	if (max < min || max > limit || len == 0 || len > limit) {
		fail(b);
		return;
	}
	buf_put_u8(b, tag);
	buf_put_u16(b, (uint16_t)(3 + 5 * width));	/* bytes after the length */
	buf_put_u8(b, type);
	buf_put_u8(b, ADDR_GEN_MIN_FIXED | ADDR_GEN_MAX_FIXED);	/* bit 0 clear: producer */
	buf_put_u8(b, type_flags);
	put_width(b, width, 0);		/* _GRA: fixed min/max, no granularity */
	put_width(b, width, min);
	put_width(b, width, max);
	put_width(b, width, 0);		/* _TRA: same address on both sides */
	put_width(b, width, len);
}

void aml_res_word_bus_number(struct buf *b, uint16_t min, uint16_t max)
{
	addr_space(b, 2, ADDR_TYPE_BUS, 0, min, max);
}

void aml_res_dword_io(struct buf *b, uint32_t min, uint32_t max)
{
	addr_space(b, 4, ADDR_TYPE_IO, ADDR_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_memory(struct buf *b, uint32_t min, uint32_t max, enum aml_mem_cache cache)
{
	addr_space(b, 4, ADDR_TYPE_MEMORY, (uint8_t)(ADDR_MEM_READ_WRITE | (cache & 3u) << 1), min,
		   max);
}

void aml_res_qword_memory(struct buf *b, uint64_t min, uint64_t max, enum aml_mem_cache cache)
{
	addr_space(b, 8, ADDR_TYPE_MEMORY, (uint8_t)(ADDR_MEM_READ_WRITE | (cache & 3u) << 1), min,
		   max);
}
