/* SPDX-License-Identifier: MIT */
/* test_bootloader.c: grub.cfg's default entry (pure), and the kernel and
 * initrd read out of ext4 images made with mke2fs -d: grub.cfg, symlinked
 * /vmlinuz, a separate /boot, an MBR partition, and the errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/err.h"
#include "domain/bootloader.h"

static void test_grub_default(void **state)
{
	char k[256], i[256], a[256];
	const char *cfg = "set default=\"1\"\n"
			  "menuentry 'A' {\n\tlinux /vmlinuz-a root=/dev/vda\n\tinitrd /initrd-a\n}\n"
			  "submenu 'Advanced' {\n menuentry 'X' {\n  linux /x\n }\n}\n"
			  "menuentry 'B' --class debian {\n\tlinux\t/vmlinuz-b ro $vt_handoff quiet\n"
			  "\tinitrd\t/initrd-b\n}\n";

	(void)state;
	/* index 1 is the submenu: grub would open it; we take what it says
	 * literally and fall back to the first entry */
	assert_int_equal(bootloader_grub_default(cfg, k, sizeof(k), i, sizeof(i), a, sizeof(a)), 0);
	assert_string_equal(k, "/vmlinuz-a");
	assert_string_equal(i, "/initrd-a");
	assert_string_equal(a, "root=/dev/vda");
	const char *cfg2 = "set default=\"B\"\nmenuentry 'A' {\nlinux /a\n}\nmenuentry \"B\" {\n"
			   "linux /vmlinuz-b ro $vt_handoff quiet\ninitrd /initrd-b\n}\n";
	assert_int_equal(bootloader_grub_default(cfg2, k, sizeof(k), i, sizeof(i), a, sizeof(a)), 0);
	assert_string_equal(k, "/vmlinuz-b");
	assert_string_equal(a, "ro quiet");
	assert_string_equal(i, "/initrd-b");
	assert_int_equal(bootloader_grub_default("set timeout=5\n", k, sizeof(k), i, sizeof(i), a,
						 sizeof(a)), -ENOENT);
}

static char dir[256];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

static int setup(void **state)
{
	(void)state;
	if (system("command -v mke2fs >/dev/null") != 0) {
		fprintf(stderr, "SKIP: mke2fs not installed\n");
		return -1;
	}
	snprintf(dir, sizeof(dir), "/tmp/domus-test-bl-%d", (int)getpid());
	sh("rm -rf %s && mkdir -p %s/t1/boot/grub %s/t2/boot %s/t3/grub %s/t4", dir, dir, dir, dir, dir);
	/* t1: grub.cfg on the root file system */
	sh("printf KERNEL-1 > %s/t1/boot/vmlinuz-1 && printf INITRD-1 > %s/t1/boot/initrd.img-1", dir, dir);
	sh("printf 'set default=0\\nmenuentry \"D\" {\\n linux /boot/vmlinuz-1 root=/dev/vda1 ro\\n"
	   " initrd /boot/initrd.img-1\\n}\\n' > %s/t1/boot/grub/grub.cfg", dir);
	sh("mke2fs -q -F -t ext4 -d %s/t1 %s/t1.img 8M", dir, dir);
	/* t2: no grub: /vmlinuz -> boot/vmlinuz-2 symlinks, as Debian makes them */
	sh("printf KERNEL-2 > %s/t2/boot/vmlinuz-2 && printf INITRD-2 > %s/t2/boot/initrd.img-2", dir, dir);
	sh("ln -s boot/vmlinuz-2 %s/t2/vmlinuz && ln -s boot/initrd.img-2 %s/t2/initrd.img", dir, dir);
	sh("mke2fs -q -F -t ext2 -d %s/t2 %s/t2.img 8M", dir, dir);
	/* t3: a separate /boot: grub.cfg at /grub, paths from its root; in an
	 * MBR partition at 1 MiB */
	sh("printf KERNEL-3 > %s/t3/vmlinuz-3", dir);
	sh("printf 'menuentry \"D\" {\\n linux /vmlinuz-3 quiet\\n}\\n' > %s/t3/grub/grub.cfg", dir);
	sh("mke2fs -q -F -t ext4 -d %s/t3 %s/t3.fs 8M", dir, dir);
	sh("truncate -s 10M %s/t3.img && dd if=%s/t3.fs of=%s/t3.img bs=1M seek=1 conv=notrunc "
	   "status=none", dir, dir, dir);
	/* entry 1: type 0x83, first LBA 2048, 16384 sectors (octal: sh's printf) */
	sh("printf '\\000\\000\\000\\000\\203\\000\\000\\000\\000\\010\\000\\000\\000\\100\\000\\000' | "
	   "dd of=%s/t3.img bs=1 seek=446 conv=notrunc status=none", dir);
	sh("printf '\\125\\252' | dd of=%s/t3.img bs=1 seek=510 conv=notrunc status=none", dir);
	/* t4: nothing bootable */
	sh("mkdir -p %s/t4/etc && mke2fs -q -t ext4 -d %s/t4 %s/t4.img 8M", dir, dir, dir);
	sh("head -c 1048576 /dev/zero > %s/zero.img", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (dir[0])
		sh("rm -rf %s", dir);
	return 0;
}

static void expect_file(const char *path, const char *content)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_true(fgets(buf, sizeof(buf), f) != NULL || content[0] == '\0');
	fclose(f);
	assert_string_equal(buf, content);
}

