/* SPDX-License-Identifier: MIT */
/* pci.h: PCI bus 0 behind one host bridge: config space through type-1 ports
 * (0xcf8/0xcfc) and ECAM, BARs that map into the VM's I/O buses where the
 * guest puts them, and capabilities (MSI-X in msix.h). */
#ifndef DOMUS_PCI_H
#define DOMUS_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "vmm/iobus.h"

/*
 * TODO(layout): proposed for src/arch/x86/layout.h; remove from here once it
 * has them. The 64-bit window starts above RAM (at least 4 GiB), 1 GiB
 * aligned, and is 32 GiB unless the guest's physical address width cuts it:
 * see pci_mmio64_window().
 */
#ifndef LAYOUT_PCI_MMIO64_ALIGN
#define LAYOUT_PCI_MMIO64_ALIGN	(1ULL << 30)
#define LAYOUT_PCI_MMIO64_SIZE	(32ULL << 30)
#endif

#define PCI_SLOTS		32	/* devices on bus 0; function 0 only */
#define PCI_NR_BARS		6
#define PCI_CONFIG_SIZE		256	/* conventional config space */
#define PCI_ECAM_FN_SIZE	4096	/* ECAM bytes per function */
#define PCI_ECAM_BUSES		256
/* 32 devices x 8 functions per bus: 256 MiB */
#define PCI_ECAM_SIZE		(PCI_ECAM_BUSES * 32ULL * 8 * PCI_ECAM_FN_SIZE)

/* The host bridge at 00:00.0. Red Hat's id for a generic host bridge of a
 * virtual machine: no Linux driver or quirk matches it. */
#define PCI_HOST_VENDOR_ID	0x1b36
#define PCI_HOST_DEVICE_ID	0x0008

/* Config space registers (type 0 header). */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CACHE_LINE_SIZE	0x0c
#define PCI_LATENCY_TIMER	0x0d
#define PCI_HEADER_TYPE		0x0e
#define PCI_BASE_ADDRESS_0	0x10
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_ROM_ADDRESS		0x30
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CAP_START		0x40	/* capabilities live in [0x40, 0x100) */

#define PCI_COMMAND_IO		0x0001
#define PCI_COMMAND_MEMORY	0x0002
#define PCI_COMMAND_MASTER	0x0004
#define PCI_COMMAND_PARITY	0x0040
#define PCI_COMMAND_SERR	0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST	0x0010

#define PCI_CAP_ID_MSIX		0x11
#define PCI_CAP_ID_VNDR		0x09

/* Type-1 config address register (0xcf8). */
#define PCI_CONFIG_ENABLE	0x80000000u

struct pci_bus;
struct pci_dev;
struct msix;

/* Where the bus lives and what it may hand out. */
struct pci_bus_config {
	struct iobus *pio;		/* the VM's port I/O bus */
	struct iobus *mmio;		/* the VM's MMIO bus */
	uint64_t ecam_base;		/* PCI_ECAM_SIZE bytes: LAYOUT_PCI_ECAM */
	uint64_t mmio32_base, mmio32_size;	/* LAYOUT_PCI_MMIO32(_SIZE) */
	uint64_t mmio64_base, mmio64_size;	/* pci_mmio64_window(); size 0: none */
	uint32_t io_base, io_size;	/* I/O BARs, e.g. 0xc000, 0x4000; size 0: none */
	/*
	 * 0xcf8-0xcfb belong to the bus (the config address register is a
	 * dword at 0xcf8), but a byte at 0xcf9 is the PC's reset control
	 * register. The bus forwards byte accesses at 0xcf9 to these, with
	 * offset 0 (e.g. acpi_pm_reset_io_ops and the ACPI PM device).
	 */
	const struct io_ops *cf9_ops;
	void *cf9_opaque;
};

/* pci_mmio64_window: the 64-bit BAR window for a guest with (ram_size) bytes
 * of RAM laid out per e820_ram_slots() and (phys_bits) of physical address
 * (CPUID 0x80000008 EAX[7:0]; 0: assume 40). *size is 0 if nothing fits. */
void pci_mmio64_window(uint64_t ram_size, unsigned phys_bits, uint64_t *base, uint64_t *size);

/*
 * pci_bus_create: bus 0 with the host bridge at 00:00.0, registered on the
 * I/O buses: [0xcf8, 0xcfc) and [0xcfc, 0xd00) on (pio), ECAM on (mmio).
 * (cfg) is copied. Returns 0 or -errno (-EEXIST: a range is taken).
 */
int pci_bus_create(struct pci_bus **out, const struct pci_bus_config *cfg);
/* pci_bus_destroy: unregister everything, free the devices' bus state
 * (MSI-X included). The vCPUs must be stopped. */
void pci_bus_destroy(struct pci_bus *bus);

/* The bus's state (config spaces, BARs, MSI-X) for the VM's device list:
 * name "pci", version 1; opaque = the bus. Reset puts every BAR back where
 * pci_dev_add_bar() put it, with decoding off and MSI-X masked. */
extern const struct dev_ops pci_bus_dev_ops;

/* --- devices ---------------------------------------------------------------- */

/* Identity of a device, for its config header. */
struct pci_dev_info {
	uint16_t vendor_id, device_id;
	uint16_t subsystem_vendor_id, subsystem_id;
	uint8_t revision;
	uint32_t class_code;	/* base class << 16 | subclass << 8 | prog-if */
};

/*
 * Events a device may want. Both are called on the vCPU thread whose config
 * write caused them, with the bus lock held: of the pci_* and msix_*
 * functions they may only call pci_dev_bar_read/write, pci_dev_bar_addr,
 * pci_dev_command, msix_notify and msix_vector_fd. bar_moved comes first,
 * for every BAR that moved, then command_changed.
 */
