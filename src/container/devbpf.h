/* SPDX-License-Identifier: MIT */
/* devbpf.h: linux.resources.devices as a cgroup v2 device eBPF program. */
#ifndef DOMUS_CONTAINER_DEVBPF_H
#define DOMUS_CONTAINER_DEVBPF_H

#include <linux/bpf.h>
#include <stddef.h>

struct err;
struct oci_dev_rule;

/* devbpf_build: the program for (rules) (v1 meaning, see devbpf.c) plus
 * (extra) allow rules that always win, into (out) of (max) instructions.
 * Returns the number of instructions or -E2BIG. Pure. */
int devbpf_build(const struct oci_dev_rule *rules, size_t n, const struct oci_dev_rule *extra,
		 size_t n_extra, struct bpf_insn *out, size_t max);

/* devbpf_attach: load (prog) and attach it to the cgroup directory (cgroup_fd). */
int devbpf_attach(int cgroup_fd, const struct bpf_insn *prog, size_t n, struct err *err);

#endif
