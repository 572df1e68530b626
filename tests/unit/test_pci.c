/* SPDX-License-Identifier: MIT */
/* test_pci.c: the PCI bus (type-1 and ECAM config access, BARs, capabilities),
 * MSI-X over a fake KVM, and the GSI routing table. */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "common/buf.h"
#include "common/err.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "vmm/iobus.h"
#include "vmm/irqroute.h"

#define MMIO64_BASE	(64ULL << 30)
#define MMIO64_SIZE	(32ULL << 30)
#define IO_BASE		0xc000u
#define IO_SIZE		0x4000u

/* --- a fake KVM: the routing table it was given, its irqfds, deliveries ------------- */

#define FAKE_MAX_IRQFDS	64
#define FAKE_MAX_DELIV	64

struct delivery {
	unsigned gsi;
	uint64_t addr;
	uint32_t data;
};

struct fake_kvm {
	pthread_mutex_t lock;		/* for the threaded test */
	struct kvm_irq_routing_entry routes[IRQROUTE_MAX_GSI];
	unsigned nr_routes;
	int commits;
	bool refuse;			/* set_routing fails if an MSI has refuse_data */
	uint32_t refuse_data;
	struct {
		int fd;
		unsigned gsi;
	} irqfds[FAKE_MAX_IRQFDS];
	unsigned nr_irqfds;
	struct delivery deliv[FAKE_MAX_DELIV];
	unsigned nr_deliv;
};

static void fake_init(struct fake_kvm *k)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
}

static int fake_set_routing(void *ctx, const struct kvm_irq_routing *t)
{
	struct fake_kvm *k = ctx;

	assert_true(t->nr <= IRQROUTE_MAX_GSI);
	for (unsigned i = 0; i < t->nr; i++) {
		assert_true(t->entries[i].gsi < IRQROUTE_MAX_GSI);
		if (k->refuse && t->entries[i].type == KVM_IRQ_ROUTING_MSI &&
		    t->entries[i].u.msi.data == k->refuse_data)
			return -EINVAL;
	}
	pthread_mutex_lock(&k->lock);
	memcpy(k->routes, t->entries, t->nr * sizeof(t->entries[0]));
	k->nr_routes = t->nr;
	k->commits++;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int fake_irqfd(void *ctx, const struct kvm_irqfd *a)
{
	struct fake_kvm *k = ctx;
	unsigned i;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < k->nr_irqfds; i++)
		if (k->irqfds[i].fd == (int)a->fd && k->irqfds[i].gsi == a->gsi)
			break;
	if (a->flags & KVM_IRQFD_FLAG_DEASSIGN) {
		assert_true(i < k->nr_irqfds);		/* only what was assigned */
		k->irqfds[i] = k->irqfds[--k->nr_irqfds];
	} else {
		assert_true(i == k->nr_irqfds);		/* never twice */
		assert_true(k->nr_irqfds < FAKE_MAX_IRQFDS);
		k->irqfds[k->nr_irqfds].fd = (int)a->fd;
		k->irqfds[k->nr_irqfds].gsi = a->gsi;
		k->nr_irqfds++;
	}
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static const struct kvm_irq_routing_entry *fake_route(const struct fake_kvm *k, unsigned gsi)
{
	for (unsigned i = 0; i < k->nr_routes; i++)
		if (k->routes[i].gsi == gsi)
			return &k->routes[i];
	return NULL;
}

static bool fake_bound(const struct fake_kvm *k, int fd)
{
	for (unsigned i = 0; i < k->nr_irqfds; i++)
		if (k->irqfds[i].fd == fd)
			return true;
	return false;
}

/* fake_kvm_run: what KVM does asynchronously: every bound eventfd that was
 * written is drained and its GSI's MSI route injected (recorded). */
static void fake_kvm_run(struct fake_kvm *k)
{
	pthread_mutex_lock(&k->lock);
	for (unsigned i = 0; i < k->nr_irqfds; i++) {
		uint64_t n;

		if (read(k->irqfds[i].fd, &n, sizeof(n)) != sizeof(n))
			continue;
		const struct kvm_irq_routing_entry *e = fake_route(k, k->irqfds[i].gsi);

		if (e == NULL || e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		assert_true(k->nr_deliv < FAKE_MAX_DELIV);
		k->deliv[k->nr_deliv++] = (struct delivery){
			e->gsi, e->u.msi.address_lo | (uint64_t)e->u.msi.address_hi << 32,
			e->u.msi.data };
	}
	pthread_mutex_unlock(&k->lock);
}

/* --- a test device: records accesses to its BARs ---------------------------------- */

struct tdev {
	pthread_mutex_t lock;	/* BAR accesses may come from several threads */
	int reads, writes;
	unsigned last_bar;
	uint64_t last_off;
	unsigned last_size;
	uint64_t last_val;
	int moves;
	unsigned moved_bar;
	uint64_t moved_old, moved_new;
	int cmd_changes;
	uint16_t cmd_old, cmd_new;
	/* a capability with ops */
	int cap_reads, cap_writes;
	unsigned cap_off, cap_size;
	uint32_t cap_val;
};

struct tbar {
	struct tdev *t;
	unsigned bar;
};

static void tbar_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct tbar *b = opaque;

	pthread_mutex_lock(&b->t->lock);
	b->t->reads++;
	b->t->last_bar = b->bar;
	b->t->last_off = off;
	b->t->last_size = size;
	pthread_mutex_unlock(&b->t->lock);
	memset(data, 0xa0 + (int)b->bar, size);
}

static void tbar_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct tbar *b = opaque;

	pthread_mutex_lock(&b->t->lock);
	b->t->writes++;
	b->t->last_bar = b->bar;
	b->t->last_off = off;
	b->t->last_size = size;
	b->t->last_val = 0;
	memcpy(&b->t->last_val, data, size < 8 ? size : 8);
	pthread_mutex_unlock(&b->t->lock);
}

static const struct io_ops tbar_ops = { tbar_read, tbar_write };

static void tdev_bar_moved(void *opaque, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct tdev *t = opaque;

	assert_int_not_equal(old_addr, new_addr);
	t->moves++;
	t->moved_bar = bar;
	t->moved_old = old_addr;
	t->moved_new = new_addr;
}

static void tdev_cmd(void *opaque, uint16_t old, uint16_t new)
{
	struct tdev *t = opaque;

	t->cmd_changes++;
	t->cmd_old = old;
	t->cmd_new = new;
}

static const struct pci_dev_ops tdev_ops = { tdev_bar_moved, tdev_cmd };

static void tcap_read(void *opaque, unsigned off, void *data, unsigned size)
{
	struct tdev *t = opaque;

	assert_true(off >= 2 && size >= 1 && size <= 4 && off % size == 0);
	t->cap_reads++;
	t->cap_off = off;
	t->cap_size = size;
	for (unsigned i = 0; i < size; i++)
		((uint8_t *)data)[i] = (uint8_t)(0x10 + off + i);
}

static void tcap_write(void *opaque, unsigned off, const void *data, unsigned size)
{
	struct tdev *t = opaque;

	assert_true(off >= 2 && size >= 1 && size <= 4 && off % size == 0);
	t->cap_writes++;
	t->cap_off = off;
	t->cap_size = size;
	t->cap_val = 0;
	memcpy(&t->cap_val, data, size);
}

static const struct pci_cap_ops tcap_ops = { tcap_read, tcap_write };

/* --- fixture ------------------------------------------------------------------------ */

struct fx {
	struct iobus pio, mmio;
	struct pci_bus *bus;
	struct fake_kvm kvm;
	struct irqroute *rt;
	uint8_t cf9_val;
	int cf9_reads, cf9_writes;
	struct tdev t;
	struct tbar tb[PCI_NR_BARS];
	struct pci_dev *dev;
};

static void cf9_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct fx *f = opaque;

	assert_int_equal(off, 0);
	assert_int_equal(size, 1);
	f->cf9_reads++;
	*(uint8_t *)data = f->cf9_val;
}

static void cf9_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct fx *f = opaque;

	assert_int_equal(off, 0);
	assert_int_equal(size, 1);
	f->cf9_writes++;
	f->cf9_val = *(const uint8_t *)data;
}

static const struct io_ops cf9_ops = { cf9_read, cf9_write };

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct irqroute_backend be;

	assert_non_null(f);
	fake_init(&f->kvm);
	iobus_init(&f->pio);
	iobus_init(&f->mmio);
	be = (struct irqroute_backend){ fake_set_routing, fake_irqfd, &f->kvm };
	f->rt = irqroute_create_backend(&be);
	assert_non_null(f->rt);
	assert_int_equal(irqroute_init_pc(f->rt), 0);

	struct pci_bus_config c = {
		.pio = &f->pio,
		.mmio = &f->mmio,
		.ecam_base = LAYOUT_PCI_ECAM,
		.mmio32_base = LAYOUT_PCI_MMIO32,
		.mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.mmio64_base = MMIO64_BASE,
		.mmio64_size = MMIO64_SIZE,
		.io_base = IO_BASE,
		.io_size = IO_SIZE,
		.cf9_ops = &cf9_ops,
		.cf9_opaque = f,
	};
	assert_int_equal(pci_bus_create(&f->bus, &c), 0);
	pthread_mutex_init(&f->t.lock, NULL);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		f->tb[i] = (struct tbar){ &f->t, i };
	return f;
}

