/* SPDX-License-Identifier: MIT */
/* test_rtc_cmos.c: the MC146818 RTC and CMOS RAM, on a fake and on the real clock. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "common/buf.h"
#include "devices/rtc_cmos.h"
#include "fakes.h"

enum {
	SEC = 0, SEC_ALARM = 1, MIN = 2, MIN_ALARM = 3, HOUR = 4, HOUR_ALARM = 5, DOW = 6,
	DOM = 7, MON = 8, YEAR = 9, REGA = 0x0a, REGB = 0x0b, REGC = 0x0c, REGD = 0x0d,
	CENTURY = 0x32,
};

struct fake_clock {
	struct timespec ts;
};

static int fake_now(void *ctx, struct timespec *ts)
{
	*ts = ((struct fake_clock *)ctx)->ts;
	return 0;
}

struct fixture {
	struct fake_clock clk;
	struct fake_irq irq;
	struct rtc_cmos *rtc;
};

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };
	return timegm(&tm);
}

static struct fixture *new_fixture_ram(time_t t, long nsec, uint64_t ram)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->clk.ts.tv_sec = t;
	fx->clk.ts.tv_nsec = nsec;
	fx->rtc = rtc_cmos_create(fake_irq_line(&fx->irq, 8), ram);
	assert_non_null(fx->rtc);
	rtc_cmos_set_clock(fx->rtc, fake_now, &fx->clk);
	return fx;
}

static struct fixture *new_fixture(time_t t, long nsec)
{
	return new_fixture_ram(t, nsec, 512 * MiB);
}

static void free_fixture(struct fixture *fx)
{
	rtc_cmos_dev_ops.destroy(fx->rtc);
	free(fx);
}

static uint8_t rd(struct fixture *fx, uint8_t idx)
{
	uint8_t v = 0;

	rtc_cmos_io_ops.write(fx->rtc, 0, &idx, 1);
	rtc_cmos_io_ops.read(fx->rtc, 1, &v, 1);
	return v;
}

static void wr(struct fixture *fx, uint8_t idx, uint8_t v)
{
	rtc_cmos_io_ops.write(fx->rtc, 0, &idx, 1);
	rtc_cmos_io_ops.write(fx->rtc, 1, &v, 1);
}

static void advance(struct fixture *fx, long sec, long nsec)
{
	fx->clk.ts.tv_sec += sec;
	fx->clk.ts.tv_nsec += nsec;
	while (fx->clk.ts.tv_nsec >= 1000000000L) {
		fx->clk.ts.tv_nsec -= 1000000000L;
		fx->clk.ts.tv_sec++;
	}
}

/* Like the epoll loop: the timer fired (or we pretend it did). */
static void tick(struct fixture *fx)
{
	rtc_cmos_timer_fired(fx->rtc);
}

/* Tests that look at the timerfd run their fake clock in 2090: the timer is
 * armed in host CLOCK_REALTIME, where a time in the past expires at once. */
static bool timer_armed(struct fixture *fx)
{
	struct itimerspec its;

	assert_int_equal(timerfd_gettime(rtc_cmos_timer_fd(fx->rtc), &its), 0);
	return its.it_value.tv_sec || its.it_value.tv_nsec;
}

/* Linux's mc146818_set_time in BCD 24h. */
static void linux_set_time(struct fixture *fx, int y, int mo, int d, int h, int mi, int s)
{
#define BCD(v) (uint8_t)(((v) / 10) << 4 | (v) % 10)
	uint8_t ctl = rd(fx, REGB), freq = rd(fx, REGA);
	wr(fx, REGB, ctl | 0x80);
	wr(fx, REGA, freq | 0x60);
	wr(fx, YEAR, BCD(y % 100));
	wr(fx, MON, BCD(mo));
	wr(fx, DOM, BCD(d));
	wr(fx, HOUR, BCD(h));
	wr(fx, MIN, BCD(mi));
	wr(fx, SEC, BCD(s));
	wr(fx, CENTURY, BCD(y / 100));
	wr(fx, REGB, ctl);
	wr(fx, REGA, freq);
#undef BCD
}

