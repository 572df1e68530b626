/* SPDX-License-Identifier: MIT */
/* install.c: `domus install`, virt-install's common flags: make the disk,
 * bring the installer's kernel and initrd from a netboot tree (a directory
 * or an http(s) URL laid out like Debian's), write the domain's config file
 * and start it with its console attached. Nothing is left behind when any
 * step fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/parse.h"
#include "domain/domcfg.h"
#include "domain/fetch.h"
#include "domain/paths.h"
#include "domain/runtime.h"
#include "domain/store.h"
#include "domain/supervisor.h"
#include "domain/xlcfg.h"
#include "domain_cmds.h"
#include "engine/engine.h"

static const char install_usage[] =
	"usage: domus install -n NAME -r MiB [--vcpus N] -f DISK [-s GB] -l LOCATION\n"
	"                     [--extra-args ARGS] [--network bridge=BR|nat] [--nographics]\n"
	"                     [--noautoconsole] [--engine kvm|qemu|auto]\n"
	"LOCATION: a directory or http(s):// URL of a netboot tree (Debian's layout:\n"
	"debian-installer/amd64/linux and initrd.gz, or linux and initrd.gz at the top).\n";

/* Where a netboot tree keeps its kernel and initrd, most specific first. */
static const char *const layouts[][2] = {
	{ "debian-installer/amd64/linux", "debian-installer/amd64/initrd.gz" },
	{ "amd64/linux", "amd64/initrd.gz" },
	{ "install.amd/vmlinuz", "install.amd/initrd.gz" },
	{ "linux", "initrd.gz" },
	{ "vmlinuz", "initrd.img" },
};

static int copy_file(const char *src, const char *dst, struct err *err)
{
	char tmp[4200], buf[65536];
	int in, out, r = 0;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.part", dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_setsys(err, errno, "%s", src);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return err_setsys(err, errno, "%s", tmp);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			r = err_setsys(err, errno, "%s", tmp);
			break;
		}
	if (n < 0)
		r = err_setsys(err, errno, "%s", src);
	close(in);
	if (close(out) < 0 && r == 0)
		r = err_setsys(err, errno, "%s", tmp);
	if (r == 0 && rename(tmp, dst) < 0)
		r = err_setsys(err, errno, "%s", dst);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Kernel and initrd of the tree at (loc) into (dir)/linux, (dir)/initrd.gz. */
static int fetch_installer(const char *loc, const char *dir, char *kernel, char *initrd,
			   size_t size, struct err *err)
{
	bool url = strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0;
	char src[4096];
	size_t ll = strlen(loc);
	const char *sep = ll && loc[ll - 1] == '/' ? "" : "/";
	struct stat st;
	int r;

	snprintf(kernel, size, "%s/linux", dir);
	snprintf(initrd, size, "%s/initrd.gz", dir);
	if (!url) {
		if (stat(loc, &st) < 0)
			return err_setsys(err, errno, "--location %s", loc);
		if (!S_ISDIR(st.st_mode))
			return err_set(err, ENOTDIR, "--location %s: expected a directory or an "
						     "http(s):// URL", loc);
	}
	for (size_t i = 0; i < ARRAY_SIZE(layouts); i++) {
		snprintf(src, sizeof(src), "%s%s%s", loc, sep, layouts[i][0]);
		if (url) {
			struct err e = { 0 };
			r = fetch_url(src, kernel, "kernel", true, &e);
			if (r == -ENOENT)
				continue;
			if (r < 0)
				return err_set(err, -r, "%s", e.msg);
			snprintf(src, sizeof(src), "%s%s%s", loc, sep, layouts[i][1]);
			r = fetch_url(src, initrd, "initrd", true, &e);
			if (r < 0) {
				unlink(kernel);
				return err_set(err, -r, "%s", e.msg);
			}
			return 0;
		}
		if (access(src, R_OK) < 0)
			continue;
		if ((r = copy_file(src, kernel, err)) < 0)
			return r;
		snprintf(src, sizeof(src), "%s%s%s", loc, sep, layouts[i][1]);
		if ((r = copy_file(src, initrd, err)) < 0) {
			unlink(kernel);
			return r;
		}
		return 0;
	}
	return err_set(err, ENOENT, "--location %s: no installer kernel found (looked for %s, %s, "
				    "%s, %s)", loc, layouts[0][0], layouts[2][0], layouts[3][0],
		       layouts[4][0]);
}

static void rm_tree_files(const char *dir)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/linux", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/initrd.gz", dir);
	unlink(path);
	rmdir(dir);
}

