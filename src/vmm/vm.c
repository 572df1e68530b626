/* SPDX-License-Identifier: MIT */
/* vm.c: creating a KVM VM for a stock Linux guest: in-kernel irqchip and PIT,
 * RAM slots, the legacy PC devices, the kernel loaded per the boot protocol,
 * and the vCPUs with their CPUID. */
#include "vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"
#include "arch/x86/regs.h"
#include "common/err.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/irq.h"
#include "devices/pci/pci.h"
#include "devices/pvpanic.h"
#include "devices/virtio/pci.h"
#include "backends/disk/disk.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/console.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/rtc_cmos.h"
#include "devices/serial8250.h"
#include "engine/engine.h"
#include "irqroute.h"

/* --- stop requests ------------------------------------------------------------ */
static int request_rank(int reason)
{
	switch (reason) {
	case VM_REQ_PANIC: return 5;
	case VM_STOP_ERROR: return 4;
	case VM_STOP_TRIPLE_FAULT: return 3;
	case VM_REQ_POWEROFF: return 2;
	case VM_REQ_RESET: return 1;
	default: return 0;
	}
}

void vm_post(struct vm *vm, int reason)
{
	int cur = atomic_load(&vm->request);
	uint64_t one = 1;

	while (request_rank(reason) > request_rank(cur))
		if (atomic_compare_exchange_weak(&vm->request, &cur, reason))
			break;
	if (write(vm->req_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the monitor is already woken */
	}
}

int vm_take_request(struct vm *vm)
{
	uint64_t v;

	if (read(vm->req_fd, &v, sizeof(v)) < 0) {
		/* nothing pending on the eventfd */
	}
	return atomic_exchange(&vm->request, 0);
}

static void vm_requester_cb(void *ctx, enum vm_request req)
{
	vm_post(ctx, (int)req);
}

/* --- interrupts --------------------------------------------------------------- */
static void vm_irq_set(void *ctx, unsigned gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static struct irq_line vm_irq_line(struct vm *vm, unsigned gsi)
{
	return (struct irq_line){ .set_level = vm_irq_set, .ctx = vm, .gsi = gsi };
}

/* --- devices ------------------------------------------------------------------ */
static int vm_add_device(struct vm *vm, const struct dev_ops *ops, void *dev, struct err *err)
{
	if (dev == NULL)
		return err_set(err, ENOMEM, "%s: cannot create the device", ops->name);
	if (vm->nr_devs == VM_MAX_DEVICES) {
		ops->destroy(dev);
		return err_set(err, ENOSPC, "too many devices");
	}
	vm->devs[vm->nr_devs++] = (struct vm_device){ ops, dev };
	return 0;
}

static int vm_map_pio(struct vm *vm, uint64_t base, uint64_t len, const struct io_ops *ops,
		      void *dev, struct err *err)
{
	int r = iobus_register(&vm->pio, base, len, ops, dev);
	if (r < 0)
		return err_set(err, -r, "I/O ports 0x%llx+%llu: cannot register",
			       (unsigned long long)base, (unsigned long long)len);
	return 0;
}

static int vm_add_legacy_devices(struct vm *vm, struct err *err)
{
	struct vm_requester req = { .request = vm_requester_cb, .ctx = vm };
	struct i8042 *kbd;
	struct pvpanic *panic;
	int r;

	vm->uart = serial8250_create(vm->console, vm_irq_line(vm, IRQ_COM1));
	if ((r = vm_add_device(vm, &serial8250_dev_ops, vm->uart, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_COM1, 8, &serial8250_io_ops, vm->uart, err)) < 0)
		return r;

	kbd = i8042_create(req, vm_irq_line(vm, IRQ_I8042_KBD));
	if ((r = vm_add_device(vm, &i8042_dev_ops, kbd, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_I8042_DATA, 1, &i8042_data_io_ops, kbd, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_I8042_CMD, 1, &i8042_cmd_io_ops, kbd, err)) < 0)
		return r;

	vm->rtc = rtc_cmos_create(vm_irq_line(vm, IRQ_RTC), vm->mem.size);
	if ((r = vm_add_device(vm, &rtc_cmos_dev_ops, vm->rtc, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_RTC, 2, &rtc_cmos_io_ops, vm->rtc, err)) < 0)
		return r;

	vm->pm = acpi_pm_create(req, vm_irq_line(vm, IRQ_ACPI_SCI));
	if ((r = vm_add_device(vm, &acpi_pm_dev_ops, vm->pm, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_ACPI_PM1A_EVT, 4, &acpi_pm_evt_io_ops, vm->pm, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_ACPI_PM1A_CNT, 2, &acpi_pm_cnt_io_ops, vm->pm, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_ACPI_PM_TMR, 4, &acpi_pm_tmr_io_ops, vm->pm, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_ACPI_GPE0, 4, &acpi_pm_gpe_io_ops, vm->pm, err)) < 0)
		return r;
	/* 0xcf9 (PORT_RESET) is inside the PCI bus's 0xcf8 register: the bus
	 * forwards byte accesses there to acpi_pm_reset_io_ops (vm_add_pci). */

	panic = pvpanic_create(req);
	if ((r = vm_add_device(vm, &pvpanic_dev_ops, panic, err)) < 0 ||
	    (r = vm_map_pio(vm, PORT_PVPANIC, 1, &pvpanic_io_ops, panic, err)) < 0)
		return r;
	return 0;
}

/* PCI bus 0 with its host bridge; devices are added to vm->pci later. */
static int vm_add_pci(struct vm *vm, struct err *err)
{
	struct pci_bus_config pc = {
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.ecam_base = LAYOUT_PCI_ECAM,
		.mmio32_base = LAYOUT_PCI_MMIO32,
		.mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.mmio64_base = vm->pci_mmio64_base,
		.mmio64_size = vm->pci_mmio64_size,
		.io_base = 0xc000,
		.io_size = 0x4000,
		.cf9_ops = &acpi_pm_reset_io_ops,
		.cf9_opaque = vm->pm,
	};
	int r = pci_bus_create(&vm->pci, &pc);

	if (r < 0)
		return err_set(err, -r, "PCI bus: cannot register its ports and ECAM");
	return vm_add_device(vm, &pci_bus_dev_ops, vm->pci, err);
}

/* --- the VM ------------------------------------------------------------------- */

/* vm_phys_bits: the guest's physical address width (CPUID 0x80000008), 0 if unknown. */
static unsigned vm_phys_bits(const struct vm *vm)
{
	for (unsigned i = 0; vm->cpuid && i < vm->cpuid->nent; i++)
		if (vm->cpuid->entries[i].function == 0x80000008)
			return vm->cpuid->entries[i].eax & 0xff;
	return 0;
}

static int vm_setup_kvm(struct vm *vm, struct err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = LAYOUT_IDENTITY_MAP;
	int n;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return err_setsys(err, errno, "KVM_CREATE_VM");
	n = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n <= 0)
		return err_setsys(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)n;
	/* Intel needs these two pages out of the guest's way; AMD ignores them. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
		return err_setsys(err, errno, "KVM_SET_TSS_ADDR");
	ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity);
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *g = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = g->gpa,
			.memory_size = g->size,
			.userspace_addr = (uintptr_t)g->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return err_setsys(err, errno, "KVM_SET_USER_MEMORY_REGION %u", i);
	}
	/* The irqchip after the RAM slots: the other way round, PVM spends
	 * ~6 ms on the first slot (measured); real KVM doesn't care. */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_setsys(err, errno, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_setsys(err, errno, "KVM_CREATE_PIT2");
	vm->irq = irqroute_create(vm->vm_fd);
	if (vm->irq == NULL)
		return err_setsys(err, errno, "GSI routing table");
	n = irqroute_init_pc(vm->irq);
	if (n < 0)
		return err_setsys(err, -n, "KVM_SET_GSI_ROUTING");
	if (vm->cpuid == NULL)
		vm->cpuid = cpuid_supported(vm->kvm_fd, err);
	if (vm->cpuid == NULL)
		return -ENOMEM;
	pci_mmio64_window(vm->mem.size, vm_phys_bits(vm), &vm->pci_mmio64_base,
			  &vm->pci_mmio64_size);
	return 0;
}

/* The virtio devices on the PCI bus. */
static int vm_add_virtio(struct vm *vm, struct err *err)
{
	struct virtio_pci_config vc = {
		.bus = vm->pci,
		.rt = vm->irq,
		.mem = &vm->mem,
		.loop = vm->loop,
		.vm_fd = vm->vm_fd,
	};
	int r;

	vm->rng = virtio_rng_create();
	if (vm->rng == NULL)
		return err_set(err, ENOMEM, "virtio-rng: out of memory");
	r = virtio_pci_create(vm->rng, &vc, &vm->rng_pci);
	if (r < 0)
		return err_set(err, -r, "virtio-rng: cannot put it on the PCI bus");

	/* Disks in command-line order: PCI slot order is probe order, so the
	 * first --disk is vda. One queue per vCPU: Linux gives each CPU its own. */
	for (unsigned i = 0; vm->cfg->disks && i < vm->cfg->nr_disks; i++) {
		unsigned nq = vm->cfg->vcpus < VIRTIO_MAX_QUEUES ? vm->cfg->vcpus : VIRTIO_MAX_QUEUES;

		r = virtio_blk_create(vm->cfg->disks[i], nq, vm->loop, &vm->blk[i], err);
		if (r < 0)
			return r;
		vm->nr_blk++;
		r = virtio_pci_create(vm->blk[i], &vc, &vm->blk_pci[i]);
		if (r < 0)
			return err_set(err, -r, "virtio-blk %s: cannot put it on the PCI bus",
				       disk_path(vm->cfg->disks[i]));
	}

	/* NICs in command-line order: eth0 is the first --net. */
	for (unsigned i = 0; vm->cfg->nets && i < vm->cfg->nr_nets; i++) {
		r = virtio_net_create(vm->cfg->nets[i], vm->loop, &vm->net[i], err);
		if (r < 0)
			return r;
		vm->nr_net++;
		r = virtio_pci_create(vm->net[i], &vc, &vm->net_pci[i]);
		if (r < 0)
			return err_set(err, -r, "virtio-net eth%u: cannot put it on the PCI bus", i);
	}

	if (vm->cfg->vconsole) {
		vm->vcon = virtio_console_create(vm->cfg->vconsole);
		if (vm->vcon == NULL)
			return err_set(err, ENOMEM, "virtio-console: out of memory");
		r = virtio_pci_create(vm->vcon, &vc, &vm->vcon_pci);
		if (r < 0)
			return err_set(err, -r, "virtio-console: cannot put it on the PCI bus");
	}
	return 0;
}

/* vm_build: vm_create, or with (cpuid) (taken over) for a VM whose state
 * comes from a stream: then no kernel is loaded and no register set. */
static int vm_build(struct vm **out, const struct vm_config *cfg, int kvm_fd,
		    struct chardev *console, struct ev_loop *loop, struct kvm_cpuid2 *cpuid,
		    struct err *err)
{
	bool boot_it = cpuid == NULL;
	struct x86_boot boot;
	struct x86_boot_pci boot_pci;
	struct vm *vm;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (vm == NULL)
		return err_set(err, ENOMEM, "out of memory");
	vm->cfg = cfg;
	vm->kvm_fd = kvm_fd;
	vm->vm_fd = -1;
	vm->console = console;
	vm->loop = loop;
	vm->mem.fd = -1;
	vm->trace = getenv("DOMUS_TRACE") != NULL;
	vm->cpuid = cpuid;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	iobus_init(&vm->pio);
	iobus_init(&vm->mmio);
	vm->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->req_fd < 0) {
		r = err_setsys(err, errno, "eventfd");
		goto err;
	}
	r = gmem_create(&vm->mem, cfg->memory_mib << 20, err);
	if (r < 0)
		goto err;
	r = vm_setup_kvm(vm, err);
	if (r < 0)
		goto err;
	boot_pci.mmio64_base = vm->pci_mmio64_base;
	boot_pci.mmio64_size = vm->pci_mmio64_size;
	if (boot_it) {
		r = x86_boot_load(cfg, &vm->mem, &boot_pci, &boot, err);
		if (r < 0)
			goto err;
	}
	r = vm_add_legacy_devices(vm, err);
	if (r < 0)
		goto err;
	r = vm_add_pci(vm, err);
	if (r < 0)
		goto err;
	r = vm_add_virtio(vm, err);
	if (r < 0)
		goto err;

	vm->vcpus = calloc(cfg->vcpus, sizeof(*vm->vcpus));
	if (vm->vcpus == NULL) {
		r = err_set(err, ENOMEM, "out of memory");
		goto err;
	}
	vm->nr_vcpus = cfg->vcpus;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_create(vm, &vm->vcpus[i], i, err);
		if (r < 0)
			goto err;
	}
	/* Only the boot vCPU starts in long mode; the others wait for the
	 * guest's INIT/SIPI in the in-kernel local APIC. */
	r = boot_it ? regs_setup_boot_vcpu(vm->vcpus[0].fd, boot.entry, boot.zero_page) : 0;
	if (r < 0) {
		err_setsys(err, -r, "boot vCPU registers");
		goto err;
	}
	*out = vm;
	return 0;
err:
	vm_destroy(vm);
	return r;
}