static void test_power_on_bcd(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 3, 15, 13, 45, 30), 500000000);

	assert_int_equal(rd(fx, REGA), 0x26);
	assert_int_equal(rd(fx, REGB), 0x02);
	assert_int_equal(rd(fx, REGC), 0x00);
	assert_int_equal(rd(fx, REGD), 0x80);
	assert_int_equal(rd(fx, SEC), 0x30);
	assert_int_equal(rd(fx, MIN), 0x45);
	assert_int_equal(rd(fx, HOUR), 0x13);
	assert_int_equal(rd(fx, DOW), 6);	/* Friday; Sunday is 1 */
	assert_int_equal(rd(fx, DOM), 0x15);
	assert_int_equal(rd(fx, MON), 0x03);
	assert_int_equal(rd(fx, YEAR), 0x24);
	assert_int_equal(rd(fx, CENTURY), 0x20);
	assert_int_equal(fx->irq.level, 0);
	assert_false(timer_armed(fx));
	/* The NMI-mask bit of the index is ignored; the index port reads 0xff. */
	uint8_t idx = 0x80 | REGD, v = 0;
	rtc_cmos_io_ops.write(fx->rtc, 0, &idx, 1);
	rtc_cmos_io_ops.read(fx->rtc, 1, &v, 1);
	assert_int_equal(v, 0x80);
	rtc_cmos_io_ops.read(fx->rtc, 0, &v, 1);
	assert_int_equal(v, 0xff);
	/* A 16-bit write sets index and data at once. */
	uint8_t w[2] = { 0x40, 0x77 };
	rtc_cmos_io_ops.write(fx->rtc, 0, w, 2);
	assert_int_equal(rd(fx, 0x40), 0x77);
	free_fixture(fx);
}

static void test_binary_and_12h(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 3, 15, 13, 45, 30), 0);

	wr(fx, REGB, 0x06);	/* binary, 24h */
	assert_int_equal(rd(fx, SEC), 30);
	assert_int_equal(rd(fx, MIN), 45);
	assert_int_equal(rd(fx, HOUR), 13);
	assert_int_equal(rd(fx, DOM), 15);
	assert_int_equal(rd(fx, YEAR), 24);
	assert_int_equal(rd(fx, CENTURY), 20);
	wr(fx, REGB, 0x00);	/* BCD, 12h */
	assert_int_equal(rd(fx, HOUR), 0x81);	/* 1 PM */
	wr(fx, REGB, 0x04);	/* binary, 12h */
	assert_int_equal(rd(fx, HOUR), 0x81);
	assert_int_equal(rd(fx, SEC), 30);

	fx->clk.ts.tv_sec = utc(2024, 3, 15, 0, 5, 0);
	wr(fx, REGB, 0x00);
	assert_int_equal(rd(fx, HOUR), 0x12);	/* midnight: 12 AM */
	fx->clk.ts.tv_sec = utc(2024, 3, 15, 12, 5, 0);
	assert_int_equal(rd(fx, HOUR), 0x92);	/* noon: 12 PM */
	fx->clk.ts.tv_sec = utc(2024, 3, 15, 23, 5, 0);
	assert_int_equal(rd(fx, HOUR), 0x91);
	fx->clk.ts.tv_sec = utc(2024, 3, 15, 11, 59, 59);
	assert_int_equal(rd(fx, HOUR), 0x11);

	/* Setting the time in 12h binary: 3 PM. */
	wr(fx, REGB, 0x04);
	wr(fx, REGB, 0x84);
	assert_int_equal(rd(fx, HOUR), 0x0b);	/* frozen: 11 AM */
	wr(fx, HOUR, 0x83);
	wr(fx, REGB, 0x04);
	wr(fx, REGB, 0x06);
	assert_int_equal(rd(fx, HOUR), 15);
	assert_int_equal(rd(fx, MIN), 59);
	free_fixture(fx);
}

