/* SPDX-License-Identifier: MIT */
/* irqroute.h: the VM's GSI routing table (KVM_SET_GSI_ROUTING): the PC's ISA
 * and IOAPIC routes plus one MSI route per MSI-X vector, and the KVM_IRQFD
 * bindings that let an eventfd raise a GSI. */
#ifndef DOMUS_IRQROUTE_H
#define DOMUS_IRQROUTE_H

#include <stdint.h>

struct kvm_irq_routing;
struct kvm_irqfd;

#define IRQROUTE_NR_ISA		16	/* 8259 pair: GSI 0-15 */
#define IRQROUTE_NR_IOAPIC	24	/* IOAPIC pins: GSI 0-23 */
#define IRQROUTE_MSI_BASE	24	/* first GSI handed out for MSI */
/* KVM_MAX_IRQ_ROUTES on x86: GSIs stay below it, and so does the number of
 * entries, which the PC's 38 fixed routes share with the MSI routes. */
#define IRQROUTE_MAX_GSI	4096
#define IRQROUTE_NR_PC_ROUTES	(IRQROUTE_NR_ISA - 1 + IRQROUTE_NR_IOAPIC - 1)
#define IRQROUTE_MAX_MSI	(IRQROUTE_MAX_GSI - IRQROUTE_NR_PC_ROUTES)

/*
 * How the table reaches the hypervisor. irqroute_create() uses ioctls on the
 * VM's fd; unit tests plug in a fake. Both return 0 or -errno. set_routing
 * replaces the whole table, as KVM_SET_GSI_ROUTING does.
 */
struct irqroute_backend {
	int (*set_routing)(void *ctx, const struct kvm_irq_routing *table);
	int (*irqfd)(void *ctx, const struct kvm_irqfd *args);
	void *ctx;
};

struct irqroute;

/* irqroute_create: an empty table for the VM (vm_fd) (nothing is sent to KVM
 * until the first commit). Returns NULL with errno set. */
struct irqroute *irqroute_create(int vm_fd);
/* irqroute_create_backend: the same over (be), which is copied. */
struct irqroute *irqroute_create_backend(const struct irqroute_backend *be);
/* irqroute_destroy: free the table; the routes stay in KVM until the VM goes. */
void irqroute_destroy(struct irqroute *rt);

/*
 * irqroute_init_pc: install the PC's routes and commit: ISA IRQs 0-15 reach
 * the 8259 pair (IRQ2 is the cascade) and GSI 0-23 the IOAPIC pins of the
 * same number, except that the timer's IRQ0 arrives on IOAPIC pin 2, as the
 * MADT's interrupt source override says (KVM's default table maps GSI 0 to
 * pin 0; Linux's timer check would then fail). Returns 0 or -errno.
 */
int irqroute_init_pc(struct irqroute *rt);

/* irqroute_msi_alloc: reserve a GSI >= IRQROUTE_MSI_BASE with no route yet
 * (the lowest free one; IRQROUTE_MAX_MSI at most). Returns the GSI, or
 * -ENOSPC / -ENOMEM. Any thread. */
int irqroute_msi_alloc(struct irqroute *rt);

/* irqroute_msi_free: drop the GSI's route (committing if it had one) and
 * make the GSI available again. The caller deassigned its irqfds first. */
void irqroute_msi_free(struct irqroute *rt, unsigned gsi);

/* irqroute_msi_set: route (gsi) (from irqroute_msi_alloc) to the MSI
 * (addr, data) and commit; no commit if the route already says so. On
 * failure (KVM refused the message) the GSI keeps its previous route.
 * Returns 0, -EINVAL for a GSI that is not allocated, or the commit's error.
 * Any thread; commits are serialized so KVM always has the latest table. */
int irqroute_msi_set(struct irqroute *rt, unsigned gsi, uint64_t addr, uint32_t data);

/* irqroute_msi_clear: remove (gsi)'s route (it then raises nothing) and commit. */
int irqroute_msi_clear(struct irqroute *rt, unsigned gsi);

/* irqroute_irqfd_assign / _deassign: KVM_IRQFD: a write to eventfd (fd)
 * raises (gsi) / no longer does. After deassign returns, no interrupt from
 * (fd) is in flight (KVM flushes its injection work). Returns 0 or -errno. */
int irqroute_irqfd_assign(struct irqroute *rt, int fd, unsigned gsi);
int irqroute_irqfd_deassign(struct irqroute *rt, int fd, unsigned gsi);

/* irqroute_nr_routes: entries in the last committed table (for tests). */
unsigned irqroute_nr_routes(struct irqroute *rt);

#endif
