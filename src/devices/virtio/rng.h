/* SPDX-License-Identifier: MIT */
/* rng.h: virtio-rng, entropy for the guest from the host's getrandom(2). */
#ifndef DOMUS_VIRTIO_RNG_H
#define DOMUS_VIRTIO_RNG_H

struct virtio_dev;

/* virtio_rng_create: a virtio-rng device, ready for a transport. NULL on ENOMEM. */
struct virtio_dev *virtio_rng_create(void);

#endif