static void fx_free(struct fx *f)
{
	pci_bus_destroy(f->bus);
	/* everything the bus registered is gone */
	assert_int_equal(f->pio.nr, 0);
	assert_int_equal(f->mmio.nr, 0);
	/* and every irqfd was deassigned */
	assert_int_equal(f->kvm.nr_irqfds, 0);
	irqroute_destroy(f->rt);
	iobus_free(&f->pio);
	iobus_free(&f->mmio);
	free(f);
}

static const struct pci_dev_info tinfo = {
	.vendor_id = 0x1af4,
	.device_id = 0x1042,
	.subsystem_vendor_id = 0x1af4,
	.subsystem_id = 0x1100,
	.revision = 1,
	.class_code = 0x018000,
};

/* A device in slot 3: BAR0 mem32 4 KiB, BAR1 io 32, BAR2-3 mem64 prefetchable
 * 16 KiB, BAR4-5 mem64 64 KiB. */
static void fx_add_dev(struct fx *f)
{
	assert_int_equal(pci_dev_add(f->bus, 3, &tinfo, &tdev_ops, &f->t, &f->dev), 0);
	assert_int_equal(pci_dev_add_bar(f->dev, 0, 4096, 0, &tbar_ops, &f->tb[0]), 0);
	assert_int_equal(pci_dev_add_bar(f->dev, 1, 32, PCI_BAR_IO, &tbar_ops, &f->tb[1]), 0);
	assert_int_equal(pci_dev_add_bar(f->dev, 2, 16384, PCI_BAR_MEM64 | PCI_BAR_PREFETCH,
					 &tbar_ops, &f->tb[2]), 0);
	assert_int_equal(pci_dev_add_bar(f->dev, 4, 65536, PCI_BAR_MEM64, &tbar_ops, &f->tb[4]),
			 0);
}

/* --- config access helpers ------------------------------------------------------------ */

static uint32_t pio_in(struct fx *f, uint16_t port, unsigned size)
{
	uint32_t v = 0;

	iobus_read(&f->pio, port, &v, size);
	return v;
}

static void pio_out(struct fx *f, uint16_t port, unsigned size, uint32_t v)
{
	iobus_write(&f->pio, port, &v, size);
}

static uint32_t addr1(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return PCI_CONFIG_ENABLE | bus << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg1_read(struct fx *f, unsigned slot, unsigned reg, unsigned size)
{
	pio_out(f, 0xcf8, 4, addr1(0, slot, 0, reg));
	return pio_in(f, (uint16_t)(0xcfc + (reg & 3)), size);
}

static void cfg1_write(struct fx *f, unsigned slot, unsigned reg, unsigned size, uint32_t v)
{
	pio_out(f, 0xcf8, 4, addr1(0, slot, 0, reg));
	pio_out(f, (uint16_t)(0xcfc + (reg & 3)), size, v);
}

static uint64_t ecam_off(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
	return (uint64_t)bus << 20 | slot << 15 | fn << 12 | reg;
}

static uint64_t ecam_read(struct fx *f, unsigned bus, unsigned slot, unsigned fn, unsigned reg,
			  unsigned size)
{
	uint64_t v = 0;

	assert_int_equal(iobus_read(&f->mmio, LAYOUT_PCI_ECAM + ecam_off(bus, slot, fn, reg), &v,
				    size), 1);
	return v;
}

static void ecam_write(struct fx *f, unsigned slot, unsigned reg, unsigned size, uint64_t v)
{
	assert_int_equal(iobus_write(&f->mmio, LAYOUT_PCI_ECAM + ecam_off(0, slot, 0, reg), &v,
				     size), 1);
}

static uint64_t mmio_read(struct fx *f, uint64_t addr, unsigned size)
{
	uint64_t v = 0;

	iobus_read(&f->mmio, addr, &v, size);
	return v;
}

static void mmio_write(struct fx *f, uint64_t addr, unsigned size, uint64_t v)
{
	iobus_write(&f->mmio, addr, &v, size);
}

/* --- tests: config space --------------------------------------------------------------- */

static void test_host_bridge(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	assert_int_equal(cfg1_read(f, 0, PCI_VENDOR_ID, 4),
			 PCI_HOST_DEVICE_ID << 16 | PCI_HOST_VENDOR_ID);
	assert_int_equal(cfg1_read(f, 0, PCI_VENDOR_ID, 2), PCI_HOST_VENDOR_ID);
	assert_int_equal(cfg1_read(f, 0, PCI_DEVICE_ID, 2), PCI_HOST_DEVICE_ID);
	assert_int_equal(cfg1_read(f, 0, PCI_REVISION_ID, 4) >> 8, 0x060000); /* host bridge */
	assert_int_equal(cfg1_read(f, 0, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg1_read(f, 0, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(cfg1_read(f, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		assert_int_equal(cfg1_read(f, 0, PCI_BASE_ADDRESS_0 + 4 * i, 4), 0);

	/* Empty slots, other functions and other buses: all ones. */
	for (unsigned s = 1; s < PCI_SLOTS; s++)
		assert_int_equal(cfg1_read(f, s, PCI_VENDOR_ID, 4), 0xffffffff);
	pio_out(f, 0xcf8, 4, addr1(0, 0, 1, 0));
	assert_int_equal(pio_in(f, 0xcfc, 4), 0xffffffff);
	pio_out(f, 0xcf8, 4, addr1(1, 0, 0, 0));
	assert_int_equal(pio_in(f, 0xcfc, 4), 0xffffffff);
	assert_int_equal(pio_in(f, 0xcfe, 2), 0xffff);
	/* Enable bit clear: no config cycle. */
	pio_out(f, 0xcf8, 4, 0);
	assert_int_equal(pio_in(f, 0xcfc, 4), 0xffffffff);

	/* CONFIG_ADDRESS: Linux's type-1 probe; reserved bits read 0. */
	pio_out(f, 0xcf8, 4, 0x80000000);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80000000);
	pio_out(f, 0xcf8, 4, 0xffffffff);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80fffffc);
	fx_free(f);
}

/* 0xcf9 is the reset register, inside the dword at 0xcf8. */
static void test_cf9_forward(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	pio_out(f, 0xcf9, 1, 0x06);
	assert_int_equal(f->cf9_writes, 1);
	assert_int_equal(f->cf9_val, 0x06);
	assert_int_equal(pio_in(f, 0xcf9, 1), 0x06);
	assert_int_equal(f->cf9_reads, 1);
	/* A dword at 0xcf8 is CONFIG_ADDRESS, never the reset register. */
	pio_out(f, 0xcf8, 4, 0x80000800);
	assert_int_equal(f->cf9_writes, 1);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80000800);
	/* Other bytes and words in 0xcf8-0xcfb are nothing (Linux's probe
	 * writes 0xcfb). */
	pio_out(f, 0xcfb, 1, 0x01);
	pio_out(f, 0xcf8, 1, 0x12);
	pio_out(f, 0xcf8, 2, 0x1234);
	pio_out(f, 0xcfa, 2, 0x1234);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80000800);
	assert_int_equal(pio_in(f, 0xcf8, 1), 0xff);
	assert_int_equal(pio_in(f, 0xcfa, 2), 0xffff);
	assert_int_equal(f->cf9_writes, 1);
	fx_free(f);
}

static void test_ecam_equals_type1(void **state)
{
	struct fx *f = fx_new();
	static const uint8_t body[8] = { 0, 0, 8, 1, 2, 3, 4, 5 };

	(void)state;
	fx_add_dev(f);
	assert_true(pci_dev_add_cap(f->dev, PCI_CAP_ID_VNDR, body, sizeof(body), NULL, NULL) > 0);
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		for (unsigned reg = 0; reg < PCI_CONFIG_SIZE; reg += 4) {
			assert_int_equal(ecam_read(f, 0, s, 0, reg, 4), cfg1_read(f, s, reg, 4));
			assert_int_equal(ecam_read(f, 0, s, 0, reg + 2, 2),
					 cfg1_read(f, s, reg + 2, 2));
			assert_int_equal(ecam_read(f, 0, s, 0, reg + 3, 1),
					 cfg1_read(f, s, reg + 3, 1));
		}
	}
	/* Extended config space: zeros for a device (no extended capability),
	 * ones where there is none; other buses and functions: ones. */
	assert_int_equal(ecam_read(f, 0, 3, 0, 0x100, 4), 0);
	assert_int_equal(ecam_read(f, 0, 3, 0, 0xffc, 4), 0);
	assert_int_equal(ecam_read(f, 0, 4, 0, 0x100, 4), 0xffffffff);
	assert_int_equal(ecam_read(f, 1, 0, 0, 0, 4), 0xffffffff);
	assert_int_equal(ecam_read(f, 255, 31, 7, 0xffc, 4), 0xffffffff);
	assert_int_equal(ecam_read(f, 0, 3, 1, 0, 4), 0xffffffff);
	/* An aligned qword is two dwords. */
	assert_int_equal(ecam_read(f, 0, 3, 0, 0, 8),
			 (uint64_t)cfg1_read(f, 3, 4, 4) << 32 | cfg1_read(f, 3, 0, 4));
	/* Writes through ECAM show through type 1 and back. */
	ecam_write(f, 3, PCI_INTERRUPT_LINE, 1, 0x0b);
	assert_int_equal(cfg1_read(f, 3, PCI_INTERRUPT_LINE, 1), 0x0b);
	cfg1_write(f, 3, PCI_CACHE_LINE_SIZE, 1, 0x10);
	assert_int_equal(ecam_read(f, 0, 3, 0, PCI_CACHE_LINE_SIZE, 1), 0x10);
	/* The device's identity. */
	assert_int_equal(cfg1_read(f, 3, PCI_VENDOR_ID, 4), 0x10421af4);
	assert_int_equal(cfg1_read(f, 3, PCI_REVISION_ID, 4), 0x01800001);
	assert_int_equal(cfg1_read(f, 3, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	assert_int_equal(cfg1_read(f, 3, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(cfg1_read(f, 3, PCI_ROM_ADDRESS, 4), 0);
	fx_free(f);
}

static void test_bar_sizing(void **state)
{
	struct fx *f = fx_new();
	uint32_t b[PCI_NR_BARS];

	(void)state;
	fx_add_dev(f);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		b[i] = cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 4 * i, 4);
	/* Assigned from the windows, with the type bits. */
	assert_int_equal(b[0], LAYOUT_PCI_MMIO32);
	assert_int_equal(b[1], IO_BASE | 1);
	assert_int_equal(b[2], (uint32_t)MMIO64_BASE | 0xc);	/* 64-bit, prefetchable */
	assert_int_equal(b[3], MMIO64_BASE >> 32);
	assert_int_equal(b[4] & 0xf, 0x4);				/* 64-bit */
	assert_int_equal(((uint64_t)b[5] << 32 | (b[4] & ~0xfu)) % 65536, 0);
	assert_true(((uint64_t)b[5] << 32 | (b[4] & ~0xfu)) >= MMIO64_BASE + 16384);

	/* Sizing: all ones in, the size mask out. */
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 4 * i, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 4, 4), 0x0000ffe1);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 8, 4), 0xffffc00c);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 12, 4), 0xffffffff);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 16, 4), 0xffff0004);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 20, 4), 0xffffffff);
	/* Decoding was off: nothing was mapped at the sizing values. */
	assert_int_equal(f->t.moves, 0);
	/* Restore. */
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 4 * i, 4, b[i]);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 4 * i, 4), b[i]);

	/* Unimplemented BARs and the ROM BAR stay 0. */
	assert_int_equal(pci_dev_add(f->bus, 5, &tinfo, NULL, NULL, &f->dev), 0);
	cfg1_write(f, 5, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	cfg1_write(f, 5, PCI_ROM_ADDRESS, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 5, PCI_BASE_ADDRESS_0, 4), 0);
	assert_int_equal(cfg1_read(f, 5, PCI_ROM_ADDRESS, 4), 0);
	/* Read-only header fields ignore writes. */
	cfg1_write(f, 5, PCI_VENDOR_ID, 4, 0);
	cfg1_write(f, 5, PCI_REVISION_ID, 4, 0);
	cfg1_write(f, 5, PCI_HEADER_TYPE, 1, 0x80);
	assert_int_equal(cfg1_read(f, 5, PCI_VENDOR_ID, 4), 0x10421af4);
	assert_int_equal(cfg1_read(f, 5, PCI_REVISION_ID, 4), 0x01800001);
	assert_int_equal(cfg1_read(f, 5, PCI_HEADER_TYPE, 1), 0);
	fx_free(f);
}