static void test_uip(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 1, 1, 0, 0, 0), 999800000);

	assert_int_equal(rd(fx, REGA), 0xa6);	/* 200 us before the update */
	fx->clk.ts.tv_nsec = 999700000;
	assert_int_equal(rd(fx, REGA), 0x26);	/* 300 us before: readable */
	fx->clk.ts.tv_nsec = 0;
	assert_int_equal(rd(fx, REGA), 0x26);
	fx->clk.ts.tv_nsec = 999999999;
	assert_int_equal(rd(fx, REGA), 0xa6);
	/* No update cycle while SET is held. */
	wr(fx, REGB, 0x82);
	assert_int_equal(rd(fx, REGA), 0x26);
	wr(fx, REGB, 0x02);
	/* The divider/rate bits are the guest's; UIP is not writable. */
	wr(fx, REGA, 0xaf);
	fx->clk.ts.tv_nsec = 0;
	assert_int_equal(rd(fx, REGA), 0x2f);
	free_fixture(fx);
}

/* On the real clock, UIP is never set for longer than its window, so a guest
 * that waits for UIP = 0 never spins for long. */
static void test_uip_real_clock(void **state)
{
	(void)state;
	struct rtc_cmos *rtc = rtc_cmos_create((struct irq_line){ NULL, NULL, 8 }, 0);
	struct timespec start, now, uip_since = { 0, 0 };
	long longest = 0;
	bool in_uip = false, seen = false;
	uint8_t idx = REGA, v;

	assert_non_null(rtc);
	rtc_cmos_io_ops.write(rtc, 0, &idx, 1);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		rtc_cmos_io_ops.read(rtc, 1, &v, 1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (v & 0x80) {
			if (!in_uip)
				uip_since = now;
			in_uip = seen = true;
			long run = (now.tv_sec - uip_since.tv_sec) * 1000000000L +
				   (now.tv_nsec - uip_since.tv_nsec);
			if (run > longest)
				longest = run;
		} else {
			in_uip = false;
		}
		/* At least one second boundary, and longer if the host kept us
		 * off the CPU through every UIP window so far. */
	} while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
		 (seen ? 1100000000L : 3500000000L));
	assert_true(seen);
	/* The window is 244 us; the bound leaves room for preemption on a
	 * loaded host while still catching a UIP stuck for most of a second. */
	assert_true(longest < 100000000);
	rtc_cmos_dev_ops.destroy(rtc);
}

static void test_set_time(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 6, 1, 12, 0, 0), 250000000);

	linux_set_time(fx, 2001, 2, 3, 4, 5, 6);
	assert_int_equal(rd(fx, YEAR), 0x01);
	assert_int_equal(rd(fx, MON), 0x02);
	assert_int_equal(rd(fx, DOM), 0x03);
	assert_int_equal(rd(fx, HOUR), 0x04);
	assert_int_equal(rd(fx, MIN), 0x05);
	assert_int_equal(rd(fx, SEC), 0x06);
	assert_int_equal(rd(fx, CENTURY), 0x20);
	assert_int_equal(rd(fx, DOW), 7);	/* a Saturday */
	/* It keeps running from there. */
	advance(fx, 10, 0);
	assert_int_equal(rd(fx, SEC), 0x16);
	advance(fx, 3600, 0);
	assert_int_equal(rd(fx, HOUR), 0x05);
	/* Setting it never raised a flag. */
	assert_int_equal(rd(fx, REGC) & 0x20, 0);

	/* While SET is held the registers are frozen... */
	wr(fx, REGB, 0x82);
	uint8_t frozen = rd(fx, SEC);
	advance(fx, 5, 0);
	assert_int_equal(rd(fx, SEC), frozen);
	/* ...and releasing SET without writing keeps the clock right. */
	wr(fx, REGB, 0x02);
	assert_int_equal(rd(fx, SEC), 0x21);

	/* Invalid dates are ignored. */
	wr(fx, REGB, 0x82);
	wr(fx, MON, 0x13);
	wr(fx, REGB, 0x02);
	assert_int_equal(rd(fx, MON), 0x02);
	wr(fx, REGB, 0x82);
	wr(fx, MON, 0x02);
	wr(fx, DOM, 0x30);	/* February 30th */
	wr(fx, REGB, 0x02);
	assert_int_equal(rd(fx, DOM), 0x03);
	wr(fx, REGB, 0x82);
	wr(fx, SEC, 0x5a);	/* not BCD */
	wr(fx, REGB, 0x02);
	assert_int_equal(rd(fx, SEC), 0x21);

	/* A running clock takes a single field at once. */
	wr(fx, MIN, 0x30);
	assert_int_equal(rd(fx, MIN), 0x30);
	assert_int_equal(rd(fx, HOUR), 0x05);
	assert_int_equal(rd(fx, SEC), 0x21);
	wr(fx, DOW, 1);		/* derived from the date: ignored */
	assert_int_equal(rd(fx, DOW), 7);
	free_fixture(fx);
}

