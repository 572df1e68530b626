/* SPDX-License-Identifier: MIT */
/* boot.c: loading Linux the way the x86 boot protocol describes, with the
 * pure pieces (bzImage header, e820, ACPI) from src/boot. */
#include "boot.h"

#include <errno.h>
#include <string.h>

#include "boot/acpi/tables.h"
#include "boot/bzimage.h"
#include "boot/e820.h"
#include "common/err.h"
#include "common/file.h"
#include "engine/engine.h"
#include "layout.h"
#include "regs.h"
#include "vmm/gmem.h"

/* The files, opened and checked: what both the pre-flight check and the
 * loader need, so they cannot disagree about what is acceptable. */
struct boot_files {
	struct mapped_file kernel, initrd;
	struct bzimage_info bi;
	uint64_t initrd_gpa;
};

static void boot_files_close(struct boot_files *f)
{
	file_unmap(&f->initrd);
	file_unmap(&f->kernel);
}

static int boot_files_open(const struct vm_config *cfg, struct boot_files *f, struct err *err)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->kernel.fd = f->initrd.fd = -1;
	r = file_map(cfg->kernel, "kernel", &f->kernel, err);
	if (r < 0)
		return r;
	r = bzimage_parse(f->kernel.data, f->kernel.len, cfg->kernel, &f->bi, err);
	if (r < 0)
		goto err;
	r = bzimage_check_cmdline(&f->bi, cfg->cmdline, err);
	if (r < 0)
		goto err;
	if (cfg->initrd) {
		r = file_map(cfg->initrd, "initrd", &f->initrd, err);
		if (r < 0)
			goto err;
	}
	/* the kernel's own footprint and the initrd must fit in the RAM */
	r = bzimage_place_initrd(&f->bi, cfg->memory_mib << 20, LAYOUT_HIGH_MEM, f->initrd.len,
				 &f->initrd_gpa, err);
	if (r < 0)
		goto err;
	return 0;
err:
	boot_files_close(f);
	return r;
}

int x86_boot_check(const struct vm_config *cfg, struct err *err)
{
	struct boot_files f;
	int r = boot_files_open(cfg, &f, err);

	if (r == 0)
		boot_files_close(&f);
	return r;
}

int x86_boot_load(const struct vm_config *cfg, const struct gmem *mem,
		  const struct x86_boot_pci *pci, struct x86_boot *out, struct err *err)
{
	struct boot_files f;
	struct e820_entry e820[16];
	struct boot_setup bs = { 0 };
	struct acpi_config acpi = { .nr_cpus = cfg->vcpus, .base_gpa = LAYOUT_ACPI };
	size_t cmdline_len, acpi_used;
	void *p;
	int r, n;

	r = boot_files_open(cfg, &f, err);
	if (r < 0)
		return r;

	/* the protected-mode kernel at 1 MiB; it decompresses and relocates itself */
	r = gmem_load_fd(mem, LAYOUT_HIGH_MEM, f.kernel.fd, f.bi.kernel_offset, f.bi.kernel_size);
	if (r < 0) {
		err_setsys(err, -r, "kernel %s: loading into guest memory", cfg->kernel);
		goto out;
	}
	if (f.initrd.len) {
		r = gmem_load_fd(mem, f.initrd_gpa, f.initrd.fd, 0, f.initrd.len);
		if (r < 0) {
			err_setsys(err, -r, "initrd %s: loading into guest memory", cfg->initrd);
			goto out;
		}
	}
	cmdline_len = strlen(cfg->cmdline);
	if (gmem_write(mem, LAYOUT_CMDLINE, cfg->cmdline, cmdline_len + 1) < 0) {
		r = err_set(err, EINVAL, "command line does not fit");
		goto out;
	}

	n = e820_build(mem->size, e820, ARRAY_SIZE(e820));
	if (n < 0) {
		r = err_set(err, -n, "memory map for %llu MiB failed",
			    (unsigned long long)(mem->size >> 20));
		goto out;
	}
	if (pci) {
		acpi.pci = true;
		acpi.pci_mmio64_base = pci->mmio64_base;
		acpi.pci_mmio64_size = pci->mmio64_size;
	}
	p = gmem_ptr(mem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
	r = p ? acpi_build(&acpi, p, LAYOUT_ACPI_SIZE, &acpi_used) : -EFAULT;
	if (r < 0) {
		r = err_set(err, -r, "ACPI tables for %u vCPUs do not fit", cfg->vcpus);
		goto out;
	}
	bs.kernel_gpa = LAYOUT_HIGH_MEM;
	bs.cmdline_gpa = LAYOUT_CMDLINE;
	bs.cmdline_len = cmdline_len;
	bs.initrd_gpa = f.initrd.len ? f.initrd_gpa : 0;
	bs.initrd_size = f.initrd.len;
	bs.rsdp_gpa = LAYOUT_ACPI;
	bs.e820 = e820;
	bs.e820_nr = (unsigned)n;
	p = gmem_ptr(mem, LAYOUT_ZERO_PAGE, 4096);
	r = bzimage_fill_zero_page(f.kernel.data, f.kernel.len, &f.bi, &bs, p, err);
	if (r < 0)
		goto out;
	r = regs_write_boot_tables(mem);
	if (r < 0) {
		err_set(err, -r, "boot page tables do not fit");
		goto out;
	}
	out->entry = bzimage_entry64(LAYOUT_HIGH_MEM);
	out->zero_page = LAYOUT_ZERO_PAGE;
out:
	boot_files_close(&f);
	return r;
}
