/* SPDX-License-Identifier: MIT */
/* i8042.h: a PS/2 keyboard controller with no keyboard and no aux port, there
 * so that guests probe it fast and can reset the machine through it. */
#ifndef DOMUS_I8042_H
#define DOMUS_I8042_H

#include "devices/device.h"
#include "devices/irq.h"
#include "vmm/iobus.h"

struct i8042;

/* i8042_create: a controller in the state a PC BIOS leaves it (command byte
 * 0x65: keyboard interrupt on, system flag, aux disabled, translation), with
 * an empty keyboard port: every byte sent to the keyboard is answered 0xfe
 * (NAK), so Linux's atkbd gives up at once instead of waiting for timeouts.
 * The aux port is absent (its disable bit cannot be cleared), so the driver
 * registers no aux port and never needs IRQ 12. Pulses of the reset line
 * (command 0xfe / 0xf0-0xff with bit 0 clear, or 0xd1 with bit 0 clear) call
 * vm_request(req, VM_REQ_RESET), once per pulse. (kbd_irq) is IRQ 1: 1 while
 * a keyboard-side byte waits in the output buffer and the command byte
 * enables the keyboard interrupt. Returns NULL with errno set. */
struct i8042 *i8042_create(struct vm_requester req, struct irq_line kbd_irq);

/* Register i8042_data_io_ops at PORT_I8042_DATA (0x60) len 1 and
 * i8042_cmd_io_ops at PORT_I8042_CMD (0x64) len 1, both with opaque = the
 * device. Ports 0x61-0x63 are not the controller's (0x61 is the PIT's
 * speaker/gate port, handled by KVM's in-kernel PIT). */
extern const struct io_ops i8042_data_io_ops;
extern const struct io_ops i8042_cmd_io_ops;

/* name "i8042", version 1; opaque = the device. */
extern const struct dev_ops i8042_dev_ops;

#endif
