/* SPDX-License-Identifier: MIT */
/* pci.h: the virtio 1.x PCI transport ("modern" virtio-pci): puts a
 * struct virtio_dev on the PCI bus with its capabilities, one MSI-X vector
 * per queue plus one for config changes, and KVM ioeventfds for queue
 * notifications, served by the VM's event loop. */
#ifndef DOMUS_VIRTIO_PCI_H
#define DOMUS_VIRTIO_PCI_H

#include <stddef.h>
#include <stdint.h>

struct virtio_dev;
struct virtio_pci;
struct pci_bus;
struct irqroute;
struct gmem;
struct ev_loop;

struct virtio_pci_config {
	struct pci_bus *bus;
	struct irqroute *rt;
	const struct gmem *mem;
	struct ev_loop *loop;	/* where queue notifications are served */
	int vm_fd;		/* for KVM_IOEVENTFD */
};

/* virtio_pci_create: add (vdev) to the bus. (vdev) must have ops, features,
 * nr_queues (1..VIRTIO_MAX_QUEUES), queue_max and config_size set. Returns 0
 * or -errno. Call from the loop thread, before the vCPUs run. */
int virtio_pci_create(struct virtio_dev *vdev, const struct virtio_pci_config *cfg,
		      struct virtio_pci **out);
/* virtio_pci_destroy: remove the ioeventfds and loop watches (the bus frees
 * the PCI function). vCPUs stopped. */
void virtio_pci_destroy(struct virtio_pci *vp);

struct buf;
/* The transport's part of every virtio device's state: features, status,
 * config generation and vector, ISR, the selectors, and per queue its
 * registers, MSI-X vector and virtqueue state (vq_save), then the device's
 * own part (virtio_dev_ops save/load). MSI-X table and PCI config space are
 * the PCI bus's (pci_bus_dev_ops). virtio_pci_quiesce first: in-flight
 * requests finished. All with the vCPUs stopped, on the loop thread. */
#define VIRTIO_PCI_STATE_VERSION 1
void virtio_pci_quiesce(struct virtio_pci *vp);
int virtio_pci_save(struct virtio_pci *vp, struct buf *out);
/* virtio_pci_load: 0, or -EINVAL (malformed, or another device or feature
 * set than this one): then the device is left reset. Queues with buffers
 * waiting are kicked from the loop afterwards. */
int virtio_pci_load(struct virtio_pci *vp, const void *data, size_t len, uint32_t version);

#endif
