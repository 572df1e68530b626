/* SPDX-License-Identifier: MIT */
/* test_i8042.c: the PS/2 controller as Linux's i8042 and atkbd drivers probe it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "devices/i8042.h"
#include "fakes.h"

#define STR_OBF 0x01
#define STR_IBF 0x02
#define STR_SYS 0x04
#define STR_CMD 0x08
#define STR_KEYLOCK 0x10
#define STR_AUXDATA 0x20

struct fixture {
	struct fake_req req;
	struct fake_irq irq;
	struct i8042 *kbc;
};

static struct fixture *new_fixture(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->kbc = i8042_create(fake_requester(&fx->req), fake_irq_line(&fx->irq, 1));
	assert_non_null(fx->kbc);
	return fx;
}

static void free_fixture(struct fixture *fx)
{
	i8042_dev_ops.destroy(fx->kbc);
	free(fx);
}

static uint8_t status(struct fixture *fx)
{
	uint8_t v = 0;

	i8042_cmd_io_ops.read(fx->kbc, 0, &v, 1);
	assert_int_equal(v & STR_IBF, 0);	/* never busy: no write waits */
	return v;
}

static void cmd(struct fixture *fx, uint8_t c)
{
	i8042_cmd_io_ops.write(fx->kbc, 0, &c, 1);
}

static void outdata(struct fixture *fx, uint8_t v)
{
	i8042_data_io_ops.write(fx->kbc, 0, &v, 1);
}

static uint8_t indata(struct fixture *fx)
{
	uint8_t v = 0;

	i8042_data_io_ops.read(fx->kbc, 0, &v, 1);
	return v;
}

/* Linux's i8042_wait_read() + read: the answer must already be there. */
static uint8_t answer(struct fixture *fx)
{
	assert_true(status(fx) & STR_OBF);
	return indata(fx);
}

static void test_status_and_selftest(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	assert_int_equal(status(fx), STR_SYS | STR_KEYLOCK);
	cmd(fx, 0xaa);
	assert_int_equal(status(fx), STR_SYS | STR_KEYLOCK | STR_CMD | STR_OBF);
	assert_int_equal(indata(fx), 0x55);
	assert_int_equal(status(fx) & STR_OBF, 0);
	cmd(fx, 0xab);
	assert_int_equal(answer(fx), 0x00);
	cmd(fx, 0xa9);
	assert_int_equal(answer(fx), 0x00);
	/* Data writes clear the command flag. */
	cmd(fx, 0x60);
	outdata(fx, 0x65);
	assert_int_equal(status(fx) & STR_CMD, 0);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 0);
	free_fixture(fx);
}

static void test_ctr(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x65);
	cmd(fx, 0x60);
	outdata(fx, 0x45);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x65);	/* aux stays disabled */
	cmd(fx, 0x60);
	outdata(fx, 0x40);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x60);
	assert_int_equal(status(fx) & STR_SYS, 0);	/* SYS mirrors CTR bit 2 */
	cmd(fx, 0xad);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x70);
	cmd(fx, 0xae);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x60);
	/* Other controller RAM bytes. */
	cmd(fx, 0x65);
	outdata(fx, 0xab);
	cmd(fx, 0x25);
	assert_int_equal(answer(fx), 0xab);
	/* A command in place of the expected data byte cancels the write. */
	cmd(fx, 0x60);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x60);
	free_fixture(fx);
}

/* Linux: i8042_controller_check/init, i8042_check_aux, port setup, then
 * atkbd_probe. Every answer is immediate; aux ends up absent, the keyboard
 * NAKs. */
static void test_linux_probe(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	uint8_t ctr, p;

	/* i8042_flush */
	assert_int_equal(status(fx) & STR_OBF, 0);
	/* Stable CTR read, then keyboard disabled, interrupt off. */
	cmd(fx, 0x20);
	ctr = answer(fx);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), ctr);
	assert_true(status(fx) & STR_KEYLOCK);
	ctr = (uint8_t)((ctr | 0x10) & ~0x01);
	cmd(fx, 0x60);
	outdata(fx, ctr);
	/* Aux loop test: answer with the aux flag. */
	cmd(fx, 0xd3);
	outdata(fx, 0x5a);
	assert_true(status(fx) & STR_AUXDATA);
	assert_int_equal(answer(fx), 0x5a);
	assert_int_equal(fx->irq.level, 0);	/* no IRQ 1 for aux bytes */
	cmd(fx, 0xa7);
	cmd(fx, 0x20);
	assert_true(answer(fx) & 0x20);
	cmd(fx, 0xa8);
	cmd(fx, 0x20);
	p = answer(fx);
	assert_true(p & 0x20);	/* still disabled: i8042_check_aux() gives up */

	/* Keyboard port enabled with interrupts. */
	ctr = (uint8_t)((ctr & ~0x10) | 0x01);
	cmd(fx, 0x60);
	outdata(fx, ctr);
	assert_int_equal(fx->irq.level, 0);
	/* atkbd_probe: GETID, resent once on NAK; then SETLEDS + param. */
	static const uint8_t bytes[] = { 0xf2, 0xf2, 0xed, 0xed };
	for (unsigned i = 0; i < sizeof(bytes); i++) {
		int rises = fx->irq.rises;
		outdata(fx, bytes[i]);
		assert_int_equal(fx->irq.level, 1);
		assert_int_equal(fx->irq.rises, rises + 1);
		assert_int_equal(status(fx) & (STR_OBF | STR_AUXDATA), STR_OBF);
		assert_int_equal(indata(fx), 0xfe);
		assert_int_equal(fx->irq.level, 0);
	}
	assert_int_equal(status(fx) & STR_OBF, 0);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 0);
	free_fixture(fx);
}

