/* SPDX-License-Identifier: MIT */
/* tables.c: building the x86 guest's ACPI tables (ACPI 6.0 layouts). */
#include "tables.h"

#include <errno.h>
#include <string.h>

#include "aml.h"
#include "arch/x86/layout.h"
#include "common/buf.h"
#include "common/err.h"

#define SDT_HEADER_LEN		36
#define RSDP_LEN		36
#define RSDP_V1_LEN		20	/* the part the first checksum covers */
#define FADT_LEN		276	/* revision 6 (ACPI 6.0) */
#define FACS_LEN		64

/* Table revisions of ACPI 6.0, the version this FADT layout is from. */
#define RSDP_REVISION		2	/* ACPI 2.0+: has XsdtAddress */
#define XSDT_REVISION		1
#define RSDT_REVISION		1
#define FADT_REVISION		6
#define FADT_MINOR_REVISION	0
#define MADT_REVISION		4
#define DSDT_REVISION		2	/* 2+: AML integers are 64-bit */
#define MCFG_REVISION		1
#define FACS_VERSION		2

/* FADT Flags. */
#define FADT_F_WBINVD		(1u << 0)
#define FADT_F_PROC_C1		(1u << 2)
#define FADT_F_PWR_BUTTON	(1u << 4)	/* set = no fixed-feature power button */
#define FADT_F_SLP_BUTTON	(1u << 5)	/* set = no fixed-feature sleep button */
#define FADT_F_TMR_VAL_EXT	(1u << 8)	/* PM timer is 32 bits, not 24 */
#define FADT_F_RESET_REG_SUP	(1u << 10)

/* FADT IAPC_BOOT_ARCH. */
#define BOOT_ARCH_LEGACY_DEVICES	(1u << 0)	/* ISA devices the OS must probe */
#define BOOT_ARCH_8042			(1u << 1)
#define BOOT_ARCH_VGA_NOT_PRESENT	(1u << 2)
/* Bit 5 (CMOS RTC not present) stays clear: the RTC is at 0x70. */

/* Lengths of the PM blocks at the ports layout.h assigns. */
#define PM1_EVT_LEN		4	/* PM1 status (2) + enable (2) */
#define PM1_CNT_LEN		2
#define PM_TMR_LEN		4
#define GPE0_LEN		4	/* GPE0 status (2) + enable (2) */

#define RESET_VALUE		0x06	/* 0xcf9: system reset (bit 1) + CPU reset (bit 2) */
#define RTC_CENTURY_INDEX	0x32	/* CMOS register holding the century */
/* Worst-case C2/C3 latencies above 100 and 1000 us say "no C2/C3". */
#define C2_LATENCY_NONE		0x0fff
#define C3_LATENCY_NONE		0x0fff

/* Generic Address Structure. */
#define GAS_SYSTEM_IO		1
#define GAS_ACCESS_BYTE		1
#define GAS_ACCESS_WORD		2
#define GAS_ACCESS_DWORD	3

/* MADT. */
#define MADT_PCAT_COMPAT	(1u << 0)	/* dual 8259 PICs present */
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_NMI		4
#define MADT_X2APIC		9
#define MADT_X2APIC_NMI		10
#define MADT_LAPIC_ENABLED	(1u << 0)
#define MADT_LAPIC_LEN		8
#define MADT_IOAPIC_LEN		12
#define MADT_ISO_LEN		10
#define MADT_LAPIC_NMI_LEN	6
#define MADT_X2APIC_LEN		16
#define MADT_X2APIC_NMI_LEN	12
/* MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2. */
#define INTI_CONFORMING		0x0
#define INTI_ACTIVE_HIGH	0x1
#define INTI_LEVEL		(0x3 << 2)
#define MADT_ALL_CPUS_UID	0xff		/* LAPIC NMI: applies to all */
#define MADT_ALL_CPUS_X2UID	0xffffffffu
#define MAX_XAPIC_ID		254		/* 255 is the broadcast ID */
#define LINT1			1		/* where PCs wire NMI */
#define IOAPIC_ID		0
#define ISA_BUS			0
#define PIT_GSI			2		/* PC wiring: PIT output on IOAPIC pin 2 */

