/* SPDX-License-Identifier: MIT */
/* iobus.c: sorted array of I/O ranges, binary-searched on every exit. PCI
 * BARs come and go while vCPUs run, so the array is guarded by a
 * writer-preferring rwlock held only for the search: the matching range is
 * copied out and the device is called without the lock. */
#include "iobus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void iobus_init(struct iobus *bus)
{
	pthread_rwlockattr_t attr;

	memset(bus, 0, sizeof(*bus));
	/* A vCPU moving a BAR must not starve behind the others' lookups. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&bus->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
}

void iobus_free(struct iobus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		   void *opaque)
{
	unsigned i;
	int ret = 0;

	if (len == 0 || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	for (i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (base < r->base + r->len && r->base < base + len) {
			ret = -EEXIST;
			goto out;
		}
		if (r->base > base)
			break;
	}
	if (bus->nr == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct io_range *n = realloc(bus->ranges, cap * sizeof(*n));
		if (n == NULL) {
			ret = -ENOMEM;
			goto out;
		}
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct io_range){ base, len, ops, opaque };
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int iobus_unregister(struct iobus *bus, uint64_t base)
{
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (unsigned i = 0; i < bus->nr; i++) {
		if (bus->ranges[i].base == base) {
			memmove(&bus->ranges[i], &bus->ranges[i + 1],
				(bus->nr - i - 1) * sizeof(*bus->ranges));
			bus->nr--;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
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

/* iobus_lookup: a copy of the range covering the access, so the device can
 * be called without the lock. */
static bool iobus_lookup(struct iobus *bus, uint64_t addr, unsigned size, struct io_range *out)
{
	const struct io_range *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = iobus_find(bus, addr, size);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&bus->lock);
	return r != NULL;
}

int iobus_read(struct iobus *bus, uint64_t addr, void *data, unsigned size)
{
	struct io_range r;

	if (!iobus_lookup(bus, addr, size, &r) || r.ops->read == NULL) {
		memset(data, 0xff, size);
		return 0;
	}
	r.ops->read(r.opaque, addr - r.base, data, size);
	return 1;
}

int iobus_write(struct iobus *bus, uint64_t addr, const void *data, unsigned size)
{
	struct io_range r;

	if (!iobus_lookup(bus, addr, size, &r) || r.ops->write == NULL)
		return 0;
	r.ops->write(r.opaque, addr - r.base, data, size);
	return 1;
}
