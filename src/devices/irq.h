/* SPDX-License-Identifier: MIT */
/* irq.h: how a device raises an interrupt line without knowing about KVM.
 * The VM gives each device a line bound to a GSI of the in-kernel IOAPIC/PIC. */
#ifndef DOMUS_IRQ_H
#define DOMUS_IRQ_H

struct irq_line {
	/* set_level: drive line (gsi) to (level) 0 or 1. Safe from any thread. */
	void (*set_level)(void *ctx, unsigned gsi, int level);
	void *ctx;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l && l->set_level)
		l->set_level(l->ctx, l->gsi, level);
}

#endif