static void test_century(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 6, 1, 12, 0, 0), 0);

	linux_set_time(fx, 1999, 12, 31, 23, 59, 59);
	assert_int_equal(rd(fx, CENTURY), 0x19);
	assert_int_equal(rd(fx, YEAR), 0x99);
	advance(fx, 1, 0);
	assert_int_equal(rd(fx, CENTURY), 0x20);
	assert_int_equal(rd(fx, YEAR), 0x00);
	assert_int_equal(rd(fx, MON), 0x01);
	assert_int_equal(rd(fx, DOM), 0x01);
	assert_int_equal(rd(fx, HOUR), 0x00);
	/* Leap day, 2100 is not a leap year. */
	linux_set_time(fx, 2100, 2, 28, 23, 59, 59);
	advance(fx, 1, 0);
	assert_int_equal(rd(fx, MON), 0x03);
	assert_int_equal(rd(fx, DOM), 0x01);
	assert_int_equal(rd(fx, CENTURY), 0x21);
	linux_set_time(fx, 2000, 2, 28, 23, 59, 59);
	advance(fx, 1, 0);
	assert_int_equal(rd(fx, DOM), 0x29);
	/* Binary century. */
	wr(fx, REGB, 0x06);
	assert_int_equal(rd(fx, CENTURY), 20);
	free_fixture(fx);
}

static void test_reg_c_and_update_irq(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2090, 6, 1, 12, 0, 0), 100);

	/* Flags latch without their interrupt enabled; reading C clears them. */
	advance(fx, 1, 0);
	assert_int_equal(rd(fx, REGC), 0x50);	/* UF, and PF at 1024 Hz */
	assert_int_equal(rd(fx, REGC), 0x00);
	assert_int_equal(fx->irq.level, 0);

	/* Update interrupt: armed, fires once a second. */
	wr(fx, REGB, 0x12);
	assert_true(timer_armed(fx));
	advance(fx, 0, 500000000);
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	advance(fx, 0, 500000000);
	tick(fx);
	assert_int_equal(fx->irq.level, 1);
	assert_false(timer_armed(fx));	/* nothing more to signal until C is read */
	assert_int_equal(rd(fx, REGC), 0xd0);
	assert_int_equal(fx->irq.level, 0);
	assert_true(timer_armed(fx));
	/* Disabling every interrupt disarms the timer. */
	wr(fx, REGB, 0x02);
	assert_false(timer_armed(fx));
	/* Enabling while the flag is already latched raises the line. */
	advance(fx, 1, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	wr(fx, REGB, 0x12);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(rd(fx, REGC) & 0x90, 0x90);
	assert_int_equal(fx->irq.level, 0);
	/* SET clears UIE. */
	wr(fx, REGB, 0x92);
	assert_int_equal(rd(fx, REGB), 0x82);
	free_fixture(fx);
}