struct pci_dev_ops {
	/* bar_moved: BAR (bar) is now decoded at (new_addr) instead of
	 * (old_addr); either may be PCI_BAR_UNMAPPED (decoding off, or the
	 * guest put it over something else). For a virtio device: move the
	 * ioeventfds. The bus has already moved the io_ops. */
	void (*bar_moved)(void *opaque, unsigned bar, uint64_t old_addr, uint64_t new_addr);
	/* command_changed: the command register went from (old) to (new)
	 * (PCI_COMMAND_IO / MEMORY / MASTER...). */
	void (*command_changed)(void *opaque, uint16_t old, uint16_t new);
};

#define PCI_BAR_UNMAPPED	UINT64_MAX

/*
 * pci_dev_add: put a device with (info) in (slot) 1-31, or the first free
 * one if (slot) is -1. (ops) may be NULL; (opaque) is passed to it.
 * Returns 0 and *out, or -EBUSY (slot taken), -ENOSPC (bus full), -EINVAL,
 * -ENOMEM. Devices are added before the vCPUs start and stay until
 * pci_bus_destroy(). Interrupt Pin reads 0: there is no INTx, only MSI-X.
 */
int pci_dev_add(struct pci_bus *bus, int slot, const struct pci_dev_info *info,
		const struct pci_dev_ops *ops, void *opaque, struct pci_dev **out);

/* Flags of pci_dev_add_bar(). */
#define PCI_BAR_IO		(1u << 0)	/* port I/O; else memory */
#define PCI_BAR_MEM64		(1u << 1)	/* 64-bit memory BAR: uses bar and bar + 1 */
#define PCI_BAR_PREFETCH	(1u << 2)	/* prefetchable memory */

/*
 * pci_dev_add_bar: BAR (bar) 0-5 of (size) bytes, a power of two (memory:
 * 16 bytes to 2^40, 4 KiB or more recommended; I/O: 4 to 256 bytes).
 * Accesses reach (ops) with (opaque) and offsets from the BAR's start, except
 * for MSI-X table and PBA ranges. The bus assigns an address from its windows
 * (a 64-bit BAR from the 64-bit window if there is one), as firmware would;
 * the guest may move it. Decoding is off until the guest sets the command
 * register's I/O or memory bit. Returns 0, -EINVAL (bad size, flags, bar, a
 * 64-bit BAR at 5, or the BAR or its pair already in use), -ENOSPC (window
 * full).
 */
int pci_dev_add_bar(struct pci_dev *dev, unsigned bar, uint64_t size, unsigned flags,
		    const struct io_ops *ops, void *opaque);

/* pci_dev_bar_addr: where BAR (bar) is decoded now, or PCI_BAR_UNMAPPED.
 * Any thread, no lock. */
uint64_t pci_dev_bar_addr(struct pci_dev *dev, unsigned bar);

/* pci_dev_bar_read / _write: an access to BAR (bar) at (off) as though it
 * came through the BAR (the MSI-X table and PBA included), mapped or not:
 * for VIRTIO_PCI_CAP_PCI_CFG. Outside the BAR, reads return all ones. */
void pci_dev_bar_read(struct pci_dev *dev, unsigned bar, uint64_t off, void *data,
		      unsigned size);
void pci_dev_bar_write(struct pci_dev *dev, unsigned bar, uint64_t off, const void *data,
		       unsigned size);

/*
 * Capabilities. The bus owns each capability's first two bytes (ID and next
 * pointer). Without ops the rest reads as (body) and ignores writes. With
 * ops, accesses to bytes 2 and up go to them: (off) relative to the
 * capability's start (>= 2), (size) 1, 2 or 4 and naturally aligned, both
 * within the capability. Called with the bus lock held (see pci_dev_ops).
 */
struct pci_cap_ops {
	void (*read)(void *opaque, unsigned off, void *data, unsigned size);
	void (*write)(void *opaque, unsigned off, const void *data, unsigned size);
};

/* pci_dev_add_cap: a capability (id) of (len) bytes (2-192), initial
 * contents (body) (len bytes, whose first two are ignored; NULL: zeros),
 * placed at the next dword-aligned free offset from 0x40. Returns that
 * offset, or -ENOSPC (config space full), -EINVAL. */
int pci_dev_add_cap(struct pci_dev *dev, uint8_t id, const void *body, unsigned len,
		    const struct pci_cap_ops *ops, void *opaque);

/* pci_dev_slot: the device's slot (its "device" number on bus 0). */
unsigned pci_dev_slot(const struct pci_dev *dev);

/* pci_dev_command: the command register as last written. Any thread, no lock. */
uint16_t pci_dev_command(struct pci_dev *dev);

/* --- for msix.c ----------------------------------------------------------------- */

/* pci_dev_bar_size: (size) of BAR (bar), 0 if not implemented. */
uint64_t pci_dev_bar_size(const struct pci_dev *dev, unsigned bar);
/* pci_dev_set_msix / pci_dev_msix: the device's MSI-X state. */
void pci_dev_set_msix(struct pci_dev *dev, struct msix *m);
struct msix *pci_dev_msix(const struct pci_dev *dev);

/* --- guest accesses (registered by pci_bus_create; exported for tests) ------------- */

/* Opaque = the bus. cf8: [0xcf8, 0xcfc); cfc: [0xcfc, 0xd00); ecam: PCI_ECAM_SIZE. */
extern const struct io_ops pci_cf8_io_ops;
extern const struct io_ops pci_cfc_io_ops;
extern const struct io_ops pci_ecam_io_ops;

#endif
