/* SPDX-License-Identifier: MIT */
/* vmcmds.h: the control commands every VM monitor serves (pause, resume,
 * shutdown, reset, quit, query-status), on top of the engine's vm_control. */
#ifndef DOMUS_CONTROL_VMCMDS_H
#define DOMUS_CONTROL_VMCMDS_H

#include <time.h>

struct control_server;
struct vm_control;
struct vm_config;
struct ev_loop;

struct vmcmds {
	struct vm_control *ctl;		/* the engine fills it while a VM runs */
	const struct vm_config *cfg;
	struct ev_loop *loop;		/* "quit" stops it with VM_EXIT_QUIT */
	struct timespec started;	/* CLOCK_MONOTONIC at start, for the uptime */
	const char *name;		/* the domain's name, or NULL */
};

/* vmcmds_register: register the VM commands on (s) with (vc) as context
 * (it must outlive the server). 0 or -ENOMEM. */
int vmcmds_register(struct control_server *s, struct vmcmds *vc);

#endif
