/* SPDX-License-Identifier: MIT */
/* acpi_pm.h: ACPI fixed hardware: PM1a event/control, PM timer, GPE0, reset. */
#ifndef DOMUS_ACPI_PM_H
#define DOMUS_ACPI_PM_H

#include "devices/device.h"
#include "devices/irq.h"
#include "vmm/iobus.h"

struct acpi_pm;

#define ACPI_PM_TMR_HZ		3579545	/* PM timer frequency */
#define ACPI_PM_RESET_VALUE	0x06	/* FADT RESET_VALUE for the 0xcf9 register */
#define ACPI_PM_GPE_COUNT	16	/* GPE0 block: 2 status + 2 enable bytes */

/* Register the io_ops below, each with opaque = the device:
 *   acpi_pm_evt_io_ops   at PORT_ACPI_PM1A_EVT (0x600) len 4: PM1 status, enable
 *   acpi_pm_cnt_io_ops   at PORT_ACPI_PM1A_CNT (0x604) len 2: PM1 control
 *   acpi_pm_tmr_io_ops   at PORT_ACPI_PM_TMR   (0x608) len 4: PM timer (read-only)
 *   acpi_pm_gpe_io_ops   at PORT_ACPI_GPE0     (0x620) len 4: GPE0 status, enable
 *   acpi_pm_reset_io_ops at PORT_RESET         (0xcf9) len 1: reset control
 * Accesses of any width are taken byte lane by byte lane, so 8-, 16- and
 * 32-bit accesses (ACPICA uses the GAS width) all work. */
extern const struct io_ops acpi_pm_evt_io_ops;
extern const struct io_ops acpi_pm_cnt_io_ops;
extern const struct io_ops acpi_pm_tmr_io_ops;
extern const struct io_ops acpi_pm_gpe_io_ops;
extern const struct io_ops acpi_pm_reset_io_ops;

/* acpi_pm_create: the PM registers after power-on, in ACPI mode (SCI_EN
 * always reads 1: there is no SMI handler to hand over from). (sci) is the
 * SCI, IRQ 9, level: 1 while an enabled PM1 or GPE0 status bit is set.
 * (req) receives VM_REQ_POWEROFF when the guest writes SLP_EN with SLP_TYP
 * ACPI_SLP_TYP_S5, and VM_REQ_RESET on a 0xcf9 write with bit 2 set (the
 * FADT reset register, value ACPI_PM_RESET_VALUE, and Linux's reboot=pci).
 * Other sleep types do not sleep: they set WAK_STS at once, so the guest's
 * wait for wake-up ends. Returns NULL with errno set. */
struct acpi_pm *acpi_pm_create(struct vm_requester req, struct irq_line sci);

/* acpi_pm_press_power_button: set PWRBTN_STS; the guest sees an SCI if it
 * enabled PWRBTN_EN (Linux does once its ACPI button driver is loaded) and
 * shuts down in an orderly way. Any thread. */
void acpi_pm_press_power_button(struct acpi_pm *pm);

/* acpi_pm_raise_gpe: set GPE0 status bit (gpe) (0-15), e.g. for hotplug
 * notifications the DSDT handles in _Exx/_Lxx. Returns 0 or -EINVAL. */
int acpi_pm_raise_gpe(struct acpi_pm *pm, unsigned gpe);

/* name "acpi_pm", version 1; opaque = the device. The PM timer's value is
 * saved and continues from there after load, on any host. */
extern const struct dev_ops acpi_pm_dev_ops;

#endif
