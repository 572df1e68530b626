/* SPDX-License-Identifier: MIT */
/* regs.c: boot-time CPU state for x86-64 Linux. */
#include "regs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "layout.h"
#include "vmm/gmem.h"

#define GDT_CODE64	1	/* selector 0x08 */
#define GDT_DATA	2	/* selector 0x10 */
#define GDT_TSS		3	/* selector 0x18 */

#define CR0_PE		(1ULL << 0)
#define CR0_ET		(1ULL << 4)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_PS		(1ULL << 7)

#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MISC_ENABLE_FAST_STRING	(1ULL << 0)
#define MTRR_ENABLE		(1ULL << 11)
#define MTRR_TYPE_WB		6

/* A GDT descriptor from (flags, base, limit) in the hardware's scattered layout. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

int regs_write_boot_tables(const struct gmem *mem)
{
	uint64_t gdt[4];
	uint64_t *pml4, *pdpt, *pd;

	gdt[0] = 0;
	gdt[GDT_CODE64] = gdt_entry(0xa09b, 0, 0xfffff);	/* 64-bit code, G, L */
	gdt[GDT_DATA] = gdt_entry(0xc093, 0, 0xfffff);		/* data, G, D/B */
	gdt[GDT_TSS] = gdt_entry(0x808b, 0, 0xfffff);		/* busy TSS */
	if (gmem_write(mem, LAYOUT_GDT, gdt, sizeof(gdt)) < 0)
		return -EFAULT;
	if (gmem_ptr(mem, LAYOUT_IDT, 8) == NULL)
		return -EFAULT;
	memset(gmem_ptr(mem, LAYOUT_IDT, 8), 0, 8);

	/* Identity-map 4 GiB with 2 MiB pages: the boot protocol wants the
	 * kernel, zero page and command line mapped; we map everything below
	 * 4 GiB so the initrd and ACPI tables are too. */
	pml4 = gmem_ptr(mem, LAYOUT_PML4, 4096);
	pdpt = gmem_ptr(mem, LAYOUT_PDPT, 4096);
	pd = gmem_ptr(mem, LAYOUT_PD, 4 * 4096);
	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void seg_from_gdt(struct kvm_segment *s, unsigned index, uint64_t desc)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = (uint16_t)(index * 8);
	s->type = (desc >> 40) & 0xf;
	s->s = (desc >> 44) & 1;
	s->dpl = (desc >> 45) & 3;
	s->present = (desc >> 47) & 1;
	s->avl = (desc >> 52) & 1;
	s->l = (desc >> 53) & 1;
	s->db = (desc >> 54) & 1;
	s->g = (desc >> 55) & 1;
}

int regs_setup_boot_vcpu(int vcpu_fd, uint64_t entry, uint64_t zero_page)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	seg_from_gdt(&sregs.cs, GDT_CODE64, gdt_entry(0xa09b, 0, 0xfffff));
	seg_from_gdt(&sregs.ds, GDT_DATA, gdt_entry(0xc093, 0, 0xfffff));
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	seg_from_gdt(&sregs.tr, GDT_TSS, gdt_entry(0x808b, 0, 0xfffff));
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = LAYOUT_IDT;
	sregs.idt.limit = 7;
	sregs.cr0 |= CR0_PE | CR0_PG | CR0_ET;
	sregs.cr3 = LAYOUT_PML4;
	sregs.cr4 |= CR4_PAE;
	sregs.efer |= EFER_LME | EFER_LMA;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;	/* bit 1 is reserved and always set */
	regs.rip = entry;
	regs.rsi = zero_page;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int regs_setup_msrs(int vcpu_fd)
{
	union {
		struct kvm_msrs hdr;
		uint8_t raw[sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)];
	} m;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 2;
	m.hdr.entries[0].index = MSR_IA32_MISC_ENABLE;
	m.hdr.entries[0].data = MISC_ENABLE_FAST_STRING;
	m.hdr.entries[1].index = MSR_MTRR_DEF_TYPE;
	m.hdr.entries[1].data = MTRR_ENABLE | MTRR_TYPE_WB;
	/* KVM_SET_MSRS returns how many it set; a KVM without MTRRs (or PVM)
	 * may refuse one: not fatal, the guest copes. */
	return ioctl(vcpu_fd, KVM_SET_MSRS, &m) < 0 ? -errno : 0;
}

#define APIC_LVT0	0x350
#define APIC_LVT1	0x360
#define APIC_MODE_NMI	0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], 4);
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&l->regs[reg], &v, 4);
}

int regs_setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state l;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	lapic_set_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	return ioctl(vcpu_fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}
