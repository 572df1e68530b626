/* SPDX-License-Identifier: MIT */
/* rng.c: virtio-rng. Each request is a chain of device-writable buffers that
 * we fill from getrandom(2). A request is bounded (VQ_MAX_SEGS segments
 * already checked by the queue); we also cap the bytes per request so a guest
 * can't make one kick cost unbounded host time. */
#include "rng.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "virtio.h"

#define RNG_QUEUE_SIZE		256
#define RNG_MAX_PER_REQUEST	(64 * 1024)

struct virtio_rng {
	struct virtio_dev vdev;
	struct vq_req req;	/* ~16 KiB: kept here, not on the stack */
};

static void rng_queue_notify(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_rng *rng = vdev->priv;
	struct virtqueue *vq = &vdev->vqs[q];
	int r;

	while ((r = vq_pop(vq, &rng->req)) == 1) {
		struct iovec *in = vq_req_in(&rng->req);
		uint32_t written = 0;
		for (unsigned i = 0; i < rng->req.nr_in && written < RNG_MAX_PER_REQUEST; i++) {
			size_t want = in[i].iov_len;
			if (want > RNG_MAX_PER_REQUEST - written)
				want = RNG_MAX_PER_REQUEST - written;
			ssize_t n = getrandom(in[i].iov_base, want, 0);
			if (n <= 0)
				break;
			written += (uint32_t)n;
			if ((size_t)n < want)
				break;
		}
		vq_push(vq, rng->req.head, written);
	}
	virtio_queue_done(vdev, q);
	if (r < 0)
		virtio_queue_broken(vdev, q);
}

static void rng_destroy(struct virtio_dev *vdev)
{
	pthread_mutex_destroy(&vdev->lock);
	free(vdev->priv);
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = 4,
	.class_code = 0x00ff00,	/* unclassified device */
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
};

struct virtio_dev *virtio_rng_create(void)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (rng == NULL)
		return NULL;
	rng->vdev.ops = &rng_ops;
	rng->vdev.priv = rng;
	rng->vdev.nr_queues = 1;
	rng->vdev.queue_max = RNG_QUEUE_SIZE;
	pthread_mutex_init(&rng->vdev.lock, NULL);
	return &rng->vdev;
}
