/* SPDX-License-Identifier: MIT */
/* irqroute.c: the GSI routing table, kept here and sent whole to KVM on each
 * change (KVM_SET_GSI_ROUTING has no incremental form). */
#include "irqroute.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* The PC's fixed routes: 15 PIC pins (no cascade) + 23 IOAPIC pins (GSI 2 is
 * covered by GSI 0's route to pin 2). */
#define NR_PC_ROUTES	IRQROUTE_NR_PC_ROUTES
#define NR_MSI_SLOTS	IRQROUTE_MAX_MSI

struct msi_slot {
	bool allocated;
	bool routed;
	uint64_t addr;
	uint32_t data;
};

struct irqroute {
	pthread_mutex_t lock;		/* the table and the commit that sends it */
	struct irqroute_backend be;
	int vm_fd;
	struct kvm_irq_routing_entry pc[NR_PC_ROUTES];
	unsigned nr_pc;
	struct msi_slot *msi;		/* index gsi - IRQROUTE_MSI_BASE */
	unsigned nr_msi;		/* slots allocated in the array */
	unsigned committed;		/* entries in the last table KVM took */
	struct kvm_irq_routing *table;	/* scratch for commits, IRQROUTE_MAX_GSI entries */
};

static int kvm_set_routing(void *ctx, const struct kvm_irq_routing *table)
{
	const struct irqroute *rt = ctx;

	return ioctl(rt->vm_fd, KVM_SET_GSI_ROUTING, table) < 0 ? -errno : 0;
}

static int kvm_irqfd(void *ctx, const struct kvm_irqfd *args)
{
	const struct irqroute *rt = ctx;

	return ioctl(rt->vm_fd, KVM_IRQFD, args) < 0 ? -errno : 0;
}

struct irqroute *irqroute_create_backend(const struct irqroute_backend *be)
{
	struct irqroute *rt = calloc(1, sizeof(*rt));
	int r;

	if (rt == NULL)
		return NULL;
	rt->table = calloc(1, sizeof(*rt->table) +
				      IRQROUTE_MAX_GSI * sizeof(struct kvm_irq_routing_entry));
	if (rt->table == NULL) {
		free(rt);
		errno = ENOMEM;
		return NULL;
	}
	r = pthread_mutex_init(&rt->lock, NULL);
	if (r != 0) {
		free(rt->table);
		free(rt);
		errno = r;
		return NULL;
	}
	rt->be = *be;
	rt->vm_fd = -1;
	return rt;
}

struct irqroute *irqroute_create(int vm_fd)
{
	struct irqroute_backend be = { kvm_set_routing, kvm_irqfd, NULL };
	struct irqroute *rt = irqroute_create_backend(&be);

	if (rt) {
		rt->vm_fd = vm_fd;
		rt->be.ctx = rt;
	}
	return rt;
}

void irqroute_destroy(struct irqroute *rt)
{
	if (rt == NULL)
		return;
	pthread_mutex_destroy(&rt->lock);
	free(rt->msi);
	free(rt->table);
	free(rt);
}

/* commit: send the fixed routes and every routed MSI slot. Lock held. */
static int commit(struct irqroute *rt)
{
	struct kvm_irq_routing_entry *e = rt->table->entries;
	unsigned n = 0;
	int r;

	memcpy(e, rt->pc, rt->nr_pc * sizeof(*e));
	n = rt->nr_pc;
	for (unsigned i = 0; i < rt->nr_msi; i++) {
		const struct msi_slot *s = &rt->msi[i];

		if (!s->routed)
			continue;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = IRQROUTE_MSI_BASE + i;
		e[n].type = KVM_IRQ_ROUTING_MSI;
		e[n].u.msi.address_lo = (uint32_t)s->addr;
		e[n].u.msi.address_hi = (uint32_t)(s->addr >> 32);
		e[n].u.msi.data = s->data;
		n++;
	}
	rt->table->nr = n;
	rt->table->flags = 0;
	r = rt->be.set_routing(rt->be.ctx, rt->table);
	if (r == 0)
		rt->committed = n;
	return r;
}