static void test_irq_edges(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	/* Two queued bytes: each gets its own rising edge. */
	outdata(fx, 0xff);
	outdata(fx, 0xf4);
	assert_int_equal(fx->irq.rises, 1);
	assert_int_equal(indata(fx), 0xfe);
	assert_int_equal(fx->irq.level, 1);
	assert_int_equal(fx->irq.rises, 2);
	assert_int_equal(indata(fx), 0xfe);
	assert_int_equal(fx->irq.level, 0);
	/* Reading an empty buffer returns the last byte, no interrupt. */
	assert_int_equal(indata(fx), 0xfe);
	assert_int_equal(fx->irq.level, 0);

	/* With KBDINT off the byte waits silently; enabling raises the line. */
	cmd(fx, 0x60);
	outdata(fx, 0x64);
	cmd(fx, 0xd2);
	outdata(fx, 0x1c);
	assert_int_equal(fx->irq.level, 0);
	cmd(fx, 0x60);
	outdata(fx, 0x65);
	assert_int_equal(fx->irq.level, 1);
	/* A controller reply replaces the stale byte, with a new edge. */
	int rises = fx->irq.rises;
	cmd(fx, 0xaa);
	assert_int_equal(fx->irq.rises, rises + 1);
	assert_int_equal(indata(fx), 0x55);
	assert_int_equal(status(fx) & STR_OBF, 0);
	assert_int_equal(fx->irq.level, 0);

	/* A keyboard flood is bounded: fewer than 16 bytes to flush. */
	for (int i = 0; i < 100; i++)
		outdata(fx, 0xed);
	int n = 0;
	while (status(fx) & STR_OBF) {
		indata(fx);
		assert_true(++n < 16);
	}
	assert_int_equal(fx->irq.level, 0);
	free_fixture(fx);
}

static void test_reset_pulses(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();

	cmd(fx, 0xfe);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 1);
	cmd(fx, 0xff);		/* pulses nothing */
	cmd(fx, 0xf1);		/* bits 1-3 only */
	assert_int_equal(fx->req.count[VM_REQ_RESET], 1);
	cmd(fx, 0xf0);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 2);

	/* Output port write with bit 0 clear. */
	cmd(fx, 0xd1);
	outdata(fx, 0xdf);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 2);
	cmd(fx, 0xd0);
	assert_int_equal(answer(fx), 0xdf);
	cmd(fx, 0xd1);
	outdata(fx, 0xfe);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 3);
	/* The data byte was consumed: the next one goes to the keyboard. */
	outdata(fx, 0xfe);
	assert_int_equal(fx->req.count[VM_REQ_RESET], 3);
	assert_int_equal(answer(fx), 0xfe);
	/* Nothing else asked. */
	assert_int_equal(fx->req.count[VM_REQ_POWEROFF], 0);
	assert_int_equal(fx->req.count[VM_REQ_PANIC], 0);

	/* Linux's reboot=k: 10 x (wait IBF clear, 0xfe). */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(status(fx) & STR_IBF, 0);
		cmd(fx, 0xfe);
	}
	assert_int_equal(fx->req.count[VM_REQ_RESET], 13);
	free_fixture(fx);
}

static void save(struct i8042 *k, struct buf *b)
{
	buf_init(b);
	assert_int_equal(i8042_dev_ops.save(k, b), 0);
	assert_false(b->failed);
}

static void make_busy(struct fixture *fx)
{
	cmd(fx, 0x60);
	outdata(fx, 0x05);	/* no translation: stored as 0x25 */
	cmd(fx, 0x7f);
	outdata(fx, 0x99);
	cmd(fx, 0xd1);
	outdata(fx, 0x0b);
	outdata(fx, 0xf2);
	outdata(fx, 0xf4);
	cmd(fx, 0xd3);		/* pending data byte */
}

