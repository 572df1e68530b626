/* SPDX-License-Identifier: MIT */
/* console.h: virtio-console with one port (hvc0 in a Linux guest) whose line
 * is a host chardev. */
#ifndef DOMUS_VIRTIO_CONSOLE_H
#define DOMUS_VIRTIO_CONSOLE_H

struct virtio_dev;
struct chardev;

/* Device feature bits (virtio 1.2, "Console Device"). Only EMERG_WRITE is
 * offered: one port, no MULTIPORT (so no control queues), no SIZE. */
#define VIRTIO_CONSOLE_F_SIZE		(1ULL << 0)
#define VIRTIO_CONSOLE_F_MULTIPORT	(1ULL << 1)
#define VIRTIO_CONSOLE_F_EMERG_WRITE	(1ULL << 2)

/* Queues of port 0. */
#define VIRTIO_CONSOLE_RXQ	0	/* receiveq0: host → guest */
#define VIRTIO_CONSOLE_TXQ	1	/* transmitq0: guest → host */

/* Config space: le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr. */
#define VIRTIO_CONSOLE_CONFIG_SIZE	12
#define VIRTIO_CONSOLE_EMERG_WR		8

/* virtio_console_create: a virtio-console device (id 3) attached to (cd)
 * (may be NULL: output is dropped, no input), ready for a transport. Takes
 * over cd->input_ready/cd->dev; the chardev must call input_ready without
 * holding a lock its read() or write() also take, because the device calls
 * them under vdev->lock. Destroy with vdev->ops->destroy (which detaches the
 * chardev) after the transport is gone and the thread that calls input_ready
 * is stopped. Returns NULL on ENOMEM. */
struct virtio_dev *virtio_console_create(struct chardev *cd);

#endif
