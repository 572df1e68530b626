/* SPDX-License-Identifier: MIT */
/* pci.c: bus 0, the host bridge, config space (type 1 and ECAM), BAR
 * assignment and mapping, capability lists. */
#include "devices/pci/pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "devices/pci/msix.h"

#define PCI_CLASS_BRIDGE_HOST	0x060000u
#define PCI_STATE_VERSION	1

/* Command bits the guest can change; the rest read 0. */
#define COMMAND_WMASK	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
			 PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

/* BAR low bits. */
#define BAR_SPACE_IO		0x1u
#define BAR_MEM_TYPE_64		0x4u
#define BAR_MEM_PREFETCH	0x8u
#define BAR_IO_MASK		0xfffffffcu
#define BAR_MEM_MASK		0xfffffff0u
#define IO_SPACE_END		0x10000u	/* x86 port space */

#define BAR_MEM_MIN		16ULL
#define BAR_MEM_MAX		(1ULL << 40)
#define BAR_IO_MIN		4u
#define BAR_IO_MAX		256u

#define MAX_CAPS	((PCI_CONFIG_SIZE - PCI_CAP_START) / 4)
#define CAP_MIN_LEN	2

struct pci_bar {
	struct pci_dev *dev;
	unsigned index;
	uint64_t size;		/* 0: not implemented (or the high half of a 64-bit BAR) */
	unsigned flags;		/* PCI_BAR_* */
	const struct io_ops *ops;
	void *opaque;
	uint64_t init;		/* the address the bus assigned */
	_Atomic uint64_t mapped;	/* registered on the I/O bus at, or PCI_BAR_UNMAPPED */
};

struct pci_cap {
	unsigned off, len;
	const struct pci_cap_ops *ops;
	void *opaque;
};

struct pci_dev {
	struct pci_bus *bus;
	unsigned slot;
	uint8_t cfg[PCI_CONFIG_SIZE];	/* the header and capabilities as read */
	uint8_t wmask[PCI_CONFIG_SIZE];	/* bits the guest may write */
	struct pci_bar bars[PCI_NR_BARS];
	struct pci_cap caps[MAX_CAPS];
	unsigned nr_caps;
	unsigned cap_end;		/* first free config offset for a capability */
	const struct pci_dev_ops *ops;
	void *opaque;
	struct msix *msix;
	_Atomic uint16_t command;	/* copy of cfg's command, readable without the lock */
};

struct pci_bus {
	/* Config space, CONFIG_ADDRESS and BAR mappings. Taken before an
	 * MSI-X lock, which is taken before the irqroute lock. */
	pthread_mutex_t lock;
	struct pci_bus_config cfg;
	uint32_t config_address;
	struct pci_dev *devs[PCI_SLOTS];
	uint64_t next32, next64, next_io;	/* allocation cursors */
	bool have_cf8, have_cfc, have_ecam;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static void all_ones(void *data, unsigned size)
{
	memset(data, 0xff, size);
}

void pci_mmio64_window(uint64_t ram_size, unsigned phys_bits, uint64_t *base, uint64_t *size)
{
	/* RAM above 4 GiB: what does not fit below the 3 GiB hole start. */
	uint64_t top = 4 * (1ULL << 30), limit, b;
	const uint64_t low = 3 * (1ULL << 30);

	if (ram_size > low)
		top += ram_size - low;
	if (phys_bits == 0)
		phys_bits = 40;
	limit = phys_bits >= 64 ? UINT64_MAX : (1ULL << phys_bits);
	b = (top + LAYOUT_PCI_MMIO64_ALIGN - 1) & ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
	*base = b;
	*size = 0;
	if (b < top || b >= limit)
		return;
	*size = limit - b < LAYOUT_PCI_MMIO64_SIZE ? limit - b : LAYOUT_PCI_MMIO64_SIZE;
	/* Keep it a whole number of GiB, so BARs up to 1 GiB always fit. */
	*size &= ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
}

/* --- BAR accesses ------------------------------------------------------------------ */

static bool bar_range_ok(const struct pci_dev *d, unsigned bar, uint64_t off, unsigned size)
{
	const struct pci_bar *b;

	if (bar >= PCI_NR_BARS || size == 0 || size > 8)
		return false;
	b = &d->bars[bar];
	return b->size != 0 && off < b->size && size <= b->size - off;
}

void pci_dev_bar_read(struct pci_dev *d, unsigned bar, uint64_t off, void *data, unsigned size)
{
	const struct pci_bar *b;
	int own;

	if (size == 0)
		return;
	if (!bar_range_ok(d, bar, off, size)) {
		all_ones(data, size);
		return;
	}
	b = &d->bars[bar];
	own = d->msix ? msix_owns(d->msix, bar, off, size) : 0;
	if (own > 0)
		msix_bar_read(d->msix, bar, off, data, size);
	else if (own == 0 && b->ops && b->ops->read)
		b->ops->read(b->opaque, off, data, size);
	else
		all_ones(data, size);
}

void pci_dev_bar_write(struct pci_dev *d, unsigned bar, uint64_t off, const void *data,
		       unsigned size)
{
	const struct pci_bar *b;
	int own;

	if (!bar_range_ok(d, bar, off, size))
		return;
	b = &d->bars[bar];
	own = d->msix ? msix_owns(d->msix, bar, off, size) : 0;
	if (own > 0)
		msix_bar_write(d->msix, bar, off, data, size);
	else if (own == 0 && b->ops && b->ops->write)
		b->ops->write(b->opaque, off, data, size);
}

static void bar_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct pci_bar *b = opaque;

