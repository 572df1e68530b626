/* SPDX-License-Identifier: MIT */
/* acpi_pm.c: ACPI PM1a event/control registers, PM timer, GPE0 and 0xcf9. */
#include "devices/acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/layout.h"
#include "common/buf.h"

/* PM1 status; each has the enable bit at the same position, but WAK_STS has
 * no enable and bit 14 of the enable register is a disable (PCIEXP_WAKE_DIS). */
#define PM1_TMR_STS	0x0001
#define PM1_BM_STS	0x0010
#define PM1_GBL_STS	0x0020
#define PM1_PWRBTN_STS	0x0100
#define PM1_SLPBTN_STS	0x0200
#define PM1_RTC_STS	0x0400
#define PM1_PCIEXP_STS	0x4000
#define PM1_WAK_STS	0x8000
#define PM1_STS_MASK	0xc731
#define PM1_EN_MASK	0x4721	/* TMR GBL PWRBTN SLPBTN RTC PCIEXP_WAKE_DIS */
#define PM1_SCI_MASK	0x0721	/* enable bits that route a status bit to the SCI */

/* PM1 control. */
#define CNT_SCI_EN	0x0001
#define CNT_BM_RLD	0x0002
#define CNT_GBL_RLS	0x0004	/* write-only: would signal the (absent) BIOS */
#define CNT_SLP_TYP	0x1c00
#define CNT_SLP_SHIFT	10
#define CNT_SLP_EN	0x2000	/* write-only */
#define CNT_STORED	(CNT_BM_RLD | CNT_SLP_TYP)

#define RESET_RST_CPU	0x04	/* 0xcf9 bit 2: do the reset */

#define TMR_MSB		(1ULL << 31)	/* TMR_STS follows its toggles (32-bit timer) */

#define NS_PER_SEC	1000000000LL

struct acpi_pm {
	pthread_mutex_t lock;
	struct vm_requester req;
	struct irq_line sci;
	int sci_level;		/* -1: not driven yet */

	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe_sts, gpe_en;
	uint8_t reset_val;
	int64_t tmr_offset;	/* timer = monotonic ticks + tmr_offset */
	uint64_t tmr_last;	/* timer when TMR_STS was last brought up to date */
};

static uint64_t mono_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * ACPI_PM_TMR_HZ +
	       (uint64_t)ts.tv_nsec * ACPI_PM_TMR_HZ / NS_PER_SEC;
}

static uint64_t timer_now(const struct acpi_pm *pm)
{
	return mono_ticks() + (uint64_t)pm->tmr_offset;
}

/* TMR_STS is set when the timer's top bit toggles. Nobody needs that
 * interrupt (Linux reads the timer as a clocksource), so it is computed when
 * the registers are looked at rather than with a timer of our own. */
static void update_tmr_sts(struct acpi_pm *pm)
{
	uint64_t now = timer_now(pm);

	if ((now ^ pm->tmr_last) & ~(TMR_MSB - 1))
		pm->pm1_sts |= PM1_TMR_STS;
	pm->tmr_last = now;
}

static void drive_sci(struct acpi_pm *pm, bool force)
{
	int level = (pm->pm1_sts & pm->pm1_en & PM1_SCI_MASK) || (pm->gpe_sts & pm->gpe_en);

	if (force || level != pm->sci_level) {
		pm->sci_level = level;
		irq_line_set(&pm->sci, level);
	}
}

/* Gather the bytes of an access at (off) into 16-bit registers (r0 at offset
 * 0-1, r1 at offset 2-3): value and mask of the lanes written. */
static void lanes(uint64_t off, const uint8_t *in, unsigned size, unsigned len,
		  uint16_t val[2], uint16_t mask[2])
{
	val[0] = val[1] = mask[0] = mask[1] = 0;
	for (unsigned k = 0; k < size; k++) {
		uint64_t o = off + k;
		if (o >= len)
			break;
		unsigned shift = (unsigned)(o & 1) * 8;
		val[o >> 1] |= (uint16_t)(in[k] << shift);
		mask[o >> 1] |= (uint16_t)(0xff << shift);
	}
}

static void put_lanes(uint64_t off, uint8_t *out, unsigned size, unsigned len,
		      const uint16_t reg[2])
{
	for (unsigned k = 0; k < size; k++) {
		uint64_t o = off + k;
		out[k] = o < len ? (uint8_t)(reg[o >> 1] >> ((o & 1) * 8)) : 0xff;
	}
}

/* --- PM1 event block -------------------------------------------------------- */

