/* SPDX-License-Identifier: MIT */
/* device.h: what every emulated device offers the VM, so the VM can reset,
 * save, restore and destroy devices without knowing their types. Snapshots
 * and live migration gather device state through save/load. */
#ifndef DOMUS_DEVICE_H
#define DOMUS_DEVICE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

struct dev_ops {
	const char *name;	/* stable: it names the state section */
	uint32_t version;	/* version of the saved state layout */
	/* reset: back to power-on state (guest reboot). */
	void (*reset)(void *dev);
	/* save: append the device's state to (out). Returns 0 or -errno. */
	int (*save)(void *dev, struct buf *out);
	/* load: restore state saved by save() at (version); returns 0, or
	 * -EINVAL if (data) is malformed (the device is then left reset). */
	int (*load)(void *dev, const void *data, size_t len, uint32_t version);
	void (*destroy)(void *dev);
};

/* What a device may ask of the machine. Delivered asynchronously: the VM's
 * monitor acts on it after the vCPU that triggered it returns. */
enum vm_request {
	VM_REQ_NONE = 0,
	VM_REQ_POWEROFF,	/* ACPI S5 */
	VM_REQ_RESET,		/* i8042 pulse, 0xcf9, ACPI reset register */
	VM_REQ_PANIC,		/* pvpanic: the guest kernel panicked */
};

struct vm_requester {
	void (*request)(void *ctx, enum vm_request req);
	void *ctx;
};

static inline void vm_request(const struct vm_requester *r, enum vm_request req)
{
	if (r && r->request)
		r->request(r->ctx, req);
}

#endif
