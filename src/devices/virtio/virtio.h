/* SPDX-License-Identifier: MIT */
/* virtio.h: a virtio device as the transport sees it. The transport
 * (virtio/pci.c) owns feature negotiation, device status, the queues'
 * registers and interrupts; a device (blk, rng, ...) supplies its id,
 * features, config space and what to do when a queue is kicked. */
#ifndef DOMUS_VIRTIO_H
#define DOMUS_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

struct virtio_dev;
struct buf;
struct buf_reader;

/* Device status bits (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	64
#define VIRTIO_STATUS_FAILED		128

/* Transport feature bits the transport itself offers. */
#define VIRTIO_F_VERSION_1		(1ULL << 32)
#define VIRTIO_F_ACCESS_PLATFORM	(1ULL << 33)

#define VIRTIO_MAX_QUEUES	64
#define VIRTIO_NO_VECTOR	0xffff

struct virtio_dev_ops {
	const char *name;		/* "virtio-rng", also the state section name */
	uint16_t device_id;		/* virtio device id: 2 blk, 3 console, 4 rng */
	uint32_t class_code;		/* PCI class for the transport */
	/* queue_notify: the driver made buffers available in queue (q).
	 * Called with the device lock held, on the event loop thread. */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* config_read / config_write: device-specific config space, (off) +
	 * (size) already checked against config_size. Device lock held. */
	void (*config_read)(struct virtio_dev *vdev, unsigned off, void *data, unsigned size);
	void (*config_write)(struct virtio_dev *vdev, unsigned off, const void *data,
			     unsigned size);
	/* reset: the driver reset the device: drop in-flight work (the queues
	 * are reset by the transport). Device lock held. */
	void (*reset)(struct virtio_dev *vdev);
	/* driver_ok: the driver set DRIVER_OK; driver_features are final.
	 * Optional. Device lock held, on whichever thread wrote the status. */
	void (*driver_ok)(struct virtio_dev *vdev);
	void (*destroy)(struct virtio_dev *vdev);
	/* Snapshots and migration (all optional; device lock held, vCPUs
	 * stopped). quiesce: finish everything in flight, so the device
	 * touches no guest buffer until the next kick and every chain it took
	 * is either back in the used ring or given back (vq_unpop). save /
	 * load: the device's own state beyond what the transport and queues
	 * hold (those are saved by the transport for every device); load
	 * returns 0 or -EINVAL. */
	void (*quiesce)(struct virtio_dev *vdev);
	int (*save)(struct virtio_dev *vdev, struct buf *out);
	int (*load)(struct virtio_dev *vdev, struct buf_reader *r);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;			/* the device's own state */
	uint64_t host_features;		/* device features (transport adds VERSION_1...) */
	uint64_t driver_features;	/* accepted by the driver (valid after FEATURES_OK) */
	uint32_t config_size;
	uint16_t nr_queues;
	uint16_t queue_max;		/* largest size the driver may choose */
	uint8_t status;
	uint8_t config_generation;
	pthread_mutex_t lock;		/* transport registers and queue processing */
	struct virtqueue vqs[VIRTIO_MAX_QUEUES];
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint16_t config_vector;
	uint8_t isr;
	/* set by the transport: send the used-buffer interrupt of queue (q) */
	void (*signal_queue)(struct virtio_dev *vdev, unsigned q);
	/* set by the transport: the config space changed (config interrupt) */
	void (*signal_config)(struct virtio_dev *vdev);
	/* set by the transport: the device needs a reset (a broken ring) */
	void (*signal_needs_reset)(struct virtio_dev *vdev);
	/* set by the transport: call queue_notify(q) again soon, from the loop,
	 * as if the driver had kicked (a device that stopped early to bound its
	 * work per call). NULL: not available (the device must not rely on it). */
	void (*retry_queue)(struct virtio_dev *vdev, unsigned q);
	void *transport;
};

/* virtio_queue_done: after vq_push()es on queue (q): publish them and
 * interrupt the driver if it wants to be. Device lock held. */
void virtio_queue_done(struct virtio_dev *vdev, unsigned q);

/* virtio_queue_broken: vq_pop() returned -EINVAL: mark the device
 * NEEDS_RESET and tell the driver. Device lock held. */
void virtio_queue_broken(struct virtio_dev *vdev, unsigned q);

#endif