static void evt_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t regs[2];

	pthread_mutex_lock(&pm->lock);
	update_tmr_sts(pm);
	regs[0] = pm->pm1_sts;
	regs[1] = pm->pm1_en;
	put_lanes(off, data, size, 4, regs);
	drive_sci(pm, false);
	pthread_mutex_unlock(&pm->lock);
}

static void evt_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t val[2], mask[2];

	lanes(off, data, size, 4, val, mask);
	pthread_mutex_lock(&pm->lock);
	update_tmr_sts(pm);
	pm->pm1_sts &= (uint16_t)~(val[0] & mask[0]);	/* write 1 to clear */
	pm->pm1_en = (uint16_t)(((pm->pm1_en & ~mask[1]) | (val[1] & mask[1])) & PM1_EN_MASK);
	drive_sci(pm, false);
	pthread_mutex_unlock(&pm->lock);
}

const struct io_ops acpi_pm_evt_io_ops = {
	.read = evt_read,
	.write = evt_write,
};

/* --- PM1 control ------------------------------------------------------------ */

static void cnt_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t regs[2];

	pthread_mutex_lock(&pm->lock);
	regs[0] = pm->pm1_cnt | CNT_SCI_EN;
	regs[1] = 0;
	pthread_mutex_unlock(&pm->lock);
	put_lanes(off, data, size, 2, regs);
}

static void cnt_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t val[2], mask[2], v;
	bool poweroff = false;

	lanes(off, data, size, 2, val, mask);
	pthread_mutex_lock(&pm->lock);
	v = (uint16_t)((pm->pm1_cnt & ~mask[0]) | (val[0] & mask[0]));
	pm->pm1_cnt = v & CNT_STORED;
	if (val[0] & mask[0] & CNT_SLP_EN) {
		if (((v & CNT_SLP_TYP) >> CNT_SLP_SHIFT) == ACPI_SLP_TYP_S5) {
			poweroff = true;
		} else {
			/* No sleep state but S5: wake up at once, so the
			 * guest's wait for WAK_STS ends. */
			pm->pm1_sts |= PM1_WAK_STS;
		}
	}
	drive_sci(pm, false);
	pthread_mutex_unlock(&pm->lock);
	/* Outside the lock: the requester may act synchronously. */
	if (poweroff)
		vm_request(&pm->req, VM_REQ_POWEROFF);
}

const struct io_ops acpi_pm_cnt_io_ops = {
	.read = cnt_read,
	.write = cnt_write,
};

/* --- PM timer --------------------------------------------------------------- */

static void tmr_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint8_t *out = data;
	uint32_t v;

	pthread_mutex_lock(&pm->lock);
	v = (uint32_t)timer_now(pm);
	pthread_mutex_unlock(&pm->lock);
	for (unsigned k = 0; k < size; k++)
		out[k] = off + k < 4 ? (uint8_t)(v >> ((off + k) * 8)) : 0xff;
}

static void tmr_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)size;		/* read-only */
}

const struct io_ops acpi_pm_tmr_io_ops = {
	.read = tmr_read,
	.write = tmr_write,
};

/* --- GPE0 ------------------------------------------------------------------- */

static void gpe_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t regs[2];

	pthread_mutex_lock(&pm->lock);
	regs[0] = pm->gpe_sts;
	regs[1] = pm->gpe_en;
	pthread_mutex_unlock(&pm->lock);
	put_lanes(off, data, size, 4, regs);
}

static void gpe_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint16_t val[2], mask[2];

	lanes(off, data, size, 4, val, mask);
	pthread_mutex_lock(&pm->lock);
	pm->gpe_sts &= (uint16_t)~(val[0] & mask[0]);
	pm->gpe_en = (uint16_t)((pm->gpe_en & ~mask[1]) | (val[1] & mask[1]));
	drive_sci(pm, false);
	pthread_mutex_unlock(&pm->lock);
}

const struct io_ops acpi_pm_gpe_io_ops = {
	.read = gpe_read,
	.write = gpe_write,
};

/* --- reset control (0xcf9) -------------------------------------------------- */

static void reset_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint8_t *out = data;

	memset(out, 0xff, size);
	if (off != 0 || size == 0)
		return;
	pthread_mutex_lock(&pm->lock);
	out[0] = pm->reset_val;
	pthread_mutex_unlock(&pm->lock);
}

static void reset_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct acpi_pm *pm = opaque;
	uint8_t v;

	if (off != 0 || size == 0)
		return;
	v = *(const uint8_t *)data;
	pthread_mutex_lock(&pm->lock);
	pm->reset_val = v;
	pthread_mutex_unlock(&pm->lock);
	if (v & RESET_RST_CPU)
		vm_request(&pm->req, VM_REQ_RESET);
}

