/* SPDX-License-Identifier: MIT */
/* container_cli.c: `domus container`, for people: run a rootfs directory or
 * a tarball with a few flags; the OCI spec is built in memory from the
 * default one, no config.json is written into the bundle. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "container.h"
#include "oci.h"
#include "spec.h"
#include "state.h"

#define DEFAULT_CAPS                                                                           \
	"[\"CAP_CHOWN\", \"CAP_DAC_OVERRIDE\", \"CAP_FSETID\", \"CAP_FOWNER\", \"CAP_MKNOD\", " \
	"\"CAP_NET_RAW\", \"CAP_SETGID\", \"CAP_SETUID\", \"CAP_SETFCAP\", \"CAP_SETPCAP\", "   \
	"\"CAP_NET_BIND_SERVICE\", \"CAP_SYS_CHROOT\", \"CAP_KILL\", \"CAP_AUDIT_WRITE\"]"

struct run_flags {
	const char *root;
	const char *name;
	const char *hostname;
	uint64_t memory;	/* bytes, 0: none */
	double cpus;		/* 0: none */
	int64_t pids;		/* 0: none */
	bool tty;
	bool readonly;
};

/* the spec for (rootfs) and (argv), as JSON text */
static char *build_spec(const struct run_flags *f, const char *rootfs, char **argv, int argc)
{
	char *base = spec_default_json(false), *out;
	struct json_object *root, *proc, *args, *lx, *res, *caps, *o;

	if (base == NULL)
		return NULL;
	root = json_tokener_parse(base);
	free(base);
	if (root == NULL)
		return NULL;
	json_object_object_get_ex(root, "process", &proc);
	json_object_object_add(proc, "terminal", json_object_new_boolean(f->tty));
	args = json_object_new_array();
	for (int i = 0; i < argc; i++)
		json_object_array_add(args, json_object_new_string(argv[i]));
	json_object_object_add(proc, "args", args);
	json_object_object_add(proc, "noNewPrivileges", json_object_new_boolean(0));
	caps = json_object_new_object();
	json_object_object_add(caps, "bounding", json_tokener_parse(DEFAULT_CAPS));
	json_object_object_add(caps, "effective", json_tokener_parse(DEFAULT_CAPS));
	json_object_object_add(caps, "permitted", json_tokener_parse(DEFAULT_CAPS));
	json_object_object_add(proc, "capabilities", caps);
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(rootfs));
	json_object_object_add(o, "readonly", json_object_new_boolean(f->readonly));
	json_object_object_add(root, "root", o);
	json_object_object_add(root, "hostname",
			       json_object_new_string(f->hostname ? f->hostname : f->name));
	json_object_object_get_ex(root, "linux", &lx);
	json_object_object_get_ex(lx, "resources", &res);
	if (f->memory) {
		o = json_object_new_object();
		json_object_object_add(o, "limit", json_object_new_int64((int64_t)f->memory));
		/* no swap beyond the limit: the limit is what the process gets */
		json_object_object_add(o, "swap", json_object_new_int64((int64_t)f->memory));
		json_object_object_add(res, "memory", o);
	}
	if (f->cpus > 0) {
		o = json_object_new_object();
		json_object_object_add(o, "period", json_object_new_int64(100000));
		json_object_object_add(o, "quota",
				       json_object_new_int64((int64_t)(f->cpus * 100000)));
		json_object_object_add(res, "cpu", o);
	}
	if (f->pids) {
		o = json_object_new_object();
		json_object_object_add(o, "limit", json_object_new_int64(f->pids));
		json_object_object_add(res, "pids", o);
	}
	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}