static void test_alarm(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2090, 6, 1, 12, 0, 0), 0);

	wr(fx, REGA, 0x20);	/* no periodic flag noise */
	rd(fx, REGC);
	/* Linux's cmos_set_alarm: 12:00:03, then AIE. */
	wr(fx, HOUR_ALARM, 0x12);
	wr(fx, MIN_ALARM, 0x00);
	wr(fx, SEC_ALARM, 0x03);
	wr(fx, REGB, 0x22);
	assert_true(timer_armed(fx));
	advance(fx, 2, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	advance(fx, 1, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(rd(fx, REGC), 0xb0);	/* IRQF AF UF */
	assert_int_equal(fx->irq.level, 0);
	/* No second match until tomorrow. */
	advance(fx, 1, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(rd(fx, REGC), 0x10);

	/* "Don't care" hour and minute: once a minute, at second 0. */
	wr(fx, HOUR_ALARM, 0xc0);
	wr(fx, MIN_ALARM, 0xff);
	wr(fx, SEC_ALARM, 0x00);
	advance(fx, 55, 0);	/* 12:00:59 */
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	advance(fx, 1, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(rd(fx, REGC) & 0xa0, 0xa0);

	/* An alarm missed while the guest did not look is still latched. */
	wr(fx, REGB, 0x02);
	wr(fx, HOUR_ALARM, 0x13);
	wr(fx, MIN_ALARM, 0x30);
	wr(fx, SEC_ALARM, 0x00);
	advance(fx, 7200, 0);
	assert_int_equal(rd(fx, REGC), 0x30);	/* AF UF, no IRQF: AIE off */
	/* An alarm that can never match (hour 0x25) never fires. */
	wr(fx, HOUR_ALARM, 0x25);
	wr(fx, REGB, 0x22);
	advance(fx, 3 * 86400, 0);
	tick(fx);
	assert_int_equal(rd(fx, REGC) & 0x20, 0);
	free_fixture(fx);
}

static void test_periodic(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2090, 6, 1, 12, 0, 0), 0);

	wr(fx, REGA, 0x2f);	/* 2 Hz */
	wr(fx, REGB, 0x42);
	assert_true(timer_armed(fx));
	advance(fx, 0, 400000000);
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	advance(fx, 0, 100000000);
	tick(fx);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(rd(fx, REGC), 0xc0);
	wr(fx, REGA, 0x26);	/* 1024 Hz */
	advance(fx, 0, 977000);
	tick(fx);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(rd(fx, REGC), 0xc0);
	wr(fx, REGA, 0x20);	/* rate 0: off */
	advance(fx, 1, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 0);
	assert_false(timer_armed(fx));
	free_fixture(fx);
}

/* Through a real timerfd on the real clock: an update interrupt arrives
 * within about a second. */
static void test_timerfd_real(void **state)
{
	(void)state;
	struct fake_irq irq = { 0 };
	struct rtc_cmos *rtc = rtc_cmos_create(fake_irq_line(&irq, 8), 0);
	uint8_t b[2] = { REGB, 0x12 };

	assert_non_null(rtc);
	rtc_cmos_io_ops.write(rtc, 0, b, 2);
	struct pollfd pfd = { .fd = rtc_cmos_timer_fd(rtc), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	rtc_cmos_timer_fired(rtc);
	assert_int_equal(irq.level, 1);
	/* A spurious call is harmless. */
	rtc_cmos_timer_fired(rtc);
	assert_int_equal(irq.level, 1);
	rtc_cmos_dev_ops.destroy(rtc);
}

static void test_cmos_memory(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture_ram(utc(2024, 6, 1, 12, 0, 0), 0, 512 * MiB);

	assert_int_equal(rd(fx, 0x10), 0);
	assert_int_equal(rd(fx, 0x14) & 0x01, 0);	/* no floppy */
	assert_int_equal(rd(fx, 0x15) | rd(fx, 0x16) << 8, 639);
	assert_int_equal(rd(fx, 0x17) | rd(fx, 0x18) << 8, 0xffff);
	assert_int_equal(rd(fx, 0x30) | rd(fx, 0x31) << 8, 0xffff);
	assert_int_equal(rd(fx, 0x34) | rd(fx, 0x35) << 8, (512 - 16) * 16);
	assert_int_equal(rd(fx, 0x5b) | rd(fx, 0x5c) << 8 | rd(fx, 0x5d) << 16, 0);
	unsigned sum = 0;
	for (uint8_t i = 0x10; i <= 0x2d; i++)
		sum += rd(fx, i);
	assert_int_equal(rd(fx, 0x2e) << 8 | rd(fx, 0x2f), sum);
	free_fixture(fx);

	fx = new_fixture_ram(utc(2024, 6, 1, 12, 0, 0), 0, 8 * GiB);
	assert_int_equal(rd(fx, 0x34) | rd(fx, 0x35) << 8, (3072 - 16) * 16);
	assert_int_equal(rd(fx, 0x5b) | rd(fx, 0x5c) << 8 | rd(fx, 0x5d) << 16, 5 * 16384);
	free_fixture(fx);

	fx = new_fixture_ram(utc(2024, 6, 1, 12, 0, 0), 0, 8 * MiB);
	assert_int_equal(rd(fx, 0x17) | rd(fx, 0x18) << 8, 7 * 1024);
	assert_int_equal(rd(fx, 0x34) | rd(fx, 0x35) << 8, 0);
	/* The rest is plain RAM the guest may use. */
	for (unsigned i = 0x0e; i < 128; i++) {
		if (i == CENTURY)
			continue;
		wr(fx, (uint8_t)i, (uint8_t)(i ^ 0x5a));
	}
	for (unsigned i = 0x0e; i < 128; i++)
		if (i != CENTURY)
			assert_int_equal(rd(fx, (uint8_t)i), (uint8_t)(i ^ 0x5a));
	free_fixture(fx);
}

static void test_reset_keeps_clock(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 6, 1, 12, 0, 0), 0);

	linux_set_time(fx, 2001, 2, 3, 4, 5, 6);
	wr(fx, 0x40, 0x12);
	wr(fx, REGB, 0x7a);	/* PIE AIE UIE SQWE */
	advance(fx, 1, 0);
	tick(fx);
	assert_int_equal(fx->irq.level, 1);
	rtc_cmos_dev_ops.reset(fx->rtc);
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(rd(fx, REGB), 0x02);
	assert_int_equal(rd(fx, REGC), 0);
	assert_int_equal(rd(fx, SEC), 0x07);
	assert_int_equal(rd(fx, YEAR), 0x01);
	assert_int_equal(rd(fx, 0x40), 0x12);
	assert_false(timer_armed(fx));
	free_fixture(fx);
}