static void test_save_load(void **state)
{
	(void)state;
	struct fixture *a = new_fixture(), *b = new_fixture();
	struct buf s1, s2;

	make_busy(a);
	save(a->kbc, &s1);
	assert_string_equal(i8042_dev_ops.name, "i8042");
	assert_int_equal(i8042_dev_ops.load(b->kbc, s1.data, s1.len, i8042_dev_ops.version), 0);
	save(b->kbc, &s2);
	assert_int_equal(s1.len, s2.len);
	assert_memory_equal(s1.data, s2.data, s1.len);
	assert_int_equal(b->irq.level, 1);

	struct fixture *fx[2] = { a, b };
	uint8_t seen[2][10];
	for (int i = 0; i < 2; i++) {
		seen[i][0] = status(fx[i]);
		outdata(fx[i], 0x77);	/* completes 0xd3 */
		seen[i][1] = indata(fx[i]);
		seen[i][2] = status(fx[i]);
		seen[i][3] = indata(fx[i]);
		seen[i][4] = status(fx[i]);
		seen[i][5] = indata(fx[i]);
		cmd(fx[i], 0x3f);
		seen[i][6] = indata(fx[i]);
		cmd(fx[i], 0xd0);
		seen[i][7] = indata(fx[i]);
		cmd(fx[i], 0x20);
		seen[i][8] = indata(fx[i]);
		seen[i][9] = (uint8_t)fx[i]->irq.level;
	}
	assert_memory_equal(seen[0], seen[1], sizeof(seen[0]));
	/* The pending 0xd3 replaced the queued NAKs with an aux byte. */
	assert_int_equal(seen[0][1], 0x77);
	assert_int_equal(seen[0][6], 0x99);
	assert_int_equal(seen[0][7], 0x0b);
	assert_int_equal(seen[0][8], 0x25);
	buf_free(&s1);
	buf_free(&s2);
	free_fixture(a);
	free_fixture(b);
}

static void check_usable(struct fixture *fx)
{
	assert_int_equal(fx->irq.level, 0);
	assert_int_equal(status(fx), STR_SYS | STR_KEYLOCK);
	cmd(fx, 0xaa);
	assert_int_equal(answer(fx), 0x55);
	cmd(fx, 0x20);
	assert_int_equal(answer(fx), 0x65);
}

static void test_load_bad(void **state)
{
	(void)state;
	struct fixture *a = new_fixture(), *b = new_fixture();
	struct buf s;
	uint8_t big[128];

	make_busy(a);
	save(a->kbc, &s);
	assert_true(s.len < sizeof(big));
	for (size_t len = 0; len < s.len; len++) {
		make_busy(b);
		assert_int_equal(i8042_dev_ops.load(b->kbc, s.data, len, 1), -EINVAL);
		check_usable(b);
	}
	memcpy(big, s.data, s.len);
	big[s.len] = 0;
	assert_int_equal(i8042_dev_ops.load(b->kbc, big, s.len + 1, 1), -EINVAL);
	check_usable(b);
	assert_int_equal(i8042_dev_ops.load(b->kbc, s.data, s.len, 0), -EINVAL);
	check_usable(b);
	/* CTR with aux enabled, output port holding reset, bad pending
	 * command, bad flag, queue too long. */
	static const struct { size_t off; uint8_t v; } bad[] = {
		{ 0, 0x45 }, { 32, 0x02 }, { 33, 0x20 }, { 34, 2 }, { 36, 9 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(big, s.data, s.len);
		big[bad[i].off] = bad[i].v;
		assert_int_equal(i8042_dev_ops.load(b->kbc, big, s.len, 1), -EINVAL);
		check_usable(b);
	}
	unsigned seed = 3;
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = ((seed = seed * 1103515245 + 12345) >> 16) % sizeof(big);
		for (size_t k = 0; k < len; k++)
			big[k] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
		if (iter & 1)
			memcpy(big, s.data, len < 33 ? len : 33);	/* plausible prefix */
		int r = i8042_dev_ops.load(b->kbc, big, len, 1);
		assert_true(r == 0 || r == -EINVAL);
		if (r)
			check_usable(b);
	}
	buf_free(&s);
	free_fixture(a);
	free_fixture(b);
}

static void test_reset_and_hostile(void **state)
{
	(void)state;
	struct fixture *fx = new_fixture();
	unsigned seed = 1;

	for (int iter = 0; iter < 100000; iter++) {
		seed = seed * 1103515245 + 12345;
		uint8_t v = (uint8_t)(seed >> 16);
		uint8_t w[8] = { v, v, v, v, v, v, v, v };
		unsigned size = 1u << ((seed >> 8) & 3);
		switch ((seed >> 12) & 3) {
		case 0:
			i8042_cmd_io_ops.write(fx->kbc, 0, w, size);
			break;
		case 1:
			i8042_data_io_ops.write(fx->kbc, 0, w, size);
			break;
		case 2:
			i8042_cmd_io_ops.read(fx->kbc, 0, w, size);
			break;
		default:
			i8042_data_io_ops.read(fx->kbc, 0, w, size);
			break;
		}
	}
	/* Line consistent with status: high only for a kbd byte with KBDINT. */
	uint8_t st = status(fx);
	if (!(st & STR_OBF) || (st & STR_AUXDATA))
		assert_int_equal(fx->irq.level, 0);
	i8042_dev_ops.reset(fx->kbc);
	check_usable(fx);
	free_fixture(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_selftest),
		cmocka_unit_test(test_ctr),
		cmocka_unit_test(test_linux_probe),
		cmocka_unit_test(test_irq_edges),
		cmocka_unit_test(test_reset_pulses),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_load_bad),
		cmocka_unit_test(test_reset_and_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
