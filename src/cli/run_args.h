/* SPDX-License-Identifier: MIT */
/* run_args.h: `domus run` command line → struct vm_config, as a pure function
 * (no file access), so every argument error is unit-testable. */
#ifndef DOMUS_RUN_ARGS_H
#define DOMUS_RUN_ARGS_H

#include <stdbool.h>

#include "backends/disk/disk.h"
#include "backends/net/netdev.h"
#include "engine/engine.h"

#define RUN_DEFAULT_MEMORY_MIB	256
#define RUN_DEFAULT_VCPUS	1
#define RUN_DEFAULT_CMDLINE	"console=ttyS0 quiet"

struct run_args {
	struct vm_config cfg;
	bool help;
	bool kernel_given;	/* --kernel was given (else: the default guest) */
	bool initrd_given;
	const char *restore;	/* --restore FILE */
	const char *control_path;	/* --control: the control socket */
	const char *serial_socket;	/* --serial-socket: ttyS0 on a UNIX socket */
	struct disk_opts disks[VM_DISKS_MAX];	/* cfg.disk_opts points here */
	struct net_opts nets[NET_NICS_MAX];	/* cfg.net_opts points here */
};

/* run_args_parse: parse argv (argv[0] is "run"). Returns 0, or -EINVAL with
 * a one-line message in (err). (host_mem_mib) bounds --memory (0: no bound). */
int run_args_parse(int argc, char **argv, unsigned long long host_mem_mib, struct run_args *out,
		   struct err *err);

extern const char run_usage[];

#endif