static void test_bar_errors(void **state)
{
	struct fx *f = fx_new();
	struct pci_dev *d, *d2;

	(void)state;
	assert_int_equal(pci_dev_add(f->bus, 0, &tinfo, NULL, NULL, &d), -EINVAL);
	assert_int_equal(pci_dev_add(f->bus, 32, &tinfo, NULL, NULL, &d), -EINVAL);
	assert_int_equal(pci_dev_add(f->bus, -2, &tinfo, NULL, NULL, &d), -EINVAL);
	assert_int_equal(pci_dev_add(f->bus, 7, &tinfo, NULL, NULL, &d), 0);
	assert_int_equal(pci_dev_slot(d), 7);
	assert_int_equal(pci_dev_add(f->bus, 7, &tinfo, NULL, NULL, &d2), -EBUSY);
	assert_int_equal(pci_dev_add(f->bus, -1, &tinfo, NULL, NULL, &d2), 0);
	assert_int_equal(pci_dev_slot(d2), 1);

	assert_int_equal(pci_dev_add_bar(d, 0, 3000, 0, NULL, NULL), -EINVAL);	/* not 2^n */
	assert_int_equal(pci_dev_add_bar(d, 0, 8, 0, NULL, NULL), -EINVAL);	/* < 16 */
	assert_int_equal(pci_dev_add_bar(d, 0, 512, PCI_BAR_IO, NULL, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 0, 2, PCI_BAR_IO, NULL, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 0, 64, PCI_BAR_IO | PCI_BAR_MEM64, NULL, NULL),
			 -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 5, 4096, PCI_BAR_MEM64, NULL, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 6, 4096, 0, NULL, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 0, 4096, 0x80, NULL, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 0, 1ULL << 32, 0, NULL, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(d, 1, 4096, PCI_BAR_MEM64, NULL, NULL), 0);
	assert_int_equal(pci_dev_add_bar(d, 1, 4096, 0, NULL, NULL), -EINVAL);	/* in use */
	assert_int_equal(pci_dev_add_bar(d, 2, 4096, 0, NULL, NULL), -EINVAL); /* high half */
	assert_int_equal(pci_dev_add_bar(d, 0, 4096, PCI_BAR_MEM64, NULL, NULL), -EINVAL);
	/* The 32-bit window is 512 MiB: a second 512 MiB BAR does not fit. */
	assert_int_equal(pci_dev_add_bar(d, 3, 512 << 20, 0, NULL, NULL), 0);
	assert_int_equal(pci_dev_add_bar(d, 4, 512 << 20, 0, NULL, NULL), -ENOSPC);
	assert_int_equal(pci_dev_add_bar(d2, 0, 16, 0, NULL, NULL), -ENOSPC);
	/* 64-bit window: 32 GiB. */
	assert_int_equal(pci_dev_add_bar(d2, 0, 32ULL << 30, PCI_BAR_MEM64, NULL, NULL), -ENOSPC);
	assert_int_equal(pci_dev_add_bar(d2, 0, 16ULL << 30, PCI_BAR_MEM64, NULL, NULL), 0);
	/* I/O window 0xc000-0xffff: 64 BARs of 256 fill it. */
	struct pci_dev *x = NULL;

	for (int s = 8; s < 24; s++) {
		assert_int_equal(pci_dev_add(f->bus, s, &tinfo, NULL, NULL, &x), 0);
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(pci_dev_add_bar(x, i, 256, PCI_BAR_IO, NULL, NULL), 0);
	}
	assert_int_equal(pci_dev_add_bar(x, 4, 4, PCI_BAR_IO, NULL, NULL), -ENOSPC);
	/* Fill the bus. */
	for (int s = 24; s < PCI_SLOTS; s++)
		assert_int_equal(pci_dev_add(f->bus, -1, &tinfo, NULL, NULL, &d2), 0);
	for (int s = 2; s < 7; s++)
		assert_int_equal(pci_dev_add(f->bus, -1, &tinfo, NULL, NULL, &d2), 0);
	assert_int_equal(pci_dev_add(f->bus, -1, &tinfo, NULL, NULL, &d2), -ENOSPC);
	fx_free(f);
}

