/* SPDX-License-Identifier: MIT */
/* run_args.c: parsing of `domus run` flags. Hand-written instead of getopt so
 * errors are ours, it is reentrant for tests, and "--flag=value" and
 * "--flag value" both work. */
#include "run_args.h"

#include <errno.h>
#include <string.h>

#include "common/err.h"
#include "common/parse.h"
#include "disk_args.h"
#include "net_args.h"

const char run_usage[] =
	"usage: domus run [OPTIONS]\n"
	"Boot a VM in the foreground; its console (ttyS0) is this terminal.\n"
	"\n"
	"  --kernel PATH     Linux bzImage (default: the default guest, build/guest/vmlinuz)\n"
	"  --initrd PATH     initramfs (default: the default guest's, only without --kernel)\n"
	"  --cmdline TEXT    kernel command line (default: \"" RUN_DEFAULT_CMDLINE "\")\n"
	"  --memory SIZE     guest RAM, MiB or with a suffix: 512, 2G (default 256)\n"
	"  --vcpus N         virtual CPUs, 1-254 (default 1)\n"
	"  --engine E        kvm, qemu or auto (default auto: kvm when /dev/kvm runs\n"
	"                    guest kernels at native speed, else qemu)\n"
	"  --disk PATH[,readonly][,direct][,shared][,size=SIZE][,serial=ID]\n"
	"                    a virtio disk on a raw image file or a block device;\n"
	"                    repeat for more (vda, vdb, ...). size= creates a missing\n"
	"                    file, sparse; direct bypasses the host page cache\n"
	"  --virtio-console PATH\n"
	"                    a second console, the guest's /dev/hvc0, on the UNIX\n"
	"                    socket PATH (connect with: socat - UNIX-CONNECT:PATH)\n"
	"  --restore FILE    start from a snapshot (domus save) instead of booting: the\n"
	"                    machine (memory, vCPUs, disks) is the one saved\n"
	"  --net bridge=NAME[,mac=MAC] | tap=NAME[,mac=MAC] |\n"
	"        user[,mac=MAC][,hostfwd=tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT...]\n"
	"                    a virtio NIC: a TAP that domus adds to the Linux bridge\n"
	"                    NAME, an existing TAP, or NAT without root (libslirp:\n"
	"                    DHCP gives the guest 10.0.2.15); repeat for more (eth0,\n"
	"                    eth1, ...). Default MAC: 00:16:3e:xx:xx:xx, random\n"
	"  --control PATH    serve the control socket (JSON lines, docs/control-protocol.md)\n"
	"                    at PATH: pause, resume, shutdown, reset, query-status, quit\n"
	"  --serial-socket PATH\n"
	"                    the guest's ttyS0 on the UNIX socket PATH instead of this\n"
	"                    terminal (what a domain's console is)\n"
	"  --no-reboot       a guest reboot ends domus with status 5 instead of booting again\n"
	"  -h, --help        this help\n"
	"\n"
	"On a terminal: Ctrl-A x quits, Ctrl-A h lists the escapes.\n"
	"Exit status: 0 guest powered off, 1 error, 2 usage, 3 guest crashed, 4 quit,\n"
	"5 guest rebooted (with --no-reboot).\n";

enum opt {
	OPT_KERNEL,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_VCPUS,
	OPT_ENGINE,
	OPT_DISK,
	OPT_VCONSOLE,
	OPT_RESTORE,
	OPT_NET,
	OPT_CONTROL,
	OPT_SERIAL_SOCKET,
	OPT_NO_REBOOT,
	OPT_HELP,
};

static const struct {
	const char *name;
	enum opt opt;
	bool has_arg;
} run_opts[] = {
	{ "--kernel", OPT_KERNEL, true },   { "--initrd", OPT_INITRD, true },
	{ "--cmdline", OPT_CMDLINE, true }, { "--memory", OPT_MEMORY, true },
	{ "--vcpus", OPT_VCPUS, true },     { "--engine", OPT_ENGINE, true },
	{ "--disk", OPT_DISK, true },	    { "--virtio-console", OPT_VCONSOLE, true },
	{ "--restore", OPT_RESTORE, true },
	{ "--net", OPT_NET, true },
	{ "--control", OPT_CONTROL, true }, { "--serial-socket", OPT_SERIAL_SOCKET, true },
	{ "--no-reboot", OPT_NO_REBOOT, false },
	{ "--help", OPT_HELP, false },
	{ "-h", OPT_HELP, false },
};

