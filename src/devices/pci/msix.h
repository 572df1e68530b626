/* SPDX-License-Identifier: MIT */
/* msix.h: MSI-X for a PCI device: the capability, the vector table and the
 * pending bit array in the device's BARs, and delivery through one eventfd
 * per vector bound with KVM_IRQFD to a GSI routed as an MSI. */
#ifndef DOMUS_MSIX_H
#define DOMUS_MSIX_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct buf_reader;
struct irqroute;
struct pci_dev;
struct msix;

#define MSIX_MAX_VECTORS	2048	/* the capability's 11-bit table size */
#define MSIX_ENTRY_SIZE		16

/* Message Control (capability offset 2). */
#define MSIX_CTRL_SIZE_MASK	0x07ff	/* table size - 1 */
#define MSIX_CTRL_FMASK		0x4000	/* function mask */
#define MSIX_CTRL_ENABLE	0x8000
/* Vector Control (table entry offset 12). */
#define MSIX_VECTOR_MASKED	0x1

/*
 * msix_init: give (dev) MSI-X with (nr) vectors (1-2048): the table at
 * (table_off) in BAR (table_bar), the PBA at (pba_off) in BAR (pba_bar).
 * Both offsets 8-byte aligned (4 KiB recommended), below 4 GiB, inside BARs
 * already added, the two ranges (nr * 16 and 8 * ceil(nr / 64) bytes) not
 * overlapping. Every vector gets an eventfd and a GSI from (rt). Vectors
 * start masked, MSI-X disabled. Call before the vCPUs start. Returns 0 or
 * -EINVAL, -EEXIST (already has MSI-X), -ENOSPC (no config space or GSIs),
 * -ENOMEM, -errno of eventfd().
 */
int msix_init(struct pci_dev *dev, struct irqroute *rt, unsigned nr, unsigned table_bar,
	      uint64_t table_off, unsigned pba_bar, uint64_t pba_off);

/*
 * msix_notify: signal (vector): one write to its eventfd. Any thread, no
 * lock. If the vector can deliver (MSI-X enabled, neither it nor the
 * function masked, bus mastering on), KVM injects the MSI; otherwise the
 * event waits in the eventfd and shows as the vector's pending bit, and is
 * delivered when the vector can deliver again. Returns 0, -EINVAL (no MSI-X
 * or vector out of range), or -errno of write().
 */
int msix_notify(struct pci_dev *dev, unsigned vector);

/* msix_vector_fd: the eventfd behind (vector), or -EINVAL. Writing 1 to it
 * is msix_notify(): it can be handed to a backend thread or to KVM as a
 * virtqueue's call fd. It stays owned by the device. */
int msix_vector_fd(struct pci_dev *dev, unsigned vector);

/* msix_nr_vectors: the table size, 0 without MSI-X. */
unsigned msix_nr_vectors(struct pci_dev *dev);

/* msix_enabled: the guest has set MSI-X Enable (for virtio: vectors in use). */
bool msix_enabled(struct pci_dev *dev);

/* --- used by pci.c ----------------------------------------------------------------- */

/* msix_owns: whether [off, off + size) of BAR (bar) hits the table or the
 * PBA (1), misses both (0), or straddles an edge of one (-1). */
int msix_owns(const struct msix *m, unsigned bar, uint64_t off, unsigned size);
/* msix_bar_read / _write: an access msix_owns() said is ours. */
void msix_bar_read(struct msix *m, unsigned bar, uint64_t off, void *data, unsigned size);
void msix_bar_write(struct msix *m, unsigned bar, uint64_t off, const void *data, unsigned size);
/* msix_set_bus_master: the command register's bus master bit changed. */
void msix_set_bus_master(struct msix *m, bool on);
/* msix_reset: masked, disabled, table zeroed, nothing pending. */
void msix_reset(struct msix *m);
/* msix_save / msix_load: control, table and pending bits. load returns
 * false on malformed data (state then reset). */
void msix_save(struct msix *m, struct buf *out);
bool msix_load(struct msix *m, struct buf_reader *r);
/* msix_free: deassign irqfds, free GSIs, close the eventfds. */
void msix_free(struct msix *m);

#endif