/* a tarball: extract into a new directory under (root) with tar(1) */
static int extract(const char *tarball, const char *root, char *dir, size_t size, struct err *err)
{
	int status;
	pid_t pid;

	xsnprintf(dir, size, "%s/rootfs-XXXXXX", root);
	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return err_setsys(err, errno, "%s", root);
	if (mkdtemp(dir) == NULL)
		return err_setsys(err, errno, "temporary rootfs in %s", root);
	pid = fork();
	if (pid < 0)
		return err_setsys(err, errno, "fork");
	if (pid == 0) {
		execlp("tar", "tar", "-xf", tarball, "-C", dir, "--no-same-owner", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rm_tree(dir);
		return err_set(err, EINVAL, "%s: could not extract it with tar", tarball);
	}
	return 0;
}

static void usage_run(void)
{
	fprintf(stderr,
		"usage: domus container run [--name ID] [--memory SIZE] [--cpus N] [--pids N]\n"
		"                           [--hostname NAME] [--read-only] [-t] [--root DIR]\n"
		"                           ROOTFS|TARBALL CMD [ARG...]\n");
}

static int container_run(int argc, char **argv)
{
	enum { R_MEM = 500, R_CPUS, R_PIDS, R_NAME, R_HOST, R_ROOT, R_RO };
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, R_MEM },
		{ "cpus", required_argument, NULL, R_CPUS },
		{ "pids", required_argument, NULL, R_PIDS },
		{ "name", required_argument, NULL, R_NAME },
		{ "hostname", required_argument, NULL, R_HOST },
		{ "root", required_argument, NULL, R_ROOT },
		{ "read-only", no_argument, NULL, R_RO }, { "tty", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct run_flags f = { .root = STATE_ROOT_DEFAULT };
	struct ctr_opts o = { 0 };
	struct oci_spec *s = NULL;
	struct err err = { 0 }, warn = { 0 };
	char name[64], rootfs[PATH_MAX], tmpdir[PATH_MAX] = "", *text = NULL;
	struct stat st;
	int c, master = -1, status = 1;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+th", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case R_MEM:
			if (parse_size(optarg, 1 << 20, &f.memory) < 0 || f.memory < (4 << 20)) {
				log_error("--memory: expected a size of at least 4M, got '%s'",
					  optarg);
				return 2;
			}
			break;
		case R_CPUS:
			f.cpus = strtod(optarg, &end);
			if (*end || !(f.cpus > 0) || f.cpus > 4096) {
				log_error("--cpus: expected a positive number, got '%s'", optarg);
				return 2;
			}
			break;
		case R_PIDS: {
			uint64_t v;
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > INT32_MAX) {
				log_error("--pids: expected a positive number, got '%s'", optarg);
				return 2;
			}
			f.pids = (int64_t)v;
			break;
		}
		case R_NAME: f.name = optarg; break;
		case R_HOST: f.hostname = optarg; break;
		case R_ROOT: f.root = optarg; break;
		case R_RO: f.readonly = true; break;
		case 't': f.tty = true; break;
		case 'h': usage_run(); return 0;
		default: usage_run(); return 2;
		}
	}
	if (argc - optind < 2) {
		usage_run();
		return 2;
	}
	if (f.name == NULL) {
		xsnprintf(name, sizeof(name), "run-%d", (int)getpid());
		f.name = name;
	}
	if (stat(argv[optind], &st) < 0) {
		log_error("%s: %s", argv[optind], strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (realpath(argv[optind], rootfs) == NULL) {
			log_error("%s: %s", argv[optind], strerror(errno));
			return 1;
		}
	} else {
		if (extract(argv[optind], f.root, tmpdir, sizeof(tmpdir), &err)) {
			log_error("%s", err.msg);
			return 1;
		}
		xsnprintf(rootfs, sizeof(rootfs), "%s", tmpdir);
	}
	text = build_spec(&f, rootfs, argv + optind + 1, argc - optind - 1);
	if (text == NULL) {
		log_error("out of memory");
		goto out;
	}
	if (spec_parse(text, strlen(text), "spec", &s, &err))
		goto fail;
	o.root = f.root;
	o.id = f.name;
	o.bundle = rootfs;
	o.foreground = true;
	if (ctr_create(&o, s, text, strlen(text), &master, &pid, &err))
		goto fail;
	if (ctr_start(o.root, o.id, &warn, &err)) {
		ctr_delete(o.root, o.id, true, NULL, NULL);
		goto fail;
	}
	status = ctr_wait(pid, master);
	if (ctr_delete(o.root, o.id, true, &warn, &err))
		log_error("%s", err.msg);
	if (warn.code)
		log_warnx("%s", warn.msg);
	goto out;
fail:
	log_error("%s", err.msg);
	status = 1;
out:
	if (master >= 0)
		close(master);
	spec_free(s);
	free(text);
	if (tmpdir[0])
		rm_tree(tmpdir);
	return status;
}

static const char *root_flag(int *argc, char ***argv)
{
	if (*argc >= 3 && strcmp((*argv)[1], "--root") == 0) {
		const char *r = (*argv)[2];
		(*argv)[2] = (*argv)[0];
		*argv += 2;
		*argc -= 2;
		return r;
	}
	return STATE_ROOT_DEFAULT;
}

int cmd_container(int argc, char **argv)
{
	struct err err = { 0 }, warn = { 0 };
	const char *root, *verb;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		printf("usage: domus container run [FLAGS] ROOTFS|TARBALL CMD...\n"
		       "       domus container list|kill ID [SIGNAL]|delete [--force] ID "
		       "[--root DIR]\n");
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	argc--;
	argv++;
	if (strcmp(verb, "run") == 0)
		return container_run(argc, argv);
	root = root_flag(&argc, &argv);
	if (strcmp(verb, "list") == 0) {
		char *args[] = { "domus-oci", "--root", (char *)root, "list", NULL };
		return oci_main(4, args);
	}
	if (strcmp(verb, "kill") == 0 && argc >= 2) {
		int sig = argc >= 3 ? ctr_signal_parse(argv[2]) : SIGTERM;
		if (sig < 0) {
			log_error("unknown signal '%s'", argv[2]);
			return 2;
		}
		if (ctr_kill(root, argv[1], sig, false, &err)) {
			log_error("%s", err.msg);
			return 1;
		}
		return 0;
	}
	if (strcmp(verb, "delete") == 0 && argc >= 2) {
		bool force = strcmp(argv[1], "--force") == 0 || strcmp(argv[1], "-f") == 0;
		if (argc < 2 + (force ? 1 : 0)) {
			log_error("delete: missing container id");
			return 2;
		}
		if (ctr_delete(root, argv[force ? 2 : 1], force, &warn, &err)) {
			log_error("%s", err.msg);
			return 1;
		}
		if (warn.code)
			log_warnx("%s", warn.msg);
		return 0;
	}
	log_error("container: unknown verb '%s' or missing id (see domus container help)", verb);
	return 2;
}