/* Tables must lie below this: the RSDT and FADT hold 32-bit pointers. */
#define ADDR_32BIT_END		(4 * GiB)

/* XSDT/RSDT entries: the tables not reached through the FADT. */
#define MAX_SDT_ENTRIES		3		/* FADT, MADT, MCFG */

/* PCI (PCI Firmware Specification 3.x, MCFG; ACPI 6.0 for the _CRS). */
#define MCFG_LEN		(SDT_HEADER_LEN + 8 + 16)	/* one allocation */
#define PCI_SEGMENT		0
#define PCI_BUS_FIRST		0
/* One bus. With 0-0xff, Linux x86 scans every bus number for "peer
 * bridges" through type-1 config cycles at boot (32 slots x 256 buses):
 * 17,000 port exits, half a second in the nested test host, for buses that
 * cannot exist here (no PCI-PCI bridges). */
#define PCI_BUS_LAST		0
#define PCI_CONFIG_PORT		0xcf8	/* type-1 ports 0xcf8-0xcff */
#define PCI_CONFIG_PORTS	8
#define IO_SPACE_LAST		0xffff

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static void sdt_header(struct buf *t, const char sig[4], uint8_t revision)
{
	buf_append(t, sig, 4);
	buf_put_u32(t, 0);		/* length: patched by sdt_finish() */
	buf_put_u8(t, revision);
	buf_put_u8(t, 0);		/* checksum: patched by sdt_finish() */
	buf_append(t, ACPI_OEM_ID, 6);
	buf_append(t, ACPI_OEM_TABLE_ID, 8);
	buf_put_u32(t, 1);		/* OEM revision */
	buf_append(t, ACPI_CREATOR_ID, 4);
	buf_put_u32(t, 1);		/* creator revision */
}

/* sdt_finish: patch the header's length and checksum once the table is whole. */
static void sdt_finish(struct buf *t)
{
	if (t->failed || t->len < SDT_HEADER_LEN || t->len > UINT32_MAX) {
		t->failed = true;
		return;
	}
	for (int i = 0; i < 4; i++)
		t->data[4 + i] = (uint8_t)(t->len >> (8 * i));
	t->data[9] = 0;
	t->data[9] = checksum(t->data, t->len);
}

static void gas(struct buf *t, uint8_t bits, uint8_t access, uint64_t port)
{
	buf_put_u8(t, GAS_SYSTEM_IO);
	buf_put_u8(t, bits);
	buf_put_u8(t, 0);		/* bit offset */
	buf_put_u8(t, access);
	buf_put_u64(t, port);
}

static void gas_none(struct buf *t)
{
	buf_append(t, (const uint8_t[12]){ 0 }, 12);
}

/* --- DSDT ------------------------------------------------------------------- */

/* isa_device: Device (name) { _HID, [_UID], _CRS, [_STA] } for a legacy
 * device; (hid) is an EISA id, or a plain string when it is not 7 chars. */
static void isa_device(struct buf *scope, const char *name, const char *hid, int uid,
		       const struct buf *crs, bool sta_method)
{
	struct buf dev, rt;

	buf_init(&dev);
	buf_init(&rt);
	if (strlen(hid) == 7)
		aml_name_eisaid(&dev, "_HID", hid);
	else
		aml_name_string(&dev, "_HID", hid);
	if (uid >= 0)
		aml_name_integer(&dev, "_UID", (uint64_t)uid);
	aml_resource_template(&rt, crs);
	aml_name(&dev, "_CRS", &rt);
	if (sta_method) {
		struct buf body;

		/* Present, enabled, shown in UI, functioning. */
		buf_init(&body);
		aml_return_integer(&body, 0x0f);
		aml_method(&dev, "_STA", 0, false, &body);
		buf_free(&body);
	}
	aml_device(scope, name, &dev);
	buf_free(&rt);
	buf_free(&dev);
}