	pci_dev_bar_read(b->dev, b->index, off, data, size);
}

static void bar_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct pci_bar *b = opaque;

	pci_dev_bar_write(b->dev, b->index, off, data, size);
}

static const struct io_ops pci_bar_io_ops = {
	.read = bar_read,
	.write = bar_write,
};

/* --- config space of one device (bus lock held) -------------------------------- */

static uint16_t dev_cmd(const struct pci_dev *d)
{
	return rd16(d->cfg + PCI_COMMAND);
}

static const struct pci_cap *cap_at(const struct pci_dev *d, unsigned off)
{
	for (unsigned i = 0; i < d->nr_caps; i++) {
		const struct pci_cap *c = &d->caps[i];

		if (off >= c->off && off - c->off < c->len)
			return c;
	}
	return NULL;
}

/* piece: the largest naturally aligned access of at most (n) bytes at (off). */
static unsigned piece(unsigned off, unsigned n)
{
	if (n >= 4 && off % 4 == 0)
		return 4;
	if (n >= 2 && off % 2 == 0)
		return 2;
	return 1;
}

/* cap_run: how many of the (n) bytes at (off) go to capability (c)'s ops. */
static unsigned cap_run(const struct pci_cap *c, unsigned off, unsigned n)
{
	unsigned left = c->off + c->len - off;

	return piece(off, n < left ? n : left);
}

/* dev_read: (size) bytes at config offset (off), size <= 4, not crossing a
 * dword. Capabilities with ops get their part; the rest is the image. */
static void dev_read(struct pci_dev *d, unsigned off, uint8_t *out, unsigned size)
{
	for (unsigned i = 0; i < size;) {
		unsigned o = off + i;
		const struct pci_cap *c;

		if (o >= PCI_CONFIG_SIZE) {
			out[i++] = 0;	/* no extended capabilities */
			continue;
		}
		c = cap_at(d, o);
		if (c && c->ops && o - c->off >= CAP_MIN_LEN) {
			unsigned n = cap_run(c, o, size - i);

			memset(out + i, 0, n);
			if (c->ops->read)
				c->ops->read(c->opaque, o - c->off, out + i, n);
			i += n;
			continue;
		}
		out[i++] = d->cfg[o];
	}
}

