/* SPDX-License-Identifier: MIT */
/* devbpf.c: device rules for cgroup v2, where they are an eBPF program of
 * type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. The rules keep
 * their v1 meaning: a rule for all devices ("a", any major and minor, rwm)
 * resets the default; the others are checked last-first, and the first
 * that matches decides; an allow rule matches when it grants all the access
 * asked for, a deny rule when it refuses any of it. */
#include "devbpf.h"

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/err.h"
#include "spec.h"

#define INSN(c, d, s, o, i)                                                                    \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static unsigned access_bits(const char *a)
{
	unsigned bits = 0;

	for (; *a; a++)
		bits |= *a == 'm' ? BPF_DEVCG_ACC_MKNOD : *a == 'r' ? BPF_DEVCG_ACC_READ
						       : *a == 'w' ? BPF_DEVCG_ACC_WRITE : 0;
	return bits;
}

static bool resets(const struct oci_dev_rule *r)
{
	return r->type == 'a' && r->major < 0 && r->minor < 0 && access_bits(r->access) == 7;
}

/* one rule's block: jumps to the next block when it does not match */
static size_t rule_block(const struct oci_dev_rule *r, struct bpf_insn *b)
{
	unsigned acc = access_bits(r->access);
	size_t n = 0, len;
	struct bpf_insn tmp[8];

	/* count first: each "goto next" needs the distance to the block's end */
	if (r->type != 'a')
		tmp[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 3, 0, 0,
				r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
	if (r->major >= 0)
		tmp[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->major);
	if (r->minor >= 0)
		tmp[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 6, 0, 0, (int32_t)r->minor);
	tmp[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 7, 4, 0, 0);
	if (r->allow) {
		/* all access asked for is granted: (asked & ~acc) == 0 */
		tmp[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 7, 0, 0, (int32_t)(~acc & 7));
		tmp[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 7, 0, 0, 0);
	} else {
		/* any access asked for is refused: (asked & acc) != 0 */
		tmp[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 7, 0, 0, (int32_t)acc);
		tmp[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 7, 0, 0, 0);
	}
	tmp[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0);
	tmp[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	len = n;
	for (size_t i = 0; i < len; i++) {
		b[i] = tmp[i];
		if (BPF_CLASS(b[i].code) == BPF_JMP && BPF_OP(b[i].code) != BPF_EXIT)
			b[i].off = (int16_t)(len - 1 - i);
	}
	return len;
}

int devbpf_build(const struct oci_dev_rule *rules, size_t n, const struct oci_dev_rule *extra,
		 size_t n_extra, struct bpf_insn *out, size_t max)
{
	size_t first = 0, k = 0;
	bool def = true;	/* a new cgroup may use every device */

	for (size_t i = 0; i < n; i++) {
		if (resets(&rules[i])) {
			def = rules[i].allow;
			first = i + 1;
		}
	}
	if (max < 7 + (n - first + n_extra) * 8 + 2)
		return -E2BIG;
	/* r2 = access_type, r3 = type, r4 = access, r5 = major, r6 = minor */
	out[k++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);
	out[k++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);
	out[k++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 3, 0, 0, 0xffff);
	out[k++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0);
	out[k++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, 4, 0, 0, 16);
	out[k++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 4, 0);
	out[k++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 6, 1, 8, 0);
	/* the runtime's own devices first (they always win), then the rules last-first */
	for (size_t i = 0; i < n_extra; i++)
		k += rule_block(&extra[i], out + k);
	for (size_t i = n; i > first; i--)
		k += rule_block(&rules[i - 1], out + k);
	out[k++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, def ? 1 : 0);
	out[k++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return (int)k;
}

int devbpf_attach(int cgroup_fd, const struct bpf_insn *prog, size_t n, struct err *err)
{
	static char log[65536];
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = (uint32_t)n;
	attr.license = (uint64_t)(uintptr_t) "MIT";
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0) {
		/* again with the verifier's log, for its first line in the error */
		int e = errno;
		char *nl;
		log[0] = '\0';
		attr.log_buf = (uint64_t)(uintptr_t)log;
		attr.log_size = sizeof(log);
		attr.log_level = 1;
		syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
		if ((nl = strchr(log, '\n')) != NULL)
			*nl = '\0';
		return err_setsys(err, e, "cgroup v2 device rules: loading the eBPF program%s%s",
				  log[0] ? ": " : "", log);
	}
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cgroup_fd;
	attr.attach_bpf_fd = (uint32_t)fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0) {
		int e = errno;
		close(fd);
		return err_setsys(err, e, "cgroup v2 device rules: attaching the eBPF program");
	}
	/* the cgroup holds the program now */
	close(fd);
	return 0;
}
