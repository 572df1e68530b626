/* SPDX-License-Identifier: MIT */
/* tables.h: the ACPI tables the x86 guest reads at boot (RSDP, XSDT, FADT, MADT, DSDT...). */
#ifndef DOMUS_ACPI_TABLES_H
#define DOMUS_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest vCPU count: APIC ID 255 is the xAPIC broadcast ID. */
#define ACPI_MAX_CPUS	255

/* Identification written to every table header (and the RSDP's OEM id). */
#define ACPI_OEM_ID		"DOMUS "	/* 6 bytes */
#define ACPI_OEM_TABLE_ID	"DOMUSVM "	/* 8 bytes */
#define ACPI_CREATOR_ID		"DOMU"		/* 4 bytes */

struct acpi_config {
	unsigned nr_cpus;	/* 1..255; APIC IDs 0..nr_cpus-1; MADT: LAPIC entries
				 * (x2APIC entries for ids > 254) */
	uint64_t base_gpa;	/* guest-physical address where (out) will live:
				 * LAYOUT_ACPI (0xe0000) */
	bool pci;		/* PCI: an MCFG for the ECAM at LAYOUT_PCI_ECAM (buses
				 * 0-255), the host bridge \_SB.PCI0 and a PNP0C02
				 * device reserving the ECAM range (docs/pci.md) */
	uint64_t pci_mmio64_base;	/* the 64-bit BAR window in PCI0's _CRS */
	uint64_t pci_mmio64_size;	/* 0: none (only the 32-bit window) */
};

/* Where each table went: byte offsets into (out), i.e. relative to base_gpa,
 * and sizes. The RSDP is always at offset 0. */
struct acpi_layout {
	size_t rsdp, rsdp_len;
	size_t xsdt, xsdt_len;
	size_t rsdt, rsdt_len;
	size_t fadt, fadt_len;
	size_t facs, facs_len;
	size_t madt, madt_len;
	size_t dsdt, dsdt_len;
	size_t mcfg, mcfg_len;	/* 0, 0 without cfg->pci */
};

/*
 * acpi_build: lay out RSDP (at offset 0, i.e. at base_gpa), XSDT, RSDT, FADT,
 * FACS (64-byte aligned in guest-physical terms), MADT, MCFG (with cfg->pci)
 * and DSDT in (out) of
 * (size) bytes, with all pointers as guest-physical addresses base_gpa +
 * offset and all checksums right. *used = bytes used.
 *
 * base_gpa must be 16-byte aligned and the tables must end below 4 GiB (the
 * RSDT and FADT hold 32-bit pointers). The guest finds the RSDP by scanning
 * 0xe0000-0xfffff only if base_gpa lies there; elsewhere the VMM must pass
 * the address in boot_params.acpi_rsdp_addr.
 *
 * Returns 0; -EINVAL for a bad (cfg) (nr_cpus 0 or > ACPI_MAX_CPUS, base_gpa
 * misaligned or too high, a 64-bit PCI window that wraps or lies below
 * 4 GiB), NULL (cfg) or (used), or NULL (out) with size > 0;
 * -ENOSPC if (size) is too small, with *used set to the size needed (so
 * (out) = NULL, (size) = 0 asks for the size); -ENOMEM if an allocation
 * failed. On error nothing is written to (out).
 */
int acpi_build(const struct acpi_config *cfg, void *out, size_t size, size_t *used);

/* acpi_build_layout: acpi_build() that also reports where each table went in
 * (*layout) (if not NULL) on success. */
int acpi_build_layout(const struct acpi_config *cfg, void *out, size_t size, size_t *used,
		      struct acpi_layout *layout);

#endif
