/* SPDX-License-Identifier: MIT */
/* iobus.h: registry of port-I/O and MMIO ranges and dispatch of guest accesses
 * to the device that owns them. */
#ifndef DOMUS_IOBUS_H
#define DOMUS_IOBUS_H

#include <stdint.h>

struct err;

/* Device callbacks. (off) is relative to the registered base and
 * off + size <= len is guaranteed by the bus; (size) is 1, 2, 4 or 8.
 * read fills (data) with (size) bytes, little endian. They run on vCPU
 * threads: a device shared by several vCPUs locks its own state. */
struct io_ops {
	void (*read)(void *opaque, uint64_t off, void *data, unsigned size);
	void (*write)(void *opaque, uint64_t off, const void *data, unsigned size);
};

struct io_range {
	uint64_t base;
	uint64_t len;
	const struct io_ops *ops;
	void *opaque;
};

struct iobus {
	struct io_range *ranges;	/* sorted by base, no overlaps */
	unsigned nr, cap;
};

void iobus_init(struct iobus *bus);
void iobus_free(struct iobus *bus);
/* iobus_register: returns 0, -EEXIST if [base, base+len) overlaps a range, or -ENOMEM. */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		   void *opaque);
/* iobus_read / iobus_write: dispatch an access; returns 1, or 0 when no device
 * covers [addr, addr+size) (reads then return all ones, writes are dropped). */
int iobus_read(struct iobus *bus, uint64_t addr, void *data, unsigned size);
int iobus_write(struct iobus *bus, uint64_t addr, const void *data, unsigned size);

#endif
