/* SPDX-License-Identifier: MIT */
/* vmcmds.c: the VM commands of the control socket. Each maps onto one
 * vm_control operation; while no VM runs (between reboots, or before the
 * engine is up) they answer Busy, so clients retry instead of guessing. */
#include "vmcmds.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

#include "common/err.h"
#include "common/ev.h"
#include "control.h"
#include "engine/engine.h"

static int need_vm(struct vmcmds *vc, struct err *err)
{
	if (vc->ctl == NULL || vc->ctl->ops == NULL)
		return err_set(err, EAGAIN, "no VM is running right now (starting or rebooting)");
	return 0;
}

/* The commands that are one vm_control operation and reply nothing: the
 * operation is picked by its offset in struct vm_control_ops. */
typedef int (*vm_op_fn)(void *opaque, struct err *err);

static int run_op(struct vmcmds *vc, size_t op, struct err *err)
{
	int r = need_vm(vc, err);

	if (r < 0)
		return r;
	return (*(const vm_op_fn *)((const char *)vc->ctl->ops + op))(vc->ctl->opaque, err);
}

#define VM_OP_COMMAND(fn, op)                                                                 \
	static int fn(struct control_req *req, struct json_object *args,                       \
		      struct json_object *reply, void *ctx, struct err *err)                   \
	{                                                                                      \
		(void)req;                                                                     \
		(void)args;                                                                    \
		(void)reply;                                                                   \
		return run_op(ctx, offsetof(struct vm_control_ops, op), err);                  \
	}

VM_OP_COMMAND(cmd_pause, pause)
VM_OP_COMMAND(cmd_resume, resume)
VM_OP_COMMAND(cmd_shutdown, power_button)
VM_OP_COMMAND(cmd_reset, reset)

static int cmd_quit(struct control_req *req, struct json_object *args,
		    struct json_object *reply, void *ctx, struct err *err)
{
	struct vmcmds *vc = ctx;

	(void)req;
	(void)args;
	(void)reply;
	(void)err;
	/* the reply goes out before the loop ends: ev_stop takes effect after
	 * this callback */
	ev_stop(vc->loop, VM_EXIT_QUIT);
	return 0;
}

static int cmd_query_status(struct control_req *req, struct json_object *args,
			    struct json_object *reply, void *ctx, struct err *err)
{
	struct vmcmds *vc = ctx;
	struct vm_stats st = { 0 };
	struct timespec now;
	int r;

	(void)req;
	(void)args;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double up = (double)(now.tv_sec - vc->started.tv_sec) +
		    (double)(now.tv_nsec - vc->started.tv_nsec) / 1e9;
	if (vc->name)
		json_object_object_add(reply, "name", json_object_new_string(vc->name));
	json_object_object_add(reply, "uptime", json_object_new_double(up));
	if (vc->ctl == NULL || vc->ctl->ops == NULL) {
		json_object_object_add(reply, "status", json_object_new_string("starting"));
		json_object_object_add(reply, "running", json_object_new_boolean(0));
		return 0;
	}
	r = vc->ctl->ops->stats(vc->ctl->opaque, &st, err);
	if (r < 0)
		return r;
	json_object_object_add(reply, "status",
			       json_object_new_string(st.paused ? "paused" : "running"));
	json_object_object_add(reply, "running", json_object_new_boolean(!st.paused));
	json_object_object_add(reply, "vcpus", json_object_new_int((int)st.vcpus));
	json_object_object_add(reply, "memory-mib", json_object_new_int64((int64_t)st.memory_mib));
	json_object_object_add(reply, "cpu-time-ns", json_object_new_int64((int64_t)st.cpu_time_ns));
	json_object_object_add(reply, "boots", json_object_new_int((int)st.boots));
	json_object_object_add(reply, "pid", json_object_new_int64(st.pid));
	json_object_object_add(reply, "engine",
			       json_object_new_string(vc->cfg->engine == ENGINE_KVM ? "kvm" : "qemu"));
	return 0;
}

int vmcmds_register(struct control_server *s, struct vmcmds *vc)
{
	static const struct {
		const char *name;
		control_fn fn;
	} cmds[] = {
		{ "pause", cmd_pause },		{ "resume", cmd_resume },
		{ "shutdown", cmd_shutdown },	{ "reset", cmd_reset },
		{ "quit", cmd_quit },		{ "query-status", cmd_query_status },
	};

	clock_gettime(CLOCK_MONOTONIC, &vc->started);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (control_register(s, cmds[i].name, cmds[i].fn, vc) < 0)
			return -ENOMEM;
	return 0;
}
