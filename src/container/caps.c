/* SPDX-License-Identifier: MIT */
/* caps.c: the process's user and groups, capability sets (libcap) and rlimits. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/err.h"
#include "state.h"
#include "ctr.h"

int caps_rlimits(const struct oci_process *p, struct err *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = p->rlimits[i].soft,
				     .rlim_max = p->rlimits[i].hard };
		struct rlimit cur;
		if (setrlimit(p->rlimits[i].resource, &rl) == 0)
			continue;
		/* without CAP_SYS_RESOURCE (some sandboxes withhold it even from
		 * root) a hard limit can't be raised: keep the one we have, as
		 * close as possible to what was asked */
		if (errno == EPERM && getrlimit(p->rlimits[i].resource, &cur) == 0 &&
		    rl.rlim_max > cur.rlim_max) {
			rl.rlim_max = cur.rlim_max;
			if (rl.rlim_cur > rl.rlim_max)
				rl.rlim_cur = rl.rlim_max;
			if (setrlimit(p->rlimits[i].resource, &rl) == 0)
				continue;
		}
			return err_setsys(err, errno, "setrlimit %d (soft %llu, hard %llu)",
					  p->rlimits[i].resource,
					  (unsigned long long)p->rlimits[i].soft,
					  (unsigned long long)p->rlimits[i].hard);
	}
	return 0;
}

int caps_apply_user(const struct oci_process *p, struct err *err)
{
	/* keep the permitted set across the uid change; caps_apply trims it */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return err_setsys(err, errno, "PR_SET_KEEPCAPS");
	if (setgroups(p->n_gids, p->gids) < 0 && !(errno == EPERM && p->n_gids == 0))
		return err_setsys(err, errno, "setgroups");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return err_setsys(err, errno, "setgid %u", p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return err_setsys(err, errno, "setuid %u", p->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return err_setsys(err, errno, "PR_SET_KEEPCAPS");
	return 0;
}

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = CAP_LAST_CAP;
		fclose(f);
	}
	return n;
}

int caps_drop_bounding(const struct oci_process *p, struct err *err)
{
	const struct oci_caps *c = &p->caps;
	int last = last_cap();

	if (!p->has_caps)
		return 0;
	for (int i = 0; i <= last && i < 64; i++) {
		if (c->bounding & (1ULL << i))
			continue;
		if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
			return err_setsys(err, errno,
					  "dropping capability %d from the bounding set",
					  i);
	}
	return 0;
}

int caps_apply(const struct oci_process *p, struct err *err)
{
	const struct oci_caps *c = &p->caps;
	int last = last_cap();
	cap_t caps;
	int r = 0;

	if (!p->has_caps)
		return 0;
	caps = cap_init();
	if (caps == NULL)
		return err_setsys(err, errno, "cap_init");
	for (int i = 0; i <= last && i < 64; i++) {
		cap_value_t v = i;
		if (c->effective & (1ULL << i))
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
		if (c->permitted & (1ULL << i))
			cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
		if (c->inheritable & (1ULL << i))
			cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET);
	}
	if (cap_set_proc(caps) < 0)
		r = err_setsys(err, errno, "setting capabilities");
	cap_free(caps);
	if (r)
		return r;
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return err_setsys(err, errno, "clearing ambient capabilities");
	for (int i = 0; i <= last && i < 64; i++) {
		if (!(c->ambient & (1ULL << i)))
			continue;
		/* the kernel refuses ambient caps not both permitted and inheritable */
		if (cap_set_ambient(i, CAP_SET) < 0 && errno != EPERM)
			return err_setsys(err, errno, "ambient capability %d", i);
	}
	return 0;
}
