/* SPDX-License-Identifier: MIT */
/* supervisor.h: starting a domain: one supervisor process per running
 * domain, detached from the terminal, which runs the domain's monitor
 * (`domus run` with the domain's settings, its control and console sockets)
 * and applies on_poweroff / on_reboot / on_crash when the monitor ends -
 * including when it is killed (kill -9 of the monitor is a crash). One
 * domain's processes share nothing with another's. */
#ifndef DOMUS_SUPERVISOR_H
#define DOMUS_SUPERVISOR_H

#include <stdbool.h>

#include "domcfg.h"
#include "paths.h"

struct err;

/* domsup_start: start (cfg) (read from (cfg_file); (persistent): a defined
 * domain, not a `create`d one). Checks first - not already running, no other
 * running domain with its uuid, no writable disk another running domain
 * writes (unless both mark it shareable), the run directory writable - then
 * forks the supervisor and waits until the monitor answers on its control
 * socket (the kernel, disks and engine were accepted) or fails (its error
 * is returned). Returns 0 or -errno with (err). */
int domsup_start(const struct dom_paths *p, const struct domain_config *cfg,
		 const char *cfg_file, bool persistent, struct err *err);

/* domsup_monitor_main: the hidden verb `domus __supervise`: not for people. */

#endif