static void pc_route(struct irqroute *rt, unsigned gsi, unsigned chip, unsigned pin)
{
	struct kvm_irq_routing_entry *e = &rt->pc[rt->nr_pc++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

int irqroute_init_pc(struct irqroute *rt)
{
	int r;

	pthread_mutex_lock(&rt->lock);
	rt->nr_pc = 0;
	for (unsigned gsi = 0; gsi < IRQROUTE_NR_ISA; gsi++) {
		if (gsi == 2)
			continue;
		pc_route(rt, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
			 gsi % 8);
	}
	for (unsigned gsi = 0; gsi < IRQROUTE_NR_IOAPIC; gsi++) {
		if (gsi == 2)
			continue;
		pc_route(rt, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
	}
	r = commit(rt);
	pthread_mutex_unlock(&rt->lock);
	return r;
}

int irqroute_msi_alloc(struct irqroute *rt)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&rt->lock);
	for (unsigned i = 0; i < rt->nr_msi; i++) {
		if (!rt->msi[i].allocated) {
			gsi = (int)i;
			break;
		}
	}
	if (gsi < 0 && rt->nr_msi < NR_MSI_SLOTS) {
		unsigned n = rt->nr_msi ? rt->nr_msi * 2 : 64;
		struct msi_slot *s;

		if (n > NR_MSI_SLOTS)
			n = NR_MSI_SLOTS;
		s = realloc(rt->msi, n * sizeof(*s));
		if (s == NULL) {
			gsi = -ENOMEM;
			goto out;
		}
		memset(&s[rt->nr_msi], 0, (n - rt->nr_msi) * sizeof(*s));
		gsi = (int)rt->nr_msi;
		rt->msi = s;
		rt->nr_msi = n;
	}
	if (gsi >= 0) {
		rt->msi[gsi].allocated = true;
		gsi += IRQROUTE_MSI_BASE;
	}
out:
	pthread_mutex_unlock(&rt->lock);
	return gsi;
}

/* slot: the allocated MSI slot of (gsi), or NULL. Lock held. */
static struct msi_slot *slot(struct irqroute *rt, unsigned gsi)
{
	if (gsi < IRQROUTE_MSI_BASE || gsi - IRQROUTE_MSI_BASE >= rt->nr_msi)
		return NULL;
	struct msi_slot *s = &rt->msi[gsi - IRQROUTE_MSI_BASE];

	return s->allocated ? s : NULL;
}

int irqroute_msi_set(struct irqroute *rt, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct msi_slot *s, old;
	int r = 0;

	pthread_mutex_lock(&rt->lock);
	s = slot(rt, gsi);
	if (s == NULL) {
		r = -EINVAL;
		goto out;
	}
	if (s->routed && s->addr == addr && s->data == data)
		goto out;
	old = *s;
	s->addr = addr;
	s->data = data;
	s->routed = true;
	r = commit(rt);
	if (r < 0)
		*s = old;	/* KVM kept the previous table: so do we */
out:
	pthread_mutex_unlock(&rt->lock);
	return r;
}

int irqroute_msi_clear(struct irqroute *rt, unsigned gsi)
{
	struct msi_slot *s;
	int r = 0;

	pthread_mutex_lock(&rt->lock);
	s = slot(rt, gsi);
	if (s == NULL) {
		r = -EINVAL;
	} else if (s->routed) {
		s->routed = false;
		r = commit(rt);
		if (r < 0)
			s->routed = true;
	}
	pthread_mutex_unlock(&rt->lock);
	return r;
}

void irqroute_msi_free(struct irqroute *rt, unsigned gsi)
{
	struct msi_slot *s;

	pthread_mutex_lock(&rt->lock);
	s = slot(rt, gsi);
	if (s) {
		bool routed = s->routed;

		memset(s, 0, sizeof(*s));
		/* Removing an entry cannot make KVM refuse the table; if the
		 * commit fails anyway the stale route raises nothing, since
		 * its irqfds are gone. */
		if (routed)
			commit(rt);
	}
	pthread_mutex_unlock(&rt->lock);
}

static int irqfd(struct irqroute *rt, int fd, unsigned gsi, bool assign)
{
	struct kvm_irqfd args;

	if (fd < 0 || gsi >= IRQROUTE_MAX_GSI)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.fd = (uint32_t)fd;
	args.gsi = gsi;
	args.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN;
	return rt->be.irqfd(rt->be.ctx, &args);
}

int irqroute_irqfd_assign(struct irqroute *rt, int fd, unsigned gsi)
{
	return irqfd(rt, fd, gsi, true);
}

int irqroute_irqfd_deassign(struct irqroute *rt, int fd, unsigned gsi)
{
	return irqfd(rt, fd, gsi, false);
}

unsigned irqroute_nr_routes(struct irqroute *rt)
{
	unsigned n;

	pthread_mutex_lock(&rt->lock);
	n = rt->committed;
	pthread_mutex_unlock(&rt->lock);
	return n;
}
