/* SPDX-License-Identifier: MIT */
/* test_serial8250.c: the 16550A UART as Linux's 8250 driver drives it. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "devices/serial8250.h"
#include "fakes.h"

/* Register offsets from COM1's base. */
enum {
	RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
	LSR = 5, MSR = 6, SCR = 7,
};

/* --- fakes ---------------------------------------------------------------- */

#define IN_MAX (64 * 1024)
#define OUT_MAX (64 * 1024)

struct fake_cd {
	struct chardev cd;
	pthread_mutex_t lock;	/* the host side and the UART run on different threads */
	uint8_t in[IN_MAX];	/* host-side input buffer: [in_pos, in_len) pending */
	size_t in_len, in_pos;
	uint8_t out[OUT_MAX];
	size_t out_len;
	size_t reads;		/* read() calls that returned bytes */
};

static void fake_write(struct chardev *cd, const void *p, size_t len)
{
	struct fake_cd *f = (struct fake_cd *)cd;

	pthread_mutex_lock(&f->lock);
	assert_true(f->out_len + len <= OUT_MAX);
	memcpy(f->out + f->out_len, p, len);
	f->out_len += len;
	pthread_mutex_unlock(&f->lock);
}

static size_t fake_read(struct chardev *cd, void *p, size_t len)
{
	struct fake_cd *f = (struct fake_cd *)cd;

	pthread_mutex_lock(&f->lock);
	size_t n = f->in_len - f->in_pos;
	if (n > len)
		n = len;
	memcpy(p, f->in + f->in_pos, n);
	f->in_pos += n;
	if (n)
		f->reads++;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static const struct chardev_ops fake_ops = { .write = fake_write, .read = fake_read };

/* Host input arrives: like the console, call input_ready when the buffer was empty. */
static void fake_input(struct fake_cd *f, const void *p, size_t len)
{
	pthread_mutex_lock(&f->lock);
	bool was_empty = f->in_pos == f->in_len;
	assert_true(f->in_len + len <= IN_MAX);
	memcpy(f->in + f->in_len, p, len);
	f->in_len += len;
	pthread_mutex_unlock(&f->lock);
	/* Outside our lock: the UART calls read() under its own. */
	if (was_empty && len && f->cd.input_ready)
		f->cd.input_ready(f->cd.dev);
}

static size_t fake_pending(struct fake_cd *f)
{
	pthread_mutex_lock(&f->lock);
	size_t n = f->in_len - f->in_pos;
	pthread_mutex_unlock(&f->lock);
	return n;
}

struct fixture {
	struct fake_cd cd;
	struct fake_irq irq;
	struct serial8250 *uart;
};

static struct fixture *new_fixture(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	pthread_mutex_init(&fx->cd.lock, NULL);
	fx->cd.cd.ops = &fake_ops;
	fx->irq.level = 0;
	fx->uart = serial8250_create(&fx->cd.cd, fake_irq_line(&fx->irq, 4));
	assert_non_null(fx->uart);
	assert_ptr_equal(fx->cd.cd.dev, fx->uart);
	return fx;
}

static void free_fixture(struct fixture *fx)
{
	serial8250_dev_ops.destroy(fx->uart);
	assert_null(fx->cd.cd.input_ready);
	pthread_mutex_destroy(&fx->cd.lock);
	free(fx);
}

static uint8_t in8(struct fixture *fx, unsigned reg)
{
	uint8_t v = 0x5a;

	serial8250_io_ops.read(fx->uart, reg, &v, 1);
	return v;
}

static void out8(struct fixture *fx, unsigned reg, uint8_t v)
{
	serial8250_io_ops.write(fx->uart, reg, &v, 1);
}

/* --- tests ---------------------------------------------------------------- */

/* Linux's autoconfig() and autoconfig_16550a(), step by step. */
static void test_detect_as_linux(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	/* Power-on: nothing pending, THR empty. */
	assert_int_equal(in8(fx, IIR), 0x01);
	assert_int_equal(in8(fx, LSR), 0x60);
	assert_int_equal(fx->irq.level, 0);

	/* IER existence test: bits 0-3 stick, 4-7 read 0. */
	uint8_t saved = in8(fx, IER);
	out8(fx, IER, 0);
	assert_int_equal(in8(fx, IER) & 0x0f, 0);
	out8(fx, IER, 0x0f);
	assert_int_equal(in8(fx, IER) & 0x0f, 0x0f);
	out8(fx, IER, 0xff);
	assert_int_equal(in8(fx, IER), 0x0f);
	out8(fx, IER, saved);

	/* Loopback test: MCR = LOOP | OUT2 | RTS -> MSR high nibble 0x90. */
	uint8_t save_mcr = in8(fx, MCR);
	out8(fx, MCR, 0x1a);
	assert_int_equal(in8(fx, MSR) & 0xf0, 0x90);
	out8(fx, MCR, save_mcr);
	assert_int_equal(in8(fx, MSR) & 0xf0, 0xb0);	/* CTS, DSR, DCD asserted */

	/* EFR write with LCR = 0xbf lands in FCR on a 16550A. */
	out8(fx, LCR, 0xbf);
	out8(fx, 2, 0);
	out8(fx, LCR, 0);
	out8(fx, FCR, 0x01);
	assert_int_equal(in8(fx, IIR) >> 6, 3);
	assert_int_equal(in8(fx, IIR), 0xc1);

	/* No EFR behind DLAB: offset 2 reads IIR, never 0. */
	out8(fx, LCR, 0x80);
	assert_int_not_equal(in8(fx, 2), 0);
	out8(fx, LCR, 0xbf);
	assert_int_not_equal(in8(fx, 2), 0);
	out8(fx, LCR, 0);
	/* Not a 16750: bit 5 never set. */
	out8(fx, FCR, 0x21);
	assert_int_equal(in8(fx, IIR) & 0xe0, 0xc0);
	out8(fx, LCR, 0x80);
	out8(fx, FCR, 0x21);
	assert_int_equal(in8(fx, IIR) & 0xe0, 0xc0);
	out8(fx, LCR, 0);
	/* Not an XScale: IER bit 6 (UUE) does not stick. */
	out8(fx, IER, 0x40);
	assert_int_equal(in8(fx, IER) & 0x40, 0);
	out8(fx, IER, 0);

	/* Scratch register. */
	out8(fx, SCR, 0xa5);
	assert_int_equal(in8(fx, SCR), 0xa5);
	out8(fx, SCR, 0x5a);
	assert_int_equal(in8(fx, SCR), 0x5a);

	/* Nothing probed went out on the line, and no interrupt is left. */
	assert_int_equal(fx->cd.out_len, 0);
	assert_int_equal(in8(fx, IIR), 0xc1);
	assert_int_equal(fx->irq.level, 0);
	free_fixture(fx);
}

static void test_transmit_order(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	const char *msg = "Linux version 6.1.0-cloud-amd64\r\n";

	out8(fx, FCR, 0x07);
	for (const char *p = msg; *p; p++) {
		assert_true(in8(fx, LSR) & 0x20);
		out8(fx, THR, (uint8_t)*p);
	}
	assert_int_equal(fx->cd.out_len, strlen(msg));
	assert_memory_equal(fx->cd.out, msg, strlen(msg));
	assert_int_equal(in8(fx, LSR) & 0x60, 0x60);
	free_fixture(fx);
}

static void test_thre_interrupt(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	/* Writing THR with THRI disabled raises nothing. */
	out8(fx, THR, 'a');
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(in8(fx, IIR), 0x01);

	/* Enabling THRI with THR empty raises it. */
	out8(fx, IER, 0x02);
	assert_int_equal(fx->irq.level, 1);
	/* Reading IIR reports and clears it. */
	assert_int_equal(in8(fx, IIR), 0x02);
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(in8(fx, IIR), 0x01);

	/* A THR write clears it, then THR empties at once: pending again. */
	out8(fx, THR, 'b');
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(in8(fx, IIR), 0x02);
	assert_int_equal(fx->irq.level, 0);

	/* Linux's THRE test: IER=THRI, IIR, IER=0, IER=THRI, IIR must report again. */
	out8(fx, IER, 0);
	out8(fx, IER, 0x02);
	uint8_t iir1 = in8(fx, IIR);
	out8(fx, IER, 0);
	out8(fx, IER, 0x02);
	uint8_t iir2 = in8(fx, IIR);
	out8(fx, IER, 0);
	assert_int_equal(iir1 & 1, 0);
	assert_int_equal(iir2 & 1, 0);

	/* Disabling THRI drops the line even with the condition pending. */
	out8(fx, IER, 0x02);
	assert_int_equal(fx->irq.level, 1);
	out8(fx, IER, 0);
	assert_int_equal(fx->irq.level, 0);
	/* Rewriting IER with THRI already set does not re-raise a cleared THRE. */
	out8(fx, IER, 0x02);
	assert_int_equal(in8(fx, IIR), 0x02);
	out8(fx, IER, 0x02);
	assert_int_equal(in8(fx, IIR), 0x01);
	assert_int_equal(fx->irq.level, 0);
	assert_memory_equal(fx->cd.out, "ab", 2);
	free_fixture(fx);
}

static void test_input_gated_by_rdi(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	uint8_t data[100];

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i + 1);
	fake_input(&fx->cd, data, sizeof(data));
	/* Not listening yet: nothing pulled. */
	assert_int_equal(fake_pending(&fx->cd), 100);
	assert_int_equal(in8(fx, LSR) & 0x01, 0);

	/* Linux's startup: clear FIFOs, read LSR/RBR/IIR/MSR, still IER=0. */
	out8(fx, FCR, 0x01);
	out8(fx, FCR, 0x07);
	out8(fx, FCR, 0);
	in8(fx, LSR);
	in8(fx, RBR);
	in8(fx, IIR);
	in8(fx, MSR);
	out8(fx, LCR, 0x03);
	out8(fx, MCR, 0x0b);
	out8(fx, FCR, 0x81);	/* FIFO on, trigger 8 */
	assert_int_equal(fake_pending(&fx->cd), 100);

	/* RDI set: the FIFO fills to 16 and stops. */
	out8(fx, IER, 0x05);
	assert_int_equal(fake_pending(&fx->cd), 84);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(in8(fx, IIR), 0xc4);
	/* Each byte read frees a slot that is refilled. */
	assert_int_equal(in8(fx, RBR), 1);
	assert_int_equal(fake_pending(&fx->cd), 83);
	for (unsigned i = 1; i < 100; i++) {
		assert_true(in8(fx, LSR) & 0x01);
		assert_int_equal(in8(fx, RBR), data[i]);
	}
	assert_int_equal(in8(fx, LSR) & 0x01, 0);
	assert_int_equal(fake_pending(&fx->cd), 0);
	assert_int_equal(in8(fx, IIR), 0xc1);
	assert_int_equal(fx->irq.level, 0);

	/* Input while listening arrives through input_ready. */
	fake_input(&fx->cd, "xy", 2);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(in8(fx, IIR), 0xcc);	/* 2 < trigger 8: timeout */
	assert_int_equal(in8(fx, RBR), 'x');
	assert_int_equal(in8(fx, RBR), 'y');
	assert_int_equal(fx->irq.level, 0);

	/* Disabling RDI stops the pulls; input stays on the host side. */
	out8(fx, IER, 0);
	fake_input(&fx->cd, "z", 1);
	assert_int_equal(fake_pending(&fx->cd), 1);
	assert_int_equal(in8(fx, LSR) & 0x01, 0);
	out8(fx, IER, 0x01);
	assert_int_equal(fake_pending(&fx->cd), 0);
	assert_int_equal(in8(fx, RBR), 'z');
	free_fixture(fx);
}