static void test_command_register(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_add_dev(f);
	assert_int_equal(cfg1_read(f, 3, PCI_COMMAND, 2), 0);
	cfg1_write(f, 3, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(cfg1_read(f, 3, PCI_COMMAND, 2), 0x0547);
	assert_int_equal(pci_dev_command(f->dev), 0x0547);
	assert_int_equal(f->t.cmd_changes, 1);
	assert_int_equal(f->t.cmd_old, 0);
	assert_int_equal(f->t.cmd_new, 0x0547);
	/* Status is not changed by writing the command dword. */
	cfg1_write(f, 3, PCI_COMMAND, 4, 0xffff0000 | PCI_COMMAND_MEMORY);
	assert_int_equal(cfg1_read(f, 3, PCI_COMMAND, 4), PCI_COMMAND_MEMORY);
	assert_int_equal(f->t.cmd_changes, 2);
	/* The same value again: no event. */
	cfg1_write(f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(f->t.cmd_changes, 2);
	/* Byte writes to the high byte. */
	cfg1_write(f, 3, PCI_COMMAND + 1, 1, 0x04);
	assert_int_equal(cfg1_read(f, 3, PCI_COMMAND, 2), PCI_COMMAND_INTX_DISABLE |
								 PCI_COMMAND_MEMORY);
	/* Writable: cache line, latency, interrupt line. */
	cfg1_write(f, 3, PCI_CACHE_LINE_SIZE, 2, 0x4010);
	cfg1_write(f, 3, PCI_INTERRUPT_LINE, 2, 0xff0a);
	assert_int_equal(cfg1_read(f, 3, PCI_CACHE_LINE_SIZE, 4), 0x00004010);
	assert_int_equal(cfg1_read(f, 3, PCI_INTERRUPT_LINE, 4), 0x0000000a);
	fx_free(f);
}

static void test_bar_mapping(void **state)
{
	struct fx *f = fx_new();
	uint64_t b0 = LAYOUT_PCI_MMIO32, b2 = MMIO64_BASE;

	(void)state;
	fx_add_dev(f);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), PCI_BAR_UNMAPPED);
	assert_int_equal(mmio_read(f, b0, 4), 0xffffffff);	/* decoding off */
	assert_int_equal(f->t.reads, 0);

	/* Memory on: the memory BARs appear, in order, and their accesses
	 * arrive relative to the BAR. */
	cfg1_write(f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(f->t.moves, 3);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), b0);
	assert_int_equal(pci_dev_bar_addr(f->dev, 1), PCI_BAR_UNMAPPED);
	assert_int_equal(pci_dev_bar_addr(f->dev, 2), b2);
	assert_int_equal(pci_dev_bar_addr(f->dev, 3), PCI_BAR_UNMAPPED);
	assert_int_equal(mmio_read(f, b0 + 0x10, 4), 0xa0a0a0a0);
	assert_int_equal(f->t.last_bar, 0);
	assert_int_equal(f->t.last_off, 0x10);
	assert_int_equal(f->t.last_size, 4);
	mmio_write(f, b2 + 0x3ff8, 8, 0x1122334455667788ULL);
	assert_int_equal(f->t.last_bar, 2);
	assert_int_equal(f->t.last_off, 0x3ff8);
	assert_int_equal(f->t.last_val, 0x1122334455667788ULL);
	/* Past the end of a BAR: nothing. */
	assert_int_equal(mmio_read(f, b0 + 4096, 4), 0xffffffff);
	assert_int_equal(mmio_read(f, b0 + 4094, 4), 0xffffffff);

	/* I/O on: the I/O BAR. */
	cfg1_write(f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(f->t.moves, 4);
	assert_int_equal(f->t.moved_bar, 1);
	assert_int_equal(f->t.moved_old, PCI_BAR_UNMAPPED);
	assert_int_equal(f->t.moved_new, IO_BASE);
	assert_int_equal(pio_in(f, IO_BASE + 31, 1), 0xa1);
	assert_int_equal(f->t.last_off, 31);

	/* Move BAR0 within the window. */
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, (uint32_t)(b0 + 0x100000));
	assert_int_equal(f->t.moves, 5);
	assert_int_equal(f->t.moved_bar, 0);
	assert_int_equal(f->t.moved_old, b0);
	assert_int_equal(f->t.moved_new, b0 + 0x100000);
	assert_int_equal(mmio_read(f, b0, 4), 0xffffffff);
	f->t.reads = 0;
	assert_int_equal(mmio_read(f, b0 + 0x100000, 4), 0xa0a0a0a0);
	assert_int_equal(f->t.reads, 1);

	/* Move the 64-bit BAR2 above 4 GiB, one dword at a time (the
	 * intermediate place counts as a move too). */
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 12, 4, 0x00000002);
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 8, 4, 0x40000000);
	assert_int_equal(pci_dev_bar_addr(f->dev, 2), 0x240000000ULL);
	assert_int_equal(f->t.moved_new, 0x240000000ULL);
	assert_int_equal(mmio_read(f, 0x240000000ULL, 2), 0xa2a2);
	assert_int_equal(mmio_read(f, b2, 2), 0xffff);

	/* Onto the ECAM: cannot be mapped there; back: mapped again. */
	int moves = f->t.moves;

	cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, (uint32_t)LAYOUT_PCI_ECAM);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), PCI_BAR_UNMAPPED);
	assert_int_equal(f->t.moves, moves + 1);
	assert_int_equal(cfg1_read(f, 0, 0, 4), PCI_HOST_DEVICE_ID << 16 | PCI_HOST_VENDOR_ID);
	assert_int_equal(ecam_read(f, 0, 0, 0, 0, 4),
			 PCI_HOST_DEVICE_ID << 16 | PCI_HOST_VENDOR_ID);
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, (uint32_t)b0);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), b0);

	/* Two BARs swap places (BAR0 and BAR2's low half in one 64-bit
	 * move): both end up mapped. Put BAR2 at b0 + 64 KiB first. */
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 12, 4, 0);
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 8, 4, (uint32_t)(b0 + 0x10000));
	assert_int_equal(pci_dev_bar_addr(f->dev, 2), b0 + 0x10000);
	/* Overlap: BAR0 onto BAR2's range fails, BAR2 keeps it. */
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, (uint32_t)(b0 + 0x10000));
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), PCI_BAR_UNMAPPED);
	assert_int_equal(pci_dev_bar_addr(f->dev, 2), b0 + 0x10000);
	/* BAR2 leaves: BAR0 gets its place on that same change. */
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0 + 8, 4, (uint32_t)(b0 + 0x20000));
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), b0 + 0x10000);
	assert_int_equal(pci_dev_bar_addr(f->dev, 2), b0 + 0x20000);

	/* Address 0 is "unassigned". */
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, 0);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), PCI_BAR_UNMAPPED);

	/* Decoding off: everything goes. */
	cfg1_write(f, 3, PCI_COMMAND, 2, 0);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		assert_int_equal(pci_dev_bar_addr(f->dev, i), PCI_BAR_UNMAPPED);
	assert_int_equal(f->t.moved_old != PCI_BAR_UNMAPPED, 1);
	assert_int_equal(f->t.moved_new, PCI_BAR_UNMAPPED);
	assert_int_equal(f->mmio.nr, 1);		/* the ECAM only */
	assert_int_equal(f->pio.nr, 2);			/* 0xcf8 and 0xcfc */
	fx_free(f);
}