/*
 * pci_devices: the PCI host bridge and the ECAM reservation, in \_SB.
 *
 * Device (PCI0) {
 *     Name (_HID, EisaId ("PNP0A08"))      // PCI Express root bridge (ECAM)
 *     Name (_CID, EisaId ("PNP0A03"))      // PCI root bridge
 *     Name (_SEG, 0)  Name (_BBN, 0)  Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () {
 *         WordBusNumber (0-0)               // what the MCFG's ECAM covers: bus 0
 *         IO (0xcf8, 8)                     // config ports: the bridge's own
 *         DWordIO (0-0xcf7)  DWordIO (0xd00-0xffff)
 *         DWordMemory (32-bit window)  [QWordMemory (64-bit window)] })
 * }
 * Device (ECAM) { _HID PNP0C02, _CRS { Memory32Fixed (ECAM) } }
 *
 * Linux only uses the MCFG's ECAM if the range is reserved, by e820 or (as
 * here) by a PNP0C02 "motherboard resources" device's _CRS. There is no
 * _PRT: devices have no INTx pin, only MSI-X.
 */
static void pci_devices(struct buf *sb, const struct acpi_config *cfg)
{
	struct buf dev, crs, rt;

	buf_init(&dev);
	buf_init(&crs);
	buf_init(&rt);
	aml_name_eisaid(&dev, "_HID", "PNP0A08");
	aml_name_eisaid(&dev, "_CID", "PNP0A03");
	aml_name_integer(&dev, "_SEG", PCI_SEGMENT);
	aml_name_integer(&dev, "_BBN", PCI_BUS_FIRST);
	aml_name_integer(&dev, "_UID", 0);
	aml_res_word_bus_number(&crs, PCI_BUS_FIRST, PCI_BUS_LAST);
	aml_res_io(&crs, PCI_CONFIG_PORT, PCI_CONFIG_PORT, 1, PCI_CONFIG_PORTS);
	aml_res_dword_io(&crs, 0, PCI_CONFIG_PORT - 1);
	aml_res_dword_io(&crs, PCI_CONFIG_PORT + PCI_CONFIG_PORTS, IO_SPACE_LAST);
	aml_res_dword_memory(&crs, (uint32_t)LAYOUT_PCI_MMIO32,
			     (uint32_t)(LAYOUT_PCI_MMIO32 + LAYOUT_PCI_MMIO32_SIZE - 1),
			     AML_MEM_NONCACHEABLE);
	/* Cacheable, not prefetchable: Linux would not claim a
	 * non-prefetchable 64-bit BAR from a prefetchable window. */
	if (cfg->pci_mmio64_size)
		aml_res_qword_memory(&crs, cfg->pci_mmio64_base,
				     cfg->pci_mmio64_base + cfg->pci_mmio64_size - 1,
				     AML_MEM_CACHEABLE);
	aml_resource_template(&rt, &crs);
	aml_name(&dev, "_CRS", &rt);
	aml_device(sb, "PCI0", &dev);
	buf_free(&rt);
	buf_free(&crs);
	buf_free(&dev);

	buf_init(&crs);
	aml_res_memory32_fixed(&crs, (uint32_t)LAYOUT_PCI_ECAM, (uint32_t)LAYOUT_PCI_ECAM_SIZE,
			       true);
	isa_device(sb, "ECAM", "PNP0C02", -1, &crs, false);
	buf_free(&crs);
}

