/* SPDX-License-Identifier: MIT */
/* cpuid.c: CPUID for our vCPUs. The topology leaves are rewritten rather
 * than passed through, because the host's (or PVM's) topology means nothing
 * for a guest with a different number of CPUs. */
#include "cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/err.h"

#define CPUID_MAX_ENTRIES 256

#define LEAF1_ECX_HYPERVISOR	(1U << 31)
#define LEAF1_EDX_HTT		(1U << 28)

struct kvm_cpuid2 *cpuid_supported(int kvm_fd, struct err *err)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);

	if (c == NULL) {
		err_set(err, ENOMEM, "cpuid: out of memory");
		return NULL;
	}
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		err_setsys(err, errno, "KVM_GET_SUPPORTED_CPUID");
		free(c);
		return NULL;
	}
	return c;
}

/* bits needed to number (n) things: 1 → 0, 2 → 1, 3..4 → 2 ... */
static unsigned id_bits(unsigned n)
{
	unsigned b = 0;
	while ((1U << b) < n)
		b++;
	return b;
}

static struct kvm_cpuid_entry2 *add_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	if (c->nent >= CPUID_MAX_ENTRIES)
		return NULL;
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	return e;
}

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/* XSAVE state components and the feature flag each needs (leaf, register,
 * bit); components 0 and 1 (x87, SSE) are always there. */
static const struct {
	unsigned comp;
	uint32_t leaf;
	int reg;	/* 0 ebx, 1 ecx */
	unsigned bit;
} xsave_needs[] = {
	{ 2, 1, 1, 28 },	/* AVX: CPUID.1:ECX.AVX */
	{ 3, 7, 0, 14 },	/* MPX bounds */
	{ 4, 7, 0, 14 },	/* MPX csr */
	{ 5, 7, 0, 16 },	/* AVX-512 opmask: AVX512F */
	{ 6, 7, 0, 16 },	/* AVX-512 ZMM_Hi256 */
	{ 7, 7, 0, 16 },	/* AVX-512 Hi16_ZMM */
	{ 9, 7, 1, 3 },		/* PKRU: PKU */
};

/* Make leaf 0xd agree with the feature flags. KVM reports the state
 * components the host's XCR0 has, even where the CPU model (a nested KVM
 * under QEMU's TCG, say) lacks the feature: Linux then finds its own XSAVE
 * size and CPUID's disagree, warns and falls back. Drop such components and
 * recompute the sizes they contribute to. */
static void cpuid_fix_xsave(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *d0 = find_entry(c, 0xd, 0);
	struct kvm_cpuid_entry2 *e;
	uint32_t max_end = 0x240;	/* legacy area (512) + XSAVE header (64) */

	if (d0 == NULL)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(xsave_needs); i++) {
		unsigned comp = xsave_needs[i].comp;
		if (!(d0->eax & (1U << comp)))
			continue;
		e = find_entry(c, xsave_needs[i].leaf, 0);
		uint32_t reg = e ? (xsave_needs[i].reg ? e->ecx : e->ebx) : 0;
		if (!(reg & (1U << xsave_needs[i].bit))) {
			d0->eax &= ~(1U << comp);
			e = find_entry(c, 0xd, comp);
			if (e)
				e->eax = e->ebx = e->ecx = e->edx = 0;
		}
	}
	for (unsigned comp = 2; comp < 32; comp++) {
		if (!(d0->eax & (1U << comp)))
			continue;
		e = find_entry(c, 0xd, comp);
		if (e && e->eax + e->ebx > max_end)
			max_end = e->eax + e->ebx;
	}
	/* ECX: the size for all supported components. EBX (the size for the
	 * components in XCR0) is KVM's: it recomputes it when XCR0 changes. */
	d0->ecx = max_end;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned id, unsigned nr)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);
	unsigned core_bits = id_bits(nr);

	if (c == NULL)
		return NULL;
	/* Copy all but the topology leaves we rebuild (0xb) or drop (0x1f,
	 * whose absence makes Linux fall back to 0xb). */
	for (uint32_t i = 0; i < base->nent && i < CPUID_MAX_ENTRIES; i++) {
		uint32_t fn = base->entries[i].function;
		if (fn == 0xb || fn == 0x1f)
			continue;
		c->entries[c->nent++] = base->entries[i];
	}
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			/* EBX: initial APIC ID [31:24], logical processors [23:16] */
			e->ebx = (e->ebx & 0xffff) | (id << 24) | ((nr & 0xff) << 16);
			e->ecx |= LEAF1_ECX_HYPERVISOR;
			if (nr > 1)
				e->edx |= LEAF1_EDX_HTT;
			else
				e->edx &= ~LEAF1_EDX_HTT;
			break;
		case 4:
			/* deterministic cache parameters: cores per package - 1 in
			 * [31:26] (6 bits: saturates at 64 cores, as on real
			 * parts), threads sharing this cache [25:14] (one) */
			if ((e->eax & 0x1f) != 0)
				e->eax = (e->eax & 0x3fff) | ((nr - 1 < 63 ? nr - 1 : 63) << 26);
			break;
		case 0x80000008:
			/* AMD: ApicIdSize [15:12], number of cores - 1 [7:0] */
			e->ecx = (e->ecx & ~0xf0ffU) | (core_bits << 12) | ((nr - 1) & 0xff);
			break;
		case 0x8000001e:
			/* AMD extended APIC ID; compute unit = core, one thread */
			e->eax = id;
			e->ebx = id & 0xff;
			e->ecx = 0;
			break;
		}
	}
	cpuid_fix_xsave(c);
	/* Leaf 0xb: level 0 = SMT (1 thread), level 1 = core (nr cores). */
	struct kvm_cpuid_entry2 *e = add_entry(c, 0xb, 0);
	if (e) {
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1 << 8) | 0;
		e->edx = id;
	}
	e = add_entry(c, 0xb, 1);
	if (e) {
		e->eax = core_bits;
		e->ebx = nr;
		e->ecx = (2 << 8) | 1;
		e->edx = id;
	}
	e = add_entry(c, 0xb, 2);
	if (e) {
		e->ecx = 2;
		e->edx = id;
	}
	return c;
}