static void extract(const char *img, int want, bool initrd, const char *args)
{
	char disk[300], k[300], i[300], cmd[256];
	bool have;
	struct err e = { 0 };

	snprintf(disk, sizeof(disk), "%s/%s", dir, img);
	snprintf(k, sizeof(k), "%s/k", dir);
	snprintf(i, sizeof(i), "%s/i", dir);
	unlink(k);
	unlink(i);
	if (bootloader_extract(disk, k, i, &have, cmd, sizeof(cmd), &e) != 0)
		fail_msg("%s: %s", img, e.msg);
	char want_k[16], want_i[16];
	snprintf(want_k, sizeof(want_k), "KERNEL-%d", want);
	snprintf(want_i, sizeof(want_i), "INITRD-%d", want);
	expect_file(k, want_k);
	assert_int_equal(have, initrd);
	if (initrd)
		expect_file(i, want_i);
	assert_string_equal(cmd, args);
}

static void test_extract(void **state)
{
	(void)state;
	extract("t1.img", 1, true, "root=/dev/vda1 ro");
	extract("t2.img", 2, true, "");
	extract("t3.img", 3, false, "quiet");
}

static void test_extract_errors(void **state)
{
	char disk[300], k[300], i[300], cmd[64];
	bool have;
	struct err e = { 0 };

	(void)state;
	snprintf(k, sizeof(k), "%s/k", dir);
	snprintf(i, sizeof(i), "%s/i", dir);
	snprintf(disk, sizeof(disk), "%s/t4.img", dir);
	assert_int_equal(bootloader_extract(disk, k, i, &have, cmd, sizeof(cmd), &e), -ENOENT);
	assert_non_null(strstr(e.msg, "no kernel found"));
	assert_non_null(strstr(e.msg, disk));
	memset(&e, 0, sizeof(e));
	snprintf(disk, sizeof(disk), "%s/zero.img", dir);
	assert_int_equal(bootloader_extract(disk, k, i, &have, cmd, sizeof(cmd), &e), -ENOENT);
	assert_non_null(strstr(e.msg, "no ext2/3/4 file system on disk"));
	memset(&e, 0, sizeof(e));
	snprintf(disk, sizeof(disk), "%s/missing.img", dir);
	assert_int_equal(bootloader_extract(disk, k, i, &have, cmd, sizeof(cmd), &e), -ENOENT);
	assert_non_null(strstr(e.msg, disk));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grub_default),
		cmocka_unit_test_setup_teardown(test_extract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extract_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