int vm_create(struct vm **out, const struct vm_config *cfg, int kvm_fd, struct chardev *console,
	      struct ev_loop *loop, struct err *err)
{
	return vm_build(out, cfg, kvm_fd, console, loop, NULL, err);
}

int vm_create_restore(struct vm **out, const struct vm_config *cfg, int kvm_fd,
		      struct chardev *console, struct ev_loop *loop, struct kvm_cpuid2 *cpuid,
		      struct err *err)
{
	return vm_build(out, cfg, kvm_fd, console, loop, cpuid, err);
}

void vm_freeze(struct vm *vm)
{
	vm_stop(vm);
}

int vm_thaw(struct vm *vm, struct err *err)
{
	atomic_store(&vm->stopping, false);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].run->immediate_exit = 0;
	return vm_start(vm, err);
}

int vm_dirty_log(struct vm *vm, bool on, struct err *err)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *g = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = g->gpa,
			.memory_size = g->size,
			.userspace_addr = (uintptr_t)g->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return err_setsys(err, errno, "dirty page logging %s on slot %u",
					  on ? "on" : "off", i);
	}
	if (on) {
		int r = gmem_track_start(&vm->mem);
		if (r < 0)
			return err_set(err, -r, "out of memory");
	} else {
		gmem_track_stop(&vm->mem);
	}
	return 0;
}