const struct io_ops acpi_pm_reset_io_ops = {
	.read = reset_read,
	.write = reset_write,
};

/* --- lifecycle and host side ------------------------------------------------ */

static void power_on(struct acpi_pm *pm)
{
	pm->pm1_sts = 0;
	pm->pm1_en = 0;
	pm->pm1_cnt = 0;
	pm->gpe_sts = 0;
	pm->gpe_en = 0;
	pm->reset_val = 0;
	pm->tmr_last = timer_now(pm);
}

struct acpi_pm *acpi_pm_create(struct vm_requester req, struct irq_line sci)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int r;

	if (pm == NULL)
		return NULL;
	r = pthread_mutex_init(&pm->lock, NULL);
	if (r != 0) {
		free(pm);
		errno = r;
		return NULL;
	}
	pm->req = req;
	pm->sci = sci;
	pm->sci_level = -1;
	/* The timer starts near 0, like a machine that just powered on. */
	pm->tmr_offset = -(int64_t)mono_ticks();
	power_on(pm);
	return pm;
}

void acpi_pm_press_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= PM1_PWRBTN_STS;
	drive_sci(pm, false);
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_raise_gpe(struct acpi_pm *pm, unsigned gpe)
{
	if (gpe >= ACPI_PM_GPE_COUNT)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->gpe_sts |= (uint16_t)(1u << gpe);
	drive_sci(pm, false);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

/* Reboot: registers back to power-on; the timer keeps counting. */
static void pm_reset(void *dev)
{
	struct acpi_pm *pm = dev;

	pthread_mutex_lock(&pm->lock);
	power_on(pm);
	drive_sci(pm, true);
	pthread_mutex_unlock(&pm->lock);
}

/* State layout, version 1: pm1_sts pm1_en pm1_cnt gpe_sts gpe_en (u16 each)
 * reset_val (u8) timer (u64: its current value; it resumes from there). */
static int pm_save(void *dev, struct buf *out)
{
	struct acpi_pm *pm = dev;

	pthread_mutex_lock(&pm->lock);
	update_tmr_sts(pm);
	buf_put_u16(out, pm->pm1_sts);
	buf_put_u16(out, pm->pm1_en);
	buf_put_u16(out, pm->pm1_cnt);
	buf_put_u16(out, pm->gpe_sts);
	buf_put_u16(out, pm->gpe_en);
	buf_put_u8(out, pm->reset_val);
	buf_put_u64(out, pm->tmr_last);
	pthread_mutex_unlock(&pm->lock);
	return out->failed ? -ENOMEM : 0;
}

static int pm_load(void *dev, const void *data, size_t len, uint32_t version)
{
	struct acpi_pm *pm = dev;
	struct buf_reader r;
	uint16_t sts, en, cnt, gsts, gen;
	uint8_t rst;
	uint64_t tmr;
	bool ok;

	buf_reader_init(&r, data, data ? len : 0);
	ok = version == 1 && data != NULL && buf_get_u16(&r, &sts) && buf_get_u16(&r, &en) &&
	     buf_get_u16(&r, &cnt) && buf_get_u16(&r, &gsts) && buf_get_u16(&r, &gen) &&
	     buf_get_u8(&r, &rst) && buf_get_u64(&r, &tmr) && r.off == r.len &&
	     !(sts & ~PM1_STS_MASK) && !(en & ~PM1_EN_MASK) && !(cnt & ~CNT_STORED);
	pthread_mutex_lock(&pm->lock);
	if (!ok) {
		power_on(pm);
	} else {
		pm->pm1_sts = sts;
		pm->pm1_en = en;
		pm->pm1_cnt = cnt;
		pm->gpe_sts = gsts;
		pm->gpe_en = gen;
		pm->reset_val = rst;
		/* Continue from the saved value, whatever this host's clock says. */
		pm->tmr_offset = (int64_t)(tmr - mono_ticks());
		pm->tmr_last = tmr;
	}
	drive_sci(pm, true);
	pthread_mutex_unlock(&pm->lock);
	return ok ? 0 : -EINVAL;
}

static void pm_destroy(void *dev)
{
	struct acpi_pm *pm = dev;

	if (pm == NULL)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

const struct dev_ops acpi_pm_dev_ops = {
	.name = "acpi_pm",
	.version = 1,
	.reset = pm_reset,
	.save = pm_save,
	.load = pm_load,
	.destroy = pm_destroy,
};
