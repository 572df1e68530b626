/* SPDX-License-Identifier: MIT */
/* probe.h: measure whether /dev/kvm runs guest kernel code natively (decides --engine auto). */
#ifndef DOMUS_ENGINE_PROBE_H
#define DOMUS_ENGINE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Above this guest/host ratio, /dev/kvm is taken to emulate guest kernel code. */
#define KVM_PROBE_RATIO_LIMIT 20.0

/* Format version of the cache file; bump it when the probe or the format changes. */
#define KVM_PROBE_CACHE_VERSION 1

struct kvm_probe {
	bool native;		/* true: /dev/kvm runs ring-0 guest code at native speed */
	double guest_ns;	/* median time of the ring-0 loop in the guest */
	double host_ns;		/* median time of the same loop in host user space */
	double ratio;		/* guest_ns / host_ns */
	bool cached;		/* verdict came from the cache */
	char reason[200];	/* one line for the user, e.g. "/dev/kvm runs guest kernel code
				 * 1043x slower than native (emulated, e.g. PVM)" or
				 * "/dev/kvm: Permission denied" */
	uint32_t iterations;	/* loop iterations behind guest_ns and host_ns */
	double exit_ns;		/* median exit round trip, subtracted from guest_ns */
};

/* kvm_probe_run: measure now. Returns 0 with *out filled (native or not), or -errno with (err)
 * set, out->native false and out->reason holding the same message, when /dev/kvm cannot be
 * opened or used at all (then the caller falls back to QEMU and says why). */
int kvm_probe_run(struct kvm_probe *out, struct err *err);

/* kvm_probe_cached: the verdict stored in (cache_path) if it was measured since this host
 * booted, by this kernel and this probe format; else kvm_probe_run() and store a successful
 * verdict atomically (temporary file + rename, parent directories created with mode 0700).
 * Failure to read or store the cache is not an error; errors of kvm_probe_run() and verdicts
 * whose timing was inconclusive are not cached. (cache_path) may be NULL: no cache. */
int kvm_probe_cached(const char *cache_path, struct kvm_probe *out, struct err *err);

/* kvm_probe_default_cache_path: the cache file for this user: /run/domus/kvm-probe for root,
 * else $XDG_RUNTIME_DIR/domus/kvm-probe, else $XDG_CACHE_HOME/domus/kvm-probe, else
 * $HOME/.cache/domus/kvm-probe (absolute values only). Returns (buf), or NULL when none applies
 * or it does not fit in (len) bytes. */
const char *kvm_probe_default_cache_path(char *buf, size_t len);

/* What a cached verdict is valid for: this boot of this kernel. */
struct kvm_probe_key {
	char boot_id[64];	/* /proc/sys/kernel/random/boot_id */
	char kernel[128];	/* uname -r */
};

/* kvm_probe_key_get: the key of the running host. Returns 0 or -errno (boot_id unreadable). */
int kvm_probe_key_get(struct kvm_probe_key *key);

/* kvm_probe_cache_format: write the cache text for (p) measured under (key) into (buf).
 * Returns its length (without the NUL), -EINVAL for a key that cannot be stored, or -ENOSPC. */
int kvm_probe_cache_format(const struct kvm_probe_key *key, const struct kvm_probe *p,
			   char *buf, size_t len);

/* kvm_probe_cache_parse: read cache text (len bytes, need not be NUL-terminated). Returns 0
 * with *out filled (out->cached true) when it is valid for (key), -ESTALE when it is well
 * formed but for another boot, kernel or format version, -EINVAL when malformed. */
int kvm_probe_cache_parse(const char *text, size_t len, const struct kvm_probe_key *key,
			  struct kvm_probe *out);

/* kvm_probe_cache_load: kvm_probe_cache_parse() on the file (path), which must be a regular file
 * owned by the caller or root. Returns 0 or -errno. */
int kvm_probe_cache_load(const char *path, const struct kvm_probe_key *key, struct kvm_probe *out);

/* kvm_probe_cache_store: write (p) for (key) to (path) atomically, creating missing parent
 * directories. Returns 0 or -errno. */
int kvm_probe_cache_store(const char *path, const struct kvm_probe_key *key,
			  const struct kvm_probe *p);

#endif