static void test_cap_list(void **state)
{
	struct fx *f = fx_new();
	uint8_t vndr[16] = { 0xee, 0xee, 16, 1, 4, 0, 0, 0, 0x00, 0x10, 0, 0, 0x00, 0x20, 0, 0 };
	int c1, c2, c3;

	(void)state;
	fx_add_dev(f);
	c1 = pci_dev_add_cap(f->dev, PCI_CAP_ID_VNDR, vndr, sizeof(vndr), NULL, NULL);
	c2 = pci_dev_add_cap(f->dev, PCI_CAP_ID_VNDR, NULL, 14, &tcap_ops, &f->t);
	assert_int_equal(msix_init(f->dev, f->rt, 4, 0, 0, 0, 0x800), 0);
	c3 = pci_dev_add_cap(f->dev, PCI_CAP_ID_VNDR, vndr, 5, NULL, NULL);
	assert_int_equal(c1, 0x40);
	assert_int_equal(c2, 0x50);
	assert_int_equal(c3, 0x6c);		/* after MSI-X's 12 bytes at 0x60 */
	assert_int_equal(pci_dev_add_cap(f->dev, PCI_CAP_ID_VNDR, NULL, 1, NULL, NULL), -EINVAL);

	assert_true(cfg1_read(f, 3, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Walk: IDs in order, pointers dword aligned, forward, ends at 0. */
	static const uint8_t ids[] = { PCI_CAP_ID_VNDR, PCI_CAP_ID_VNDR, PCI_CAP_ID_MSIX,
				       PCI_CAP_ID_VNDR };
	unsigned p = cfg1_read(f, 3, PCI_CAPABILITY_LIST, 1), n = 0;

	while (p) {
		assert_true(n < ARRAY_SIZE(ids));
		assert_true(p >= PCI_CAP_START && p % 4 == 0);
		assert_int_equal(cfg1_read(f, 3, p, 1), ids[n]);
		unsigned next = cfg1_read(f, 3, p + 1, 1);

		assert_true(next == 0 || next > p);
		p = next;
		n++;
	}
	assert_int_equal(n, ARRAY_SIZE(ids));

	/* Raw body reads back; writes are ignored, also to ID and next. */
	assert_int_equal(cfg1_read(f, 3, c1 + 2, 2), 0x0110);
	assert_int_equal(cfg1_read(f, 3, c1 + 8, 4), 0x1000);
	cfg1_write(f, 3, c1, 4, 0xffffffff);
	cfg1_write(f, 3, c1 + 8, 4, 0);
	assert_int_equal(cfg1_read(f, 3, c1, 4), 0x01105009);
	assert_int_equal(cfg1_read(f, 3, c1 + 8, 4), 0x1000);

	/* With ops: the bus keeps ID and next, the rest reaches the ops
	 * aligned and relative to the capability. */
	assert_int_equal(cfg1_read(f, 3, c2, 4), 0x13126009);
	assert_int_equal(f->t.cap_off, 2);
	assert_int_equal(f->t.cap_size, 2);
	assert_int_equal(cfg1_read(f, 3, c2 + 12, 4), 0x00001d1c);	/* 2 bytes past the end */
	assert_int_equal(f->t.cap_off, 12);
	assert_int_equal(f->t.cap_size, 2);
	int reads = f->t.cap_reads;

	assert_int_equal(cfg1_read(f, 3, c2, 2), 0x6009);		/* bus only */
	assert_int_equal(f->t.cap_reads, reads);
	cfg1_write(f, 3, c2 + 4, 4, 0xdeadbeef);
	assert_int_equal(f->t.cap_off, 4);
	assert_int_equal(f->t.cap_size, 4);
	assert_int_equal(f->t.cap_val, 0xdeadbeef);
	cfg1_write(f, 3, c2 + 1, 1, 0);				/* next pointer: RO */
	assert_int_equal(cfg1_read(f, 3, c2 + 1, 1), 0x60);
	/* Between and after capabilities: zeros. */
	assert_int_equal(cfg1_read(f, 3, 0x74, 4), 0);
	assert_int_equal(cfg1_read(f, 3, 0xfc, 4), 0);

	/* Space runs out at 256. */
	int r;

	while ((r = pci_dev_add_cap(f->dev, PCI_CAP_ID_VNDR, NULL, 16, NULL, NULL)) > 0)
		assert_true(r + 16 <= PCI_CONFIG_SIZE);
	assert_int_equal(r, -ENOSPC);
	fx_free(f);
}

/* --- tests: MSI-X ---------------------------------------------------------------------------- */

#define MSI_ADDR	0xfee00000u
#define TABLE		0x0
#define PBA		0x800

struct mfx {
	struct fx *f;
	uint64_t bar;		/* BAR0's address */
	int cap;
};

static struct mfx msix_fx(unsigned nr)
{
	struct mfx m;

	m.f = fx_new();
	fx_add_dev(m.f);
	assert_int_equal(msix_init(m.f->dev, m.f->rt, nr, 0, TABLE, 0, PBA), 0);
	m.bar = LAYOUT_PCI_MMIO32;
	m.cap = cfg1_read(m.f, 3, PCI_CAPABILITY_LIST, 1);
	cfg1_write(m.f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return m;
}

static void entry_write(struct mfx *m, unsigned v, uint64_t addr, uint32_t data, uint32_t ctrl)
{
	uint64_t e = m->bar + TABLE + 16 * v;

	mmio_write(m->f, e, 4, (uint32_t)addr);
	mmio_write(m->f, e + 4, 4, addr >> 32);
	mmio_write(m->f, e + 8, 4, data);
	mmio_write(m->f, e + 12, 4, ctrl);
}

static void set_ctrl(struct mfx *m, uint16_t ctrl)
{
	cfg1_write(m->f, 3, (unsigned)m->cap + 2, 2, ctrl);
}

static uint64_t pba(struct mfx *m)
{
	return mmio_read(m->f, m->bar + PBA, 8);
}

static unsigned run(struct mfx *m)
{
	unsigned before = m->f->kvm.nr_deliv;

	fake_kvm_run(&m->f->kvm);
	return m->f->kvm.nr_deliv - before;
}

static const struct delivery *last(struct mfx *m)
{
	return &m->f->kvm.deliv[m->f->kvm.nr_deliv - 1];
}

static void test_msix_cap_and_table(void **state)
{
	struct mfx m = msix_fx(4);
	struct fx *f = m.f;

	(void)state;
	assert_int_equal(m.cap, 0x40);
	assert_int_equal(cfg1_read(f, 3, m.cap, 4), 0x0003 << 16 | PCI_CAP_ID_MSIX);
	assert_int_equal(cfg1_read(f, 3, m.cap + 4, 4), TABLE | 0);
	assert_int_equal(cfg1_read(f, 3, m.cap + 8, 4), PBA | 0);
	/* Only Enable and Function Mask are writable. */
	set_ctrl(&m, 0xffff);
	assert_int_equal(cfg1_read(f, 3, m.cap + 2, 2), 0xc003);
	cfg1_write(f, 3, m.cap + 3, 1, 0x00);
	assert_int_equal(cfg1_read(f, 3, m.cap + 2, 2), 0x0003);
	cfg1_write(f, 3, m.cap + 4, 4, 0xffffffff);
	assert_int_equal(cfg1_read(f, 3, m.cap + 4, 4), TABLE);
	assert_true(msix_enabled(f->dev) == false);
	assert_int_equal(msix_nr_vectors(f->dev), 4);

	/* Power-on: every vector masked. */
	for (unsigned v = 0; v < 4; v++)
		assert_int_equal(mmio_read(f, m.bar + 16 * v + 12, 4), 1);
	/* The table is memory-like; reserved bits read 0. */
	entry_write(&m, 1, 0x00000012fee01003ULL, 0xabcd, 0xffffffff);
	assert_int_equal(mmio_read(f, m.bar + 16, 8), 0x00000012fee01000ULL);
	assert_int_equal(mmio_read(f, m.bar + 24, 4), 0xabcd);
	assert_int_equal(mmio_read(f, m.bar + 28, 4), 1);
	mmio_write(f, m.bar + 24, 2, 0x5678);
	assert_int_equal(mmio_read(f, m.bar + 24, 4), 0x5678);
	mmio_write(f, m.bar + 16, 8, 0x00000000fee02000ULL);
	assert_int_equal(mmio_read(f, m.bar + 16, 8), 0xfee02000ULL);
	/* PBA: read-only, nothing pending. */
	mmio_write(f, m.bar + PBA, 8, UINT64_MAX);
	assert_int_equal(pba(&m), 0);
	/* Between table and PBA, and after: the device's own registers. */
	f->t.reads = 0;
	mmio_read(f, m.bar + 64, 4);
	mmio_read(f, m.bar + PBA + 8, 4);
	assert_int_equal(f->t.reads, 2);
	/* Straddling the table's end: neither. */
	assert_int_equal(mmio_read(f, m.bar + 60, 8), UINT64_MAX);
	assert_int_equal(f->t.reads, 2);
	/* pci_dev_bar_read/write see the same thing. */
	uint32_t v = 0;

	pci_dev_bar_read(f->dev, 0, 24, &v, 4);
	assert_int_equal(v, 0x5678);
	v = 0x9999;
	pci_dev_bar_write(f->dev, 0, 24, &v, 4);
	assert_int_equal(mmio_read(f, m.bar + 24, 4), 0x9999);
	fx_free(f);
}

static void test_msix_delivery_and_masking(void **state)
{
	struct mfx m = msix_fx(4);
	struct fx *f = m.f;
	int fd0 = msix_vector_fd(f->dev, 0);

	(void)state;
	assert_true(fd0 >= 0);
	assert_int_equal(msix_vector_fd(f->dev, 4), -EINVAL);
	assert_int_equal(msix_notify(f->dev, 4), -EINVAL);

	/* Disabled: an event waits, pending. */
	entry_write(&m, 0, MSI_ADDR, 0x41, 0);
	assert_int_equal(msix_notify(f->dev, 0), 0);
	assert_int_equal(run(&m), 0);
	assert_int_equal(pba(&m), 1);
	assert_false(fake_bound(&f->kvm, fd0));

	/* Enable: delivered once, with the message, and no longer pending. */
	set_ctrl(&m, MSIX_CTRL_ENABLE);
	assert_true(msix_enabled(f->dev));
	assert_true(fake_bound(&f->kvm, fd0));
	assert_int_equal(run(&m), 1);
	assert_int_equal(last(&m)->addr, MSI_ADDR);
	assert_int_equal(last(&m)->data, 0x41);
	assert_int_equal(pba(&m), 0);
	assert_int_equal(msix_notify(f->dev, 0), 0);
	assert_int_equal(run(&m), 1);

	/* The eventfd itself is the doorbell. */
	assert_int_equal(eventfd_write(fd0, 1), 0);
	assert_int_equal(run(&m), 1);

	/* Vector mask: pending, then delivered at unmask. */
	mmio_write(f, m.bar + 12, 4, MSIX_VECTOR_MASKED);
	assert_false(fake_bound(&f->kvm, fd0));
	msix_notify(f->dev, 0);
	msix_notify(f->dev, 0);
	assert_int_equal(run(&m), 0);
	assert_int_equal(pba(&m), 1);
	assert_int_equal(pba(&m), 1);			/* reading does not clear it */
	mmio_write(f, m.bar + 12, 4, 0);
	assert_int_equal(run(&m), 1);			/* once, however many */
	assert_int_equal(pba(&m), 0);
	assert_int_equal(run(&m), 0);

	/* A masked vector that got nothing: unmask sends nothing. */
	mmio_write(f, m.bar + 12, 4, 1);
	mmio_write(f, m.bar + 12, 4, 0);
	assert_int_equal(run(&m), 0);

	/* Function mask: all vectors hold their events. */
	entry_write(&m, 2, MSI_ADDR | 0x1000, 0x42, 0);
	assert_true(fake_bound(&f->kvm, msix_vector_fd(f->dev, 2)));
	set_ctrl(&m, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	assert_int_equal(f->kvm.nr_irqfds, 0);
	msix_notify(f->dev, 2);
	msix_notify(f->dev, 0);
	assert_int_equal(run(&m), 0);
	assert_int_equal(pba(&m), 0x5);
	set_ctrl(&m, MSIX_CTRL_ENABLE);
	assert_int_equal(run(&m), 2);
	assert_int_equal(pba(&m), 0);

	/* Bus mastering off: the same. */
	cfg1_write(f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	msix_notify(f->dev, 2);
	assert_int_equal(run(&m), 0);
	assert_int_equal(pba(&m), 0x4);
	cfg1_write(f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(run(&m), 1);
	assert_int_equal(last(&m)->data, 0x42);
	assert_int_equal(last(&m)->addr, MSI_ADDR | 0x1000);

	/* A new message while unmasked takes effect for the next interrupt. */
	int commits = f->kvm.commits;

	mmio_write(f, m.bar + 32 + 8, 4, 0x43);
	assert_int_equal(f->kvm.commits, commits + 1);
	const struct kvm_irq_routing_entry *e = NULL;

	for (unsigned i = 0; i < f->kvm.nr_routes; i++)
		if (f->kvm.routes[i].type == KVM_IRQ_ROUTING_MSI &&
		    f->kvm.routes[i].u.msi.data == 0x43)
			e = &f->kvm.routes[i];
	assert_non_null(e);
	assert_true(e->gsi >= IRQROUTE_MSI_BASE);
	msix_notify(f->dev, 2);
	assert_int_equal(run(&m), 1);
	assert_int_equal(last(&m)->data, 0x43);
	/* Rewriting the same message commits nothing. */
	mmio_write(f, m.bar + 32 + 8, 4, 0x43);
	assert_int_equal(f->kvm.commits, commits + 1);
	/* While masked, message writes cost no commit; unmask commits once. */
	mmio_write(f, m.bar + 48 + 12, 4, 1);
	commits = f->kvm.commits;
	entry_write(&m, 3, MSI_ADDR, 0x44, 1);
	assert_int_equal(f->kvm.commits, commits);
	mmio_write(f, m.bar + 48 + 12, 4, 0);
	assert_int_equal(f->kvm.commits, commits + 1);

	/* A message KVM refuses: the vector cannot deliver, events stay pending. */
	f->kvm.refuse = true;
	f->kvm.refuse_data = 0xbad;
	mmio_write(f, m.bar + 48 + 8, 4, 0xbad);
	assert_false(fake_bound(&f->kvm, msix_vector_fd(f->dev, 3)));
	msix_notify(f->dev, 3);
	assert_int_equal(run(&m), 0);
	assert_int_equal(pba(&m), 0x8);
	f->kvm.refuse = false;
	mmio_write(f, m.bar + 48 + 8, 4, 0x45);
	assert_int_equal(run(&m), 1);
	assert_int_equal(last(&m)->data, 0x45);

	/* Disable MSI-X: nothing bound. */
	set_ctrl(&m, 0);
	assert_int_equal(f->kvm.nr_irqfds, 0);
	fx_free(f);
}

static void test_msix_init_errors(void **state)
{
	struct fx *f = fx_new();
	struct pci_dev *d;

	(void)state;
	fx_add_dev(f);
	assert_int_equal(msix_init(f->dev, f->rt, 0, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(f->dev, f->rt, 2049, 0, 0, 0, 0x800), -EINVAL);
	/* Table past the BAR's end: 4 KiB holds 256 entries and no PBA. */
	assert_int_equal(msix_init(f->dev, f->rt, 256, 0, 0, 0, 0x1000), -EINVAL);
	assert_int_equal(msix_init(f->dev, f->rt, 257, 0, 0, 2, 0), -EINVAL);
	assert_int_equal(msix_init(f->dev, f->rt, 4, 0, 4, 0, 0x800), -EINVAL);	/* align */
	assert_int_equal(msix_init(f->dev, f->rt, 4, 0, 0, 0, 0x804), -EINVAL);
	assert_int_equal(msix_init(f->dev, f->rt, 4, 0, 0, 0, 0x38), -EINVAL);	/* overlap */
	assert_int_equal(msix_init(f->dev, f->rt, 4, 6, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(f->dev, f->rt, 4, 3, 0, 0, 0x800), -EINVAL);	/* no BAR */
	assert_int_equal(msix_init(f->dev, f->rt, 4, 0, 0, 0, 0x40), 0);	/* adjacent */
	assert_int_equal(msix_init(f->dev, f->rt, 4, 0, 0x100, 0, 0x800), -EEXIST);
	/* Table and PBA in different BARs; many vectors (one eventfd each, so
	 * not 2048: the default RLIMIT_NOFILE is 1024). */
	assert_int_equal(pci_dev_add(f->bus, 9, &tinfo, NULL, NULL, &d), 0);
	assert_int_equal(pci_dev_add_bar(d, 0, 16384, 0, NULL, NULL), 0);
	assert_int_equal(pci_dev_add_bar(d, 1, 4096, 0, NULL, NULL), 0);
	assert_int_equal(msix_init(d, f->rt, 600, 0, 0, 1, 0xf00), 0);
	assert_int_equal(msix_nr_vectors(d), 600);
	assert_int_equal(cfg1_read(f, 9, 0x42, 2), 599);
	assert_int_equal(cfg1_read(f, 9, 0x48, 4), 0xf01);
	assert_int_equal(msix_nr_vectors(f->dev), 4);
	fx_free(f);
}

static void test_msix_reset_save_load(void **state)
{
	struct mfx m = msix_fx(4);
	struct fx *f = m.f;
	struct buf saved;

	(void)state;
	cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, (uint32_t)(m.bar + 0x200000));
	m.bar += 0x200000;
	entry_write(&m, 0, MSI_ADDR, 0x51, 0);
	entry_write(&m, 1, MSI_ADDR, 0x52, 1);
	set_ctrl(&m, MSIX_CTRL_ENABLE);
	msix_notify(f->dev, 1);
	assert_int_equal(pba(&m), 0x2);
	cfg1_write(f, 3, PCI_INTERRUPT_LINE, 1, 5);

	buf_init(&saved);
	assert_int_equal(pci_bus_dev_ops.save(f->bus, &saved), 0);

	/* Reset: BARs back, decoding off, MSI-X masked and disabled. */
	f->t.moves = 0;
	pci_bus_dev_ops.reset(f->bus);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0, 4), LAYOUT_PCI_MMIO32);
	assert_int_equal(cfg1_read(f, 3, PCI_COMMAND, 2), 0);
	assert_int_equal(cfg1_read(f, 3, PCI_INTERRUPT_LINE, 1), 0);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), PCI_BAR_UNMAPPED);
	assert_true(f->t.moves >= 3);
	assert_int_equal(f->kvm.nr_irqfds, 0);
	assert_false(msix_enabled(f->dev));
	uint32_t v = 0;

	pci_dev_bar_read(f->dev, 0, 12, &v, 4);
	assert_int_equal(v, 1);
	pci_dev_bar_read(f->dev, 0, PBA, &v, 4);
	assert_int_equal(v, 0);

	/* Load: all of it back, vector 0 bound again, 1 still pending. */
	assert_int_equal(pci_bus_dev_ops.load(f->bus, saved.data, saved.len, 1), 0);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0, 4), m.bar);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), m.bar);
	assert_int_equal(cfg1_read(f, 3, PCI_INTERRUPT_LINE, 1), 5);
	assert_true(msix_enabled(f->dev));
	assert_true(fake_bound(&f->kvm, msix_vector_fd(f->dev, 0)));
	assert_int_equal(pba(&m), 0x2);
	assert_int_equal(mmio_read(f, m.bar + 8, 4), 0x51);
	mmio_write(f, m.bar + 16 + 12, 4, 0);
	assert_int_equal(run(&m), 1);
	assert_int_equal(last(&m)->data, 0x52);

	/* Malformed: wrong version, truncated, trailing bytes, NULL. Each
	 * fails and leaves the bus reset. */
	assert_int_equal(pci_bus_dev_ops.load(f->bus, saved.data, saved.len, 2), -EINVAL);
	assert_int_equal(cfg1_read(f, 3, PCI_COMMAND, 2), 0);
	for (size_t n = 0; n < saved.len; n += 7)
		assert_int_equal(pci_bus_dev_ops.load(f->bus, saved.data, n, 1), -EINVAL);
	buf_put_u8(&saved, 0);
	assert_int_equal(pci_bus_dev_ops.load(f->bus, saved.data, saved.len, 1), -EINVAL);
	assert_int_equal(pci_bus_dev_ops.load(f->bus, NULL, 10, 1), -EINVAL);
	/* A device missing from the state. */
	saved.data[4] = 0;
	assert_int_equal(pci_bus_dev_ops.load(f->bus, saved.data, saved.len - 1, 1), -EINVAL);
	assert_int_equal(pci_dev_bar_addr(f->dev, 0), PCI_BAR_UNMAPPED);
	assert_int_equal(f->kvm.nr_irqfds, 0);
	buf_free(&saved);
	fx_free(f);
}

