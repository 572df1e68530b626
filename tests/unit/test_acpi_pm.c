/* SPDX-License-Identifier: MIT */
/* test_acpi_pm.c: ACPI PM registers, PM timer, reset register, and pvpanic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "common/buf.h"
#include "devices/acpi_pm.h"
#include "devices/pvpanic.h"
#include "fakes.h"

#define PWRBTN 0x0100
#define WAK 0x8000

struct fixture {
	struct fake_req req;
	struct fake_irq sci;
	struct acpi_pm *pm;
};

static struct fixture *new_fixture(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->pm = acpi_pm_create(fake_requester(&fx->req), fake_irq_line(&fx->sci, 9));
	assert_non_null(fx->pm);
	return fx;
}

static void free_fixture(struct fixture *fx)
{
	acpi_pm_dev_ops.destroy(fx->pm);
	free(fx);
}

/* An access at an absolute port, as the bus would dispatch it. */
static const struct {
	uint16_t base, len;
	const struct io_ops *ops;
} ranges[] = {
	{ PORT_ACPI_PM1A_EVT, 4, &acpi_pm_evt_io_ops },
	{ PORT_ACPI_PM1A_CNT, 2, &acpi_pm_cnt_io_ops },
	{ PORT_ACPI_PM_TMR, 4, &acpi_pm_tmr_io_ops },
	{ PORT_ACPI_GPE0, 4, &acpi_pm_gpe_io_ops },
	{ PORT_RESET, 1, &acpi_pm_reset_io_ops },
};

