/* SPDX-License-Identifier: MIT */
/* rtc_cmos.h: the MC146818 real-time clock and its 128 bytes of CMOS RAM. */
#ifndef DOMUS_RTC_CMOS_H
#define DOMUS_RTC_CMOS_H

#include <stdint.h>
#include <time.h>

#include "devices/device.h"
#include "devices/irq.h"
#include "vmm/iobus.h"

struct rtc_cmos;

/* CMOS byte holding the century; the FADT's CENTURY field must say so. */
#define RTC_CMOS_CENTURY	0x32

/* rtc_cmos_create: a clock showing the host's UTC time (CLOCK_REALTIME), in
 * BCD and 24-hour mode with no interrupt enabled, as a PC BIOS leaves it, and
 * CMOS RAM filled in as a BIOS would for (ram_size) bytes of guest RAM laid
 * out as in arch/x86/layout.h (base memory, extended memory, memory above
 * 16 MiB and above 4 GiB, equipment byte, checksum). (irq) is IRQ 8: 1 while
 * register C's IRQF is set. Creates a timerfd (see rtc_cmos_timer_fd).
 * Returns NULL with errno set. */
struct rtc_cmos *rtc_cmos_create(struct irq_line irq, uint64_t ram_size);

/* rtc_cmos_timer_fd: a non-blocking timerfd that becomes readable when an
 * enabled interrupt (update, alarm, periodic) may be due. Add it to the event
 * loop (EPOLLIN) and call rtc_cmos_timer_fired() when it is readable. It is
 * disarmed while no interrupt is enabled, and while IRQF is already set (the
 * flags catch up when the guest reads register C), so an idle or a
 * misbehaving guest costs no wakeups. Owned by the device. */
int rtc_cmos_timer_fd(struct rtc_cmos *rtc);

/* rtc_cmos_timer_fired: drain the timerfd, latch due events into register C,
 * update the IRQ line and re-arm. Any thread. */
void rtc_cmos_timer_fired(struct rtc_cmos *rtc);

/* rtc_cmos_set_clock: replace CLOCK_REALTIME as the time base by (now), which
 * fills *ts with UTC time and returns 0 (tests use it to step through time).
 * NULL restores CLOCK_REALTIME. The timerfd keeps using CLOCK_REALTIME. */
void rtc_cmos_set_clock(struct rtc_cmos *rtc, int (*now)(void *ctx, struct timespec *ts),
			void *ctx);

/* Register over [PORT_RTC, PORT_RTC + 2): offset 0 is the index port (bit 7,
 * the NMI mask, is ignored; reads return 0xff), offset 1 the data port.
 * opaque = the device. */
extern const struct io_ops rtc_cmos_io_ops;

/* name "rtc_cmos", version 1; opaque = the device. reset() acts like the
 * chip's RESET pin on a reboot: interrupt enables and flags are cleared, the
 * clock (including a time the guest set) and CMOS RAM are kept, as the
 * battery keeps them on a real machine. The saved state holds the guest's
 * offset from host UTC, so a restored clock follows the new host's clock. */
extern const struct dev_ops rtc_cmos_dev_ops;

#endif
