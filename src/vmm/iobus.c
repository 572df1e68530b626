/* SPDX-License-Identifier: MIT */
/* iobus.c: sorted array of I/O ranges, binary-searched on every exit. The
 * array is built before the vCPUs start and read-only afterwards, so lookups
 * need no lock. */
#include "iobus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void iobus_init(struct iobus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void iobus_free(struct iobus *bus)
{
	free(bus->ranges);
	iobus_init(bus);
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		   void *opaque)
{
	unsigned i;

	if (len == 0 || base + len < base)
		return -EINVAL;
	for (i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
		if (r->base > base)
			break;
	}
	if (bus->nr == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct io_range *n = realloc(bus->ranges, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct io_range){ base, len, ops, opaque };
	bus->nr++;
	return 0;
}

static const struct io_range *iobus_find(const struct iobus *bus, uint64_t addr, unsigned size)
{
	unsigned lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct io_range *r = &bus->ranges[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else	/* the whole access must fall inside the range */
			return size <= r->len - (addr - r->base) ? r : NULL;
	}
	return NULL;
}

int iobus_read(struct iobus *bus, uint64_t addr, void *data, unsigned size)
{
	const struct io_range *r = iobus_find(bus, addr, size);

	if (r == NULL || r->ops->read == NULL) {
		memset(data, 0xff, size);
		return 0;
	}
	r->ops->read(r->opaque, addr - r->base, data, size);
	return 1;
}

int iobus_write(struct iobus *bus, uint64_t addr, const void *data, unsigned size)
{
	const struct io_range *r = iobus_find(bus, addr, size);

	if (r == NULL || r->ops->write == NULL)
		return 0;
	r->ops->write(r->opaque, addr - r->base, data, size);
	return 1;
}