static unsigned find(uint16_t port, unsigned size)
{
	for (unsigned i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (port >= ranges[i].base && port + size <= ranges[i].base + ranges[i].len)
			return i;
	fail_msg("no range for port %#x size %u", port, size);
	return 0;
}

static uint32_t in(struct fixture *fx, uint16_t port, unsigned size)
{
	unsigned i = find(port, size);
	uint8_t b[4] = { 0 };

	ranges[i].ops->read(fx->pm, port - ranges[i].base, b, size);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void out(struct fixture *fx, uint16_t port, unsigned size, uint32_t v)
{
	unsigned i = find(port, size);
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	ranges[i].ops->write(fx->pm, port - ranges[i].base, b, size);
}

#define PM1_STS PORT_ACPI_PM1A_EVT
#define PM1_EN (PORT_ACPI_PM1A_EVT + 2)
#define PM1_CNT PORT_ACPI_PM1A_CNT
#define GPE_STS PORT_ACPI_GPE0
#define GPE_EN (PORT_ACPI_GPE0 + 2)

static void test_sci_en(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	assert_int_equal(in(fx, PM1_CNT, 2), 0x0001);
	out(fx, PM1_CNT, 2, 0);
	assert_int_equal(in(fx, PM1_CNT, 2) & 1, 1);
	assert_int_equal(in(fx, PM1_CNT, 1), 0x01);
	/* SLP_TYP is stored, SLP_EN and GBL_RLS read 0. */
	out(fx, PM1_CNT, 2, 0x0c06);
	assert_int_equal(in(fx, PM1_CNT, 2), 0x0c03);
	assert_int_equal(fake_req_total(&fx->req), 0);
	assert_int_equal(fx->sci.level, 0);
	free_fixture(fx);
}

static void test_s5_poweroff(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	uint16_t typ = ACPI_SLP_TYP_S5 << 10;

	/* ACPICA: write #1 SLP_TYP, write #2 SLP_TYP | SLP_EN. */
	out(fx, PM1_CNT, 2, typ | 1);
	assert_int_equal(fake_req_total(&fx->req), 0);
	out(fx, PM1_CNT, 2, typ | 0x2000 | 1);
	assert_int_equal(fx->req.count[VM_REQ_POWEROFF], 1);
	assert_int_equal(fake_req_total(&fx->req), 1);
	/* 10 s later ACPICA writes SLP_EN alone (SLP_TYP 0): not S5. */
	out(fx, PM1_CNT, 2, 0x2000);
	assert_int_equal(fake_req_total(&fx->req), 1);
	/* A byte write of the high half works the same. */
	out(fx, PM1_CNT + 1, 1, (typ | 0x2000) >> 8);
	assert_int_equal(fx->req.count[VM_REQ_POWEROFF], 2);
	free_fixture(fx);
}

static void test_other_sleep_types(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	for (unsigned t = 0; t < 8; t++) {
		if (t == ACPI_SLP_TYP_S5)
			continue;
		out(fx, PM1_STS, 2, 0xffff);
		out(fx, PM1_CNT, 2, t << 10 | 0x2000);
		/* No request; WAK_STS set so ACPICA's wake-up wait ends. */
		assert_int_equal(fake_req_total(&fx->req), 0);
		assert_int_equal(in(fx, PM1_STS, 2) & WAK, WAK);
	}
	assert_int_equal(fx->sci.level, 0);	/* WAK_STS has no enable */
	free_fixture(fx);
}

static void test_status_w1c_and_power_button(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	assert_int_equal(in(fx, PM1_STS, 2) & PWRBTN, 0);
	/* Pressed before the guest enabled it: latched, no SCI. */
	acpi_pm_press_power_button(fx->pm);
	assert_int_equal(in(fx, PM1_STS, 2) & PWRBTN, PWRBTN);
	assert_int_equal(fx->sci.level, 0);
	/* Enabling it raises the SCI. */
	out(fx, PM1_EN, 2, PWRBTN);
	assert_int_equal(in(fx, PM1_EN, 2), PWRBTN);
	assert_int_equal(fx->sci.level, 1);
	/* Writing 0 clears nothing; writing the bit clears it. */
	out(fx, PM1_STS, 2, 0);
	assert_int_equal(fx->sci.level, 1);
	out(fx, PM1_STS, 2, 0x0001);
	assert_int_equal(in(fx, PM1_STS, 2) & PWRBTN, PWRBTN);
	out(fx, PM1_STS, 2, PWRBTN);
	assert_int_equal(in(fx, PM1_STS, 2) & PWRBTN, 0);
	assert_int_equal(fx->sci.level, 0);
	/* Enabled: a press raises the SCI at once. */
	acpi_pm_press_power_button(fx->pm);
	assert_int_equal(fx->sci.level, 1);
	/* A 32-bit access covers status and enable: clear status, keep enable. */
	out(fx, PM1_STS, 4, (uint32_t)PWRBTN << 16 | PWRBTN);
	assert_int_equal(fx->sci.level, 0);
	assert_int_equal(in(fx, PM1_STS, 4), (uint32_t)PWRBTN << 16);
	/* A byte write to the status high byte clears only that lane. */
	acpi_pm_press_power_button(fx->pm);
	out(fx, PM1_STS + 1, 1, PWRBTN >> 8);
	assert_int_equal(fx->sci.level, 0);
	/* Reserved enable bits do not stick. */
	out(fx, PM1_EN, 2, 0xffff);
	assert_int_equal(in(fx, PM1_EN, 2), 0x4721);
	assert_int_equal(fake_req_total(&fx->req), 0);
	free_fixture(fx);
}

static void test_gpe(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	assert_int_equal(acpi_pm_raise_gpe(fx->pm, 16), -EINVAL);
	assert_int_equal(acpi_pm_raise_gpe(fx->pm, 3), 0);
	assert_int_equal(in(fx, GPE_STS, 2), 0x0008);
	assert_int_equal(fx->sci.level, 0);
	out(fx, GPE_EN, 1, 0x08);
	assert_int_equal(fx->sci.level, 1);
	out(fx, GPE_STS, 1, 0x08);
	assert_int_equal(fx->sci.level, 0);
	assert_int_equal(in(fx, GPE_STS, 4), 0x00080000);
	free_fixture(fx);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_pm_timer(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	uint32_t prev = in(fx, PORT_ACPI_PM_TMR, 4);

	/* Monotonic over many reads (no wrap in a test's lifetime: ~20 min). */
	for (int i = 0; i < 100000; i++) {
		uint32_t v = in(fx, PORT_ACPI_PM_TMR, 4);
		assert_true(v - prev < 0x80000000u);
		prev = v;
	}
	/* Rate: 3.579545 MHz, loosely. */
	double t0 = now_s();
	uint32_t a = in(fx, PORT_ACPI_PM_TMR, 4);
	struct timespec d = { 0, 200000000 };
	nanosleep(&d, NULL);
	uint32_t b = in(fx, PORT_ACPI_PM_TMR, 4);
	double t1 = now_s();
	double hz = (double)(b - a) / (t1 - t0);
	assert_true(hz > 3579545 * 0.9 && hz < 3579545 * 1.1);
	/* Byte reads see the same counter; writes are ignored. */
	out(fx, PORT_ACPI_PM_TMR, 4, 0);
	uint32_t v1 = in(fx, PORT_ACPI_PM_TMR, 4);
	uint32_t hi = in(fx, PORT_ACPI_PM_TMR + 3, 1);
	uint32_t v2 = in(fx, PORT_ACPI_PM_TMR, 4);
	assert_true(hi == v1 >> 24 || hi == v2 >> 24);
	assert_true(in(fx, PORT_ACPI_PM_TMR, 4) - b < 3579545u);
	free_fixture(fx);
}

static void test_reset_register(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	assert_int_equal(in(fx, PORT_RESET, 1), 0);
	/* Linux's reboot=pci: 0x02 first (no reset), then 0x06. */
	out(fx, PORT_RESET, 1, 0x02);
	assert_int_equal(fake_req_total(&fx->req), 0);
	assert_int_equal(in(fx, PORT_RESET, 1), 0x02);
	out(fx, PORT_RESET, 1, ACPI_PM_RESET_VALUE);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 1);
	assert_int_equal(fake_req_total(&fx->req), 1);
	assert_int_equal(in(fx, PORT_RESET, 1), 0x06);
	out(fx, PORT_RESET, 1, 0x0e);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 2);
	acpi_pm_dev_ops.reset(fx->pm);
	assert_int_equal(in(fx, PORT_RESET, 1), 0);
	free_fixture(fx);
}

static void save(struct acpi_pm *pm, struct buf *b)
{
	buf_init(b);
	assert_int_equal(acpi_pm_dev_ops.save(pm, b), 0);
	assert_false(b->failed);
}

static void test_save_load(void **state)
{
	(void)state;
	struct fixture *a = new_fixture();
	struct buf s1, s2;

	out(a, PM1_EN, 2, PWRBTN);
	acpi_pm_press_power_button(a->pm);
	out(a, PM1_CNT, 2, 0x0402);
	out(a, GPE_EN, 2, 0x8001);
	acpi_pm_raise_gpe(a->pm, 15);
	out(a, PORT_RESET, 1, 0x02);
	/* Let the timer run well past the new device's. */
	struct timespec d = { 0, 50000000 };
	nanosleep(&d, NULL);
	struct fixture *b = new_fixture();
	uint32_t ta = in(a, PORT_ACPI_PM_TMR, 4);
	save(a->pm, &s1);
	assert_string_equal(acpi_pm_dev_ops.name, "acpi_pm");
	assert_int_equal(acpi_pm_dev_ops.load(b->pm, s1.data, s1.len, acpi_pm_dev_ops.version), 0);
	assert_int_equal(b->sci.level, 1);
	assert_int_equal(in(b, PM1_STS, 2) & PWRBTN, PWRBTN);
	assert_int_equal(in(b, PM1_EN, 2), PWRBTN);
	assert_int_equal(in(b, PM1_CNT, 2), 0x0403);
	assert_int_equal(in(b, GPE_STS, 4), 0x80018000);
	assert_int_equal(in(b, PORT_RESET, 1), 0x02);
	/* The timer continues from the saved value. */
	uint32_t tb = in(b, PORT_ACPI_PM_TMR, 4);
	assert_true(tb - ta < 3579545u / 10);
	save(b->pm, &s2);
	assert_int_equal(s1.len, s2.len);
	assert_memory_equal(s1.data, s2.data, s1.len - 8);	/* all but the timer */
	/* Same behaviour: clearing the status drops the SCI only when both are clear. */
	out(b, PM1_STS, 2, PWRBTN);
	assert_int_equal(b->sci.level, 1);
	out(b, GPE_STS, 2, 0x8000);
	assert_int_equal(b->sci.level, 0);

	/* Bad states: truncated, trailing, wrong version, reserved bits. */
	uint8_t big[64];
	for (size_t len = 0; len < s1.len; len++) {
		assert_int_equal(acpi_pm_dev_ops.load(b->pm, s1.data, len, 1), -EINVAL);
		assert_int_equal(b->sci.level, 0);
		assert_int_equal(in(b, PM1_CNT, 2), 1);
	}
	memcpy(big, s1.data, s1.len);
	assert_int_equal(acpi_pm_dev_ops.load(b->pm, big, s1.len + 1, 1), -EINVAL);
	assert_int_equal(acpi_pm_dev_ops.load(b->pm, big, s1.len, 2), -EINVAL);
	assert_int_equal(acpi_pm_dev_ops.load(b->pm, NULL, 0, 1), -EINVAL);
	static const struct { size_t off; uint8_t v; } bad[] = {
		{ 0, 0x02 }, { 2, 0x02 }, { 4, 0x01 }, { 5, 0x20 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(big, s1.data, s1.len);
		big[bad[i].off] = bad[i].v;
		assert_int_equal(acpi_pm_dev_ops.load(b->pm, big, s1.len, 1), -EINVAL);
	}
	/* Still usable after all that. */
	out(b, PM1_EN, 2, PWRBTN);
	acpi_pm_press_power_button(b->pm);
	assert_int_equal(b->sci.level, 1);
	out(b, PM1_CNT, 2, ACPI_SLP_TYP_S5 << 10 | 0x2000);
	assert_int_equal(b->req.count[VM_REQ_POWEROFF], 1);
	buf_free(&s1);
	buf_free(&s2);
	free_fixture(a);
	free_fixture(b);
}

/* Random accesses of every width to every register never crash and never
 * power the machine off without SLP_EN + S5. */
static void test_hostile(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	unsigned seed = 5;

	for (int iter = 0; iter < 100000; iter++) {
		seed = seed * 1103515245 + 12345;
		unsigned i = (seed >> 8) % 4;	/* not 0xcf9: resets are tested above */
		unsigned size = 1u << ((seed >> 12) & 3);
		uint8_t b[8];
		for (unsigned k = 0; k < 8; k++)
			b[k] = (uint8_t)(seed >> (k * 3));
		if (size > ranges[i].len)
			size = ranges[i].len;
		uint64_t off = (seed >> 16) % (ranges[i].len - size + 1);
		for (unsigned k = 0; i == 1 && k < 8; k++)	/* keep SLP_EN with S5 out */
			if ((b[k] & 0x3c) == (ACPI_SLP_TYP_S5 << 2 | 0x20))
				b[k] ^= 0x20;
		if (seed & 0x40000000)
			ranges[i].ops->write(fx->pm, off, b, size);
		else
			ranges[i].ops->read(fx->pm, off, b, size);
	}
	assert_int_equal(fx->req.count[VM_REQ_POWEROFF], 0);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 0);
	free_fixture(fx);
}

/* --- pvpanic ---------------------------------------------------------------- */

static void test_pvpanic(void **state)
{
	(void)state;
	struct fake_req req = { { 0 } };
	struct pvpanic *p = pvpanic_create(fake_requester(&req));
	uint8_t v = 0;
	struct buf b;

	assert_non_null(p);
	pvpanic_io_ops.read(p, 0, &v, 1);
	assert_int_equal(v, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	assert_int_equal(v, 0x03);
	v = PVPANIC_CRASH_LOADED;	/* kexec loaded a crash kernel: nothing to do */
	pvpanic_io_ops.write(p, 0, &v, 1);
	assert_int_equal(fake_req_total(&req), 0);
	v = 0;
	pvpanic_io_ops.write(p, 0, &v, 1);
	assert_int_equal(fake_req_total(&req), 0);
	v = PVPANIC_PANICKED;
	pvpanic_io_ops.write(p, 0, &v, 1);
	assert_int_equal(req.count[VM_REQ_PANIC], 1);
	assert_int_equal(fake_req_total(&req), 1);
	v = 0xff;
	pvpanic_io_ops.write(p, 0, &v, 1);
	assert_int_equal(req.count[VM_REQ_PANIC], 2);

	buf_init(&b);
	assert_int_equal(pvpanic_dev_ops.save(p, &b), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(pvpanic_dev_ops.name, "pvpanic");
	assert_int_equal(pvpanic_dev_ops.load(p, b.data, b.len, pvpanic_dev_ops.version), 0);
	assert_int_equal(pvpanic_dev_ops.load(p, "x", 1, 1), -EINVAL);
	assert_int_equal(pvpanic_dev_ops.load(p, NULL, 0, 7), -EINVAL);
	pvpanic_dev_ops.reset(p);
	pvpanic_io_ops.read(p, 0, &v, 1);
	assert_int_equal(v, 0x03);
	buf_free(&b);
	pvpanic_dev_ops.destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sci_en),
		cmocka_unit_test(test_s5_poweroff),
		cmocka_unit_test(test_other_sleep_types),
		cmocka_unit_test(test_status_w1c_and_power_button),
		cmocka_unit_test(test_gpe),
		cmocka_unit_test(test_pm_timer),
		cmocka_unit_test(test_reset_register),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_pvpanic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
