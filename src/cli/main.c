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
#include "engine/engine.h"

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct verb verbs[] = {
	{ "run", cmd_run, "boot a VM in the foreground with its console on this terminal" },
	{ "migrate-receive", cmd_migrate_receive,
	  "wait for a live migration on PORT and run the guest that arrives" },
	{ "container", cmd_container, "run a rootfs or tarball as a container (see docs/containers.md)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "this list" },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: domus VERB [OPTIONS]\n\nverbs:\n");
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

int main(int argc, char **argv)
{
	const char *self = basename(argv[0]);

	if (strcmp(self, "domus-oci") == 0)
		return oci_main(argc, argv);
	if (argc < 2) {
		cmd_help(0, NULL);
		return VM_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(0, NULL);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	log_error("unknown verb '%s' (see domus help)", argv[1]);
	return VM_EXIT_USAGE;
}
