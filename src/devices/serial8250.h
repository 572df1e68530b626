/* SPDX-License-Identifier: MIT */
/* serial8250.h: a 16550A UART (COM1) whose line is a host chardev. */
#ifndef DOMUS_SERIAL8250_H
#define DOMUS_SERIAL8250_H

#include "console/chardev.h"
#include "devices/device.h"
#include "devices/irq.h"
#include "vmm/iobus.h"

struct serial8250;

/* Number of I/O ports the UART decodes (register serial8250_io_ops over
 * PORT_COM1, len SERIAL8250_IO_LEN). */
#define SERIAL8250_IO_LEN	8

/* serial8250_create: a UART in its power-on state, attached to (cd) (may be
 * NULL: output is dropped, no input) and driving (irq) (level: 1 while an
 * enabled interrupt is pending). Takes over cd->input_ready/cd->dev. The
 * chardev must call input_ready without holding a lock that its read() or
 * write() also takes, because the UART calls them under its own lock.
 * Returns NULL with errno set (ENOMEM, or what pthread_mutex_init failed with). */
struct serial8250 *serial8250_create(struct chardev *cd, struct irq_line irq);

/* Register over [PORT_COM1, PORT_COM1 + SERIAL8250_IO_LEN), opaque = the device.
 * Accesses wider than a byte are split into byte accesses at consecutive
 * registers, as the ISA bus does. */
extern const struct io_ops serial8250_io_ops;

/* name "serial8250", version 1; opaque = the device. destroy() detaches the
 * chardev: stop the thread that calls input_ready before destroying. */
extern const struct dev_ops serial8250_dev_ops;

#endif
