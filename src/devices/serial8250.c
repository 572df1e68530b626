/* SPDX-License-Identifier: MIT */
/* serial8250.c: 16550A UART emulation with 16-byte FIFOs and lossless input. */
#include "devices/serial8250.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define FIFO_SIZE	16

/* Register offsets. */
#define REG_RBR_THR	0	/* DLL when LCR.DLAB */
#define REG_IER		1	/* DLM when LCR.DLAB */
#define REG_IIR_FCR	2
#define REG_LCR		3
#define REG_MCR		4
#define REG_LSR		5
#define REG_MSR		6
#define REG_SCR		7

#define IER_RDI		0x01	/* received data available */
#define IER_THRI	0x02	/* transmitter holding register empty */
#define IER_RLSI	0x04	/* receiver line status */
#define IER_MSI		0x08	/* modem status */
#define IER_MASK	0x0f	/* bits 4-7 read 0 on a 16550A (Linux probes this) */

#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_TIMEOUT	0x0c
#define IIR_FIFO_ON	0xc0

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define FCR_CLEAR_TX	0x04
#define FCR_DMA		0x08
#define FCR_TRIG_MASK	0xc0
#define FCR_STORED	(FCR_ENABLE | FCR_DMA | FCR_TRIG_MASK)

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define MCR_MASK	0x1f

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_PE		0x04
#define LSR_FE		0x08
#define LSR_BI		0x10
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define LSR_ERRORS	(LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_DELTAS	0x0f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

struct serial8250 {
	pthread_mutex_t lock;
	struct chardev *cd;
	struct irq_line irq;
	int irq_level;		/* level last driven; -1: not yet driven */

	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t fcr;		/* FCR_STORED bits of the last FCR write */
	uint8_t lsr_err;	/* LSR_ERRORS, cleared by reading LSR */
	uint8_t msr_lines;	/* MSR bits 4-7 as last computed */
	uint8_t msr_delta;	/* MSR bits 0-3, cleared by reading MSR */
	uint8_t scr;
	uint8_t dll, dlm;
	bool thre_pending;	/* THR-empty interrupt condition, see iir_id() */

	uint8_t rx[FIFO_SIZE];	/* ring buffer: rx_count bytes from rx_head */
	unsigned rx_head, rx_count;
	bool rx_from_host;	/* the FIFO holds host input (not loopback data) */
	/* Host input the guest dropped unread with a FIFO clear, delivered again
	 * before anything newer. Linux enables receive interrupts (our cue to
	 * deliver) a moment before it switches the FIFO on, which clears it;
	 * without this, typed-ahead bytes would vanish there. The guest never
	 * saw them, so from its side they simply arrive a little later. */
	uint8_t held[FIFO_SIZE];
	unsigned held_count;
};

static const unsigned trigger_levels[4] = { 1, 4, 8, 14 };

static bool fifo_on(const struct serial8250 *s)
{
	return s->fcr & FCR_ENABLE;
}

/* In 16450 mode the receiver holds a single byte. */
static unsigned rx_capacity(const struct serial8250 *s)
{
	return fifo_on(s) ? FIFO_SIZE : 1;
}

static void rx_push(struct serial8250 *s, uint8_t b)
{
	s->rx[(s->rx_head + s->rx_count) % FIFO_SIZE] = b;
	s->rx_count++;
}

static uint8_t rx_pop(struct serial8250 *s)
{
	uint8_t b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % FIFO_SIZE;
	s->rx_count--;
	return b;
}

static void rx_clear(struct serial8250 *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
	s->rx_from_host = false;
}

/* A guest-requested FIFO clear: keep unread host input (see held[]). */
static void rx_clear_by_guest(struct serial8250 *s)
{
	if (s->rx_from_host) {
		uint8_t keep[2 * FIFO_SIZE];
		unsigned n = 0;
		while (s->rx_count > 0)
			keep[n++] = rx_pop(s);
		for (unsigned i = 0; i < s->held_count; i++)
			keep[n++] = s->held[i];
		/* at most 16 unread + 16 held; whatever exceeds held[] stays
		 * in order because held[] is refilled before the chardev */
		if (n > FIFO_SIZE)
			n = FIFO_SIZE;
		memcpy(s->held, keep, n);
		s->held_count = n;
	}
	rx_clear(s);
}

/* Modem input lines. The host side is always connected and ready, so CTS,
 * DSR and DCD read asserted: Linux then sees carrier without CLOCAL and may
 * send with CRTSCTS. In loopback the inputs are wired to the MCR outputs. */
static uint8_t msr_lines_now(const struct serial8250 *s)
{
	if (!(s->mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	uint8_t v = 0;
	if (s->mcr & MCR_RTS)
		v |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		v |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		v |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		v |= MSR_DCD;
	return v;
}

static void update_msr(struct serial8250 *s)
{
	uint8_t now = msr_lines_now(s);
	uint8_t changed = now ^ s->msr_lines;

	if (changed & MSR_CTS)
		s->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		s->msr_delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		s->msr_delta |= MSR_DDCD;
	/* TERI reports the trailing edge of RI only. */
	if ((changed & MSR_RI) && !(now & MSR_RI))
		s->msr_delta |= MSR_TERI;
	s->msr_lines = now;
}

/* The pending interrupt of highest priority, as IIR bits 0-3. */
static uint8_t iir_id(const struct serial8250 *s)
{
	if ((s->ier & IER_RLSI) && (s->lsr_err & LSR_ERRORS))
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count > 0) {
		if (!fifo_on(s))
			return IIR_RDI;
		if (s->rx_count >= trigger_levels[s->fcr >> 6])
			return IIR_RDI;
		/* Below the trigger level a real UART reports the character
		 * timeout after 4 character times of silence. Our input comes
		 * in bursts pulled from a buffer, so the line is "silent" as
		 * soon as the burst is in: report it right away, so the guest
		 * takes the bytes without waiting for more. */
		return IIR_TIMEOUT;
	}
	if ((s->ier & IER_THRI) && s->thre_pending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr_delta & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

static void drive_irq(struct serial8250 *s, bool force)
{
	int level = iir_id(s) != IIR_NO_INT;

	if (force || level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

/* Pull host input into free receiver space. Only while the guest has receive
 * interrupts enabled: until then the driver is not listening (Linux clears
 * the FIFO and reads RBR when it opens the port), and bytes left on the host
 * side cannot be lost. Not in loopback, where the receiver is disconnected. */
static void pull_input(struct serial8250 *s)
{
	uint8_t tmp[FIFO_SIZE];

	if (!(s->ier & IER_RDI) || (s->mcr & MCR_LOOP) || s->cd == NULL)
		return;
	while (s->held_count > 0 && s->rx_count < rx_capacity(s)) {
		rx_push(s, s->held[0]);
		memmove(s->held, s->held + 1, --s->held_count);
		s->rx_from_host = true;
	}
	while (s->rx_count < rx_capacity(s)) {
		size_t want = rx_capacity(s) - s->rx_count;
		size_t n = chardev_read(s->cd, tmp, want);
		if (n == 0)
			break;
		if (n > want)	/* never trust a count beyond what we asked for */
			n = want;
		for (size_t i = 0; i < n; i++)
			rx_push(s, tmp[i]);
		s->rx_from_host = true;
	}
}

static void power_on(struct serial8250 *s)
{
	s->ier = 0;
	s->lcr = 0;
	s->mcr = 0;
	s->fcr = 0;
	s->lsr_err = 0;
	s->msr_delta = 0;
	s->msr_lines = msr_lines_now(s);
	s->scr = 0;
	/* Divisor 1 (115200 baud): a zero divisor makes drivers that derive
	 * the baud rate from it (Linux's earlycon without options) divide by 0. */
	s->dll = 1;
	s->dlm = 0;
	s->thre_pending = false;
	rx_clear(s);
	s->held_count = 0;
}

static void transmit(struct serial8250 *s, uint8_t b)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_count < rx_capacity(s)) {
			rx_push(s, b);
			s->rx_from_host = false;
		}
		else
			s->lsr_err |= LSR_OE;
	} else {
		chardev_write(s->cd, &b, 1);
	}
	/* The byte left THR at once: THR is empty again. */
	s->thre_pending = true;
}

static void write_fcr(struct serial8250 *s, uint8_t v)
{
	bool was_on = fifo_on(s);

	if (!(v & FCR_ENABLE)) {
		/* The other bits only take effect together with bit 0. */
		s->fcr = 0;
		if (was_on)
			rx_clear_by_guest(s);
		return;
	}
	s->fcr = v & FCR_STORED;
	/* Switching between 16450 and FIFO mode empties the FIFOs. */
	if (!was_on || (v & FCR_CLEAR_RX))
		rx_clear_by_guest(s);
	/* FCR_CLEAR_TX: nothing to do, the transmitter is always empty. */
}

static uint8_t reg_read(struct serial8250 *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		v = 0;
		if (s->rx_count > 0) {
			v = rx_pop(s);
			pull_input(s);
		}
		return v;
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR:
		v = iir_id(s);
		/* Reading IIR acknowledges the THRE interrupt it reports. */
		if (v == IIR_THRI)
			s->thre_pending = false;
		return v | (fifo_on(s) ? IIR_FIFO_ON : 0);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | s->lsr_err;
		if (s->rx_count > 0)
			v |= LSR_DR;
		s->lsr_err = 0;
		return v;
	case REG_MSR:
		v = s->msr_lines | s->msr_delta;
		s->msr_delta = 0;
		return v;
	default:
		return s->scr;
	}
}

static void reg_write(struct serial8250 *s, unsigned reg, uint8_t v)
{
	uint8_t old;

	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			transmit(s, v);
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		old = s->ier;
		s->ier = v & IER_MASK;
		/* Enabling THRI while THR is empty (always, here) raises the
		 * interrupt again: Linux's start_tx and its THRE test rely on it. */
		if ((s->ier & IER_THRI) && !(old & IER_THRI))
			s->thre_pending = true;
		if ((s->ier & IER_RDI) && !(old & IER_RDI))
			pull_input(s);
		break;
	case REG_IIR_FCR:
		write_fcr(s, v);
		pull_input(s);
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		old = s->mcr;
		s->mcr = v & MCR_MASK;
		update_msr(s);
		if ((old & MCR_LOOP) && !(s->mcr & MCR_LOOP))
			pull_input(s);
		break;
	case REG_LSR:
	case REG_MSR:
		break;		/* factory test registers: ignored */
	default:
		s->scr = v;
		break;
	}
}

static void serial_io_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct serial8250 *s = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = off + i < SERIAL8250_IO_LEN ? reg_read(s, (unsigned)(off + i)) : 0xff;
	drive_irq(s, false);
	pthread_mutex_unlock(&s->lock);
}