/* bar_decode: where BAR (i) should be registered now, or PCI_BAR_UNMAPPED. */
static uint64_t bar_decode(const struct pci_dev *d, unsigned i)
{
	const struct pci_bar *b = &d->bars[i];
	uint16_t cmd = dev_cmd(d);
	uint32_t lo = rd32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * i);
	uint64_t addr, end;

	if (b->size == 0)
		return PCI_BAR_UNMAPPED;
	if (b->flags & PCI_BAR_IO) {
		if (!(cmd & PCI_COMMAND_IO))
			return PCI_BAR_UNMAPPED;
		addr = lo & BAR_IO_MASK;
		if (addr + b->size > IO_SPACE_END)
			return PCI_BAR_UNMAPPED;
	} else {
		if (!(cmd & PCI_COMMAND_MEMORY))
			return PCI_BAR_UNMAPPED;
		addr = lo & BAR_MEM_MASK;
		if (b->flags & PCI_BAR_MEM64)
			addr |= (uint64_t)rd32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32;
		if (ckd_add(&end, addr, b->size))
			return PCI_BAR_UNMAPPED;
	}
	/* 0 is where BARs are before anyone assigns them: not a place. */
	return addr ? addr : PCI_BAR_UNMAPPED;
}

static struct iobus *bar_iobus(const struct pci_bus *bus, const struct pci_bar *b)
{
	return b->flags & PCI_BAR_IO ? bus->cfg.pio : bus->cfg.mmio;
}

/*
 * bus_remap: bring every BAR's registration in line with its config space:
 * first drop the ranges that are stale, then register the wanted ones (so
 * two BARs can swap places), then tell the devices. A BAR whose range is
 * taken stays unmapped until the next change anywhere on the bus.
 */
static void bus_remap(struct pci_bus *bus)
{
	uint64_t prev[PCI_SLOTS][PCI_NR_BARS], want[PCI_SLOTS][PCI_NR_BARS];

	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = bus->devs[s];

		for (unsigned i = 0; d && i < PCI_NR_BARS; i++) {
			struct pci_bar *b = &d->bars[i];
			uint64_t m = atomic_load(&b->mapped);

			prev[s][i] = m;
			want[s][i] = bar_decode(d, i);
			if (m != PCI_BAR_UNMAPPED && m != want[s][i]) {
				iobus_unregister(bar_iobus(bus, b), m);
				atomic_store(&b->mapped, PCI_BAR_UNMAPPED);
			}
		}
	}
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = bus->devs[s];

		for (unsigned i = 0; d && i < PCI_NR_BARS; i++) {
			struct pci_bar *b = &d->bars[i];

			if (want[s][i] == PCI_BAR_UNMAPPED ||
			    atomic_load(&b->mapped) != PCI_BAR_UNMAPPED)
				continue;
			if (iobus_register(bar_iobus(bus, b), want[s][i], b->size, &pci_bar_io_ops,
					   b) == 0)
				atomic_store(&b->mapped, want[s][i]);
		}
	}
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = bus->devs[s];

		for (unsigned i = 0; d && i < PCI_NR_BARS; i++) {
			uint64_t now = atomic_load(&d->bars[i].mapped);

			if (now != prev[s][i] && d->ops && d->ops->bar_moved)
				d->ops->bar_moved(d->opaque, i, prev[s][i], now);
		}
	}
}

/* command_update: after the command register may have changed from (old). */
static void command_update(struct pci_dev *d, uint16_t old)
{
	uint16_t cmd = dev_cmd(d);

	atomic_store(&d->command, cmd);
	if (cmd == old)
		return;
	if ((cmd ^ old) & PCI_COMMAND_MASTER && d->msix)
		msix_set_bus_master(d->msix, cmd & PCI_COMMAND_MASTER);
	if (d->ops && d->ops->command_changed)
		d->ops->command_changed(d->opaque, old, cmd);
}

static void dev_write(struct pci_dev *d, unsigned off, const uint8_t *in, unsigned size)
{
	uint16_t old_cmd = dev_cmd(d);
	uint32_t old_bars[PCI_NR_BARS];
	bool header = false;

	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		old_bars[i] = rd32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * i);
	for (unsigned i = 0; i < size;) {
		unsigned o = off + i;
		const struct pci_cap *c;

		if (o >= PCI_CONFIG_SIZE)
			break;
		c = cap_at(d, o);
		if (c && c->ops && o - c->off >= CAP_MIN_LEN) {
			unsigned n = cap_run(c, o, size - i);

			if (c->ops->write)
				c->ops->write(c->opaque, o - c->off, in + i, n);
			i += n;
			continue;
		}
		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (in[i] & d->wmask[o]));
		header = header || o < PCI_CAP_START;
		i++;
	}
	if (!header)
		return;
	bool moved = dev_cmd(d) != old_cmd;

	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		moved = moved || rd32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * i) != old_bars[i];
	if (moved)
		bus_remap(d->bus);
	command_update(d, old_cmd);
}

