/* SPDX-License-Identifier: MIT */
/* iobus.h: registry of port-I/O and MMIO ranges and dispatch of guest accesses
 * to the device that owns them. */
#ifndef DOMUS_IOBUS_H
#define DOMUS_IOBUS_H

#include <pthread.h>
#include <stdint.h>

struct err;

/* Device callbacks. (off) is relative to the registered base and
 * off + size <= len is guaranteed by the bus; (size) is 1, 2, 4 or 8.
 * read fills (data) with (size) bytes, little endian. They run on vCPU
 * threads: a device shared by several vCPUs locks its own state. The bus
 * holds no lock while it calls them, so they may register and unregister
 * ranges (a PCI config write that moves a BAR); an access that races with
 * iobus_unregister() may still reach the device once, at its old range, so
 * (opaque) must stay valid until the vCPUs are stopped. */
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
	pthread_rwlock_t lock;		/* readers: lookups; writers: (un)register */
	struct io_range *ranges;	/* sorted by base, no overlaps */
	unsigned nr, cap;
};

void iobus_init(struct iobus *bus);
void iobus_free(struct iobus *bus);
/* iobus_register: returns 0, -EEXIST if [base, base+len) overlaps a range, or -ENOMEM. */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		   void *opaque);
/* iobus_unregister: remove the range registered at exactly (base); returns 0
 * or -ENOENT. Safe while vCPUs run. */
int iobus_unregister(struct iobus *bus, uint64_t base);
/* iobus_read / iobus_write: dispatch an access; returns 1, or 0 when no device
 * covers [addr, addr+size) (reads then return all ones, writes are dropped). */
int iobus_read(struct iobus *bus, uint64_t addr, void *data, unsigned size);
int iobus_write(struct iobus *bus, uint64_t addr, const void *data, unsigned size);

#endif