/* build_dsdt_aml: the DSDT's definition block (everything after the header). */
static void build_dsdt_aml(struct buf *aml, const struct acpi_config *cfg)
{
	struct buf s5, pkg, sb, crs;

	buf_init(&s5);
	buf_init(&pkg);
	buf_init(&sb);

	/*
	 * \_S5: the SLP_TYP values for PM1a and PM1b (then two reserved) that
	 * the OS writes to PM1_CNT to power off. Without it Linux has no ACPI
	 * power-off and falls back to halting.
	 */
	aml_integer(&s5, ACPI_SLP_TYP_S5);
	aml_integer(&s5, ACPI_SLP_TYP_S5);
	aml_integer(&s5, 0);
	aml_integer(&s5, 0);
	aml_package(&pkg, 4, &s5);
	aml_name(aml, "\\_S5", &pkg);

	/*
	 * The ISA devices live directly under \_SB: there is no PCI-ISA bridge
	 * to hang them from, and Linux's PNP layer enumerates them wherever they
	 * are. Their _CRS is what makes 8250_pnp, i8042 and rtc_cmos bind to
	 * exactly these ports and IRQs.
	 */
	buf_init(&crs);
	aml_res_io(&crs, PORT_COM1, PORT_COM1, 1, 8);
	aml_res_irq(&crs, IRQ_COM1);
	isa_device(&sb, "COM1", "PNP0501", 1, &crs, false);
	buf_free(&crs);

	/* i8042: data port first, command/status port second, as i8042's PNP
	 * probe expects; keyboard IRQ only (no PS/2 mouse, so no PNP0F13). */
	buf_init(&crs);
	aml_res_io(&crs, PORT_I8042_DATA, PORT_I8042_DATA, 1, 1);
	aml_res_io(&crs, PORT_I8042_CMD, PORT_I8042_CMD, 1, 1);
	aml_res_irq(&crs, IRQ_I8042_KBD);
	isa_device(&sb, "PS2K", "PNP0303", -1, &crs, false);
	buf_free(&crs);

	buf_init(&crs);
	aml_res_io(&crs, PORT_RTC, PORT_RTC, 1, 2);
	aml_res_irq(&crs, IRQ_RTC);
	isa_device(&sb, "RTC0", "PNP0B00", -1, &crs, false);
	buf_free(&crs);

	/* pvpanic: "QEMU0001" is not an EISA id but the ACPI id Linux's
	 * pvpanic-mmio driver matches; it takes the port from _CRS. */
	buf_init(&crs);
	aml_res_io(&crs, PORT_PVPANIC, PORT_PVPANIC, 1, 1);
	isa_device(&sb, "PEVT", "QEMU0001", -1, &crs, true);
	buf_free(&crs);

	if (cfg->pci)
		pci_devices(&sb, cfg);

	aml_scope(aml, "\\_SB", &sb);
	buf_free(&sb);
	buf_free(&pkg);
	buf_free(&s5);
}

static void build_dsdt(struct buf *t, const struct acpi_config *cfg)
{
	sdt_header(t, "DSDT", DSDT_REVISION);
	build_dsdt_aml(t, cfg);
	sdt_finish(t);
}

/* --- MCFG ------------------------------------------------------------------- */

/* One ECAM allocation: segment 0, buses 0-255 at LAYOUT_PCI_ECAM. */
static void build_mcfg(struct buf *t)
{
	sdt_header(t, "MCFG", MCFG_REVISION);
	buf_put_u64(t, 0);			/* reserved */
	buf_put_u64(t, LAYOUT_PCI_ECAM);
	buf_put_u16(t, PCI_SEGMENT);
	buf_put_u8(t, PCI_BUS_FIRST);
	buf_put_u8(t, PCI_BUS_LAST);
	buf_put_u32(t, 0);			/* reserved */
	sdt_finish(t);
	if (!t->failed && t->len != MCFG_LEN)
		t->failed = true;
}

/* --- MADT ------------------------------------------------------------------- */

