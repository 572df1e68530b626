/* SPDX-License-Identifier: MIT */
/* pvpanic.c: pvpanic ISA port: reports the guest's panic to the VM. */
#include "devices/pvpanic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define PVPANIC_EVENTS	(PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

/* Nothing changes after creation, so no lock is needed. */
struct pvpanic {
	struct vm_requester req;
};

static void pvpanic_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	uint8_t *out = data;

	(void)opaque;
	memset(out, 0xff, size);
	if (off == 0 && size > 0)
		out[0] = PVPANIC_EVENTS;
}

static void pvpanic_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct pvpanic *p = opaque;

	if (off != 0 || size == 0)
		return;
	if (*(const uint8_t *)data & PVPANIC_PANICKED)
		vm_request(&p->req, VM_REQ_PANIC);
}

const struct io_ops pvpanic_io_ops = {
	.read = pvpanic_read,
	.write = pvpanic_write,
};

struct pvpanic *pvpanic_create(struct vm_requester req)
{
	struct pvpanic *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->req = req;
	return p;
}

static void pvpanic_reset(void *dev)
{
	(void)dev;
}

static int pvpanic_save(void *dev, struct buf *out)
{
	(void)dev;
	(void)out;
	return 0;
}

static int pvpanic_load(void *dev, const void *data, size_t len, uint32_t version)
{
	(void)dev;
	(void)data;
	return version == 1 && len == 0 ? 0 : -EINVAL;
}

static void pvpanic_destroy(void *dev)
{
	free(dev);
}

const struct dev_ops pvpanic_dev_ops = {
	.name = "pvpanic",
	.version = 1,
	.reset = pvpanic_reset,
	.save = pvpanic_save,
	.load = pvpanic_load,
	.destroy = pvpanic_destroy,
};
