/* SPDX-License-Identifier: MIT */
/* main.c: the multi-call binary. `domus VERB ...` dispatches on VERB through
 * one table; called as domus-oci it is the container runtime (src/container). */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/err.h"
#include "common/log.h"
#include "container/oci.h"
#include "domain_cmds.h"
#include "engine/engine.h"

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;	/* printed for `domus VERB --help`; NULL: the verb does it */
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct verb verbs[] = {
	{ "run", cmd_run, "boot a VM in the foreground with its console on this terminal" },
	{ "save", cmd_save, "save a running domain's state to FILE; it stops (--compress: zstd)",
	  "save [--compress] DOMAIN FILE" },
	{ "restore", cmd_restore, "run a guest again from a FILE made by save",
	  "restore FILE" },
	{ "migrate", cmd_migrate, "live-migrate a domain to HOST:PORT (--live, --downtime MS)",
	  "migrate --live [--downtime MS] DOMAIN HOST:PORT" },
	{ "migrate-receive", cmd_migrate_receive,
	  "wait for a live migration on PORT and run the guest that arrives",
	  "migrate-receive [HOST:]PORT" },
	{ "list", cmd_list, "list domains: Id, Name, State (--all: the shut off ones too)",
	  "list [--all] [--inactive]" },
	{ "define", cmd_define, "define a domain from an xl.cfg-style FILE (docs/domains.md)",
	  "define FILE" },
	{ "undefine", cmd_undefine, "remove a domain's definition",
	  "undefine DOMAIN" },
	{ "start", cmd_start, "start a defined domain (--console: and attach to it)",
	  "start DOMAIN [--console] | start --autostart" },
	{ "create", cmd_create, "start a domain from FILE without defining it",
	  "create FILE [--console]" },
	{ "shutdown", cmd_shutdown, "shut a domain down: ACPI power button (--timeout S: then destroy)",
	  "shutdown DOMAIN [--timeout SECONDS]" },
	{ "reboot", cmd_reboot, "reboot a domain (power button, then boot again)",
	  "reboot DOMAIN" },
	{ "reset", cmd_reset, "reset a domain at once, as the reset line does",
	  "reset DOMAIN" },
	{ "destroy", cmd_destroy, "stop a domain at once",
	  "destroy DOMAIN" },
	{ "suspend", cmd_suspend, "pause a domain's vCPUs",
	  "suspend DOMAIN" },
	{ "resume", cmd_resume, "let a suspended domain run again",
	  "resume DOMAIN" },
	{ "console", cmd_console, "attach to a domain's console (Ctrl-] detaches)",
	  "console DOMAIN" },
	{ "dominfo", cmd_dominfo, "a domain's state, vCPUs, memory, uptime, CPU time",
	  "dominfo DOMAIN" },
	{ "domstats", cmd_domstats, "statistics of running domains (or those named)",
	  "domstats [DOMAIN...]" },
	{ "domstate", cmd_domstate, "a domain's state (and why, when it is not running)",
	  "domstate DOMAIN" },
	{ "domid", cmd_domid, "a running domain's id",
	  "domid DOMAIN" },
	{ "domuuid", cmd_domuuid, "a domain's uuid",
	  "domuuid DOMAIN" },
	{ "autostart", cmd_autostart, "start a domain at boot (--disable: not)",
	  "autostart DOMAIN [--disable]" },
	{ "install", cmd_install, "make and start a domain from a netboot tree, like virt-install" },
	{ "container", cmd_container, "run a rootfs or tarball as a container (see docs/containers.md)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "this list" },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: domus VERB [OPTIONS]   (no VERB: the interactive shell)\n\nverbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		printf("  %-16s %s\n", verbs[i].name, verbs[i].summary);
	printf("\n`domus VERB --help` describes a verb's options.\n");
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("domus %s\n", DOMUS_VERSION);
	return 0;
}

const char *cli_self_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		strcpy(dir, ".");
		return dir;
	}
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	return dir;
}

int cli_dispatch(int argc, char **argv)
{
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
		return cmd_help(0, NULL);
	if (strcmp(argv[0], "--version") == 0)
		return cmd_version(0, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (strcmp(argv[0], verbs[i].name) != 0)
			continue;
		if (verbs[i].usage && argc > 1 &&
		    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			printf("usage: domus %s\n%s (docs/domains.md)\n", verbs[i].usage, verbs[i].summary);
			return 0;
		}
		return verbs[i].fn(argc, argv);
	}
	log_error("unknown verb '%s' (see domus help)", argv[0]);
	return VM_EXIT_USAGE;
}

const char *cli_verb_name(unsigned i)
{
	if (i < ARRAY_SIZE(verbs))
		return verbs[i].name;
	if (i == ARRAY_SIZE(verbs))
		return "quit";
	return NULL;
}

int main(int argc, char **argv)
{
	const char *self = basename(argv[0]);

	if (strcmp(self, "domus-oci") == 0)
		return oci_main(argc, argv);
	if (argc < 2)
		return shell_main();	/* like virsh: the interactive shell */
	return cli_dispatch(argc - 1, argv + 1);
}
