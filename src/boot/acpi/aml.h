/* SPDX-License-Identifier: MIT */
/* aml.h: a small ACPI Machine Language (AML) byte builder for the DSDT. */
#ifndef DOMUS_ACPI_AML_H
#define DOMUS_ACPI_AML_H

/*
 * Every function appends bytes to a struct buf. Objects that nest (Scope,
 * Device, Method, Package, Buffer) take their already-built contents as a
 * second struct buf and wrap it with the opcode and PkgLength, because the
 * length prefix's own size depends on the total size.
 *
 * Errors are sticky, like allocation failures in struct buf: an invalid
 * argument (a bad name, a length AML cannot encode, an IRQ out of range)
 * sets out->failed and appends nothing. Check b->failed once at the end.
 * Passing a failed body to a wrapper fails the output too.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Largest value a PkgLength can hold: 4 bytes, 28 bits. */
#define AML_PKGLEN_MAX	0x0fffffffu

/* aml_pkglen_encode: encode the PkgLength value (len) (which counts the
 * encoding's own bytes) into (out). Returns the number of bytes used (1..4),
 * or -EINVAL if (len) exceeds AML_PKGLEN_MAX. */
int aml_pkglen_encode(size_t len, uint8_t out[4]);

/* aml_pkglen_total: the PkgLength value for a body of (body_len) bytes, i.e.
 * body_len plus the size of its own encoding; 0 if it cannot be encoded. */
size_t aml_pkglen_total(size_t body_len);

/* aml_eisaid_encode: compress a 7-character EISA id ("PNP0501": three
 * letters A-Z, four hex digits) into the 32-bit value ASL's EISAID() yields.
 * Returns 0, or -EINVAL if (id) is malformed. */
int aml_eisaid_encode(const char *id, uint32_t *out);

/* --- names ---------------------------------------------------------------- */

/* aml_name_seg: one NameSeg of 1-4 characters ('A'-'Z', '_', and '0'-'9'
 * after the first), padded with '_' to 4 bytes as ASL does. */
void aml_name_seg(struct buf *b, const char *seg);

/* aml_name_path: a NameString: optional leading '\' (root) or '^'s (parent),
 * then zero or more NameSegs separated by '.', e.g. "\\_SB.PCI0", "_S5". */
void aml_name_path(struct buf *b, const char *path);

/* --- data objects ----------------------------------------------------------- */

/* aml_integer: (v) with the shortest encoding: ZeroOp, OneOp, OnesOp (for
 * all 64 bits set; the DSDT has revision 2, so integers are 64-bit), else
 * Byte/Word/DWord/QWord prefix. */
void aml_integer(struct buf *b, uint64_t v);

/* aml_dword: (v) always with the DWord prefix, as EISAID() values are. */
void aml_dword(struct buf *b, uint32_t v);

/* aml_string: a String of ASCII characters 0x01-0x7f. */
void aml_string(struct buf *b, const char *s);

/* aml_eisaid: the DWord-encoded compressed form of EISA id (id). */
void aml_eisaid(struct buf *b, const char *id);

/* aml_package: Package (count) { elements }, (elements) holding (count)
 * already-encoded data objects (count <= 255). */
void aml_package(struct buf *b, unsigned int count, const struct buf *elements);

/* aml_buffer: Buffer () { bytes }: the size is that of (data). */
void aml_buffer(struct buf *b, const struct buf *data);

/* aml_resource_template: ResourceTemplate () { descs }: a Buffer holding the
 * resource descriptors in (descs) followed by an End Tag with checksum 0
 * (which tells the OS not to verify a checksum). */
void aml_resource_template(struct buf *b, const struct buf *descs);

/* --- named objects and control ---------------------------------------------- */

/* aml_name: Name (name, value), (value) an encoded data object. */
void aml_name(struct buf *b, const char *name, const struct buf *value);