/* bus_cfg_access: one config access from either mechanism. (data) holds
 * (size) bytes (1, 2 or 4, aligned). Lock held. */
static void bus_cfg_access(struct pci_bus *bus, unsigned busno, unsigned slot, unsigned fn,
			   unsigned reg, void *data, unsigned size, bool write)
{
	struct pci_dev *d = busno == 0 && fn == 0 && slot < PCI_SLOTS ? bus->devs[slot] : NULL;

	if (d == NULL) {
		if (!write)
			all_ones(data, size);	/* no device: vendor 0xffff */
		return;
	}
	if (write)
		dev_write(d, reg, data, size);
	else
		dev_read(d, reg, data, size);
}

static bool valid_size(uint64_t off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && off % size == 0;
}

/* --- type 1: 0xcf8 (address, and 0xcf9 forwarded) and 0xcfc (data) --------------- */

static void cf8_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;

	if (off == 0 && size == 4) {
		pthread_mutex_lock(&bus->lock);
		wr32(data, bus->config_address);
		pthread_mutex_unlock(&bus->lock);
	} else if (off == 1 && size == 1 && bus->cfg.cf9_ops && bus->cfg.cf9_ops->read) {
		bus->cfg.cf9_ops->read(bus->cfg.cf9_opaque, 0, data, 1);
	} else {
		all_ones(data, size);
	}
}

static void cf8_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;

	if (off == 0 && size == 4) {
		pthread_mutex_lock(&bus->lock);
		/* Enable, bus, device, function, dword register; reserved read 0. */
		bus->config_address = rd32(data) & 0x80fffffcu;
		pthread_mutex_unlock(&bus->lock);
	} else if (off == 1 && size == 1 && bus->cfg.cf9_ops && bus->cfg.cf9_ops->write) {
		bus->cfg.cf9_ops->write(bus->cfg.cf9_opaque, 0, data, 1);
	}
	/* Other sizes are not config cycles (Linux's type-1 probe writes a
	 * byte to 0xcfb): dropped. */
}

const struct io_ops pci_cf8_io_ops = {
	.read = cf8_read,
	.write = cf8_write,
};

static void cfc_access(struct pci_bus *bus, uint64_t off, void *data, unsigned size, bool write)
{
	uint32_t a;

	if (!valid_size(off, size) || off + size > 4) {
		if (!write)
			all_ones(data, size);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	a = bus->config_address;
	if (a & PCI_CONFIG_ENABLE)
		bus_cfg_access(bus, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7,
			       (a & 0xfc) + (unsigned)off, data, size, write);
	else if (!write)
		all_ones(data, size);
	pthread_mutex_unlock(&bus->lock);
}

static void cfc_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	cfc_access(opaque, off, data, size, false);
}

static void cfc_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	cfc_access(opaque, off, (void *)data, size, true);
}

const struct io_ops pci_cfc_io_ops = {
	.read = cfc_read,
	.write = cfc_write,
};

/* --- ECAM ------------------------------------------------------------------------ */

static void ecam_access(struct pci_bus *bus, uint64_t off, uint8_t *data, unsigned size,
			bool write)
{
	/* ECAM is defined for accesses up to a dword; an aligned qword is
	 * taken as two dwords. */
	if (size == 8 && off % 8 == 0) {
		ecam_access(bus, off, data, 4, write);
		ecam_access(bus, off + 4, data + 4, 4, write);
		return;
	}
	if (!valid_size(off, size) || off >= PCI_ECAM_SIZE) {
		if (!write)
			all_ones(data, size);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	bus_cfg_access(bus, (unsigned)(off >> 20), (unsigned)(off >> 15) & 0x1f,
		       (unsigned)(off >> 12) & 7, (unsigned)off & 0xfff, data, size, write);
	pthread_mutex_unlock(&bus->lock);
}

static void ecam_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	ecam_access(opaque, off, data, size, false);
}

