/* SPDX-License-Identifier: MIT */
/* console.c: virtio-console with one port (no MULTIPORT: receiveq0 and
 * transmitq0, no control queues). Transmit: every device-readable byte of a
 * transmitq0 chain goes to the chardev, in ring order. Receive: the host side
 * buffers input and we pull it into receiveq0 buffers, and only into them: the
 * chardev is read once a buffer is in hand and for at most what that buffer
 * holds, so no byte is ever dropped. Input the guest has no buffer for waits
 * on the host side, which stops reading its source while its buffer is full. */
#include "console.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console/chardev.h"
#include "virtio.h"

#define CONSOLE_QUEUE_SIZE	256
/* Bytes written out per transmit chain. Linux puts at most 32 KiB in one
 * buffer; a longer chain (a hostile or odd driver) is cut here so one kick
 * costs bounded host time: at most the queue size times this. */
#define TX_MAX_PER_CHAIN	(64 * 1024)

struct virtio_console {
	struct virtio_dev vdev;
	struct chardev *cd;
	/* A receive chain popped when the chardev had nothing to give: kept
	 * rather than returned empty, and filled when input comes (the next
	 * input_ready or kick). Dropped on reset. */
	bool rx_held;
	struct vq_req rx_req;	/* ~16 KiB each: kept here, not on the stack */
	struct vq_req tx_req;
};

/* --- receive: host → guest ------------------------------------------------------ */

static bool rx_usable(const struct virtio_dev *vdev)
{
	const struct virtqueue *vq = &vdev->vqs[VIRTIO_CONSOLE_RXQ];

	/* Once broken, vq_pop would only fail again; NEEDS_RESET was sent
	 * the first time. */
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) && vq->enabled && !vq->broken;
}

/* fill_chain: read input into the writable segments of (req), in order, until
 * the chardev runs dry or the chain is full. Returns the bytes written. */
static uint32_t fill_chain(struct virtio_console *con, struct vq_req *req)
{
	struct iovec *in = vq_req_in(req);
	uint32_t written = 0;

	for (unsigned i = 0; i < req->nr_in && written < UINT32_MAX; i++) {
		size_t want = in[i].iov_len;
		size_t n;

		if (want > UINT32_MAX - written)
			want = UINT32_MAX - written;	/* the used length is 32 bits */
		n = chardev_read(con->cd, in[i].iov_base, want);
		written += (uint32_t)n;
		if (n < want)
			break;
	}
	return written;
}

/* rx_fill: move buffered input into receive buffers until either runs out.
 * Bounded by the chardev's buffer: it is refilled on the host side's thread,
 * which is the one calling us (or the loop serving kicks, the same thread). */
static void rx_fill(struct virtio_console *con)
{
	struct virtio_dev *vdev = &con->vdev;
	struct virtqueue *vq = &vdev->vqs[VIRTIO_CONSOLE_RXQ];
	bool pushed = false;
	int r = 0;

	if (con->cd == NULL || !rx_usable(vdev))
		return;
	/* At most a ring's worth per call: work per call stays bounded. */
	for (unsigned budget = vq->size; budget > 0; budget--) {
		uint32_t n;

		if (!con->rx_held) {
			r = vq_pop(vq, &con->rx_req);
			if (r != 1)
				break;
			con->rx_held = true;
		}
		n = fill_chain(con, &con->rx_req);
		if (n == 0 && con->rx_req.in_len > 0)
			break;	/* no input now: keep the chain for when it comes */
		/* A chain without writable space goes back empty: nothing to
		 * put in it, and holding it would stall the queue. */
		vq_push(vq, con->rx_req.head, n);
		con->rx_held = false;
		pushed = true;
	}
	if (pushed)
		virtio_queue_done(vdev, VIRTIO_CONSOLE_RXQ);
	if (r < 0)
		virtio_queue_broken(vdev, VIRTIO_CONSOLE_RXQ);
}

/* Host side: input arrived while its buffer was empty (host side's thread). */
static void console_input_ready(void *opaque)
{
	struct virtio_console *con = opaque;

	pthread_mutex_lock(&con->vdev.lock);
	rx_fill(con);
	pthread_mutex_unlock(&con->vdev.lock);
}

/* --- transmit: guest → host ----------------------------------------------------- */