static void serial_io_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct serial8250 *s = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < size; i++)
		if (off + i < SERIAL8250_IO_LEN)
			reg_write(s, (unsigned)(off + i), in[i]);
	drive_irq(s, false);
	pthread_mutex_unlock(&s->lock);
}

const struct io_ops serial8250_io_ops = {
	.read = serial_io_read,
	.write = serial_io_write,
};

/* Host side: input arrived while the host buffer was empty. */
static void serial_input_ready(void *opaque)
{
	struct serial8250 *s = opaque;

	pthread_mutex_lock(&s->lock);
	pull_input(s);
	drive_irq(s, false);
	pthread_mutex_unlock(&s->lock);
}

struct serial8250 *serial8250_create(struct chardev *cd, struct irq_line irq)
{
	struct serial8250 *s = calloc(1, sizeof(*s));
	int r;

	if (s == NULL)
		return NULL;
	r = pthread_mutex_init(&s->lock, NULL);
	if (r != 0) {
		free(s);
		errno = r;
		return NULL;
	}
	s->cd = cd;
	s->irq = irq;
	s->irq_level = -1;
	power_on(s);
	chardev_attach(cd, serial_input_ready, s);
	return s;
}

static void serial_reset(void *dev)
{
	struct serial8250 *s = dev;

	pthread_mutex_lock(&s->lock);
	power_on(s);
	drive_irq(s, true);
	pthread_mutex_unlock(&s->lock);
}