/* A 10 KiB stream arriving in odd-sized chunks, read by an interrupt-driven
 * guest that drains up to a random number of bytes per interrupt: no byte
 * lost, duplicated or reordered, in FIFO and in 16450 mode. */
static void stream(bool fifo)
{
	struct fixture *fx = new_fixture();
	enum { N = 10 * 1024 };
	static uint8_t data[N], got[N];
	size_t sent = 0, ngot = 0;
	unsigned seed = 12345;

	for (unsigned i = 0; i < N; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	out8(fx, FCR, fifo ? 0xc1 : 0);
	out8(fx, IER, 0x01);
	while (ngot < N) {
		seed = seed * 1103515245 + 12345;
		if (sent < N && (seed >> 16) % 3 != 0) {
			size_t chunk = 1 + (seed >> 8) % 97;
			if (chunk > N - sent)
				chunk = N - sent;
			fake_input(&fx->cd, data + sent, chunk);
			sent += chunk;
		}
		if (fx->irq.level) {
			uint8_t iir = in8(fx, IIR);
			assert_true((iir & 0x0f) == 0x04 || (iir & 0x0f) == 0x0c);
			unsigned budget = 1 + (seed >> 4) % 40;
			while (budget-- && (in8(fx, LSR) & 0x01)) {
				assert_true(ngot < N);
				got[ngot++] = in8(fx, RBR);
			}
		} else {
			/* Line low only when the receiver is empty. */
			assert_int_equal(in8(fx, LSR) & 0x01, 0);
			assert_true(sent < N);
		}
	}
	assert_memory_equal(got, data, N);
	assert_int_equal(fake_pending(&fx->cd), 0);
	assert_int_equal(in8(fx, LSR) & 0x03, 0);	/* no data, never an overrun */
	free_fixture(fx);
}

static void test_stream_10k_fifo(void **state)
{
	(void)state;
	stream(true);
}

static void test_stream_10k_nofifo(void **state)
{
	(void)state;
	stream(false);
}

struct producer {
	struct fixture *fx;
	const uint8_t *data;
	size_t len;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	size_t sent = 0;

	while (sent < p->len) {
		size_t chunk = 1 + sent % 61;
		if (chunk > p->len - sent)
			chunk = p->len - sent;
		/* Like the console: stop reading the host while the buffer is full. */
		while (fake_pending(&p->fx->cd) > 4096)
			sched_yield();
		fake_input(&p->fx->cd, p->data + sent, chunk);
		sent += chunk;
	}
	return NULL;
}

/* Input arrives on the host's thread (input_ready) while two "vCPUs" read and
 * transmit: nothing lost, reordered or torn. */
static void test_stream_threads(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	enum { N = 32 * 1024 };
	static uint8_t data[N], got[N];
	struct producer p = { fx, data, N };
	pthread_t t;
	size_t ngot = 0, nsent = 0;

	for (unsigned i = 0; i < N; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	out8(fx, FCR, 0x81);
	out8(fx, IER, 0x01);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	while (ngot < N) {
		if (in8(fx, LSR) & 0x01)
			got[ngot++] = in8(fx, RBR);
		else if (nsent < OUT_MAX / 2 && ++nsent)
			out8(fx, THR, '.');	/* other traffic meanwhile */
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_memory_equal(got, data, N);
	assert_int_equal(fx->cd.out_len, nsent);
	assert_int_equal(in8(fx, LSR) & 0x03, 0);
	free_fixture(fx);
}

static void test_non_fifo_holds_one_byte(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	fake_input(&fx->cd, "abc", 3);
	out8(fx, IER, 0x01);
	assert_int_equal(fake_pending(&fx->cd), 2);
	assert_int_equal(in8(fx, IIR), 0x04);	/* no FIFO bits, no timeout ID */
	assert_int_equal(in8(fx, RBR), 'a');
	assert_int_equal(fake_pending(&fx->cd), 1);
	assert_int_equal(in8(fx, RBR), 'b');
	assert_int_equal(in8(fx, RBR), 'c');
	assert_int_equal(in8(fx, IIR), 0x01);
	free_fixture(fx);
}

static void test_fifo_clear(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	/* Fill through loopback, then clear. */
	out8(fx, FCR, 0x01);
	out8(fx, MCR, 0x10);
	for (int i = 0; i < 5; i++)
		out8(fx, THR, (uint8_t)('0' + i));
	assert_true(in8(fx, LSR) & 0x01);
	out8(fx, FCR, 0x03);
	assert_int_equal(in8(fx, LSR) & 0x01, 0);
	assert_int_equal(in8(fx, IIR), 0xc1);

	/* Turning the FIFO off empties it too. */
	out8(fx, THR, 'q');
	assert_true(in8(fx, LSR) & 0x01);
	out8(fx, FCR, 0);
	assert_int_equal(in8(fx, LSR) & 0x01, 0);
	assert_int_equal(in8(fx, IIR), 0x01);

	/* Clearing while listening loses no host input: the guest never read
	 * those bytes, so they are delivered again, in order. */
	out8(fx, MCR, 0);
	uint8_t data[40];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	fake_input(&fx->cd, data, sizeof(data));
	out8(fx, FCR, 0x01);
	out8(fx, IER, 0x01);
	assert_int_equal(fake_pending(&fx->cd), 24);
	out8(fx, FCR, 0x03);
	assert_int_equal(fake_pending(&fx->cd), 24);
	for (unsigned i = 0; i < sizeof(data); i++) {
		assert_true(in8(fx, LSR) & 0x01);
		assert_int_equal(in8(fx, RBR), i);
	}
	assert_int_equal(in8(fx, LSR) & 0x01, 0);
	/* Nothing reached the chardev while in loopback. */
	assert_int_equal(fx->cd.out_len, 0);
	free_fixture(fx);
}

/* Linux's open sequence: IER.RDI is set while the FIFO is still off (one
 * byte is delivered), then the FIFO is switched on, which clears it. No byte
 * of typed-ahead input may be lost or reordered. */
static void test_linux_open_keeps_typeahead(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	const char *typed = "nproc\npoweroff\n";
	size_t n = strlen(typed);

	fake_input(&fx->cd, typed, n);
	out8(fx, FCR, 0x00);
	out8(fx, IER, 0x05);		/* RDI | RLSI: one byte pulled */
	assert_int_equal(fake_pending(&fx->cd), n - 1);
	out8(fx, FCR, 0x01);		/* FIFO on: clears it */
	out8(fx, FCR, 0xc1);
	for (size_t i = 0; i < n; i++) {
		assert_true(in8(fx, LSR) & 0x01);
		assert_int_equal(in8(fx, RBR), (uint8_t)typed[i]);
	}
	assert_int_equal(in8(fx, LSR) & 0x01, 0);
	free_fixture(fx);
}

static void test_trigger_and_timeout(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	static const struct { uint8_t fcr; unsigned level; } trig[] = {
		{ 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 },
	};

	out8(fx, MCR, 0x10);	/* loopback feeds the receiver exactly */
	out8(fx, IER, 0x01);
	for (unsigned t = 0; t < 4; t++) {
		out8(fx, FCR, trig[t].fcr | 0x02);
		assert_int_equal(fx->irq.level, 0);
		for (unsigned n = 1; n <= 16; n++) {
			out8(fx, THR, (uint8_t)n);
			uint8_t iir = in8(fx, IIR);
			assert_int_equal(iir, n >= trig[t].level ? 0xc4 : 0xcc);
			assert_int_equal(fx->irq.level, 1);
		}
		/* 17th byte: overrun, kept out of the FIFO. */
		out8(fx, THR, 0xee);
		out8(fx, IER, 0x05);
		assert_int_equal(in8(fx, IIR), 0xc6);	/* line status first */
		assert_int_equal(in8(fx, LSR) & 0x03, 0x03);
		assert_int_equal(in8(fx, IIR) & 0x0f, 0x04);
		out8(fx, IER, 0x01);
		for (unsigned n = 1; n <= 16; n++)
			assert_int_equal(in8(fx, RBR), n);
		assert_int_equal(in8(fx, IIR), 0xc1);
		assert_int_equal(fx->irq.level, 0);
	}
	free_fixture(fx);
}

static void test_priorities(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	out8(fx, FCR, 0x01);
	out8(fx, MCR, 0x10);
	assert_int_equal(in8(fx, MSR), 0x0b);	/* entering loopback drops CTS DSR DCD */
	out8(fx, IER, 0x0f);	/* THRE raised by enabling */
	/* MCR change in loopback: modem status delta pending too. */
	out8(fx, MCR, 0x13);
	assert_int_equal(in8(fx, IIR), 0xc2);	/* THRE over modem status */
	assert_int_equal(in8(fx, IIR), 0xc0);	/* modem status */
	assert_int_equal(in8(fx, MSR), 0x33);	/* CTS DSR + DCTS DDSR */
	assert_int_equal(in8(fx, IIR), 0xc1);
	out8(fx, THR, 'x');			/* RX data and THRE both pending */
	assert_int_equal(in8(fx, IIR), 0xc4);
	assert_int_equal(in8(fx, RBR), 'x');
	assert_int_equal(in8(fx, IIR), 0xc2);
	assert_int_equal(in8(fx, IIR), 0xc1);
	/* RI trailing edge only: OUT1 on gives no TERI, off does. */
	out8(fx, MCR, 0x17);
	assert_int_equal(in8(fx, MSR), 0x70);
	out8(fx, MCR, 0x13);
	assert_int_equal(in8(fx, MSR), 0x34);
	/* Leaving loopback: all inputs asserted, deltas reported. */
	out8(fx, MCR, 0x00);
	assert_int_equal(in8(fx, MSR), 0xb8);
	assert_int_equal(in8(fx, MSR), 0xb0);
	free_fixture(fx);
}

static void test_dlab(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	out8(fx, IER, 0x05);
	out8(fx, LCR, 0x83);
	out8(fx, DLL, 0x0c);
	out8(fx, DLM, 0x01);
	assert_int_equal(in8(fx, DLL), 0x0c);
	assert_int_equal(in8(fx, DLM), 0x01);
	out8(fx, LCR, 0x03);
	assert_int_equal(fx->cd.out_len, 0);	/* DLL write did not transmit */
	assert_int_equal(in8(fx, IER), 0x05);	/* DLM write did not touch IER */
	out8(fx, THR, 'k');
	assert_int_equal(fx->cd.out_len, 1);
	out8(fx, LCR, 0x83);
	assert_int_equal(in8(fx, DLL), 0x0c);	/* THR write did not touch DLL */
	out8(fx, LCR, 0x03);
	/* A 16-bit access is two byte accesses: THR then IER. */
	uint8_t w[2] = { 'm', 0x00 };
	serial8250_io_ops.write(fx->uart, 0, w, 2);
	assert_int_equal(fx->cd.out_len, 2);
	assert_int_equal(fx->cd.out[1], 'm');
	assert_int_equal(in8(fx, IER), 0);
	free_fixture(fx);
}

/* Put the device through a nontrivial state. */
static void make_busy(struct fixture *fx)
{
	out8(fx, LCR, 0x83);
	out8(fx, DLL, 0x03);
	out8(fx, DLM, 0x00);
	out8(fx, LCR, 0x1b);
	out8(fx, FCR, 0x89);
	out8(fx, SCR, 0x42);
	out8(fx, MCR, 0x1b);	/* loopback with DTR RTS OUT2 */
	out8(fx, THR, 'h');
	out8(fx, THR, 'i');
	out8(fx, THR, '!');
	out8(fx, IER, 0x0e);	/* THRE pending, no RDI */
}

static void save(struct serial8250 *u, struct buf *b)
{
	buf_init(b);
	assert_int_equal(serial8250_dev_ops.save(u, b), 0);
	assert_false(b->failed);
}

static void test_save_load(void **state)
{
	(void)state;
	struct fixture *a = new_fixture(), *b = new_fixture();
	struct buf s1, s2;

	make_busy(a);
	save(a->uart, &s1);
	assert_int_equal(serial8250_dev_ops.version, 1);
	assert_string_equal(serial8250_dev_ops.name, "serial8250");
	assert_int_equal(serial8250_dev_ops.load(b->uart, s1.data, s1.len, 1), 0);
	save(b->uart, &s2);
	assert_int_equal(s1.len, s2.len);
	assert_memory_equal(s1.data, s2.data, s1.len);
	assert_int_equal(b->irq.level, a->irq.level);

	/* Identical behaviour from here on. */
	struct fixture *fx[2] = { a, b };
	uint8_t seen[2][16];
	for (int i = 0; i < 2; i++) {
		unsigned k = 0;
		seen[i][k++] = in8(fx[i], IIR);
		seen[i][k++] = in8(fx[i], IIR);
		seen[i][k++] = in8(fx[i], LCR);
		seen[i][k++] = in8(fx[i], MCR);
		seen[i][k++] = in8(fx[i], MSR);
		seen[i][k++] = in8(fx[i], SCR);
		out8(fx[i], IER, 0x0f);
		seen[i][k++] = in8(fx[i], IIR);
		seen[i][k++] = in8(fx[i], RBR);
		seen[i][k++] = in8(fx[i], RBR);
		seen[i][k++] = in8(fx[i], RBR);
		seen[i][k++] = in8(fx[i], LSR);
		out8(fx[i], LCR, 0x9b);
		seen[i][k++] = in8(fx[i], DLL);
		seen[i][k++] = in8(fx[i], DLM);
		out8(fx[i], LCR, 0x1b);
		seen[i][k++] = in8(fx[i], IIR);
		seen[i][k++] = (uint8_t)fx[i]->irq.level;
		seen[i][k] = (uint8_t)k;
	}
	assert_memory_equal(seen[0], seen[1], 16);
	assert_int_equal(seen[0][7], 'h');
	assert_int_equal(seen[0][9], '!');
	buf_free(&s1);
	buf_free(&s2);
	free_fixture(a);
	free_fixture(b);
}

/* After a failed load the device is reset and works. */
static void check_usable(struct fixture *fx)
{
	size_t before = fx->cd.out_len;

	assert_int_equal(in8(fx, IIR), 0x01);
	assert_int_equal(in8(fx, LSR), 0x60);
	out8(fx, THR, 'u');
	assert_int_equal(fx->cd.out_len, before + 1);
	out8(fx, IER, 0x02);
	assert_int_equal(fx->irq.level, 1);
	out8(fx, IER, 0);
	assert_int_equal(fx->irq.level, 0);
}

static void test_load_bad(void **state)
{
	(void)state;
	struct fixture *a = new_fixture(), *b = new_fixture();
	struct buf s;

	make_busy(a);
	save(a->uart, &s);
	/* Every truncation. */
	for (size_t len = 0; len < s.len; len++) {
		make_busy(b);
		assert_int_equal(serial8250_dev_ops.load(b->uart, s.data, len, 1), -EINVAL);
		check_usable(b);
	}
	/* Trailing garbage, wrong version, NULL. */
	uint8_t big[64];
	memcpy(big, s.data, s.len);
	big[s.len] = 0;
	assert_int_equal(serial8250_dev_ops.load(b->uart, big, s.len + 1, 1), -EINVAL);
	check_usable(b);
	assert_int_equal(serial8250_dev_ops.load(b->uart, s.data, s.len, 2), -EINVAL);
	check_usable(b);
	assert_int_equal(serial8250_dev_ops.load(b->uart, NULL, 0, 1), -EINVAL);
	check_usable(b);
	/* Out-of-range fields: IER bits 4-7, MCR bits 5-7, FIFO count > 16,
	 * 2 bytes in 16450 mode, thre flag 2. */
	static const struct { size_t off; uint8_t v; } bad[] = {
		{ 0, 0x10 }, { 2, 0x20 }, { 3, 0x02 }, { 4, 0x01 },
		{ 5, 0x10 }, { 9, 2 }, { 10, 17 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(big, s.data, s.len);
		big[bad[i].off] = bad[i].v;
		assert_int_equal(serial8250_dev_ops.load(b->uart, big, s.len, 1), -EINVAL);
		check_usable(b);
	}
	memcpy(big, s.data, s.len);
	big[3] = 0;	/* FIFO off but 3 bytes saved */
	assert_int_equal(serial8250_dev_ops.load(b->uart, big, s.len, 1), -EINVAL);
	check_usable(b);
	/* Random garbage never crashes; either loads or fails cleanly. */
	unsigned seed = 7;
	for (int iter = 0; iter < 2000; iter++) {
		size_t len = (seed = seed * 1103515245 + 12345) >> 16 & 31;
		for (size_t k = 0; k < len; k++)
			big[k] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
		int r = serial8250_dev_ops.load(b->uart, big, len, 1);
		assert_true(r == 0 || r == -EINVAL);
		if (r)
			check_usable(b);
	}
	buf_free(&s);
	free_fixture(a);
	free_fixture(b);
}

static void test_reset(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	make_busy(fx);
	assert_int_equal(fx->irq.level, 1);
	serial8250_dev_ops.reset(fx->uart);
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(in8(fx, IER), 0);
	assert_int_equal(in8(fx, LCR), 0);
	assert_int_equal(in8(fx, MCR), 0);
	assert_int_equal(in8(fx, IIR), 0x01);
	assert_int_equal(in8(fx, LSR), 0x60);
	assert_int_equal(in8(fx, MSR), 0xb0);
	free_fixture(fx);
}

/* A hostile guest: random accesses of every size never crash, hang, or
 * break the invariants (line level == IIR pending, FIFO within bounds). */
static void test_hostile_guest(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	unsigned seed = 99;
	uint8_t junk[4096];

	memset(junk, 'j', sizeof(junk));
	for (int iter = 0; iter < 200000; iter++) {
		seed = seed * 1103515245 + 12345;
		unsigned r = seed >> 8;
		unsigned size = 1u << (r & 3);
		unsigned off = (r >> 2) % 8;
		uint8_t data[8];
		if (off + size > 8)
			off = 8 - size;
		for (unsigned k = 0; k < 8; k++)
			data[k] = (uint8_t)(seed >> (k & 3));
		if (r & 0x10000)
			serial8250_io_ops.write(fx->uart, off, data, size);
		else
			serial8250_io_ops.read(fx->uart, off, data, size);
		if ((r & 0xfff) == 0 && fx->cd.in_len + 100 < IN_MAX)
			fake_input(&fx->cd, junk, 100);
		if (fx->cd.out_len > OUT_MAX - 64)
			fx->cd.out_len = 0;
	}
	/* Consistency: line level matches IIR. */
	uint8_t lcr = in8(fx, LCR);
	out8(fx, LCR, lcr & 0x7f);
	uint8_t iir = in8(fx, IIR);
	if ((iir & 0x0f) != 0x02)	/* reading IIR acknowledges THRE */
		assert_int_equal(fx->irq.level, !(iir & 1));
	free_fixture(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_as_linux),
		cmocka_unit_test(test_transmit_order),
		cmocka_unit_test(test_thre_interrupt),
		cmocka_unit_test(test_input_gated_by_rdi),
		cmocka_unit_test(test_stream_10k_fifo),
		cmocka_unit_test(test_stream_10k_nofifo),
		cmocka_unit_test(test_stream_threads),
		cmocka_unit_test(test_non_fifo_holds_one_byte),
		cmocka_unit_test(test_fifo_clear),
		cmocka_unit_test(test_linux_open_keeps_typeahead),
		cmocka_unit_test(test_trigger_and_timeout),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_dlab),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_load_bad),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_hostile_guest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
