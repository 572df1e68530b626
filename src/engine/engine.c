/* SPDX-License-Identifier: MIT */
/* engine.c: choosing the engine. `auto` measures what /dev/kvm does with
 * ring-0 guest code (probe.c) instead of guessing from module names, and
 * caches the verdict until the host reboots. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "probe.h"

static struct kvm_probe probe;
static int probe_status = 1;	/* 1: not run yet; else kvm_probe_cached()'s return */
static struct err probe_err;

/* The cache lives under DOMUS_ROOT when set (tests, unprivileged use),
 * else where probe.c says (/run/domus for root). */
static const char *probe_cache_path(char *buf, size_t len)
{
	const char *root = getenv("DOMUS_ROOT");

	if (root && *root) {
		snprintf(buf, len, "%s/run/kvm-probe", root);
		return buf;
	}
	return kvm_probe_default_cache_path(buf, len);
}

static int probe_once(void)
{
	char path[4096];

	if (probe_status == 1)
		probe_status = kvm_probe_cached(probe_cache_path(path, sizeof(path)), &probe,
						&probe_err);
	return probe_status;
}

bool engine_kvm_native(void)
{
	return probe_once() == 0 && probe.native;
}

int engine_select(const struct vm_config *cfg, const struct engine_ops **out, char *why,
		  size_t why_len, struct err *err)
{
	int r;

	switch (cfg->engine) {
	case ENGINE_KVM:
		r = kvm_engine_ops.check(cfg, err);
		if (r < 0)
			return r;
		*out = &kvm_engine_ops;
		snprintf(why, why_len, "engine kvm (requested)");
		return 0;
	case ENGINE_QEMU:
		r = qemu_engine_ops.check(cfg, err);
		if (r < 0)
			return r;
		*out = &qemu_engine_ops;
		snprintf(why, why_len, "engine qemu (requested), accelerator %s",
			 engine_kvm_native() ? "kvm" : "tcg");
		return 0;
	case ENGINE_AUTO:
		break;
	}

	if (probe_once() == 0 && probe.native) {
		struct err kerr = { 0 };
		if (kvm_engine_ops.check(cfg, &kerr) == 0) {
			*out = &kvm_engine_ops;
			snprintf(why, why_len, "engine kvm: %s", probe.reason);
			return 0;
		}
	}
	r = qemu_engine_ops.check(cfg, err);
	if (r < 0)
		return r;
	*out = &qemu_engine_ops;
	/* auto lands here also when /dev/kvm is native but our engine can't
	 * take this VM (e.g. more vCPUs than KVM allows): QEMU then uses KVM */
	snprintf(why, why_len, "engine qemu: %s; QEMU runs the guest with %s",
		 probe_status == 0 ? probe.reason : probe_err.msg,
		 engine_kvm_native() ? "KVM" : "TCG");
	return 0;
}
