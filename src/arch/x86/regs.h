/* SPDX-License-Identifier: MIT */
/* regs.h: the CPU state the Linux 64-bit boot protocol wants at entry: long
 * mode with an identity map of the first 4 GiB, flat segments from a GDT in
 * guest memory, RSI = the zero page. */
#ifndef DOMUS_X86_REGS_H
#define DOMUS_X86_REGS_H

#include <stdint.h>

struct gmem;

/* regs_write_boot_tables: GDT, empty IDT and page tables into guest RAM at
 * the addresses of layout.h. Returns 0 or -EFAULT. */
int regs_write_boot_tables(const struct gmem *mem);

/* regs_setup_boot_vcpu: segment, control and general registers of the boot
 * vCPU for a jump to (entry) with (zero_page) in RSI. */
int regs_setup_boot_vcpu(int vcpu_fd, uint64_t entry, uint64_t zero_page);

/* regs_setup_msrs: MSRs every vCPU starts with (fast strings, MTRRs on,
 * default write-back), as firmware would leave them. */
int regs_setup_msrs(int vcpu_fd);

/* regs_setup_lapic: LINT0 = ExtINT (the 8259 wire), LINT1 = NMI, as the
 * BIOS programs them; the guest expects virtual-wire mode at boot. */
int regs_setup_lapic(int vcpu_fd);

#endif
