/* SPDX-License-Identifier: MIT */
/* fakes.h: a fake IRQ line and a fake VM requester for device unit tests (cmocka). */
#ifndef DOMUS_TESTS_FAKES_H
#define DOMUS_TESTS_FAKES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devices/device.h"
#include "devices/irq.h"

/* --- IRQ line: records the level and how often it changed ---------------------- */

struct fake_irq {
	int expect_gsi;		/* every call must name this GSI; -1: any */
	int level;
	int changes;		/* level flips, either way */
	int rises;		/* 0 -> 1 flips */
};

static inline void fake_set_level(void *ctx, unsigned gsi, int level)
{
	struct fake_irq *irq = ctx;

	if (irq->expect_gsi >= 0)
		assert_int_equal(gsi, irq->expect_gsi);
	assert_true(level == 0 || level == 1);
	if (level != irq->level)
		irq->changes++;
	if (level && !irq->level)
		irq->rises++;
	irq->level = level;
}

/* The line to hand the device: bound to (gsi), which every call is checked against. */
static inline struct irq_line fake_irq_line(struct fake_irq *irq, unsigned gsi)
{
	irq->expect_gsi = (int)gsi;
	return (struct irq_line){ fake_set_level, irq, gsi };
}

/* --- VM requester: counts the requests by enum vm_request --------------------- */

struct fake_req {
	int count[VM_REQ_PANIC + 1];
};

static inline void fake_request(void *ctx, enum vm_request req)
{
	struct fake_req *r = ctx;

	assert_true(req > VM_REQ_NONE && req <= VM_REQ_PANIC);
	r->count[req]++;
}

static inline struct vm_requester fake_requester(struct fake_req *r)
{
	return (struct vm_requester){ fake_request, r };
}

/* All requests of any kind. */
static inline int fake_req_total(const struct fake_req *r)
{
	int n = 0;

	for (int i = VM_REQ_NONE + 1; i <= VM_REQ_PANIC; i++)
		n += r->count[i];
	return n;
}

#endif