static void build_madt(struct buf *t, unsigned int nr_cpus)
{
	bool x2apic = false;

	sdt_header(t, "APIC", MADT_REVISION);
	buf_put_u32(t, (uint32_t)LAYOUT_LAPIC);
	buf_put_u32(t, MADT_PCAT_COMPAT);

	/* One enabled CPU per vCPU, ACPI processor UID = APIC ID = index:
	 * the VMM gives vCPU i APIC ID i. */
	for (unsigned int i = 0; i < nr_cpus; i++) {
		if (i <= MAX_XAPIC_ID) {
			buf_put_u8(t, MADT_LAPIC);
			buf_put_u8(t, MADT_LAPIC_LEN);
			buf_put_u8(t, (uint8_t)i);	/* ACPI processor UID */
			buf_put_u8(t, (uint8_t)i);	/* APIC ID */
			buf_put_u32(t, MADT_LAPIC_ENABLED);
		} else {
			/* IDs that do not fit an xAPIC entry need x2APIC ones. */
			x2apic = true;
			buf_put_u8(t, MADT_X2APIC);
			buf_put_u8(t, MADT_X2APIC_LEN);
			buf_put_u16(t, 0);
			buf_put_u32(t, i);		/* x2APIC ID */
			buf_put_u32(t, MADT_LAPIC_ENABLED);
			buf_put_u32(t, i);		/* ACPI processor UID */
		}
	}

	buf_put_u8(t, MADT_IOAPIC);
	buf_put_u8(t, MADT_IOAPIC_LEN);
	buf_put_u8(t, IOAPIC_ID);
	buf_put_u8(t, 0);
	buf_put_u32(t, (uint32_t)LAYOUT_IOAPIC);
	buf_put_u32(t, 0);			/* GSI base: pins 0..23 = GSI 0..23 */

	/* ISA IRQ 0 (the PIT) reaches the IOAPIC on pin 2, as on PCs; IRQs
	 * without an override map 1:1 and are edge/active-high. */
	buf_put_u8(t, MADT_ISO);
	buf_put_u8(t, MADT_ISO_LEN);
	buf_put_u8(t, ISA_BUS);
	buf_put_u8(t, 0);
	buf_put_u32(t, PIT_GSI);
	buf_put_u16(t, INTI_CONFORMING);

	/* The SCI is level-triggered; active-high so the PM device can drive the
	 * line like any other (asserted = 1). Must match FADT.SCI_INT. */
	buf_put_u8(t, MADT_ISO);
	buf_put_u8(t, MADT_ISO_LEN);
	buf_put_u8(t, ISA_BUS);
	buf_put_u8(t, IRQ_ACPI_SCI);
	buf_put_u32(t, IRQ_ACPI_SCI);
	buf_put_u16(t, INTI_ACTIVE_HIGH | INTI_LEVEL);

	/* NMIs arrive on LINT1 of every CPU. */
	buf_put_u8(t, MADT_LAPIC_NMI);
	buf_put_u8(t, MADT_LAPIC_NMI_LEN);
	buf_put_u8(t, MADT_ALL_CPUS_UID);
	buf_put_u16(t, INTI_CONFORMING);
	buf_put_u8(t, LINT1);
	if (x2apic) {
		buf_put_u8(t, MADT_X2APIC_NMI);
		buf_put_u8(t, MADT_X2APIC_NMI_LEN);
		buf_put_u16(t, INTI_CONFORMING);
		buf_put_u32(t, MADT_ALL_CPUS_X2UID);
		buf_put_u8(t, LINT1);
		buf_append(t, (const uint8_t[3]){ 0 }, 3);
	}
	sdt_finish(t);
}

/* --- FADT, FACS, XSDT, RSDT, RSDP ---------------------------------------------- */