static void ecam_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	ecam_access(opaque, off, (void *)data, size, true);
}

const struct io_ops pci_ecam_io_ops = {
	.read = ecam_read,
	.write = ecam_write,
};

/* --- the bus ----------------------------------------------------------------------- */

static struct pci_dev *dev_new(struct pci_bus *bus, unsigned slot, const struct pci_dev_info *info)
{
	struct pci_dev *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->bus = bus;
	d->slot = slot;
	d->cap_end = PCI_CAP_START;
	wr16(d->cfg + PCI_VENDOR_ID, info->vendor_id);
	wr16(d->cfg + PCI_DEVICE_ID, info->device_id);
	d->cfg[PCI_REVISION_ID] = info->revision;
	d->cfg[PCI_CLASS_PROG] = (uint8_t)info->class_code;
	d->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(info->class_code >> 8);
	d->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(info->class_code >> 16);
	wr16(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id);
	wr16(d->cfg + PCI_SUBSYSTEM_ID, info->subsystem_id);
	wr16(d->wmask + PCI_COMMAND, COMMAND_WMASK);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		d->bars[i].dev = d;
		d->bars[i].index = i;
		d->bars[i].mapped = PCI_BAR_UNMAPPED;
	}
	return d;
}

int pci_bus_create(struct pci_bus **out, const struct pci_bus_config *cfg)
{
	static const struct pci_dev_info host = {
		.vendor_id = PCI_HOST_VENDOR_ID,
		.device_id = PCI_HOST_DEVICE_ID,
		.class_code = PCI_CLASS_BRIDGE_HOST,
	};
	struct pci_bus *bus;
	int r;

	if (cfg == NULL || cfg->pio == NULL || cfg->mmio == NULL)
		return -EINVAL;
	bus = calloc(1, sizeof(*bus));
	if (bus == NULL)
		return -ENOMEM;
	r = -pthread_mutex_init(&bus->lock, NULL);
	if (r < 0) {
		free(bus);
		return r;
	}
	bus->cfg = *cfg;
	bus->next32 = cfg->mmio32_base;
	bus->next64 = cfg->mmio64_base;
	bus->next_io = cfg->io_base;
	bus->devs[0] = dev_new(bus, 0, &host);
	if (bus->devs[0] == NULL) {
		r = -ENOMEM;
		goto err;
	}
	r = iobus_register(cfg->pio, 0xcf8, 4, &pci_cf8_io_ops, bus);
	if (r < 0)
		goto err;
	bus->have_cf8 = true;
	r = iobus_register(cfg->pio, 0xcfc, 4, &pci_cfc_io_ops, bus);
	if (r < 0)
		goto err;
	bus->have_cfc = true;
	r = iobus_register(cfg->mmio, cfg->ecam_base, PCI_ECAM_SIZE, &pci_ecam_io_ops, bus);
	if (r < 0)
		goto err;
	bus->have_ecam = true;
	*out = bus;
	return 0;
err:
	pci_bus_destroy(bus);
	return r;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	if (bus == NULL)
		return;
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = bus->devs[s];

		if (d == NULL)
			continue;
		for (unsigned i = 0; i < PCI_NR_BARS; i++) {
			uint64_t m = atomic_load(&d->bars[i].mapped);

			if (m != PCI_BAR_UNMAPPED)
				iobus_unregister(bar_iobus(bus, &d->bars[i]), m);
		}
		if (d->msix)
			msix_free(d->msix);
		free(d);
	}
	if (bus->have_cf8)
		iobus_unregister(bus->cfg.pio, 0xcf8);
	if (bus->have_cfc)
		iobus_unregister(bus->cfg.pio, 0xcfc);
	if (bus->have_ecam)
		iobus_unregister(bus->cfg.mmio, bus->cfg.ecam_base);
	pthread_mutex_destroy(&bus->lock);
	free(bus);
}