/* State layout, version 1 (all single bytes unless noted):
 * ier lcr mcr fcr lsr_err msr_delta scr dll dlm thre_pending rx_count
 * rx bytes[rx_count] (oldest first) rx_from_host held_count held[held_count].
 * msr_lines is derived from mcr. */
static int serial_save(void *dev, struct buf *out)
{
	struct serial8250 *s = dev;

	pthread_mutex_lock(&s->lock);
	buf_put_u8(out, s->ier);
	buf_put_u8(out, s->lcr);
	buf_put_u8(out, s->mcr);
	buf_put_u8(out, s->fcr);
	buf_put_u8(out, s->lsr_err);
	buf_put_u8(out, s->msr_delta);
	buf_put_u8(out, s->scr);
	buf_put_u8(out, s->dll);
	buf_put_u8(out, s->dlm);
	buf_put_u8(out, s->thre_pending);
	buf_put_u8(out, (uint8_t)s->rx_count);
	for (unsigned i = 0; i < s->rx_count; i++)
		buf_put_u8(out, s->rx[(s->rx_head + i) % FIFO_SIZE]);
	buf_put_u8(out, s->rx_from_host);
	buf_put_u8(out, (uint8_t)s->held_count);
	buf_append(out, s->held, s->held_count);
	pthread_mutex_unlock(&s->lock);
	return out->failed ? -ENOMEM : 0;
}