int vm_dirty_take(struct vm *vm, uint64_t *bitmap, struct err *err)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct gmem_region *g = &vm->mem.regions[i];
		uint64_t first = g->fd_offset >> 12, pages = g->size >> 12;
		size_t words = (size_t)(pages + 63) / 64;
		uint64_t *bm = calloc(words, sizeof(uint64_t));
		struct kvm_dirty_log log = { .slot = i };

		if (bm == NULL)
			return err_set(err, ENOMEM, "out of memory");
		log.dirty_bitmap = bm;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			free(bm);
			return err_setsys(err, errno, "KVM_GET_DIRTY_LOG slot %u", i);
		}
		/* slot page p is memfd page first + p */
		for (uint64_t p = 0; p < pages; p++)
			if (bm[p / 64] >> (p % 64) & 1)
				bitmap[(first + p) / 64] |= 1ULL << ((first + p) % 64);
		free(bm);
	}
	gmem_track_take(&vm->mem, bitmap);
	return 0;
}

int vm_start(struct vm *vm, struct err *err)
{
	vcpu_init_signals();
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int r = vcpu_start(&vm->vcpus[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

void vm_announce_nics(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_net; i++)
		virtio_net_announce(vm->net[i]);
}

void vm_pause(struct vm *vm)
{
	struct timespec deadline;

	atomic_store(&vm->pause_req, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < vm->nr_vcpus && !atomic_load(&vm->stopping))
		if (pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &deadline) != 0)
			break;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

bool vm_paused(struct vm *vm)
{
	return atomic_load(&vm->pause_req);
}

void vm_stop(struct vm *vm)
{
	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
}

/* trace_kvm_stats: with DOMUS_TRACE, print vCPU (fd)'s nonzero KVM counters
 * (exits by kind, halts, injected interrupts), from KVM's binary statistics,
 * to see what a workload costs in exits. */
static void trace_kvm_stats(int fd, unsigned id)
{
	struct kvm_stats_header h;
	int sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	size_t dsz;
	char *descs = NULL;

	if (sfd < 0)
		return;
	if (pread(sfd, &h, sizeof(h), 0) != sizeof(h) || h.num_desc > 4096)
		goto out;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (descs == NULL || pread(sfd, descs, h.num_desc * dsz, h.desc_offset) !=
				     (ssize_t)(h.num_desc * dsz))
		goto out;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsz);
		uint64_t v;

		if (d->size != 1 || pread(sfd, &v, 8, h.data_offset + d->offset) != 8 || v == 0)
			continue;
		fprintf(stderr, "domus-trace: vcpu%u %s %llu\n", id, d->name, (unsigned long long)v);
	}
out:
	free(descs);
	close(sfd);
}