static void build_fadt(struct buf *t, uint64_t facs, uint64_t dsdt)
{
	sdt_header(t, "FACP", FADT_REVISION);
	buf_put_u32(t, (uint32_t)facs);		/* FIRMWARE_CTRL */
	buf_put_u32(t, (uint32_t)dsdt);
	buf_put_u8(t, 0);			/* reserved (ACPI 1.0 INT_MODEL) */
	buf_put_u8(t, 0);			/* Preferred_PM_Profile: unspecified */
	buf_put_u16(t, IRQ_ACPI_SCI);
	/* SMI_CMD 0: no SMM, ACPI mode is always on (SCI_EN reads 1); the
	 * ACPI_ENABLE/DISABLE/S4BIOS_REQ/PSTATE_CNT values are then unused. */
	buf_put_u32(t, 0);
	buf_append(t, (const uint8_t[4]){ 0 }, 4);
	buf_put_u32(t, PORT_ACPI_PM1A_EVT);
	buf_put_u32(t, 0);			/* PM1b_EVT_BLK */
	buf_put_u32(t, PORT_ACPI_PM1A_CNT);
	buf_put_u32(t, 0);			/* PM1b_CNT_BLK */
	buf_put_u32(t, 0);			/* PM2_CNT_BLK */
	buf_put_u32(t, PORT_ACPI_PM_TMR);
	buf_put_u32(t, PORT_ACPI_GPE0);
	buf_put_u32(t, 0);			/* GPE1_BLK */
	buf_put_u8(t, PM1_EVT_LEN);
	buf_put_u8(t, PM1_CNT_LEN);
	buf_put_u8(t, 0);			/* PM2_CNT_LEN */
	buf_put_u8(t, PM_TMR_LEN);
	buf_put_u8(t, GPE0_LEN);
	buf_put_u8(t, 0);			/* GPE1_BLK_LEN */
	buf_put_u8(t, 0);			/* GPE1_BASE */
	buf_put_u8(t, 0);			/* CST_CNT: no _CST support */
	buf_put_u16(t, C2_LATENCY_NONE);
	buf_put_u16(t, C3_LATENCY_NONE);
	buf_put_u16(t, 0);			/* FLUSH_SIZE */
	buf_put_u16(t, 0);			/* FLUSH_STRIDE */
	buf_put_u8(t, 0);			/* DUTY_OFFSET */
	buf_put_u8(t, 0);			/* DUTY_WIDTH: no throttling */
	buf_put_u8(t, 0);			/* DAY_ALRM: no day-of-month alarm */
	buf_put_u8(t, 0);			/* MON_ALRM */
	buf_put_u8(t, RTC_CENTURY_INDEX);
	buf_put_u16(t, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042 | BOOT_ARCH_VGA_NOT_PRESENT);
	buf_put_u8(t, 0);			/* reserved */
	/* PWR_BUTTON clear: the power button is the fixed-feature one (PM1
	 * PWRBTN_STS), which the VMM presses for a graceful shutdown. */
	buf_put_u32(t, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
		    FADT_F_TMR_VAL_EXT | FADT_F_RESET_REG_SUP);
	gas(t, 8, GAS_ACCESS_BYTE, PORT_RESET);	/* RESET_REG */
	buf_put_u8(t, RESET_VALUE);
	buf_put_u16(t, 0);			/* ARM_BOOT_ARCH */
	buf_put_u8(t, FADT_MINOR_REVISION);
	buf_put_u64(t, facs);			/* X_FIRMWARE_CTRL */
	buf_put_u64(t, dsdt);			/* X_DSDT */
	/* The X_ blocks repeat the 32-bit ones exactly: ACPICA warns about any
	 * mismatch in address or length. */
	gas(t, PM1_EVT_LEN * 8, GAS_ACCESS_WORD, PORT_ACPI_PM1A_EVT);
	gas_none(t);				/* X_PM1b_EVT_BLK */
	gas(t, PM1_CNT_LEN * 8, GAS_ACCESS_WORD, PORT_ACPI_PM1A_CNT);
	gas_none(t);				/* X_PM1b_CNT_BLK */
	gas_none(t);				/* X_PM2_CNT_BLK */
	gas(t, PM_TMR_LEN * 8, GAS_ACCESS_DWORD, PORT_ACPI_PM_TMR);
	gas(t, GPE0_LEN * 8, GAS_ACCESS_BYTE, PORT_ACPI_GPE0);
	gas_none(t);				/* X_GPE1_BLK */
	gas_none(t);				/* SLEEP_CONTROL_REG: hardware-reduced only */
	gas_none(t);				/* SLEEP_STATUS_REG */
	buf_put_u64(t, 0);			/* Hypervisor Vendor Identity */
	sdt_finish(t);
	if (!t->failed && t->len != FADT_LEN)
		t->failed = true;		/* layout bug: caught by the unit test */
}

