/* SPDX-License-Identifier: MIT */
/* rtc_cmos.c: MC146818 RTC emulation: host UTC plus a guest offset, lazily
 * computed interrupt flags, a timerfd for interrupts that are enabled. */
#include "devices/rtc_cmos.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "common/buf.h"

#define NS_PER_SEC	1000000000L
#define SECS_PER_DAY	86400
#define TICK_HZ		32768	/* the time base crystal */

/* Register indices. */
#define REG_SEC		0x00
#define REG_SEC_ALARM	0x01
#define REG_MIN		0x02
#define REG_MIN_ALARM	0x03
#define REG_HOUR	0x04
#define REG_HOUR_ALARM	0x05
#define REG_DOW		0x06
#define REG_DOM		0x07
#define REG_MON		0x08
#define REG_YEAR	0x09
#define REG_A		0x0a
#define REG_B		0x0b
#define REG_C		0x0c
#define REG_D		0x0d

#define A_UIP		0x80
#define A_DIV_32K	0x20	/* DV = 010: 32.768 kHz time base */
#define A_RATE_1024	0x06
#define A_RS_MASK	0x0f

#define B_SET		0x80
#define B_PIE		0x40
#define B_AIE		0x20
#define B_UIE		0x10
#define B_SQWE		0x08
#define B_DM_BINARY	0x04
#define B_24H		0x02
#define B_DSE		0x01

#define C_IRQF		0x80
#define C_PF		0x40
#define C_AF		0x20
#define C_UF		0x10
#define C_FLAGS		(C_PF | C_AF | C_UF)

#define D_VRT		0x80	/* valid RAM and time: the battery is fine */

/* UIP is set this long before each update: 244 us, per the datasheet, is
 * the longest a reader that saw UIP = 0 may take to read the time. */
#define UIP_NS		244141L

/* Offsets beyond this (about 35000 years) cannot come from the registers. */
#define OFFSET_MAX	(1LL << 40)

#define ALARM_NEVER	INT64_MAX

struct rtc_cmos {
	pthread_mutex_t lock;
	struct irq_line irq;
	int irq_level;		/* -1: not driven yet */
	int tfd;
	uint64_t ram_size;
	int (*clock)(void *ctx, struct timespec *ts);
	void *clock_ctx;

	uint8_t cmos[128];	/* time registers are live only while B.SET */
	uint8_t index;
	int64_t offset;		/* guest UTC seconds - host UTC seconds */
	bool set_dirty;		/* a time register was written while B.SET */
	uint8_t flags;		/* register C: C_FLAGS; IRQF is derived */
	int64_t last_gsec;	/* guest second when flags were last brought up to date */
	int64_t last_tick;	/* TICK_HZ ticks then */
};

/* Registers that hold the time, computed from the clock while B.SET is clear. */
static bool is_time_reg(unsigned i)
{
	return i == REG_SEC || i == REG_MIN || i == REG_HOUR || i == REG_DOW || i == REG_DOM ||
	       i == REG_MON || i == REG_YEAR || i == RTC_CMOS_CENTURY;
}

static int realtime(void *ctx, struct timespec *ts)
{
	(void)ctx;
	return clock_gettime(CLOCK_REALTIME, ts);
}

static struct timespec now_ts(const struct rtc_cmos *r)
{
	struct timespec ts;

