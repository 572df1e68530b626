/* SPDX-License-Identifier: MIT */
/* seccomp.c: linux.seccomp → a libseccomp filter. Syscall names libseccomp
 * does not know are skipped, as other runtimes do (profiles list syscalls
 * of newer kernels). */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>

#include "common/err.h"
#include "state.h"
#include "ctr.h"

static uint32_t action(enum oci_seccomp_action a, int errno_ret)
{
	switch (a) {
	case SECCOMP_ACT_KILL_THREAD:
		return SCMP_ACT_KILL_THREAD;
	case SECCOMP_ACT_KILL_PROCESS:
		return SCMP_ACT_KILL_PROCESS;
	case SECCOMP_ACT_TRAP:
		return SCMP_ACT_TRAP;
	case SECCOMP_ACT_ERRNO:
		return SCMP_ACT_ERRNO((uint32_t)(errno_ret >= 0 ? errno_ret : EPERM));
	case SECCOMP_ACT_TRACE:
		return SCMP_ACT_TRACE((uint32_t)(errno_ret >= 0 ? errno_ret : EPERM));
	case SECCOMP_ACT_LOG:
		return SCMP_ACT_LOG;
	case SECCOMP_ACT_ALLOW:
	default:
		return SCMP_ACT_ALLOW;
	}
}

int seccomp_apply(const struct oci_seccomp *sc, struct err *err)
{
	scmp_filter_ctx ctx;
	uint32_t def;
	int r = 0;

	if (sc == NULL)
		return 0;
	def = action(sc->default_action, sc->default_errno);
	ctx = seccomp_init(def);
	if (ctx == NULL)
		return err_set(err, EINVAL, "seccomp: cannot initialise the filter");
	for (size_t i = 0; sc->archs && sc->archs[i]; i++) {
		uint32_t arch = seccomp_arch_resolve_name(sc->archs[i]);
		if (arch == 0) {
			r = err_set(err, EINVAL, "seccomp: unknown architecture '%s'",
				    sc->archs[i]);
			goto out;
		}
		r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST) {
			err_setsys(err, -r, "seccomp: architecture %s", sc->archs[i]);
			goto out;
		}
		r = 0;
	}
	for (size_t i = 0; i < sc->n_rules; i++) {
		const struct oci_seccomp_rule *rule = &sc->rules[i];
		uint32_t act = action(rule->action, rule->errno_ret);
		struct scmp_arg_cmp cmp[6];

		if (act == def)
			continue;	/* libseccomp refuses rules that repeat the default */
		for (size_t k = 0; k < rule->n_args; k++) {
			cmp[k].arg = rule->args[k].index;
			cmp[k].op = (enum scmp_compare)rule->args[k].op;
			cmp[k].datum_a = rule->args[k].value;
			cmp[k].datum_b = rule->args[k].value_two;
		}
		for (size_t n = 0; rule->names[n]; n++) {
			int nr = seccomp_syscall_resolve_name(rule->names[n]);
			if (nr == __NR_SCMP_ERROR)
				continue;
			r = seccomp_rule_add_array(ctx, act, nr, (unsigned)rule->n_args,
						   rule->n_args ? cmp : NULL);
			if (r == -EEXIST || r == -EACCES) {
				r = 0;
				continue;
			}
			if (r < 0) {
				err_setsys(err, -r, "seccomp: rule for %s", rule->names[n]);
				goto out;
			}
		}
	}
	r = seccomp_load(ctx);
	if (r < 0)
		err_setsys(err, -r, "seccomp: loading the filter");
out:
	seccomp_release(ctx);
	return r;
}