/* Shorthands for Name(name, <integer | string | EisaId>). */
void aml_name_integer(struct buf *b, const char *name, uint64_t v);
void aml_name_string(struct buf *b, const char *name, const char *s);
void aml_name_eisaid(struct buf *b, const char *name, const char *id);

/* aml_scope: Scope (name) { body }. */
void aml_scope(struct buf *b, const char *name, const struct buf *body);

/* aml_device: Device (name) { body }. */
void aml_device(struct buf *b, const char *name, const struct buf *body);

/* aml_method: Method (name, nargs, Serialized|NotSerialized) { body };
 * nargs 0..7, sync level 0. */
void aml_method(struct buf *b, const char *name, unsigned int nargs, bool serialized,
		const struct buf *body);

/* aml_return: Return (value), (value) an encoded term (e.g. an integer). */
void aml_return(struct buf *b, const struct buf *value);

/* aml_return_integer: Return (v). */
void aml_return_integer(struct buf *b, uint64_t v);

/* aml_arg: ArgN (0..6) as a term, e.g. to return or pass an argument. */
void aml_arg(struct buf *b, unsigned int n);

/* --- resource descriptors (contents of aml_resource_template) --------------- */

/* Flags for aml_res_irq_flags() and aml_res_ext_irq(). Zero means
 * level-triggered, active-high, exclusive. */
#define AML_IRQ_EDGE		(1u << 0)
#define AML_IRQ_ACTIVE_LOW	(1u << 1)
#define AML_IRQ_SHARED		(1u << 2)
#define AML_IRQ_WAKE		(1u << 3)

/* aml_res_io: IO (Decode16, min, max, align, len). */
void aml_res_io(struct buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len);

/* aml_res_irq: IRQNoFlags () { irq }: the 2-byte small IRQ descriptor, which
 * means ISA semantics: edge-triggered, active-high, exclusive. irq 0..15. */
void aml_res_irq(struct buf *b, unsigned int irq);

/* aml_res_irq_flags: IRQ (...) { irq }: the 3-byte form with AML_IRQ_* flags. */
void aml_res_irq_flags(struct buf *b, unsigned int irq, unsigned int flags);

/* aml_res_memory32_fixed: Memory32Fixed (ReadWrite|ReadOnly, base, len). */
void aml_res_memory32_fixed(struct buf *b, uint32_t base, uint32_t len, bool writable);

/* aml_res_ext_irq: Interrupt (ResourceConsumer, ...) { gsi }: the extended
 * interrupt descriptor with one GSI and AML_IRQ_* flags. */
void aml_res_ext_irq(struct buf *b, uint32_t gsi, unsigned int flags);

/* Caching types of memory address space descriptors (_MEM). */
enum aml_mem_cache {
	AML_MEM_NONCACHEABLE = 0,
	AML_MEM_CACHEABLE = 1,
	AML_MEM_WRITE_COMBINING = 2,
	AML_MEM_PREFETCHABLE = 3,
};

/*
 * Address space descriptors as a PCI host bridge's _CRS needs them: the
 * bridge produces the range (ResourceProducer), fixed min and max, positive
 * decode, granularity 0, translation 0, length = max - min + 1 (max >= min,
 * else the buffer is marked failed).
 */

/* aml_res_word_bus_number: WordBusNumber (ResourceProducer, ..., min, max). */
void aml_res_word_bus_number(struct buf *b, uint16_t min, uint16_t max);

/* aml_res_dword_io: DWordIO (ResourceProducer, ..., EntireRange, min, max). */
void aml_res_dword_io(struct buf *b, uint32_t min, uint32_t max);

/* aml_res_dword_memory: DWordMemory (ResourceProducer, ..., cache, ReadWrite,
 * min, max). */
void aml_res_dword_memory(struct buf *b, uint32_t min, uint32_t max, enum aml_mem_cache cache);

/* aml_res_qword_memory: QWordMemory (ResourceProducer, ..., cache, ReadWrite,
 * min, max). */
void aml_res_qword_memory(struct buf *b, uint64_t min, uint64_t max, enum aml_mem_cache cache);

#endif