static void save(struct rtc_cmos *r, struct buf *b)
{
	buf_init(b);
	assert_int_equal(rtc_cmos_dev_ops.save(r, b), 0);
	assert_false(b->failed);
}

static void make_busy(struct fixture *fx)
{
	linux_set_time(fx, 2001, 2, 3, 4, 5, 6);
	wr(fx, 0x50, 0xab);
	wr(fx, HOUR_ALARM, 0x04);
	wr(fx, MIN_ALARM, 0x05);
	wr(fx, SEC_ALARM, 0x09);
	wr(fx, REGA, 0x2a);
	wr(fx, REGB, 0x26);	/* AIE, binary, 24h */
	advance(fx, 1, 0);
	tick(fx);		/* UF latched, AIE not yet due */
}

static void test_save_load(void **state)
{
	(void)state;
	time_t t0 = utc(2090, 6, 1, 12, 0, 0);
	struct fixture *a = new_fixture(t0, 0), *b = new_fixture(t0, 0);
	struct buf s1, s2;

	make_busy(a);
	b->clk = a->clk;
	save(a->rtc, &s1);
	assert_string_equal(rtc_cmos_dev_ops.name, "rtc_cmos");
	assert_int_equal(rtc_cmos_dev_ops.load(b->rtc, s1.data, s1.len, rtc_cmos_dev_ops.version),
			 0);
	save(b->rtc, &s2);
	assert_int_equal(s1.len, s2.len);
	assert_memory_equal(s1.data, s2.data, s1.len);
	assert_true(timer_armed(b));

	struct fixture *fx[2] = { a, b };
	uint8_t seen[2][12];
	for (int i = 0; i < 2; i++) {
		seen[i][0] = rd(fx[i], SEC);
		seen[i][1] = rd(fx[i], YEAR);
		seen[i][2] = rd(fx[i], REGA);
		seen[i][3] = rd(fx[i], REGB);
		seen[i][4] = rd(fx[i], 0x50);
		seen[i][5] = rd(fx[i], REGC);
		advance(fx[i], 2, 0);	/* 04:05:09: alarm */
		tick(fx[i]);
		seen[i][6] = (uint8_t)fx[i]->irq.level;
		seen[i][7] = rd(fx[i], REGC);
		seen[i][8] = rd(fx[i], HOUR);
		seen[i][9] = rd(fx[i], SEC_ALARM);
		seen[i][10] = rd(fx[i], 0x34);
		seen[i][11] = (uint8_t)fx[i]->irq.level;
	}
	assert_memory_equal(seen[0], seen[1], sizeof(seen[0]));
	assert_int_equal(seen[0][0], 7);	/* binary */
	assert_int_equal(seen[0][5], 0x50);	/* UF and PF (64 Hz) carried over */
	assert_int_equal(seen[0][6], 1);
	assert_int_equal(seen[0][7], 0xf0);	/* IRQF from AF */
	buf_free(&s1);
	buf_free(&s2);
	free_fixture(a);
	free_fixture(b);
}