static void tx_drain(struct virtio_console *con)
{
	struct virtio_dev *vdev = &con->vdev;
	struct virtqueue *vq = &vdev->vqs[VIRTIO_CONSOLE_TXQ];
	struct vq_req *req = &con->tx_req;
	int r;

	if (vq->broken)
		return;	/* NEEDS_RESET was sent when it broke */
	while ((r = vq_pop(vq, req)) == 1) {
		struct iovec *out = vq_req_out(req);
		size_t budget = TX_MAX_PER_CHAIN;

		for (unsigned i = 0; i < req->nr_out && budget > 0; i++) {
			size_t n = out[i].iov_len < budget ? out[i].iov_len : budget;

			chardev_write(con->cd, out[i].iov_base, n);
			budget -= n;
		}
		/* Writable segments in a transmit chain mean nothing here: left
		 * untouched, and the used length says so (0 bytes written). */
		vq_push(vq, req->head, 0);
	}
	virtio_queue_done(vdev, VIRTIO_CONSOLE_TXQ);
	if (r < 0)
		virtio_queue_broken(vdev, VIRTIO_CONSOLE_TXQ);
}

/* --- virtio_dev_ops ------------------------------------------------------------- */

static void console_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_console *con = vdev->priv;

	if (q == VIRTIO_CONSOLE_TXQ)
		tx_drain(con);
	/* Any kick is also a chance to deliver input: a driver may add receive
	 * buffers (and kick) before DRIVER_OK, a kick the transport drops. */
	rx_fill(con);
}

static void console_config_read(struct virtio_dev *vdev, unsigned off, void *data, unsigned size)
{
	(void)vdev;
	(void)off;
	/* cols, rows: no SIZE feature; max_nr_ports: no MULTIPORT; emerg_wr
	 * is write-only. All zero. */
	memset(data, 0, size);
}

static void console_config_write(struct virtio_dev *vdev, unsigned off, const void *data,
				 unsigned size)
{
	struct virtio_console *con = vdev->priv;

	/* emerg_wr: its low byte is one output character. Allowed at any time,
	 * even before the driver set up the device (the spec exempts it), for
	 * early boot messages. Other fields are read-only. */
	if (off <= VIRTIO_CONSOLE_EMERG_WR && VIRTIO_CONSOLE_EMERG_WR < off + size) {
		uint8_t c = ((const uint8_t *)data)[VIRTIO_CONSOLE_EMERG_WR - off];
		chardev_write(con->cd, &c, 1);
	}
}

static void console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;

	/* The held chain belongs to the old rings; input stays on the host
	 * side until the driver sets up new ones. */
	con->rx_held = false;
}

/* Snapshot or migration: a receive chain held empty goes back to the avail
 * ring (it was the last one popped), to be taken again after the load. */
static void console_quiesce(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;

	if (con->rx_held) {
		vq_unpop(&vdev->vqs[VIRTIO_CONSOLE_RXQ]);
		con->rx_held = false;
	}
}

static void console_destroy(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;

	chardev_attach(con->cd, NULL, NULL);
	pthread_mutex_destroy(&vdev->lock);
	free(con);
}

static const struct virtio_dev_ops console_ops = {
	.name = "virtio-console",
	.device_id = 3,
	.class_code = 0x078000,	/* simple communication controller, other */
	.queue_notify = console_queue_notify,
	.config_read = console_config_read,
	.config_write = console_config_write,
	.reset = console_reset,
	.destroy = console_destroy,
	.quiesce = console_quiesce,
};

struct virtio_dev *virtio_console_create(struct chardev *cd)
{
	struct virtio_console *con = calloc(1, sizeof(*con));

	if (con == NULL)
		return NULL;
	con->vdev.ops = &console_ops;
	con->vdev.priv = con;
	con->vdev.host_features = VIRTIO_CONSOLE_F_EMERG_WRITE;
	con->vdev.config_size = VIRTIO_CONSOLE_CONFIG_SIZE;
	con->vdev.nr_queues = 2;
	con->vdev.queue_max = CONSOLE_QUEUE_SIZE;
	pthread_mutex_init(&con->vdev.lock, NULL);
	con->cd = cd;
	chardev_attach(cd, console_input_ready, con);
	return &con->vdev;
}
