/* SPDX-License-Identifier: MIT */
/* layout.h: where things live in the guest's physical address space and I/O
 * port space on x86. One place, so the e820 map, the ACPI tables and the
 * devices cannot disagree. */
#ifndef DOMUS_X86_LAYOUT_H
#define DOMUS_X86_LAYOUT_H

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* --- guest physical memory ------------------------------------------------ */
#define LAYOUT_GDT		0x0500ULL	/* boot GDT (4 entries) */
#define LAYOUT_IDT		0x0520ULL	/* empty boot IDT */
#define LAYOUT_ZERO_PAGE	0x7000ULL	/* struct boot_params */
#define LAYOUT_PML4		0x9000ULL	/* boot page tables: PML4, PDPT, 4 PDs */
#define LAYOUT_PDPT		0xa000ULL
#define LAYOUT_PD		0xb000ULL	/* 4 pages: identity map of 4 GiB, 2 MiB pages */
#define LAYOUT_CMDLINE		0x20000ULL	/* kernel command line */
#define LAYOUT_CMDLINE_MAX	0x10000ULL	/* 64 KiB: far above any kernel's limit */
#define LAYOUT_EBDA		0x9fc00ULL	/* end of low RAM / start of EBDA (reserved) */
#define LAYOUT_ACPI		0xe0000ULL	/* ACPI tables; RSDP first (BIOS scan area) */
#define LAYOUT_ACPI_SIZE	0x20000ULL	/* up to 1 MiB */
#define LAYOUT_HIGH_MEM		0x100000ULL	/* 1 MiB: protected-mode kernel loads here */

/* RAM above 1 MiB runs up to the 32-bit hole, then continues at 4 GiB. */
#define LAYOUT_MMIO_HOLE	0xc0000000ULL	/* 3 GiB .. 4 GiB: devices, no RAM */
#define LAYOUT_MMIO_HOLE_END	0x100000000ULL
#define LAYOUT_PCI_ECAM		0xe0000000ULL	/* 256 MiB: ECAM for 256 buses (issue 3) */
#define LAYOUT_PCI_ECAM_SIZE	0x10000000ULL
#define LAYOUT_PCI_MMIO32	0xc0000000ULL	/* 32-bit BAR window below ECAM */
#define LAYOUT_PCI_MMIO32_SIZE	0x20000000ULL
#define LAYOUT_IOAPIC		0xfec00000ULL
#define LAYOUT_LAPIC		0xfee00000ULL
#define LAYOUT_TSS		0xfffbd000ULL	/* KVM_SET_TSS_ADDR: 3 pages (Intel) */
#define LAYOUT_IDENTITY_MAP	0xfffbc000ULL	/* KVM_SET_IDENTITY_MAP_ADDR (Intel) */

/* --- legacy I/O ports ------------------------------------------------------ */
#define PORT_I8042_DATA		0x60
#define PORT_I8042_CMD		0x64
#define PORT_RTC		0x70	/* index 0x70, data 0x71 */
#define PORT_PVPANIC		0x505	/* QEMU's pvpanic ISA port (ACPI "QEMU0001") */
#define PORT_ACPI_PM1A_EVT	0x600	/* 4 bytes: PM1a status (2) + enable (2) */
#define PORT_ACPI_PM1A_CNT	0x604	/* 2 bytes: SLP_TYP / SLP_EN / SCI_EN */
#define PORT_ACPI_PM_TMR	0x608	/* 4 bytes: 3.579545 MHz ACPI PM timer */
#define PORT_ACPI_GPE0		0x620	/* 4 bytes: GPE0 status (2) + enable (2) */
#define PORT_RESET		0xcf9	/* reset control register (FADT RESET_REG) */
#define PORT_COM1		0x3f8
#define PORT_PCI_CONFIG_ADDR	0xcf8	/* type-1 config access (issue 3) */
#define PORT_PCI_CONFIG_DATA	0xcfc

/* ACPI S5 sleep type value the DSDT's \_S5 package advertises. */
#define ACPI_SLP_TYP_S5		5

/* --- interrupts (ISA IRQ = GSI on the IOAPIC, except IRQ0 -> GSI 2) ------- */
#define IRQ_COM1		4
#define IRQ_I8042_KBD		1
#define IRQ_RTC			8
#define IRQ_ACPI_SCI		9

#endif
