/* SPDX-License-Identifier: MIT */
/* chardev.h: the byte stream between a guest-facing serial device (the 16550
 * UART, later virtio-console) and whatever is on the host side (the terminal
 * or pipe of `domus run`, later a console socket).
 *
 * Input is buffered on the host side and *pulled* by the device when the guest
 * can take it, so nothing is dropped: the host stops reading its input when
 * the buffer is full and resumes when the device drains it. */
#ifndef DOMUS_CHARDEV_H
#define DOMUS_CHARDEV_H

#include <stddef.h>

struct chardev;

struct chardev_ops {
	/* write: guest output. May block until written. Any thread. */
	void (*write)(struct chardev *cd, const void *buf, size_t len);
	/* read: take up to (len) buffered input bytes; returns how many (0: none).
	 * Never blocks. Any thread. */
	size_t (*read)(struct chardev *cd, void *buf, size_t len);
};

struct chardev {
	const struct chardev_ops *ops;
	/* Set by the device: called (from the host side's thread) when input
	 * arrives while the buffer was empty. The device then pulls with read(). */
	void (*input_ready)(void *dev);
	void *dev;
};

static inline void chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	if (cd)
		cd->ops->write(cd, buf, len);
}

static inline size_t chardev_read(struct chardev *cd, void *buf, size_t len)
{
	return cd ? cd->ops->read(cd, buf, len) : 0;
}

static inline void chardev_attach(struct chardev *cd, void (*input_ready)(void *), void *dev)
{
	if (cd) {
		cd->dev = dev;
		cd->input_ready = input_ready;
	}
}

#endif