int pci_dev_add(struct pci_bus *bus, int slot, const struct pci_dev_info *info,
		const struct pci_dev_ops *ops, void *opaque, struct pci_dev **out)
{
	struct pci_dev *d;
	int r = 0;

	if (bus == NULL || info == NULL || out == NULL || slot == 0 || slot < -1 ||
	    slot >= PCI_SLOTS || info->vendor_id == 0xffff || info->vendor_id == 0)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	if (slot < 0) {
		for (unsigned s = 1; s < PCI_SLOTS && slot < 0; s++)
			if (bus->devs[s] == NULL)
				slot = (int)s;
		if (slot < 0) {
			r = -ENOSPC;
			goto out;
		}
	} else if (bus->devs[slot]) {
		r = -EBUSY;
		goto out;
	}
	d = dev_new(bus, (unsigned)slot, info);
	if (d == NULL) {
		r = -ENOMEM;
		goto out;
	}
	d->ops = ops;
	d->opaque = opaque;
	bus->devs[slot] = d;
	*out = d;
out:
	pthread_mutex_unlock(&bus->lock);
	return r;
}

/* take: (size) bytes, (size)-aligned, from [*cursor, base + len). */
static int take(uint64_t *cursor, uint64_t base, uint64_t len, uint64_t size, uint64_t *out)
{
	uint64_t a, end, limit;

	if (len == 0 || ckd_add(&limit, base, len) || ckd_add(&a, *cursor, size - 1))
		return -ENOSPC;
	a &= ~(size - 1);
	if (a < *cursor || ckd_add(&end, a, size) || end > limit)
		return -ENOSPC;
	*out = a;
	*cursor = end;
	return 0;
}

int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, unsigned flags,
		    const struct io_ops *ops, void *opaque)
{
	struct pci_bus *bus;
	bool io = flags & PCI_BAR_IO, is64 = flags & PCI_BAR_MEM64;
	uint64_t addr, lo_mask, bits;
	uint8_t *reg;
	int r;

	if (d == NULL || bar >= PCI_NR_BARS || (flags & ~(PCI_BAR_IO | PCI_BAR_MEM64 |
							  PCI_BAR_PREFETCH)) ||
	    (io && (flags & (PCI_BAR_MEM64 | PCI_BAR_PREFETCH))) || !pow2(size) ||
	    (io && (size < BAR_IO_MIN || size > BAR_IO_MAX)) ||
	    (!io && (size < BAR_MEM_MIN || size > BAR_MEM_MAX)) ||
	    (is64 && bar + 1 >= PCI_NR_BARS) || (!is64 && !io && size > (1ULL << 31)))
		return -EINVAL;
	bus = d->bus;
	pthread_mutex_lock(&bus->lock);
	r = -EINVAL;
	/* A BAR in use, or the high half of a 64-bit one. */
	if (d->bars[bar].size || rd32(d->wmask + PCI_BASE_ADDRESS_0 + 4 * bar) ||
	    (is64 && (d->bars[bar + 1].size ||
		      rd32(d->wmask + PCI_BASE_ADDRESS_0 + 4 * (bar + 1)))) ||
	    (bar > 0 && d->bars[bar - 1].flags & PCI_BAR_MEM64))
		goto out;
	if (io)
		r = take(&bus->next_io, bus->cfg.io_base, bus->cfg.io_size, size, &addr);
	else if (is64 && bus->cfg.mmio64_size)
		r = take(&bus->next64, bus->cfg.mmio64_base, bus->cfg.mmio64_size, size, &addr);
	else
		r = take(&bus->next32, bus->cfg.mmio32_base, bus->cfg.mmio32_size, size, &addr);
	if (r < 0)
		goto out;

	bits = io ? BAR_SPACE_IO : (is64 ? BAR_MEM_TYPE_64 : 0) |
					   (flags & PCI_BAR_PREFETCH ? BAR_MEM_PREFETCH : 0);
	/* The size is in which address bits stick: write all ones, read back. */
	lo_mask = io ? (~(size - 1) & BAR_IO_MASK & (IO_SPACE_END - 1)) :
		       (~(size - 1) & BAR_MEM_MASK);
	reg = d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar;
	wr32(reg, (uint32_t)(addr | bits));
	wr32(d->wmask + PCI_BASE_ADDRESS_0 + 4 * bar, (uint32_t)lo_mask);
	if (is64) {
		wr32(reg + 4, (uint32_t)(addr >> 32));
		wr32(d->wmask + PCI_BASE_ADDRESS_0 + 4 * (bar + 1),
		     (uint32_t)(~(size - 1) >> 32));
	}
	d->bars[bar].size = size;
	d->bars[bar].flags = flags;
	d->bars[bar].ops = ops;
	d->bars[bar].opaque = opaque;
	d->bars[bar].init = addr;
	r = 0;
out:
	pthread_mutex_unlock(&bus->lock);
	return r;
}

