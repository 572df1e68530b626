/* SPDX-License-Identifier: MIT */
/* boot.h: put a Linux bzImage, its initrd and command line, the memory map
 * and the ACPI tables into guest RAM, ready for the 64-bit entry. */
#ifndef DOMUS_X86_BOOT_H
#define DOMUS_X86_BOOT_H

#include <stdint.h>

struct gmem;
struct err;
struct vm_config;

struct x86_boot {
	uint64_t entry;		/* RIP of the boot vCPU */
	uint64_t zero_page;	/* RSI of the boot vCPU */
};

/* What the ACPI tables say about PCI (vm.c gives the bus the same windows). */
struct x86_boot_pci {
	uint64_t mmio64_base, mmio64_size;	/* 64-bit BAR window; size 0: none */
};

/* x86_boot_check: everything x86_boot_load() would refuse about the files,
 * the command line and the memory size, without a VM: both engines run it
 * before starting, so bad input gets the same message whichever engine. */
int x86_boot_check(const struct vm_config *cfg, struct err *err);

/* x86_boot_load: read cfg->kernel / cfg->initrd and lay everything out in
 * (mem) for (cfg->vcpus) CPUs; with (pci) not NULL the ACPI tables describe
 * the PCI host bridge (docs/pci.md). Errors name the file and the limit hit. */
int x86_boot_load(const struct vm_config *cfg, const struct gmem *mem,
		  const struct x86_boot_pci *pci, struct x86_boot *out, struct err *err);

#endif