static void check_usable(struct fixture *fx)
{
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(rd(fx, REGB), 0x02);
	assert_int_equal(rd(fx, REGD), 0x80);
	uint8_t s = rd(fx, SEC);
	assert_true((s & 0x0f) <= 9 && s < 0x60);
	wr(fx, 0x60, 0x42);
	assert_int_equal(rd(fx, 0x60), 0x42);
}

static void test_load_bad(void **state)
{
	(void)state;
	time_t t0 = utc(2024, 6, 1, 12, 0, 0);
	struct fixture *a = new_fixture(t0, 0), *b = new_fixture(t0, 0);
	struct buf s;
	uint8_t big[256];

	make_busy(a);
	save(a->rtc, &s);
	assert_true(s.len < sizeof(big));
	for (size_t len = 0; len < s.len; len += 7) {
		assert_int_equal(rtc_cmos_dev_ops.load(b->rtc, s.data, len, 1), -EINVAL);
		check_usable(b);
	}
	assert_int_equal(rtc_cmos_dev_ops.load(b->rtc, s.data, s.len - 1, 1), -EINVAL);
	check_usable(b);
	memcpy(big, s.data, s.len);
	assert_int_equal(rtc_cmos_dev_ops.load(b->rtc, big, s.len + 1, 1), -EINVAL);
	check_usable(b);
	assert_int_equal(rtc_cmos_dev_ops.load(b->rtc, s.data, s.len, 9), -EINVAL);
	check_usable(b);
	/* index 128, huge offset, bad flags, UIP stored, SET with UIE. */
	static const struct { size_t off; uint8_t v; } bad[] = {
		{ 128, 0x80 }, { 136, 0x7f }, { 138, 0x01 }, { REGA, 0xa6 }, { REGB, 0x92 },
		{ REGD, 0x00 }, { 137, 2 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(big, s.data, s.len);
		big[bad[i].off] = bad[i].v;
		assert_int_equal(rtc_cmos_dev_ops.load(b->rtc, big, s.len, 1), -EINVAL);
		check_usable(b);
	}
	buf_free(&s);
	free_fixture(a);
	free_fixture(b);
}

/* Random register traffic, including garbage time and alarm values in every
 * mode, with the clock jumping around: no crash, no hang, line consistent. */
static void test_hostile(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture(utc(2024, 6, 1, 12, 0, 0), 0);
	unsigned seed = 42;

	for (int iter = 0; iter < 100000; iter++) {
		seed = seed * 1103515245 + 12345;
		uint8_t idx = (uint8_t)(seed >> 24), v = (uint8_t)(seed >> 16);
		if ((seed >> 8 & 3) != 0)
			idx &= 0x0f;
		if (seed & 0x100)
			wr(fx, idx, v);
		else
			rd(fx, idx);
		if ((seed & 0x3f00) == 0)
			advance(fx, (long)(seed >> 20) % 100000, (long)(seed % 1000000000u));
		if ((seed & 0xff00) == 0x100)
			tick(fx);
	}
	uint8_t b = rd(fx, REGB);
	uint8_t c = rd(fx, REGC);
	if (!(c & 0x80))
		assert_true(!(c & b & 0x70));
	assert_int_equal(fx->irq.level, 0);
	free_fixture(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_on_bcd),
		cmocka_unit_test(test_binary_and_12h),
		cmocka_unit_test(test_uip),
		cmocka_unit_test(test_uip_real_clock),
		cmocka_unit_test(test_set_time),
		cmocka_unit_test(test_century),
		cmocka_unit_test(test_reg_c_and_update_irq),
		cmocka_unit_test(test_alarm),
		cmocka_unit_test(test_periodic),
		cmocka_unit_test(test_timerfd_real),
		cmocka_unit_test(test_cmos_memory),
		cmocka_unit_test(test_reset_keeps_clock),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_load_bad),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