int cmd_install(int argc, char **argv)
{
	const char *name = NULL, *ram = NULL, *vcpus = "1", *disk = NULL, *size = NULL;
	const char *loc = NULL, *extra = "", *network = NULL, *engine = "auto";
	bool console = true;
	struct dom_paths p;
	struct err err = { 0 };
	char dir[DOM_DIR_MAX + 128], kernel[4200], initrd[4200];
	char *text = NULL;
	struct domain_config *cfg = NULL;
	bool disk_made = false, defined = false;
	uint64_t v;
	int status = VM_EXIT_ERROR;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq = strchr(a, '=');
		char opt[64];
		size_t len = eq && a[0] == '-' && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
		snprintf(opt, sizeof(opt), "%.*s", (int)len, a);
		bool flag = strcmp(opt, "--nographics") == 0 || strcmp(opt, "--noautoconsole") == 0 ||
			    strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0;
		if (!flag) {
			if (eq && len < strlen(a))
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				log_error("install: option %s needs a value", opt);
				return VM_EXIT_USAGE;
			}
		}
		if (strcmp(opt, "-n") == 0 || strcmp(opt, "--name") == 0)
			name = val;
		else if (strcmp(opt, "-r") == 0 || strcmp(opt, "--ram") == 0 || strcmp(opt, "--memory") == 0)
			ram = val;
		else if (strcmp(opt, "--vcpus") == 0)
			vcpus = val;
		else if (strcmp(opt, "-f") == 0 || strcmp(opt, "--disk") == 0 || strcmp(opt, "--file") == 0)
			disk = strncmp(val, "path=", 5) == 0 ? val + 5 : val;
		else if (strcmp(opt, "-s") == 0 || strcmp(opt, "--file-size") == 0)
			size = val;
		else if (strcmp(opt, "-l") == 0 || strcmp(opt, "--location") == 0)
			loc = val;
		else if (strcmp(opt, "--extra-args") == 0 || strcmp(opt, "-x") == 0)
			extra = val;
		else if (strcmp(opt, "--network") == 0 || strcmp(opt, "-w") == 0)
			network = val;
		else if (strcmp(opt, "--engine") == 0)
			engine = val;
		else if (strcmp(opt, "--os-variant") == 0 || strcmp(opt, "--osinfo") == 0 ||
			 strcmp(opt, "--virt-type") == 0)
			;	/* accepted as virt-install does; nothing to tune here */
		else if (strcmp(opt, "--nographics") == 0)
			;	/* there are no graphics: the console is text anyway */
		else if (strcmp(opt, "--noautoconsole") == 0)
			console = false;
		else if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			fputs(install_usage, stdout);
			return 0;
		} else {
			log_error("install: unknown option '%s'\n%s", opt, install_usage);
			return VM_EXIT_USAGE;
		}
	}
	if (!name || !ram || !disk || !loc) {
		log_error("install: --name, --ram, --disk and --location are required\n%s",
			  install_usage);
		return VM_EXIT_USAGE;
	}
	if (!domcfg_valid_name(name)) {
		log_error("install: --name '%s': expected 1-63 letters, digits, '_', '.' or '-'", name);
		return VM_EXIT_USAGE;
	}
	if (parse_u64(ram, &v) < 0 || v < VM_MEMORY_MIN_MIB) {
		log_error("install: --ram '%s': expected MiB, at least %d", ram, VM_MEMORY_MIN_MIB);
		return VM_EXIT_USAGE;
	}
	if (parse_u64(vcpus, &v) < 0 || v < 1 || v > VM_VCPUS_MAX) {
		log_error("install: --vcpus '%s': expected 1-%d", vcpus, VM_VCPUS_MAX);
		return VM_EXIT_USAGE;
	}
	if (strchr(disk, ',') || strchr(disk, '"')) {
		log_error("install: --disk '%s': a path (without ',' or '\"')", disk);
		return VM_EXIT_USAGE;
	}
	char vif[160] = "";
	if (network) {
		if (strncmp(network, "bridge=", 7) == 0 || strncmp(network, "bridge:", 7) == 0)
			snprintf(vif, sizeof(vif), "bridge=%s", network + 7);
		else if (strcmp(network, "nat") == 0 || strcmp(network, "user") == 0 ||
			 strcmp(network, "network=default") == 0 || strcmp(network, "default") == 0)
			snprintf(vif, sizeof(vif), "type=nat");
		else {
			log_error("install: --network '%s': expected bridge=NAME or nat", network);
			return VM_EXIT_USAGE;
		}
	}
	if (dom_paths_get(&p, &err) < 0) {
		log_error("%s", err.msg);
		return VM_EXIT_ERROR;
	}
	if (domstore_exists(&p, name)) {
		log_error("install: domain '%s' already exists", name);
		return VM_EXIT_ERROR;
	}

	/* the disk: made sparse when missing */
	if (access(disk, F_OK) < 0) {
		uint64_t bytes;
		if (size == NULL) {
			log_error("install: disk %s does not exist: give its size with -s GB", disk);
			return VM_EXIT_USAGE;
		}
		if (parse_size(size, 1ULL << 30, &bytes) < 0 || bytes == 0) {
			log_error("install: -s '%s': expected a size in GB", size);
			return VM_EXIT_USAGE;
		}
		int fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
			err_setsys(&err, errno, "install: disk %s", disk);
			if (fd >= 0) {
				close(fd);
				unlink(disk);
			}
			goto fail;
		}
		close(fd);
		disk_made = true;
	}

	/* the installer's kernel and initrd, kept with the domain */
	snprintf(dir, sizeof(dir), "%s/boot/%s", p.lib, name);
	if (file_mkdir_p(dir, 0755, NULL) < 0) {
		err_setsys(&err, errno, "install: %s is not writable", dir);
		goto fail;
	}
	if (fetch_installer(loc, dir, kernel, initrd, sizeof(kernel), &err) < 0)
		goto fail_dir;

	/* the config file, as a person would write it */
	char q_kernel[8500], q_initrd[8500], q_extra[4200], q_disk[8500], q_vif[400] = "";
	char diskspec[4200];
	snprintf(diskspec, sizeof(diskspec), "file:%s,xvda,w", disk);
	if (!xlcfg_quote(kernel, q_kernel, sizeof(q_kernel)) ||
	    !xlcfg_quote(initrd, q_initrd, sizeof(q_initrd)) ||
	    !xlcfg_quote(extra, q_extra, sizeof(q_extra)) ||
	    !xlcfg_quote(diskspec, q_disk, sizeof(q_disk)) ||
	    (vif[0] && !xlcfg_quote(vif, q_vif, sizeof(q_vif)))) {
		err_set(&err, ENAMETOOLONG, "install: a path or --extra-args is too long");
		goto fail_files;
	}
	size_t tlen = strlen(q_kernel) + strlen(q_initrd) + strlen(q_extra) + strlen(q_disk) + 1024;
	text = malloc(tlen);
	if (text == NULL)
		goto fail_files;
	snprintf(text, tlen,
		 "# %s: written by domus install. The installer boots from the kernel\n"
		 "# below; once it has installed a system with grub on the disk, replace\n"
		 "# kernel/ramdisk/extra with: bootloader = \"pygrub\"\n"
		 "name = \"%s\"\nmemory = %s\nvcpus = %s\nengine = \"%s\"\n"
		 "kernel = %s\nramdisk = %s\nextra = %s\n"
		 "disk = [ %s ]\n%s%s%s"
		 "# the installer's reboot at the end ends the domain, as with virt-install\n"
		 "on_poweroff = \"destroy\"\non_reboot = \"destroy\"\non_crash = \"destroy\"\n",
		 name, name, ram, vcpus, engine, q_kernel, q_initrd, q_extra, q_disk,
		 vif[0] ? "vif = [ " : "", vif[0] ? q_vif : "", vif[0] ? " ]\n" : "");
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		goto fail_files;
	char file[64];
	snprintf(file, sizeof(file), "<install %s>", name);
	if (domstore_define(&p, text, strlen(text), file, cfg, NULL, NULL, &err) < 0)
		goto fail_files;
	defined = true;
	printf("Starting install...\n");
	fflush(stdout);
	char cfg_path[DOM_DIR_MAX + 80];
	dom_path(cfg_path, sizeof(cfg_path), p.etc, name, ".cfg");
	if (domsup_start(&p, cfg, cfg_path, true, &err) < 0)
		goto fail_files;
	printf("Domain '%s' started: installation in progress\n", name);
	fflush(stdout);
	status = console ? console_attach(name) : 0;
	free(cfg);
	free(text);
	return status;

fail_files:
	if (defined)
		domstore_undefine(&p, name, NULL);
fail_dir:
	rm_tree_files(dir);
fail:
	if (disk_made)
		unlink(disk);
	free(cfg);
	free(text);
	log_error("%s", err.msg[0] ? err.msg : "install failed");
	return VM_EXIT_ERROR;
}