uint64_t pci_dev_bar_addr(struct pci_dev *d, unsigned bar)
{
	return bar < PCI_NR_BARS ? atomic_load(&d->bars[bar].mapped) : PCI_BAR_UNMAPPED;
}

uint64_t pci_dev_bar_size(const struct pci_dev *d, unsigned bar)
{
	return bar < PCI_NR_BARS ? d->bars[bar].size : 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len,
		    const struct pci_cap_ops *ops, void *opaque)
{
	unsigned off;
	int r;

	if (d == NULL || len < CAP_MIN_LEN || len > PCI_CONFIG_SIZE - PCI_CAP_START)
		return -EINVAL;
	pthread_mutex_lock(&d->bus->lock);
	off = (d->cap_end + 3) & ~3u;
	if (off + len > PCI_CONFIG_SIZE || d->nr_caps == MAX_CAPS) {
		r = -ENOSPC;
		goto out;
	}
	if (body)
		memcpy(d->cfg + off, body, len);
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;			/* end of the list */
	if (d->nr_caps == 0) {
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
		wr16(d->cfg + PCI_STATUS, rd16(d->cfg + PCI_STATUS) | PCI_STATUS_CAP_LIST);
	} else {
		d->cfg[d->caps[d->nr_caps - 1].off + 1] = (uint8_t)off;
	}
	d->caps[d->nr_caps++] = (struct pci_cap){ off, len, ops, opaque };
	d->cap_end = off + len;
	r = (int)off;
out:
	pthread_mutex_unlock(&d->bus->lock);
	return r;
}

unsigned pci_dev_slot(const struct pci_dev *d)
{
	return d->slot;
}

void pci_dev_set_msix(struct pci_dev *d, struct msix *m)
{
	d->msix = m;
}

struct msix *pci_dev_msix(const struct pci_dev *d)
{
	return d->msix;
}

uint16_t pci_dev_command(struct pci_dev *d)
{
	return atomic_load(&d->command);
}

/* --- reset, save, load -------------------------------------------------------------- */

static void dev_power_on(struct pci_dev *d)
{
	uint16_t old = dev_cmd(d);

	wr16(d->cfg + PCI_COMMAND, 0);
	d->cfg[PCI_CACHE_LINE_SIZE] = 0;
	d->cfg[PCI_LATENCY_TIMER] = 0;
	d->cfg[PCI_INTERRUPT_LINE] = 0;
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		const struct pci_bar *b = &d->bars[i];
		uint8_t *reg = d->cfg + PCI_BASE_ADDRESS_0 + 4 * i;

		if (b->size == 0)
			continue;
		wr32(reg, (uint32_t)b->init | (rd32(reg) & ~rd32(d->wmask + (reg - d->cfg))));
		if (b->flags & PCI_BAR_MEM64)
			wr32(reg + 4, (uint32_t)(b->init >> 32));
	}
	if (d->msix)
		msix_reset(d->msix);
	command_update(d, old);
}

static void bus_power_on(struct pci_bus *bus)
{
	bus->config_address = 0;
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		if (bus->devs[s])
			dev_power_on(bus->devs[s]);
	bus_remap(bus);
}

static void bus_reset(void *opaque)
{
	struct pci_bus *bus = opaque;

	pthread_mutex_lock(&bus->lock);
	bus_power_on(bus);
	pthread_mutex_unlock(&bus->lock);
}

/* State layout, version 1: config_address (u32), then per slot 0-31 a
 * present byte and, for a device: command (u16), cache line, latency,
 * interrupt line (u8 each), the six BAR dwords, has-MSI-X (u8) and the
 * MSI-X state (msix_save()). */