/* --- tests: hostile guests ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_hostile(void **state)
{
	struct mfx m = msix_fx(8);
	struct fx *f = m.f;
	uint8_t buf[32];
	static const unsigned sizes[] = { 0, 1, 2, 3, 4, 5, 7, 8, 16 };

	(void)state;
	/* The handlers called directly, past what the bus would let through. */
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned s = sizes[i] > 8 ? 8 : sizes[i];

		for (uint64_t off = 0; off < 12; off++) {
			pci_cf8_io_ops.read(f->bus, off, buf, s);
			pci_cf8_io_ops.write(f->bus, off, buf, s);
			pci_cfc_io_ops.read(f->bus, off, buf, s);
			pci_cfc_io_ops.write(f->bus, off, buf, s);
			pci_ecam_io_ops.read(f->bus, off, buf, s);
		}
		pci_ecam_io_ops.read(f->bus, PCI_ECAM_SIZE, buf, s);
		pci_ecam_io_ops.read(f->bus, UINT64_MAX - 1, buf, s);
		pci_ecam_io_ops.write(f->bus, UINT64_MAX - 3, buf, s);
		pci_dev_bar_read(f->dev, 0, 4095, buf, sizes[i]);
		pci_dev_bar_read(f->dev, 0, UINT64_MAX, buf, sizes[i]);
		pci_dev_bar_read(f->dev, 7, 0, buf, sizes[i]);
		pci_dev_bar_write(f->dev, 0, UINT64_MAX - 1, buf, sizes[i]);
		pci_dev_bar_write(f->dev, 0, PBA + 8 * 0 + 7, buf, sizes[i]);
		pci_dev_bar_write(f->dev, 0, 127, buf, sizes[i]);	/* table end */
	}
	/* Misaligned config accesses are not config cycles. */
	pio_out(f, 0xcf8, 4, addr1(0, 3, 0, 0));
	assert_int_equal(pio_in(f, 0xcfd, 2), 0xffff);
	pio_out(f, 0xcfd, 2, 0);
	assert_int_equal(mmio_read(f, LAYOUT_PCI_ECAM + ecam_off(0, 3, 0, 1), 2), 0xffff);
	assert_int_equal(mmio_read(f, LAYOUT_PCI_ECAM + ecam_off(0, 3, 0, 4), 8), UINT64_MAX);
	assert_int_equal(cfg1_read(f, 3, 0, 4), 0x10421af4);

	/* Random config writes and BAR/table accesses: no crash, and what
	 * must not change does not. */
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rnd();
		unsigned slot = r & 1 ? 3 : (unsigned)(r >> 1) % PCI_SLOTS;
		unsigned reg = (unsigned)(r >> 8) % 0x1000;
		unsigned size = 1u << ((r >> 20) % 4);
		uint64_t v = rnd();

		switch ((r >> 24) % 6) {
		case 0:
			cfg1_write(f, slot, reg & 0xff, size > 4 ? 4 : size, (uint32_t)v);
			break;
		case 1:
			iobus_write(&f->mmio, LAYOUT_PCI_ECAM + ecam_off(0, slot, 0, reg), &v,
				    size);
			break;
		case 2:
			iobus_read(&f->mmio, LAYOUT_PCI_ECAM + (r >> 32) % PCI_ECAM_SIZE, &v, size);
			break;
		case 3:
			/* the table, the PBA, and around them */
			iobus_write(&f->mmio, pci_dev_bar_addr(f->dev, 0) + (r >> 32) % 0x900, &v,
				    size);
			break;
		case 4:
			iobus_read(&f->mmio, pci_dev_bar_addr(f->dev, 0) + (r >> 32) % 0x1000, &v,
				   size);
			break;
		default:
			msix_notify(f->dev, (unsigned)(r >> 32) % 10);
			fake_kvm_run(&f->kvm);
			f->kvm.nr_deliv = 0;
			break;
		}
		if (i % 1000 == 0) {
			/* keep BAR0 where the loop aims, and memory decoding on */
			cfg1_write(f, 3, PCI_BASE_ADDRESS_0, 4, (uint32_t)m.bar);
			cfg1_write(f, 3, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		}
	}
	assert_int_equal(cfg1_read(f, 3, 0, 4), 0x10421af4);
	assert_int_equal(cfg1_read(f, 0, 0, 4), PCI_HOST_DEVICE_ID << 16 | PCI_HOST_VENDOR_ID);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 4, 4) & 3, 1);
	assert_int_equal(cfg1_read(f, 3, PCI_BASE_ADDRESS_0 + 8, 4) & 0xf, 0xc);
	assert_int_equal(cfg1_read(f, 3, 0x40, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg1_read(f, 3, 0x41, 1), 0);
	assert_int_equal(cfg1_read(f, 3, 0x42, 2) & MSIX_CTRL_SIZE_MASK, 7);
	fx_free(f);
}

