/* SPDX-License-Identifier: MIT */
/* pvpanic.h: QEMU-compatible pvpanic ISA port, through which the guest says it panicked. */
#ifndef DOMUS_PVPANIC_H
#define DOMUS_PVPANIC_H

#include "devices/device.h"
#include "vmm/iobus.h"

struct pvpanic;

/* Event bits, as in QEMU's pvpanic specification (docs/specs/pvpanic.rst). */
#define PVPANIC_PANICKED	0x01	/* the guest kernel panicked */
#define PVPANIC_CRASH_LOADED	0x02	/* a crash kernel is loaded and takes over */

/* pvpanic_create: the device; a guest write with PVPANIC_PANICKED set calls
 * vm_request(req, VM_REQ_PANIC), once per write. PVPANIC_CRASH_LOADED alone
 * is accepted and ignored: kdump will run and reboot the guest itself.
 * The guest finds the port through an ACPI device with _HID "QEMU0001" and
 * _CRS IO(PORT_PVPANIC, 1) in the DSDT (Linux's pvpanic-mmio driver).
 * Returns NULL with errno set. */
struct pvpanic *pvpanic_create(struct vm_requester req);

/* Register at PORT_PVPANIC (0x505) len 1, opaque = the device. Reads return
 * the supported events (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED). */
extern const struct io_ops pvpanic_io_ops;

/* name "pvpanic", version 1, opaque = the device. The device has no state:
 * save() appends nothing and load() accepts only an empty section. */
extern const struct dev_ops pvpanic_dev_ops;

#endif