static int bus_save(void *opaque, struct buf *out)
{
	struct pci_bus *bus = opaque;

	pthread_mutex_lock(&bus->lock);
	buf_put_u32(out, bus->config_address);
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_dev *d = bus->devs[s];

		buf_put_u8(out, d != NULL);
		if (d == NULL)
			continue;
		buf_put_u16(out, dev_cmd(d));
		buf_put_u8(out, d->cfg[PCI_CACHE_LINE_SIZE]);
		buf_put_u8(out, d->cfg[PCI_LATENCY_TIMER]);
		buf_put_u8(out, d->cfg[PCI_INTERRUPT_LINE]);
		for (unsigned i = 0; i < PCI_NR_BARS; i++)
			buf_put_u32(out, rd32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * i));
		buf_put_u8(out, d->msix != NULL);
		if (d->msix)
			msix_save(d->msix, out);
	}
	pthread_mutex_unlock(&bus->lock);
	return out->failed ? -ENOMEM : 0;
}

/* put_masked: write (v) into config bytes (off, n) through the write mask. */
static void put_masked(struct pci_dev *d, unsigned off, uint32_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint8_t b = (uint8_t)(v >> (8 * k));

		d->cfg[off + k] = (uint8_t)((d->cfg[off + k] & ~d->wmask[off + k]) |
					    (b & d->wmask[off + k]));
	}
}

static bool dev_load(struct pci_dev *d, struct buf_reader *r)
{
	uint16_t cmd, old = dev_cmd(d);
	uint8_t cls, lat, line, has_msix;
	uint32_t bars[PCI_NR_BARS];

	if (!buf_get_u16(r, &cmd) || !buf_get_u8(r, &cls) || !buf_get_u8(r, &lat) ||
	    !buf_get_u8(r, &line))
		return false;
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		if (!buf_get_u32(r, &bars[i]))
			return false;
	if (!buf_get_u8(r, &has_msix) || has_msix != (d->msix != NULL) ||
	    (cmd & ~COMMAND_WMASK))
		return false;
	if (d->msix && !msix_load(d->msix, r))
		return false;
	put_masked(d, PCI_COMMAND, cmd, 2);
	put_masked(d, PCI_CACHE_LINE_SIZE, cls, 1);
	put_masked(d, PCI_LATENCY_TIMER, lat, 1);
	put_masked(d, PCI_INTERRUPT_LINE, line, 1);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		put_masked(d, PCI_BASE_ADDRESS_0 + 4 * i, bars[i], 4);
	atomic_store(&d->command, dev_cmd(d));
	if (d->msix)
		msix_set_bus_master(d->msix, cmd & PCI_COMMAND_MASTER);
	if (cmd != old && d->ops && d->ops->command_changed)
		d->ops->command_changed(d->opaque, old, cmd);
	return true;
}

static int bus_load(void *opaque, const void *data, size_t len, uint32_t version)
{
	struct pci_bus *bus = opaque;
	struct buf_reader r;
	uint32_t addr;
	bool ok;

	buf_reader_init(&r, data, data ? len : 0);
	pthread_mutex_lock(&bus->lock);
	ok = version == PCI_STATE_VERSION && data != NULL && buf_get_u32(&r, &addr);
	for (unsigned s = 0; ok && s < PCI_SLOTS; s++) {
		struct pci_dev *d = bus->devs[s];
		uint8_t present;

		ok = buf_get_u8(&r, &present) && present == (d != NULL) && (!d || dev_load(d, &r));
	}
	ok = ok && r.off == r.len;
	if (ok) {
		bus->config_address = addr & 0x80fffffcu;
		bus_remap(bus);
	} else {
		bus_power_on(bus);
	}
	pthread_mutex_unlock(&bus->lock);
	return ok ? 0 : -EINVAL;
}

static void bus_destroy(void *opaque)
{
	pci_bus_destroy(opaque);
}

const struct dev_ops pci_bus_dev_ops = {
	.name = "pci",
	.version = PCI_STATE_VERSION,
	.reset = bus_reset,
	.save = bus_save,
	.load = bus_load,
	.destroy = bus_destroy,
};
