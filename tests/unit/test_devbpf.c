/* SPDX-License-Identifier: MIT */
/* test_devbpf.c: cgroup v2 device programs, run through a small interpreter
 * of the instructions devbpf_build emits, against the v1 meaning of rules. */
#include <errno.h>
#include <linux/bpf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "container/cgroup.h"
#include "container/devbpf.h"
#include "container/spec.h"

/* run (prog) on one access: 1 allow, 0 deny; fails the test on anything else */
static int run(const struct bpf_insn *prog, int n, unsigned type, unsigned acc, uint32_t major,
	       uint32_t minor)
{
	uint32_t ctx[3] = { acc << 16 | type, major, minor };
	uint64_t r[11] = { 0 };
	int pc = 0, steps = 0;

	while (pc >= 0 && pc < n && steps++ < 10000) {
		const struct bpf_insn *i = &prog[pc++];
		uint8_t c = i->code;
		if (c == (BPF_LDX | BPF_MEM | BPF_W)) {
			assert_int_equal(i->src_reg, 1);
			assert_true(i->off >= 0 && i->off <= 8 && i->off % 4 == 0);
			r[i->dst_reg] = ctx[i->off / 4];
		} else if (c == (BPF_ALU64 | BPF_MOV | BPF_X)) {
			r[i->dst_reg] = r[i->src_reg];
		} else if (c == (BPF_ALU64 | BPF_MOV | BPF_K)) {
			r[i->dst_reg] = (uint64_t)(int64_t)i->imm;
		} else if (c == (BPF_ALU64 | BPF_AND | BPF_K)) {
			r[i->dst_reg] &= (uint64_t)(int64_t)i->imm;
		} else if (c == (BPF_ALU64 | BPF_RSH | BPF_K)) {
			r[i->dst_reg] >>= i->imm;
		} else if (c == (BPF_JMP | BPF_JNE | BPF_K)) {
			if (r[i->dst_reg] != (uint64_t)(int64_t)i->imm)
				pc += i->off;
		} else if (c == (BPF_JMP | BPF_JEQ | BPF_K)) {
			if (r[i->dst_reg] == (uint64_t)(int64_t)i->imm)
				pc += i->off;
		} else if (c == (BPF_JMP | BPF_EXIT)) {
			assert_true(r[0] == 0 || r[0] == 1);
			return (int)r[0];
		} else {
			fail_msg("unexpected instruction 0x%x at %d", c, pc - 1);
		}
	}
	fail_msg("the program ran off its end");
	return -1;
}

enum { C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK };
enum { M = BPF_DEVCG_ACC_MKNOD, R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE };

static void test_deny_all_then_allow(void **state)
{
	const struct oci_dev_rule rules[] = {
		{ false, 'a', -1, -1, "rwm" },
		{ true, 'c', 10, 200, "rw" },
		{ true, 'b', 8, -1, "r" },
		{ false, 'b', 8, 1, "r" },
	};
	struct bpf_insn prog[256];
	int n = devbpf_build(rules, 4, cgroup_default_devices, cgroup_n_default_devices, prog, 256);

	(void)state;
	assert_true(n > 0);
	assert_int_equal(run(prog, n, C, R | W, 10, 200), 1);
	assert_int_equal(run(prog, n, C, M, 10, 200), 0);	/* m not granted */
	assert_int_equal(run(prog, n, C, R | M, 10, 200), 0);	/* part not granted */
	assert_int_equal(run(prog, n, B, R, 10, 200), 0);	/* wrong type */
	assert_int_equal(run(prog, n, B, R, 8, 0), 1);
	assert_int_equal(run(prog, n, B, W, 8, 0), 0);
	assert_int_equal(run(prog, n, B, R, 8, 1), 0);		/* the later deny wins */
	assert_int_equal(run(prog, n, C, R | W, 1, 3), 1);	/* /dev/null, always */
	assert_int_equal(run(prog, n, C, M, 136, 5), 1);	/* a pty, always */
	assert_int_equal(run(prog, n, C, R, 4, 1), 0);		/* anything else: denied */
}

static void test_default_allow(void **state)
{
	const struct oci_dev_rule rules[] = {
		{ false, 'c', 1, -1, "w" },
		{ false, 'a', -1, -1, "rwm" },	/* resets: what came before no longer counts */
		{ true, 'a', -1, -1, "rwm" },
		{ false, 'c', 4, -1, "w" },
	};
	struct bpf_insn prog[256];
	int n = devbpf_build(rules, 4, NULL, 0, prog, 256);

	(void)state;
	assert_true(n > 0);
	assert_int_equal(run(prog, n, C, W, 1, 3), 1);
	assert_int_equal(run(prog, n, C, W, 4, 1), 0);
	assert_int_equal(run(prog, n, C, R, 4, 1), 1);
	assert_int_equal(run(prog, n, B, R | W | M, 8, 0), 1);
	n = devbpf_build(NULL, 0, NULL, 0, prog, 256);
	assert_int_equal(n, 9);
	assert_int_equal(run(prog, n, B, W, 8, 0), 1);
	assert_int_equal(devbpf_build(rules, 4, NULL, 0, prog, 10), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deny_all_then_allow),
		cmocka_unit_test(test_default_allow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