/* Several threads at once, as vCPUs and a backend would be: BAR moves and
 * MSI-X control through ECAM, table and device accesses through the MMIO
 * bus, notifications. Run under ASan (and TSan by hand) for races. */
struct race {
	struct mfx *m;
	_Atomic int stop;
};

static void *race_mover(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 3000; i++) {
		uint32_t at = (uint32_t)(LAYOUT_PCI_MMIO32 + (i % 2 ? 0x100000 : 0));

		ecam_write(r->m->f, 3, PCI_BASE_ADDRESS_0, 4, at);
		ecam_write(r->m->f, 3, (unsigned)r->m->cap + 2, 2,
			   i % 3 ? MSIX_CTRL_ENABLE : MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
		if (i % 5 == 0)
			ecam_write(r->m->f, 3, PCI_COMMAND, 2, i % 10 ? PCI_COMMAND_MEMORY :
					PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	}
	r->stop = 1;
	return NULL;
}

static void *race_accessor(void *arg)
{
	struct race *r = arg;
	uint64_t v;

	for (unsigned i = 0; !r->stop; i++) {
		uint64_t base = LAYOUT_PCI_MMIO32 + (i % 2 ? 0x100000 : 0);

		v = i % 4 ? 0 : 1;
		iobus_write(&r->m->f->mmio, base + 16 * (i % 4) + 12, &v, 4);
		iobus_read(&r->m->f->mmio, base + PBA, &v, 8);
		iobus_read(&r->m->f->mmio, base + 0x900, &v, 4);
		iobus_write(&r->m->f->mmio, base + 16 * (i % 4) + 8, &i, 4);
	}
	return NULL;
}

static void *race_notifier(void *arg)
{
	struct race *r = arg;

	for (unsigned i = 0; !r->stop; i++) {
		msix_notify(r->m->f->dev, i % 4);
		if (i % 16 == 0) {
			fake_kvm_run(&r->m->f->kvm);
			pthread_mutex_lock(&r->m->f->kvm.lock);
			r->m->f->kvm.nr_deliv = 0;
			pthread_mutex_unlock(&r->m->f->kvm.lock);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct mfx m = msix_fx(4);
	struct race r = { &m, 0 };
	pthread_t t[4];

	(void)state;
	for (unsigned v = 0; v < 4; v++)
		entry_write(&m, v, MSI_ADDR, 0x60 + v, 0);
	assert_int_equal(pthread_create(&t[0], NULL, race_mover, &r), 0);
	assert_int_equal(pthread_create(&t[1], NULL, race_accessor, &r), 0);
	assert_int_equal(pthread_create(&t[2], NULL, race_accessor, &r), 0);
	assert_int_equal(pthread_create(&t[3], NULL, race_notifier, &r), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* Consistent afterwards: the last move won, masks as last written. */
	assert_int_equal(pci_dev_bar_addr(m.f->dev, 0), LAYOUT_PCI_MMIO32 + 0x100000);
	assert_int_equal(mmio_read(m.f, LAYOUT_PCI_MMIO32 + 0x100000 + 0x900, 4), 0xa0a0a0a0);
	assert_int_equal(mmio_read(m.f, LAYOUT_PCI_MMIO32 + 0x900, 4), 0xffffffff);
	fx_free(m.f);
}

/* --- tests: routing table ------------------------------------------------------------------ */

static void test_irqroute(void **state)
{
	struct fake_kvm k;
	struct irqroute_backend be = { fake_set_routing, fake_irqfd, &k };
	struct irqroute *rt;
	int g, g2;

	(void)state;
	fake_init(&k);
	rt = irqroute_create_backend(&be);
	assert_non_null(rt);
	assert_int_equal(irqroute_init_pc(rt), 0);
	assert_int_equal(k.commits, 1);
	assert_int_equal(k.nr_routes, 15 + 23);
	assert_int_equal(irqroute_nr_routes(rt), 38);
	/* GSI 0: PIC master pin 0 and IOAPIC pin 2; GSI 2 has no route of
	 * its own; GSI 9: PIC slave pin 1 and IOAPIC pin 9; 16-23 IOAPIC only. */
	unsigned pic0 = 0, io0 = 0, gsi2 = 0, io16 = 0;

	for (unsigned i = 0; i < k.nr_routes; i++) {
		const struct kvm_irq_routing_entry *e = &k.routes[i];

		assert_int_equal(e->type, KVM_IRQ_ROUTING_IRQCHIP);
		if (e->gsi == 2)
			gsi2++;
		if (e->gsi == 0 && e->u.irqchip.irqchip == KVM_IRQCHIP_PIC_MASTER)
			pic0 += e->u.irqchip.pin == 0;
		if (e->gsi == 0 && e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
			io0 += e->u.irqchip.pin == 2;
		if (e->gsi == 9 && e->u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE)
			assert_int_equal(e->u.irqchip.pin, 1);
		if (e->gsi >= 16)
			io16 += e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC &&
				e->u.irqchip.pin == e->gsi;
		if (e->gsi != 0 && e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
			assert_int_equal(e->u.irqchip.pin, e->gsi);
	}
	assert_int_equal(pic0, 1);
	assert_int_equal(io0, 1);
	assert_int_equal(gsi2, 0);
	assert_int_equal(io16, 8);

	/* MSI GSIs from 24 up; freed ones are reused. */
	g = irqroute_msi_alloc(rt);
	g2 = irqroute_msi_alloc(rt);
	assert_int_equal(g, 24);
	assert_int_equal(g2, 25);
	assert_int_equal(k.commits, 1);			/* allocation commits nothing */
	assert_int_equal(irqroute_msi_set(rt, (unsigned)g2, 0xfee00000, 0x30), 0);
	assert_int_equal(k.commits, 2);
	assert_int_equal(k.nr_routes, 39);
	const struct kvm_irq_routing_entry *e = fake_route(&k, (unsigned)g2);

	assert_non_null(e);
	assert_int_equal(e->type, KVM_IRQ_ROUTING_MSI);
	assert_int_equal(e->u.msi.address_lo, 0xfee00000);
	assert_int_equal(e->u.msi.address_hi, 0);
	assert_int_equal(e->u.msi.data, 0x30);
	assert_int_equal(irqroute_msi_set(rt, (unsigned)g2, 0xfee00000, 0x30), 0);
	assert_int_equal(k.commits, 2);			/* unchanged: no commit */
	assert_int_equal(irqroute_msi_set(rt, (unsigned)g2, 0x1fee00000ULL, 0x31), 0);
	assert_int_equal(fake_route(&k, (unsigned)g2)->u.msi.address_hi, 1);
	/* Refused: KVM and the table keep the old route. */
	k.refuse = true;
	k.refuse_data = 0x99;
	assert_int_equal(irqroute_msi_set(rt, (unsigned)g2, 0xfee00000, 0x99), -EINVAL);
	assert_int_equal(fake_route(&k, (unsigned)g2)->u.msi.data, 0x31);
	k.refuse = false;
	assert_int_equal(irqroute_msi_set(rt, (unsigned)g, 0xfee00000, 0x32), 0);
	assert_int_equal(fake_route(&k, (unsigned)g2)->u.msi.data, 0x31);
	assert_int_equal(irqroute_msi_clear(rt, (unsigned)g2), 0);
	assert_null(fake_route(&k, (unsigned)g2));
	assert_non_null(fake_route(&k, (unsigned)g));
	irqroute_msi_free(rt, (unsigned)g);
	assert_null(fake_route(&k, (unsigned)g));
	assert_int_equal(irqroute_msi_alloc(rt), g);

	/* GSIs that are not allocated MSI GSIs. */
	assert_int_equal(irqroute_msi_set(rt, 5, 0xfee00000, 1), -EINVAL);
	assert_int_equal(irqroute_msi_set(rt, 1000, 0xfee00000, 1), -EINVAL);
	assert_int_equal(irqroute_msi_set(rt, UINT32_MAX, 0xfee00000, 1), -EINVAL);
	assert_int_equal(irqroute_msi_clear(rt, 23), -EINVAL);
	irqroute_msi_free(rt, 3);			/* ignored */
	irqroute_msi_free(rt, 100000);

	/* Exhaustion: GSIs stay below KVM's limit. */
	int n = 2, last_gsi = 0;

	while ((g = irqroute_msi_alloc(rt)) >= 0) {
		last_gsi = g;
		n++;
	}
	assert_int_equal(g, -ENOSPC);
	assert_int_equal(n, IRQROUTE_MAX_MSI);
	assert_true(last_gsi < IRQROUTE_MAX_GSI);
	/* Every route at once still fits KVM's limit on entries. */
	assert_true(38 + IRQROUTE_MAX_MSI <= IRQROUTE_MAX_GSI);
	assert_int_equal(irqroute_msi_set(rt, (unsigned)last_gsi, 0xfee00000, 1), 0);
	assert_non_null(fake_route(&k, (unsigned)last_gsi));

	/* irqfd: passes through; bad arguments do not reach KVM. */
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_int_equal(irqroute_irqfd_assign(rt, fd, 30), 0);
	assert_true(fake_bound(&k, fd));
	assert_int_equal(irqroute_irqfd_deassign(rt, fd, 30), 0);
	assert_false(fake_bound(&k, fd));
	assert_int_equal(irqroute_irqfd_assign(rt, -1, 30), -EINVAL);
	assert_int_equal(irqroute_irqfd_assign(rt, fd, IRQROUTE_MAX_GSI), -EINVAL);
	close(fd);
	irqroute_destroy(rt);
}

static void test_mmio64_window(void **state)
{
	uint64_t base, size;

	(void)state;
	pci_mmio64_window(1ULL << 30, 48, &base, &size);
	assert_int_equal(base, 4ULL << 30);
	assert_int_equal(size, LAYOUT_PCI_MMIO64_SIZE);
	/* RAM above 4 GiB: 3 GiB + 1.5 GiB ends at 5.5 GiB; 1 GiB aligned. */
	pci_mmio64_window((3ULL << 30) + (3ULL << 29), 48, &base, &size);
	assert_int_equal(base, 6ULL << 30);
	assert_int_equal(size, LAYOUT_PCI_MMIO64_SIZE);
	/* The physical address width cuts it. */
	pci_mmio64_window(1ULL << 30, 33, &base, &size);
	assert_int_equal(base, 4ULL << 30);
	assert_int_equal(size, 4ULL << 30);
	pci_mmio64_window(1ULL << 30, 32, &base, &size);
	assert_int_equal(size, 0);
	pci_mmio64_window(64ULL << 40, 46, &base, &size);
	assert_int_equal(size, 0);
	/* 0: assume 40 bits. */
	pci_mmio64_window(1ULL << 30, 0, &base, &size);
	assert_int_equal(size, LAYOUT_PCI_MMIO64_SIZE);
	pci_mmio64_window(1000ULL << 30, 0, &base, &size);
	assert_int_equal(base, 1001ULL << 30);
	assert_int_equal(size, 23ULL << 30);
}

static void test_bus_create_errors(void **state)
{
	struct iobus pio, mmio;
	struct pci_bus *bus;
	struct pci_bus_config c = { .pio = &pio, .mmio = &mmio, .ecam_base = LAYOUT_PCI_ECAM };
	static const struct io_ops none = { NULL, NULL };

	(void)state;
	iobus_init(&pio);
	iobus_init(&mmio);
	assert_int_equal(pci_bus_create(&bus, NULL), -EINVAL);
	/* 0xcf9 registered alone, the old way: the bus cannot take 0xcf8. */
	assert_int_equal(iobus_register(&pio, 0xcf9, 1, &none, NULL), 0);
	assert_int_equal(pci_bus_create(&bus, &c), -EEXIST);
	assert_int_equal(pio.nr, 1);
	assert_int_equal(mmio.nr, 0);
	assert_int_equal(iobus_unregister(&pio, 0xcf9), 0);
	assert_int_equal(iobus_unregister(&pio, 0xcf9), -ENOENT);
	/* Something in the ECAM range. */
	assert_int_equal(iobus_register(&mmio, LAYOUT_PCI_ECAM + 4096, 1, &none, NULL), 0);
	assert_int_equal(pci_bus_create(&bus, &c), -EEXIST);
	assert_int_equal(pio.nr, 0);
	assert_int_equal(mmio.nr, 1);
	iobus_free(&pio);
	iobus_free(&mmio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_bridge),
		cmocka_unit_test(test_cf9_forward),
		cmocka_unit_test(test_ecam_equals_type1),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_bar_errors),
		cmocka_unit_test(test_command_register),
		cmocka_unit_test(test_bar_mapping),
		cmocka_unit_test(test_cap_list),
		cmocka_unit_test(test_msix_cap_and_table),
		cmocka_unit_test(test_msix_delivery_and_masking),
		cmocka_unit_test(test_msix_init_errors),
		cmocka_unit_test(test_msix_reset_save_load),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_irqroute),
		cmocka_unit_test(test_mmio64_window),
		cmocka_unit_test(test_bus_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
