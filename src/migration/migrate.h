/* SPDX-License-Identifier: MIT */
/* migrate.h: pre-copy live migration of a KVM-engine VM over TCP
 * (docs/migration.md). The source sends RAM while the guest runs, then the
 * pages dirtied meanwhile in rounds, until what is left fits the downtime
 * limit; then it stops the guest, sends the rest and the device state, and
 * ends only once the destination says the guest runs there. Any failure
 * before that: the guest goes on at the source. */
#ifndef DOMUS_MIGRATE_H
#define DOMUS_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct err;
struct ev_loop;
struct stream;
struct vm_config;

struct migrate_opts {
	const char *target;		/* HOST:PORT */
	unsigned downtime_ms;		/* the limit the stop-and-copy aims at */
	unsigned max_rounds;		/* 0: 30 */
};

struct migrate_out;

/* migrate_out_start: connect to the destination and start sending (vm)'s
 * memory from a thread; the stop-and-copy runs on (loop)'s thread, which
 * ends the loop with VM_EXIT_MIGRATED on success. Progress goes to stderr.
 * Returns 0, or -errno with (err) set (the guest was not touched). */
int migrate_out_start(struct vm *vm, struct ev_loop *loop, const struct migrate_opts *o,
		      struct migrate_out **out, struct err *err);
/* migrate_out_cancel / migrate_out_free: stop a migration under way (the VM
 * is going away) and release it. On the loop's thread. */
void migrate_out_cancel(struct migrate_out *m);
void migrate_out_free(struct migrate_out *m);
/* migrate_out_finished: it failed (the guest went on) or succeeded. */
bool migrate_out_finished(const struct migrate_out *m);
/* migrate_out_left_paused: it failed after the switch-over without an
 * answer, so the guest stays stopped here (it may run on the destination).
 * migrate_out_resume: the administrator says it does not: take the disks'
 * locks back and run it here; 1 resumed, 0 nothing to do, -errno (err set:
 * a disk is locked by the destination's copy). */
bool migrate_out_left_paused(const struct migrate_out *m);
int migrate_out_resume(struct migrate_out *m, struct err *err);
/* migrate_out_status: progress or outcome, for query-migrate. */
struct migrate_status;
void migrate_out_status(const struct migrate_out *m, struct migrate_status *out);

/* The destination's side, for `domus migrate-receive`. */
struct migrate_in;
/* migrate_in_accept: listen on (addr) (HOST:PORT or PORT), take one
 * connection, read the machine's configuration into (cfg storage in *out).
 * 0 or -errno with (err) set. */
int migrate_in_accept(const char *addr, struct migrate_in **out, struct err *err);
/* migrate_in_config: the machine the source describes. */
struct vm_config *migrate_in_config(struct migrate_in *m);
/* migrate_in_check_cpu: read the CPUID section and check this host can run
 * the guest (refused before any memory is sent); then fills cfg->incoming,
 * whose load() accepts once the VM is built. 0 or -errno with (err) set. */
int migrate_in_check_cpu(struct migrate_in *m, int kvm_fd, struct err *err);
/* migrate_in_qemu: a QEMU-engine source: accept, and let the QEMU we start
 * read its migration from the socket (cfg->qemu_incoming_fd). */
int migrate_in_qemu(struct migrate_in *m, struct err *err);
/* migrate_in_refuse: tell the source why we give up, if it still waits for
 * our answer (before "accept"). */
void migrate_in_refuse(struct migrate_in *m, const char *why);
void migrate_in_free(struct migrate_in *m);

#endif