static int set_option(enum opt opt, const char *name, const char *val,
		      unsigned long long host_mem_mib, struct run_args *a, struct err *err)
{
	uint64_t v;

	switch (opt) {
	case OPT_KERNEL:
		if (*val == '\0')
			return err_set(err, EINVAL, "%s: empty path", name);
		a->cfg.kernel = val;
		a->kernel_given = true;
		return 0;
	case OPT_INITRD:
		if (*val == '\0')
			return err_set(err, EINVAL, "%s: empty path", name);
		a->cfg.initrd = val;
		a->initrd_given = true;
		return 0;
	case OPT_CMDLINE:
		a->cfg.cmdline = val;
		return 0;
	case OPT_MEMORY:
		if (parse_size(val, 1ULL << 20, &v) < 0 || v % (1ULL << 20) != 0)
			return err_set(err, EINVAL,
				       "%s '%s': expected a size in MiB (e.g. 512) or with a suffix (2G)",
				       name, val);
		v >>= 20;
		if (v < VM_MEMORY_MIN_MIB)
			return err_set(err, EINVAL, "%s %s: too little memory (minimum %d MiB)",
				       name, val, VM_MEMORY_MIN_MIB);
		if (host_mem_mib && v > host_mem_mib)
			return err_set(err, EINVAL,
				       "%s %s: too much memory (this host has %llu MiB)", name,
				       val, host_mem_mib);
		a->cfg.memory_mib = v;
		return 0;
	case OPT_VCPUS:
		if (parse_u64(val, &v) < 0)
			return err_set(err, EINVAL, "%s '%s': expected a number of vCPUs", name,
				       val);
		if (v < 1 || v > VM_VCPUS_MAX)
			return err_set(err, EINVAL, "%s %s: out of range (1-%d)", name, val,
				       VM_VCPUS_MAX);
		a->cfg.vcpus = (unsigned)v;
		return 0;
	case OPT_ENGINE:
		if (strcmp(val, "kvm") == 0)
			a->cfg.engine = ENGINE_KVM;
		else if (strcmp(val, "qemu") == 0)
			a->cfg.engine = ENGINE_QEMU;
		else if (strcmp(val, "auto") == 0)
			a->cfg.engine = ENGINE_AUTO;
		else
			return err_set(err, EINVAL, "%s '%s': expected kvm, qemu or auto", name,
				       val);
		return 0;
	case OPT_DISK:
		if (a->cfg.nr_disks == VM_DISKS_MAX)
			return err_set(err, EINVAL, "%s: at most %d disks", name, VM_DISKS_MAX);
		if (disk_args_parse(val, &a->disks[a->cfg.nr_disks], err) < 0)
			return -EINVAL;
		a->cfg.nr_disks++;
		return 0;
	case OPT_VCONSOLE:
		if (*val == '\0')
			return err_set(err, EINVAL, "%s: empty path", name);
		if (a->cfg.vconsole_path)
			return err_set(err, EINVAL, "%s given twice", name);
		a->cfg.vconsole_path = val;
		return 0;
	case OPT_RESTORE:
		if (*val == '\0')
			return err_set(err, EINVAL, "%s: empty path", name);
		a->restore = val;
		return 0;
	case OPT_NET:
		if (a->cfg.nr_nets == NET_NICS_MAX)
			return err_set(err, EINVAL, "%s: at most %d NICs", name, NET_NICS_MAX);
		if (net_args_parse(val, &a->nets[a->cfg.nr_nets], err) < 0)
			return -EINVAL;
		for (unsigned i = 0; i < a->cfg.nr_nets; i++)
			if (a->nets[a->cfg.nr_nets].mac_given && a->nets[i].mac_given &&
			    memcmp(a->nets[i].mac, a->nets[a->cfg.nr_nets].mac, 6) == 0)
				return err_set(err, EINVAL, "%s '%s': MAC address already used by "
					       "NIC %u", name, val, i);
		a->cfg.nr_nets++;
		return 0;
	case OPT_CONTROL:
		if (*val == '\0')
			return err_set(err, EINVAL, "%s: empty path", name);
		a->control_path = val;
		return 0;
	case OPT_SERIAL_SOCKET:
		if (*val == '\0')
			return err_set(err, EINVAL, "%s: empty path", name);
		a->serial_socket = val;
		return 0;
	case OPT_NO_REBOOT:
		a->cfg.no_reboot = true;
		return 0;
	case OPT_HELP:
		a->help = true;
		return 0;
	}
	return err_set(err, EINVAL, "internal: unknown option");
}

int run_args_parse(int argc, char **argv, unsigned long long host_mem_mib, struct run_args *out,
		   struct err *err)
{
	memset(out, 0, sizeof(*out));
	out->cfg.cmdline = RUN_DEFAULT_CMDLINE;
	out->cfg.memory_mib = RUN_DEFAULT_MEMORY_MIB;
	out->cfg.vcpus = RUN_DEFAULT_VCPUS;
	out->cfg.engine = ENGINE_AUTO;
	out->cfg.disk_opts = out->disks;
	out->cfg.net_opts = out->nets;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *eq = strchr(arg, '=');
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		size_t k;

		if (arg[0] != '-')
			return err_set(err, EINVAL, "unexpected argument '%s' (see domus run --help)",
				       arg);
		for (k = 0; k < ARRAY_SIZE(run_opts); k++)
			if (strlen(run_opts[k].name) == name_len &&
			    strncmp(run_opts[k].name, arg, name_len) == 0)
				break;
		if (k == ARRAY_SIZE(run_opts))
			return err_set(err, EINVAL, "unknown option '%.*s' (see domus run --help)",
				       (int)name_len, arg);
		const char *name = run_opts[k].name;
		const char *val = NULL;
		if (run_opts[k].has_arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return err_set(err, EINVAL, "option %s needs a value", name);
		} else if (eq) {
			return err_set(err, EINVAL, "option %s takes no value", name);
		}
		int r = set_option(run_opts[k].opt, name, val, host_mem_mib, out, err);
		if (r < 0)
			return r;
	}
	/* An --initrd with the default kernel is fine; a --kernel without
	 * --initrd boots without one. */
	if (out->restore && (out->kernel_given || out->initrd_given || out->cfg.nr_disks ||
			     out->cfg.vconsole_path || out->cfg.nr_nets))
		return err_set(err, EINVAL, "--restore: the machine is the saved one (no --kernel, "
					    "--initrd, --disk, --net or --virtio-console)");
	return 0;
}