static void build_facs(struct buf *t)
{
	/* No checksum: the OS writes to the FACS (global lock, waking vector). */
	buf_append(t, "FACS", 4);
	buf_put_u32(t, FACS_LEN);
	buf_put_u32(t, 0);			/* hardware signature */
	buf_put_u32(t, 0);			/* firmware waking vector: no S3 */
	buf_put_u32(t, 0);			/* global lock */
	buf_put_u32(t, 0);			/* flags: no S4BIOS, no 64-bit wake */
	buf_put_u64(t, 0);			/* X firmware waking vector */
	buf_put_u8(t, FACS_VERSION);
	buf_append(t, (const uint8_t[3]){ 0 }, 3);
	buf_put_u32(t, 0);			/* OSPM flags */
	buf_append(t, (const uint8_t[24]){ 0 }, 24);
}

static void build_xsdt(struct buf *t, const uint64_t *entries, size_t n)
{
	sdt_header(t, "XSDT", XSDT_REVISION);
	for (size_t i = 0; i < n; i++)
		buf_put_u64(t, entries[i]);
	sdt_finish(t);
}

static void build_rsdt(struct buf *t, const uint64_t *entries, size_t n)
{
	sdt_header(t, "RSDT", RSDT_REVISION);
	for (size_t i = 0; i < n; i++)
		buf_put_u32(t, (uint32_t)entries[i]);
	sdt_finish(t);
}

static void build_rsdp(struct buf *t, uint64_t rsdt, uint64_t xsdt)
{
	buf_append(t, "RSD PTR ", 8);
	buf_put_u8(t, 0);			/* checksum of the first 20 bytes */
	buf_append(t, ACPI_OEM_ID, 6);
	buf_put_u8(t, RSDP_REVISION);
	buf_put_u32(t, (uint32_t)rsdt);
	buf_put_u32(t, RSDP_LEN);
	buf_put_u64(t, xsdt);
	buf_put_u8(t, 0);			/* extended checksum, all 36 bytes */
	buf_append(t, (const uint8_t[3]){ 0 }, 3);
	if (t->failed || t->len != RSDP_LEN) {
		t->failed = true;
		return;
	}
	/* The v1 checksum first: the extended one covers it. */
	t->data[8] = checksum(t->data, RSDP_V1_LEN);
	t->data[32] = checksum(t->data, RSDP_LEN);
}

/* --- layout --------------------------------------------------------------------- */

/* place: reserve (len) bytes at the first offset >= *cursor whose guest
 * address is (align)-aligned; returns that offset. */
static size_t place(size_t *cursor, uint64_t base, size_t align, size_t len)
{
	uint64_t gpa = base + *cursor;
	size_t off = *cursor + (size_t)((align - gpa % align) % align);

	*cursor = off + len;
	return off;
}

int acpi_build(const struct acpi_config *cfg, void *out, size_t size, size_t *used)
{
	return acpi_build_layout(cfg, out, size, used, NULL);
}

int acpi_build_layout(const struct acpi_config *cfg, void *out, size_t size, size_t *used,
		      struct acpi_layout *layout)
{
	struct buf dsdt, madt, mcfg, fadt, facs, xsdt, rsdt, rsdp;
	struct acpi_layout l;
	size_t cursor = 0, nr_entries;
	uint64_t entries[MAX_SDT_ENTRIES], end64;
	uint8_t *o = out;
	int ret = 0;

