/* SPDX-License-Identifier: MIT */
/* test_cpuid.c: the topology and hypervisor leaves each vCPU gets, from a
 * synthetic "supported" CPUID (no /dev/kvm needed). */
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "arch/x86/cpuid.h"

static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 32 * sizeof(struct kvm_cpuid_entry2));
	struct kvm_cpuid_entry2 *e = c->entries;

	e[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x1f };
	e[1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0f0800, .ecx = 0x1, .edx = 0 };
	e[2] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0, .eax = 0xfc004121,
					  .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .ebx = 2, .ecx = 0x100,
					  .edx = 99, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[4] = (struct kvm_cpuid_entry2){ .function = 0x1f, .index = 0, .ebx = 2 };
	e[5] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001,
					  .ebx = 0x4b4d564b };
	e[6] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0x01000efb };
	e[7] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .ecx = 0xf0ff };
	c->nent = 8;
	return c;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static void check_vcpu(const struct kvm_cpuid2 *base, unsigned id, unsigned nr)
{
	struct kvm_cpuid2 *c = cpuid_for_vcpu(base, id, nr);
	const struct kvm_cpuid_entry2 *e;

	assert_non_null(c);
	e = find(c, 1, 0);
	assert_non_null(e);
	assert_int_equal(e->ebx >> 24, id);			/* initial APIC ID */
	assert_int_equal((e->ebx >> 16) & 0xff, nr);		/* logical count */
	assert_int_equal((e->ebx >> 8) & 0xff, 0x08);		/* CLFLUSH size kept */
	assert_true(e->ecx & (1U << 31));			/* hypervisor */
	assert_true(e->ecx & 1);				/* other bits kept */
	assert_int_equal(!!(e->edx & (1U << 28)), nr > 1);	/* HTT */
	e = find(c, 4, 0);
	assert_int_equal(e->eax >> 26, nr - 1 < 63 ? nr - 1 : 63); /* cores per package */
	assert_int_equal(e->eax & 0x3fff, 0x0121);		/* cache type/level kept */
	e = find(c, 0xb, 0);					/* SMT level: 1 thread */
	assert_non_null(e);
	assert_int_equal(e->ebx, 1);
	assert_int_equal(e->edx, id);
	assert_int_equal((e->ecx >> 8) & 0xff, 1);
	e = find(c, 0xb, 1);					/* core level: nr cores */
	assert_int_equal(e->ebx, nr);
	assert_int_equal((e->ecx >> 8) & 0xff, 2);
	assert_true((1U << e->eax) >= nr);			/* shift covers all ids */
	assert_true(e->eax == 0 || (1U << (e->eax - 1)) < nr);
	e = find(c, 0xb, 2);					/* end of levels */
	assert_int_equal((e->ecx >> 8) & 0xff, 0);
	assert_null(find(c, 0x1f, 0));				/* dropped: Linux uses 0xb */
	e = find(c, 0x40000000, 0);				/* KVM signature kept */
	assert_int_equal(e->ebx, 0x4b4d564b);
	e = find(c, 0x40000001, 0);				/* paravirt features kept */
	assert_int_equal(e->eax, 0x01000efb);
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, nr - 1);
	free(c);
}

static void test_topology(void **state)
{
	struct kvm_cpuid2 *base = fake_supported();
	static const unsigned nrs[] = { 1, 2, 3, 4, 8, 64, 254 };
	(void)state;

	for (unsigned k = 0; k < sizeof(nrs) / sizeof(nrs[0]); k++)
		for (unsigned id = 0; id < nrs[k]; id += (nrs[k] > 8 ? 17 : 1))
			check_vcpu(base, id, nrs[k]);
	free(base);
}

/* Leaf 0xd must not advertise state components whose feature is absent. */
static void test_xsave_consistent(void **state)
{
	struct kvm_cpuid2 *base = fake_supported();
	struct kvm_cpuid_entry2 *e = base->entries;
	struct kvm_cpuid2 *c;
	(void)state;

	e[base->nent++] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 0, .eax = 0x7,
						     .ebx = 0x240, .ecx = 0x340,
						     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	e[base->nent++] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 2, .eax = 0x100,
						     .ebx = 0x240,
						     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	/* leaf 1 without AVX: the AVX component goes */
	c = cpuid_for_vcpu(base, 0, 1);
	assert_int_equal(find(c, 0xd, 0)->eax, 0x3);
	assert_int_equal(find(c, 0xd, 0)->ecx, 0x240);
	assert_int_equal(find(c, 0xd, 2)->eax, 0);
	free(c);
	/* with AVX: kept, and the full size covers it */
	e[1].ecx |= 1U << 28;
	c = cpuid_for_vcpu(base, 0, 1);
	assert_int_equal(find(c, 0xd, 0)->eax, 0x7);
	assert_int_equal(find(c, 0xd, 0)->ecx, 0x340);
	free(c);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topology),
		cmocka_unit_test(test_xsave_consistent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
