/* SPDX-License-Identifier: MIT */
/* migcmds.h: the control commands for snapshots and live migration: save,
 * migrate, query-migrate (docs/migration.md), on the engine's vm_control. */
#ifndef DOMUS_CONTROL_MIGCMDS_H
#define DOMUS_CONTROL_MIGCMDS_H

struct control_server;
struct vmcmds;

/* migcmds_register: register them on (s) with the same context the VM
 * commands use. 0 or -ENOMEM. */
int migcmds_register(struct control_server *s, struct vmcmds *vc);

#endif