	if (r->clock(r->clock_ctx, &ts) != 0 || ts.tv_nsec < 0 || ts.tv_nsec >= NS_PER_SEC) {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	return ts;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* --- calendar: days since 1970-01-01 <-> proleptic Gregorian dates ------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* --- register encodings (B.DM, B.24/12) ----------------------------------- */

static uint8_t enc(const struct rtc_cmos *r, unsigned v)
{
	if (r->cmos[REG_B] & B_DM_BINARY)
		return (uint8_t)v;
	v %= 100;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static bool dec(const struct rtc_cmos *r, uint8_t raw, unsigned *v)
{
	if (r->cmos[REG_B] & B_DM_BINARY) {
		*v = raw;
		return true;
	}
	if ((raw & 0x0f) > 9 || (raw >> 4) > 9)
		return false;
	*v = (raw >> 4) * 10u + (raw & 0x0fu);
	return true;
}

static uint8_t enc_hour(const struct rtc_cmos *r, unsigned h)
{
	if (r->cmos[REG_B] & B_24H)
		return enc(r, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(enc(r, h12) | (h >= 12 ? 0x80 : 0));
}

static bool dec_hour(const struct rtc_cmos *r, uint8_t raw, unsigned *h)
{
	unsigned v;

	if (r->cmos[REG_B] & B_24H)
		return dec(r, raw, h) && *h < 24;
	if (!dec(r, raw & 0x7f, &v) || v < 1 || v > 12)
		return false;
	*h = v % 12 + (raw & 0x80 ? 12 : 0);
	return true;
}

/* Write guest second (gsec) into the time registers of (regs). */
static void encode_time(const struct rtc_cmos *r, int64_t gsec, uint8_t *regs)
{
	int64_t days = floor_div(gsec, SECS_PER_DAY);
	int64_t sod = gsec - days * SECS_PER_DAY;
	int64_t y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	regs[REG_SEC] = enc(r, (unsigned)(sod % 60));
	regs[REG_MIN] = enc(r, (unsigned)(sod / 60 % 60));
	regs[REG_HOUR] = enc_hour(r, (unsigned)(sod / 3600));
	/* 1970-01-01 was a Thursday; the register counts Sunday as 1. */
	regs[REG_DOW] = enc(r, (unsigned)((days % 7 + 11) % 7) + 1);
	regs[REG_DOM] = enc(r, d);
	regs[REG_MON] = enc(r, m);
	if (y < 0)
		y = 0;
	regs[REG_YEAR] = enc(r, (unsigned)(y % 100));
	regs[RTC_CMOS_CENTURY] = enc(r, (unsigned)(y / 100 % 256));
}

/* The guest second the time registers of (regs) describe; false when they
 * hold no valid date. The day of week is ignored: it follows from the date. */
static bool decode_time(const struct rtc_cmos *r, const uint8_t *regs, int64_t *gsec)
{
	unsigned s, mi, h, d, mo, y, c;

	if (!dec(r, regs[REG_SEC], &s) || !dec(r, regs[REG_MIN], &mi) ||
	    !dec_hour(r, regs[REG_HOUR], &h) || !dec(r, regs[REG_DOM], &d) ||
	    !dec(r, regs[REG_MON], &mo) || !dec(r, regs[REG_YEAR], &y) ||
	    !dec(r, regs[RTC_CMOS_CENTURY], &c))
		return false;
	if (s > 59 || mi > 59 || y > 99 || mo < 1 || mo > 12)
		return false;
	int64_t year = (int64_t)c * 100 + y;
	if (d < 1 || d > days_in_month(year, mo))
		return false;
	*gsec = days_from_civil(year, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s;
	return true;
}

/* --- alarm and interrupt flags -------------------------------------------- */

/* One alarm field: -1 for "don't care" (both top bits set), else its value;
 * false if it can never match. */
static bool alarm_field(const struct rtc_cmos *r, unsigned reg, unsigned max, int *out)
{
	uint8_t raw = r->cmos[reg];
	unsigned v;

	if ((raw & 0xc0) == 0xc0) {
		*out = -1;
		return true;
	}
	if (reg == REG_HOUR_ALARM ? !dec_hour(r, raw, &v) : !dec(r, raw, &v))
		return false;
	if (v > max)
		return false;
	*out = (int)v;
	return true;
}

/* The first guest second after (after) at which the alarm matches. */
static int64_t alarm_next(const struct rtc_cmos *r, int64_t after)
{
	int as, am, ah;

	if (!alarm_field(r, REG_SEC_ALARM, 59, &as) || !alarm_field(r, REG_MIN_ALARM, 59, &am) ||
	    !alarm_field(r, REG_HOUR_ALARM, 23, &ah))
		return ALARM_NEVER;

	int64_t day = floor_div(after, SECS_PER_DAY);
	int sod = (int)(after - day * SECS_PER_DAY);
	int h0 = sod / 3600, m0 = sod / 60 % 60, s0 = sod % 60;

	/* Each field can match, so this finds a time within 24 hours after a
	 * few hundred steps at most. */
	for (int dh = 0; dh <= 24; dh++) {
		int h = (h0 + dh) % 24;
		if (ah >= 0 && h != ah)
			continue;
		for (int m = dh == 0 ? m0 : 0; m < 60; m++) {
			if (am >= 0 && m != am)
				continue;
			for (int s = dh == 0 && m == m0 ? s0 + 1 : 0; s < 60; s++) {
				if (as >= 0 && s != as)
					continue;
				return (day + (h0 + dh) / 24) * SECS_PER_DAY +
				       h * 3600 + m * 60 + s;
			}
		}
	}
	return ALARM_NEVER;
}

static int64_t ticks(struct timespec ts)
{
	return (int64_t)ts.tv_sec * TICK_HZ + (int64_t)ts.tv_nsec * TICK_HZ / NS_PER_SEC;
}

/* log2 of the periodic interrupt's period in TICK_HZ ticks; -1 if off. */
static int periodic_shift(const struct rtc_cmos *r)
{
	unsigned rs = r->cmos[REG_A] & A_RS_MASK;

	if (rs == 0)
		return -1;
	if (rs < 3)	/* rates 1 and 2 repeat rates 8 and 9 */
		rs += 7;
	return (int)rs - 1;
}

/* Latch every event that happened since the last call into the flags; they
 * are set whether or not their interrupt is enabled, as on the chip. */
static void update_flags(struct rtc_cmos *r, struct timespec now)
{
	int64_t gsec = now.tv_sec + r->offset;
	int64_t t = ticks(now);
	int shift = periodic_shift(r);

	/* Updates (and so alarms) are inhibited while SET is held. */
	if (!(r->cmos[REG_B] & B_SET) && gsec > r->last_gsec) {
		r->flags |= C_UF;
		if (alarm_next(r, r->last_gsec) <= gsec)
			r->flags |= C_AF;
	}
	r->last_gsec = gsec;
	if (shift >= 0 && (t >> shift) > (r->last_tick >> shift))
		r->flags |= C_PF;
	r->last_tick = t;
}

static bool irqf(const struct rtc_cmos *r)
{
	/* PIE/AIE/UIE sit in B at the same bit positions as PF/AF/UF in C. */
	return r->flags & r->cmos[REG_B] & C_FLAGS;
}

static void drive_irq(struct rtc_cmos *r, bool force)
{
	int level = irqf(r);

	if (force || level != r->irq_level) {
		r->irq_level = level;
		irq_line_set(&r->irq, level);
	}
}

static void consider(struct timespec *best, bool *have, int64_t sec, long nsec)
{
	if (!*have || sec < best->tv_sec || (sec == best->tv_sec && nsec < best->tv_nsec)) {
		best->tv_sec = (time_t)sec;
		best->tv_nsec = nsec;
		*have = true;
	}
}

/* Arm the timerfd for the next enabled event, in host CLOCK_REALTIME. */
static void rearm(struct rtc_cmos *r, struct timespec now)
{
	struct itimerspec its;
	bool have = false;
	uint8_t b = r->cmos[REG_B];
	int shift = periodic_shift(r);

	memset(&its, 0, sizeof(its));
	if (r->tfd < 0)
		return;
	if (!irqf(r)) {
		if (!(b & B_SET) && (b & B_UIE))
			consider(&its.it_value, &have, now.tv_sec + 1, 0);
		if (!(b & B_SET) && (b & B_AIE)) {
			int64_t next = alarm_next(r, now.tv_sec + r->offset);
			if (next != ALARM_NEVER)
				consider(&its.it_value, &have, next - r->offset, 0);
		}
		if ((b & B_PIE) && shift >= 0) {
			int64_t next = ((ticks(now) >> shift) + 1) << shift;
			int64_t frac = next % TICK_HZ;
			/* Round up, so that the timer never fires before the tick. */
			consider(&its.it_value, &have, next / TICK_HZ,
				 (long)((frac * NS_PER_SEC + TICK_HZ - 1) / TICK_HZ));
		}
	}
	/* Times before the epoch cannot be armed: fire at once instead. */
	if (have && its.it_value.tv_sec <= 0) {
		its.it_value.tv_sec = 0;
		its.it_value.tv_nsec = 1;
	}
	/* All zero disarms. Failure is not possible with a valid fd and time. */
	(void)timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* --- register access -------------------------------------------------------- */

static uint8_t data_read(struct rtc_cmos *r)
{
	unsigned i = r->index;
	struct timespec now;
	uint8_t v, regs[128];

	switch (i) {
	case REG_A:
		now = now_ts(r);
		v = r->cmos[REG_A] & (uint8_t)~A_UIP;
		if (!(r->cmos[REG_B] & B_SET) && now.tv_nsec >= NS_PER_SEC - UIP_NS)
			v |= A_UIP;
		return v;
	case REG_C:
		now = now_ts(r);
		update_flags(r, now);
		v = r->flags | (irqf(r) ? C_IRQF : 0);
		r->flags = 0;
		drive_irq(r, false);
		rearm(r, now);
		return v;
	case REG_D:
		return D_VRT;
	default:
		if (!is_time_reg(i) || (r->cmos[REG_B] & B_SET))
			return r->cmos[i];
		now = now_ts(r);
		encode_time(r, now.tv_sec + r->offset, regs);
		return regs[i];
	}
}

/* The guest set the time to (gsec) at host time (now). */
static void set_time(struct rtc_cmos *r, struct timespec now, int64_t gsec)
{
	/* Flags up to now belong to the old time; the new one starts clean,
	 * so jumping the clock raises no spurious update or alarm. */
	update_flags(r, now);
	r->offset = gsec - now.tv_sec;
	r->last_gsec = gsec;
}

static void write_b(struct rtc_cmos *r, uint8_t v, struct timespec now)
{
	uint8_t old = r->cmos[REG_B];
	int64_t gsec;

	update_flags(r, now);
	if (v & B_SET)
		v &= (uint8_t)~B_UIE;	/* the chip clears UIE when SET goes high */
	if ((v & B_SET) && !(old & B_SET)) {
		/* Freeze the registers at the current time, in the old mode. */
		encode_time(r, now.tv_sec + r->offset, r->cmos);
		r->set_dirty = false;
	}
	r->cmos[REG_B] = v;
	if (!(v & B_SET) && (old & B_SET)) {
		/* Registers written while SET hold the new time. Untouched
		 * registers leave the clock as it was, rather than setting it
		 * back by the time SET was held. Invalid dates are ignored. */
		if (r->set_dirty && decode_time(r, r->cmos, &gsec))
			set_time(r, now, gsec);
		r->set_dirty = false;
	}
}

static void data_write(struct rtc_cmos *r, uint8_t v)
{
	unsigned i = r->index;
	struct timespec now = now_ts(r);
	uint8_t regs[128];
	int64_t gsec;

	switch (i) {
	case REG_A:
		update_flags(r, now);	/* events so far count at the old rate */
		r->cmos[REG_A] = v & (uint8_t)~A_UIP;
		break;
	case REG_B:
		write_b(r, v, now);
		break;
	case REG_C:
	case REG_D:
		return;		/* read-only */
	case REG_SEC_ALARM:
	case REG_MIN_ALARM:
	case REG_HOUR_ALARM:
		update_flags(r, now);	/* the time so far is judged by the old alarm */
		r->cmos[i] = v;
		break;
	default:
		if (!is_time_reg(i)) {
			r->cmos[i] = v;	/* plain RAM: no effect on interrupts */
			return;
		}
		if (r->cmos[REG_B] & B_SET) {
			r->cmos[i] = v;
			r->set_dirty = true;
			break;
		}
		/* A running clock takes the new field at once. */
		encode_time(r, now.tv_sec + r->offset, regs);
		regs[i] = v;
		if (i != REG_DOW && decode_time(r, regs, &gsec))
			set_time(r, now, gsec);
		break;
	}
	drive_irq(r, false);
	rearm(r, now);
}

static void rtc_io_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct rtc_cmos *r = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&r->lock);
	for (unsigned k = 0; k < size; k++)
		out[k] = off + k == 1 ? data_read(r) : 0xff;
	pthread_mutex_unlock(&r->lock);
}

static void rtc_io_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct rtc_cmos *r = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&r->lock);
	for (unsigned k = 0; k < size; k++) {
		if (off + k == 0)
			r->index = in[k] & 0x7f;	/* bit 7 masks NMIs: ignored */
		else if (off + k == 1)
			data_write(r, in[k]);
	}
	pthread_mutex_unlock(&r->lock);
}

const struct io_ops rtc_cmos_io_ops = {
	.read = rtc_io_read,
	.write = rtc_io_write,
};

/* --- lifecycle -------------------------------------------------------------- */

static void put16(uint8_t *p, uint64_t v, uint64_t max)
{
	if (v > max)
		v = max;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* What a PC BIOS stores in CMOS RAM for the guest's memory layout. */
static void fill_bios_bytes(struct rtc_cmos *r)
{
	uint64_t low_end = r->ram_size < LAYOUT_MMIO_HOLE ? r->ram_size : LAYOUT_MMIO_HOLE;
	uint64_t ext_kb = low_end > MiB ? (low_end - MiB) / 1024 : 0;
	uint64_t above16 = low_end > 16 * MiB ? (low_end - 16 * MiB) / (64 * 1024) : 0;
	uint64_t above4g = (r->ram_size - low_end) / (64 * 1024);
	unsigned sum = 0;

	r->cmos[0x0e] = 0;		/* diagnostics: all fine */
	r->cmos[0x0f] = 0;		/* shutdown status: normal */
	r->cmos[0x10] = 0;		/* no floppy drives */
	r->cmos[0x12] = 0;		/* no IDE drives */
	r->cmos[0x14] = 0x02;		/* equipment: FPU, no floppy, EGA/VGA or none */
	put16(&r->cmos[0x15], LAYOUT_EBDA / 1024, 640);	/* base memory, KiB */
	put16(&r->cmos[0x17], ext_kb, 0xffff);		/* above 1 MiB, KiB */
	put16(&r->cmos[0x30], ext_kb, 0xffff);
	put16(&r->cmos[0x34], above16, 0xffff);		/* above 16 MiB, 64 KiB */
	if (above4g > 0xffffff)
		above4g = 0xffffff;
	r->cmos[0x5b] = (uint8_t)above4g;		/* above 4 GiB, 64 KiB */
	r->cmos[0x5c] = (uint8_t)(above4g >> 8);
	r->cmos[0x5d] = (uint8_t)(above4g >> 16);
	/* The AT checksum over 0x10-0x2d, big endian. */
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += r->cmos[i];
	r->cmos[0x2e] = (uint8_t)(sum >> 8);
	r->cmos[0x2f] = (uint8_t)sum;
}

static void power_on(struct rtc_cmos *r, struct timespec now)
{
	memset(r->cmos, 0, sizeof(r->cmos));
	r->cmos[REG_A] = A_DIV_32K | A_RATE_1024;
	r->cmos[REG_B] = B_24H;
	r->cmos[REG_D] = D_VRT;
	fill_bios_bytes(r);
	r->index = 0;
	r->offset = 0;
	r->set_dirty = false;
	r->flags = 0;
	r->last_gsec = now.tv_sec;
	r->last_tick = ticks(now);
	encode_time(r, now.tv_sec, r->cmos);
}

struct rtc_cmos *rtc_cmos_create(struct irq_line irq, uint64_t ram_size)
{
	struct rtc_cmos *r = calloc(1, sizeof(*r));
	int err;

	if (r == NULL)
		return NULL;
	err = pthread_mutex_init(&r->lock, NULL);
	if (err != 0) {
		free(r);
		errno = err;
		return NULL;
	}
	r->tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (r->tfd < 0) {
		err = errno;
		pthread_mutex_destroy(&r->lock);
		free(r);
		errno = err;
		return NULL;
	}
	r->irq = irq;
	r->irq_level = -1;
	r->ram_size = ram_size;
	r->clock = realtime;
	power_on(r, now_ts(r));
	return r;
}

int rtc_cmos_timer_fd(struct rtc_cmos *r)
{
	return r->tfd;
}

void rtc_cmos_timer_fired(struct rtc_cmos *r)
{
	uint64_t expirations;
	struct timespec now;

	/* Non-blocking: nothing to drain when called spuriously. */
	if (read(r->tfd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: not expired; nothing else can fail on a timerfd. */
	}
	pthread_mutex_lock(&r->lock);
	now = now_ts(r);
	update_flags(r, now);
	drive_irq(r, false);
	rearm(r, now);
	pthread_mutex_unlock(&r->lock);
}

void rtc_cmos_set_clock(struct rtc_cmos *r, int (*now)(void *ctx, struct timespec *ts),
			void *ctx)
{
	struct timespec ts;

	pthread_mutex_lock(&r->lock);
	r->clock = now ? now : realtime;
	r->clock_ctx = now ? ctx : NULL;
	/* Events are counted from here, in the new time base. */
	ts = now_ts(r);
	r->last_gsec = ts.tv_sec + r->offset;
	r->last_tick = ticks(ts);
	rearm(r, ts);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_reset(void *dev)
{
	struct rtc_cmos *r = dev;
	struct timespec now;

	pthread_mutex_lock(&r->lock);
	now = now_ts(r);
	update_flags(r, now);
	/* What the RESET pin clears; the clock and RAM live on the battery. */
	r->cmos[REG_B] &= (uint8_t)~(B_PIE | B_AIE | B_UIE | B_SQWE);
	r->flags = 0;
	drive_irq(r, true);
	rearm(r, now);
	pthread_mutex_unlock(&r->lock);
}

/* State layout, version 1: cmos[128] index(u8) offset(u64, two's complement)
 * set_dirty(u8) flags(u8). Event bookkeeping restarts at load time. */
static int rtc_save(void *dev, struct buf *out)
{
	struct rtc_cmos *r = dev;

	pthread_mutex_lock(&r->lock);
	update_flags(r, now_ts(r));
	buf_append(out, r->cmos, sizeof(r->cmos));
	buf_put_u8(out, r->index);
	buf_put_u64(out, (uint64_t)r->offset);
	buf_put_u8(out, r->set_dirty);
	buf_put_u8(out, r->flags);
	pthread_mutex_unlock(&r->lock);
	return out->failed ? -ENOMEM : 0;
}

static bool parse_state(struct rtc_cmos *n, const void *data, size_t len)
{
	struct buf_reader rd;
	uint64_t off;
	uint8_t dirty;

	buf_reader_init(&rd, data, len);
	if (!buf_get(&rd, n->cmos, sizeof(n->cmos)) || !buf_get_u8(&rd, &n->index) ||
	    !buf_get_u64(&rd, &off) || !buf_get_u8(&rd, &dirty) || !buf_get_u8(&rd, &n->flags))
		return false;
	n->offset = (int64_t)off;
	n->set_dirty = dirty;
	return rd.off == rd.len && n->index < 128 && dirty <= 1 && !(n->flags & ~C_FLAGS) &&
	       n->offset <= OFFSET_MAX && n->offset >= -OFFSET_MAX &&
	       !(n->cmos[REG_A] & A_UIP) && n->cmos[REG_C] == 0 && n->cmos[REG_D] == D_VRT &&
	       (n->cmos[REG_B] & (B_SET | B_UIE)) != (B_SET | B_UIE);
}

static int rtc_load(void *dev, const void *data, size_t len, uint32_t version)
{
	struct rtc_cmos *r = dev;
	struct rtc_cmos n;
	struct timespec now;
	int ret = 0;

	memset(&n, 0, sizeof(n));
	pthread_mutex_lock(&r->lock);
	now = now_ts(r);
	if (version != 1 || data == NULL || !parse_state(&n, data, len)) {
		power_on(r, now);
		ret = -EINVAL;
	} else {
		memcpy(r->cmos, n.cmos, sizeof(r->cmos));
		r->index = n.index;
		r->offset = n.offset;
		r->set_dirty = n.set_dirty;
		r->flags = n.flags;
		r->last_gsec = now.tv_sec + r->offset;
		r->last_tick = ticks(now);
	}
	drive_irq(r, true);
	rearm(r, now);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void rtc_destroy(void *dev)
{
	struct rtc_cmos *r = dev;

	if (r == NULL)
		return;
	close(r->tfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

const struct dev_ops rtc_cmos_dev_ops = {
	.name = "rtc_cmos",
	.version = 1,
	.reset = rtc_reset,
	.save = rtc_save,
	.load = rtc_load,
	.destroy = rtc_destroy,
};