/* Parse and validate into (n) without touching the live device. */
static bool parse_state(struct serial8250 *n, const void *data, size_t len)
{
	struct buf_reader r;
	uint8_t thre, count;

	buf_reader_init(&r, data, len);
	if (!buf_get_u8(&r, &n->ier) || !buf_get_u8(&r, &n->lcr) || !buf_get_u8(&r, &n->mcr) ||
	    !buf_get_u8(&r, &n->fcr) || !buf_get_u8(&r, &n->lsr_err) ||
	    !buf_get_u8(&r, &n->msr_delta) || !buf_get_u8(&r, &n->scr) ||
	    !buf_get_u8(&r, &n->dll) || !buf_get_u8(&r, &n->dlm) || !buf_get_u8(&r, &thre) ||
	    !buf_get_u8(&r, &count))
		return false;
	if ((n->ier & ~IER_MASK) || (n->mcr & ~MCR_MASK) || (n->fcr & ~FCR_STORED) ||
	    (n->lsr_err & ~LSR_ERRORS) || (n->msr_delta & ~MSR_DELTAS) || thre > 1)
		return false;
	n->thre_pending = thre;
	if (count > rx_capacity(n))
		return false;
	n->rx_head = 0;
	n->rx_count = 0;
	for (unsigned i = 0; i < count; i++) {
		uint8_t b;
		if (!buf_get_u8(&r, &b))
			return false;
		rx_push(n, b);
	}
	uint8_t from_host, held;
	if (!buf_get_u8(&r, &from_host) || from_host > 1 || !buf_get_u8(&r, &held) ||
	    held > FIFO_SIZE || !buf_get(&r, n->held, held))
		return false;
	n->rx_from_host = from_host;
	n->held_count = held;
	n->msr_lines = msr_lines_now(n);
	return r.off == r.len;
}

static int serial_load(void *dev, const void *data, size_t len, uint32_t version)
{
	struct serial8250 *s = dev;
	struct serial8250 n;
	int ret = 0;

	memset(&n, 0, sizeof(n));
	pthread_mutex_lock(&s->lock);
	if (version != 1 || data == NULL || !parse_state(&n, data, len)) {
		power_on(s);
		ret = -EINVAL;
	} else {
		s->ier = n.ier;
		s->lcr = n.lcr;
		s->mcr = n.mcr;
		s->fcr = n.fcr;
		s->lsr_err = n.lsr_err;
		s->msr_delta = n.msr_delta;
		s->msr_lines = n.msr_lines;
		s->scr = n.scr;
		s->dll = n.dll;
		s->dlm = n.dlm;
		s->thre_pending = n.thre_pending;
		memcpy(s->rx, n.rx, sizeof(s->rx));
		s->rx_head = n.rx_head;
		s->rx_count = n.rx_count;
		s->rx_from_host = n.rx_from_host;
		memcpy(s->held, n.held, sizeof(s->held));
		s->held_count = n.held_count;
		/* The host side may already hold input for a listening guest. */
		pull_input(s);
	}
	drive_irq(s, true);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void serial_destroy(void *dev)
{
	struct serial8250 *s = dev;

	if (s == NULL)
		return;
	chardev_attach(s->cd, NULL, NULL);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct dev_ops serial8250_dev_ops = {
	.name = "serial8250",
	.version = 1,
	.reset = serial_reset,
	.save = serial_save,
	.load = serial_load,
	.destroy = serial_destroy,
};