void vm_destroy(struct vm *vm)
{
	if (vm == NULL)
		return;
	vm_stop(vm);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (vm->trace && vm->vcpus[i].fd >= 0)
			trace_kvm_stats(vm->vcpus[i].fd, i);
		vcpu_destroy(&vm->vcpus[i]);
	}
	free(vm->vcpus);
	/* virtio transports before the bus that holds their functions */
	virtio_pci_destroy(vm->vcon_pci);
	if (vm->vcon)
		vm->vcon->ops->destroy(vm->vcon);
	for (unsigned i = vm->nr_net; i-- > 0;) {
		virtio_pci_destroy(vm->net_pci[i]);
		vm->net[i]->ops->destroy(vm->net[i]);
	}
	for (unsigned i = vm->nr_blk; i-- > 0;) {
		virtio_pci_destroy(vm->blk_pci[i]);
		vm->blk[i]->ops->destroy(vm->blk[i]);
	}
	virtio_pci_destroy(vm->rng_pci);
	if (vm->rng)
		vm->rng->ops->destroy(vm->rng);
	for (unsigned i = vm->nr_devs; i-- > 0;)
		vm->devs[i].ops->destroy(vm->devs[i].dev);
	iobus_free(&vm->pio);
	iobus_free(&vm->mmio);
	irqroute_destroy(vm->irq);
	free(vm->cpuid);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->trace && vm->mem.fd >= 0) {
		/* for bench/boot: VMM overhead = peak RSS - guest RAM touched */
		struct stat st;
		if (fstat(vm->mem.fd, &st) == 0)
			fprintf(stderr, "domus-trace: guest-ram-touched %lld\n",
				(long long)st.st_blocks * 512);
	}
	gmem_destroy(&vm->mem);
	if (vm->req_fd >= 0)
		close(vm->req_fd);
	free(vm);
}