	if (cfg == NULL || used == NULL || (out == NULL && size != 0))
		return -EINVAL;
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > ACPI_MAX_CPUS)
		return -EINVAL;
	/* The RSDP must sit on a 16-byte boundary to be found by the scan. */
	if (cfg->base_gpa % 16 != 0 || cfg->base_gpa >= ADDR_32BIT_END)
		return -EINVAL;
	if (cfg->pci && cfg->pci_mmio64_size &&
	    (cfg->pci_mmio64_base < ADDR_32BIT_END ||
	     ckd_add(&end64, cfg->pci_mmio64_base, cfg->pci_mmio64_size - 1)))
		return -EINVAL;

	buf_init(&dsdt);
	buf_init(&madt);
	buf_init(&mcfg);
	buf_init(&fadt);
	buf_init(&facs);
	buf_init(&xsdt);
	buf_init(&rsdt);
	buf_init(&rsdp);

	/* The DSDT and MADT hold no pointers, so they are built first and their
	 * sizes fix the layout that the pointer-holding tables need. */
	build_dsdt(&dsdt, cfg);
	build_madt(&madt, cfg->nr_cpus);
	if (cfg->pci)
		build_mcfg(&mcfg);
	if (dsdt.failed || madt.failed || mcfg.failed) {
		ret = -ENOMEM;
		goto out;
	}

	memset(&l, 0, sizeof(l));
	nr_entries = cfg->pci ? 3 : 2;
	l.rsdp_len = RSDP_LEN;
	l.xsdt_len = SDT_HEADER_LEN + 8 * nr_entries;
	l.rsdt_len = SDT_HEADER_LEN + 4 * nr_entries;
	l.fadt_len = FADT_LEN;
	l.facs_len = FACS_LEN;
	l.madt_len = madt.len;
	l.dsdt_len = dsdt.len;
	l.rsdp = place(&cursor, cfg->base_gpa, 16, l.rsdp_len);
	l.xsdt = place(&cursor, cfg->base_gpa, 8, l.xsdt_len);
	l.rsdt = place(&cursor, cfg->base_gpa, 8, l.rsdt_len);
	l.fadt = place(&cursor, cfg->base_gpa, 8, l.fadt_len);
	l.facs = place(&cursor, cfg->base_gpa, 64, l.facs_len);	/* FACS must be 64-aligned */
	l.madt = place(&cursor, cfg->base_gpa, 8, l.madt_len);
	if (cfg->pci) {
		l.mcfg_len = mcfg.len;
		l.mcfg = place(&cursor, cfg->base_gpa, 8, l.mcfg_len);
	}
	l.dsdt = place(&cursor, cfg->base_gpa, 8, l.dsdt_len);

	/* 32-bit pointers (RSDT, FADT.DSDT, FIRMWARE_CTRL) must reach every table. */
	if (cursor > ADDR_32BIT_END - cfg->base_gpa) {
		ret = -EINVAL;
		goto out;
	}
	*used = cursor;
	if (cursor > size) {
		ret = -ENOSPC;
		goto out;
	}

	entries[0] = cfg->base_gpa + l.fadt;
	entries[1] = cfg->base_gpa + l.madt;
	entries[2] = cfg->base_gpa + l.mcfg;	/* used only with cfg->pci */
	build_fadt(&fadt, cfg->base_gpa + l.facs, cfg->base_gpa + l.dsdt);
	build_facs(&facs);
	build_xsdt(&xsdt, entries, nr_entries);
	build_rsdt(&rsdt, entries, nr_entries);
	build_rsdp(&rsdp, cfg->base_gpa + l.rsdt, cfg->base_gpa + l.xsdt);
	if (fadt.failed || facs.failed || xsdt.failed || rsdt.failed || rsdp.failed) {
		ret = -ENOMEM;
		goto out;
	}

	/* Only now, with every table built, touch (out): failures leave it as
	 * it was. Padding between tables reads as zero. */
	memset(o, 0, cursor);
	memcpy(o + l.rsdp, rsdp.data, rsdp.len);
	memcpy(o + l.xsdt, xsdt.data, xsdt.len);
	memcpy(o + l.rsdt, rsdt.data, rsdt.len);
	memcpy(o + l.fadt, fadt.data, fadt.len);
	memcpy(o + l.facs, facs.data, facs.len);
	memcpy(o + l.madt, madt.data, madt.len);
	if (cfg->pci)
		memcpy(o + l.mcfg, mcfg.data, mcfg.len);
	memcpy(o + l.dsdt, dsdt.data, dsdt.len);
	if (layout)
		*layout = l;
out:
	buf_free(&dsdt);
	buf_free(&madt);
	buf_free(&mcfg);
	buf_free(&fadt);
	buf_free(&facs);
	buf_free(&xsdt);
	buf_free(&rsdt);
	buf_free(&rsdp);
	return ret;
}
