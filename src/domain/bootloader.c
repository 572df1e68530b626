/* SPDX-License-Identifier: MIT */
/* bootloader.c: kernel and initrd out of the domain's disk (bootloader.h),
 * read-only through libext2fs: the disk is never mounted on the host, so a
 * guest-made file system is only parsed by a library built for that (and
 * its symlinks resolve inside it, never on the host). */
#include "bootloader.h"

#include <ctype.h>
#include <errno.h>
#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

#define SECTOR		512
#define EXT_MAGIC_OFF	(1024 + 56)
#define BOOT_FILE_MAX	(512ULL << 20)	/* a kernel or initrd larger than this is not one */

/* --- grub.cfg ---------------------------------------------------------------- */
static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* One word, unquoted ('...' or "..."), into (out); returns what follows. */
static const char *word(const char *s, char *out, size_t size)
{
	size_t n = 0;

	s = skip_ws(s);
	while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
		if (*s == '\'' || *s == '"') {
			char q = *s++;
			while (*s && *s != q && *s != '\n') {
				if (n + 1 < size)
					out[n++] = *s;
				s++;
			}
			if (*s == q)
				s++;
			continue;
		}
		if (n + 1 < size)
			out[n++] = *s;
		s++;
	}
	out[n] = '\0';
	return s;
}

/* The entry (want) (>= 0: its index among the top-level entries; < 0: the
 * one titled (title)). */
static int grub_pick(const char *cfg, int want, const char *title, char *kernel, size_t ksize,
		     char *initrd, size_t isize, char *args, size_t asize)
{
	char w[1024];
	const char *line, *nl;
	int depth = 0, entry = -1;
	bool in_wanted = false;

	kernel[0] = initrd[0] = args[0] = '\0';
	for (line = cfg; line && *line; line = nl ? nl + 1 : NULL) {
		const char *s = skip_ws(line);
		nl = strchr(line, '\n');
		bool menu = strncmp(s, "menuentry", 9) == 0 && (s[9] == ' ' || s[9] == '\t');
		bool sub = strncmp(s, "submenu", 7) == 0 && (s[7] == ' ' || s[7] == '\t');
		if (menu || sub) {
			if (depth == 0) {
				entry++;
				word(s + (menu ? 9 : 7), w, sizeof(w));
				in_wanted = menu && (want >= 0 ? entry == want : strcmp(w, title) == 0);
			}
			if (strchr(s, '{'))
				depth++;
			continue;
		}
		if (*s == '}') {
			if (depth > 0)
				depth--;
			if (depth == 0 && in_wanted)
				return kernel[0] ? 0 : -ENOENT;
			continue;
		}
		if (!in_wanted || depth != 1)
			continue;
		size_t cmd = strcspn(s, " \t\n");
		if ((cmd == 5 && strncmp(s, "linux", 5) == 0) || (cmd == 7 && strncmp(s, "linux16", 7) == 0) ||
		    (cmd == 8 && strncmp(s, "linuxefi", 8) == 0)) {
			const char *rest = word(s + cmd, kernel, ksize);
			size_t n = 0;
			while (*(rest = skip_ws(rest)) && *rest != '\n') {
				rest = word(rest, w, sizeof(w));
				if (w[0] == '$' || w[0] == '\0')
					continue;	/* grub variables mean nothing here */
				if (n + strlen(w) + 2 > asize)
					break;
				n += (size_t)snprintf(args + n, asize - n, "%s%s", n ? " " : "", w);
			}
		} else if ((cmd == 6 && strncmp(s, "initrd", 6) == 0) ||
			   (cmd == 9 && strncmp(s, "initrdefi", 9) == 0)) {
			word(s + cmd, initrd, isize);
		}
	}
	return in_wanted && kernel[0] ? 0 : -ENOENT;	/* no closing brace: take it */
}

int bootloader_grub_default(const char *cfg, char *kernel, size_t ksize, char *initrd,
			    size_t isize, char *args, size_t asize)
{
	char def[256] = "0";
	const char *line, *nl;
	int r;

	for (line = cfg; line && *line; line = nl ? nl + 1 : NULL) {
		const char *s = skip_ws(line);
		nl = strchr(line, '\n');
		if (strncmp(s, "set default=", 12) == 0)
			word(s + 12, def, sizeof(def));
	}
	/* "saved" and such: the first entry, as grub does without an env block */
	int want = isdigit((unsigned char)def[0]) ? atoi(def) : -1;
	r = grub_pick(cfg, want, def, kernel, ksize, initrd, isize, args, asize);
	if (r < 0 && want != 0)
		r = grub_pick(cfg, 0, "", kernel, ksize, initrd, isize, args, asize);
	return r;
}

/* --- the disk ------------------------------------------------------------------ */
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool ext_at(int fd, uint64_t off)
{
	uint8_t m[2];

	return pread(fd, m, 2, (off_t)(off + EXT_MAGIC_OFF)) == 2 && m[0] == 0x53 && m[1] == 0xef;
}

/* The byte offset of the ext file system: the whole disk, or partition 1
 * of an MBR or GPT table. -ENOENT if none. */
static int find_fs(const char *disk, uint64_t *off, struct err *err)
{
	uint8_t s[SECTOR * 2];
	int fd = open(disk, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_setsys(err, errno, "bootloader: disk %s", disk);
	*off = 0;
	if (ext_at(fd, 0))
		goto found;
	if (pread(fd, s, sizeof(s), 0) != (ssize_t)sizeof(s) || s[510] != 0x55 || s[511] != 0xaa)
		goto none;
	const uint8_t *pe = s + 446;
	if (pe[4] == 0xee) {
		/* protective MBR: the GPT header is at LBA 1 */
		uint8_t e[128];
		if (memcmp(s + SECTOR, "EFI PART", 8) != 0)
			goto none;
		uint64_t lba = le64(s + SECTOR + 72);
		if (lba == 0 || lba > (1ULL << 40) ||
		    pread(fd, e, sizeof(e), (off_t)(lba * SECTOR)) != (ssize_t)sizeof(e))
			goto none;
		*off = le64(e + 32) * SECTOR;
	} else {
		*off = (uint64_t)le32(pe + 8) * SECTOR;
	}
	if (*off && ext_at(fd, *off))
		goto found;
none:
	close(fd);
	return err_set(err, ENOENT, "bootloader: no ext2/3/4 file system on disk %s (whole disk "
				    "or its first partition): no kernel found", disk);
found:
	close(fd);
	return 0;
}

/* Copy the file at (path) in (fs) to (out). -ENOENT if it is not there. */
static int copy_out(ext2_filsys fs, const char *path, const char *out, struct err *err)
{
	ext2_ino_t ino;
	ext2_file_t f;
	struct ext2_inode inode;
	char buf[65536];
	unsigned got;
	int fd, r = 0;

	if (ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino) != 0)
		return -ENOENT;
	if (ext2fs_read_inode(fs, ino, &inode) != 0 || !LINUX_S_ISREG(inode.i_mode))
		return -ENOENT;
	if (EXT2_I_SIZE(&inode) > BOOT_FILE_MAX)
		return err_set(err, EFBIG, "bootloader: %s is larger than %llu MiB", path,
			       BOOT_FILE_MAX >> 20);
	if (ext2fs_file_open(fs, ino, 0, &f) != 0)
		return err_set(err, EIO, "bootloader: cannot open %s", path);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ext2fs_file_close(f);
		return err_setsys(err, errno, "bootloader: %s", out);
	}
	for (;;) {
		if (ext2fs_file_read(f, buf, sizeof(buf), &got) != 0) {
			r = err_set(err, EIO, "bootloader: read error in %s", path);
			break;
		}
		if (got == 0)
			break;
		if (write(fd, buf, got) != (ssize_t)got) {
			r = err_setsys(err, errno, "bootloader: %s", out);
			break;
		}
	}
	close(fd);
	ext2fs_file_close(f);
	if (r < 0)
		unlink(out);
	return r;
}

static int read_small(ext2_filsys fs, const char *path, char **text)
{
	ext2_ino_t ino;
	ext2_file_t f;
	struct ext2_inode inode;
	unsigned got;

	if (ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino) != 0 ||
	    ext2fs_read_inode(fs, ino, &inode) != 0 || !LINUX_S_ISREG(inode.i_mode) ||
	    EXT2_I_SIZE(&inode) > (1 << 20))
		return -ENOENT;
	size_t size = (size_t)EXT2_I_SIZE(&inode);
	char *buf = malloc(size + 1);
	if (buf == NULL)
		return -ENOMEM;
	if (ext2fs_file_open(fs, ino, 0, &f) != 0) {
		free(buf);
		return -EIO;
	}
	size_t n = 0;
	while (n < size && ext2fs_file_read(f, buf + n, (unsigned)(size - n), &got) == 0 && got)
		n += got;
	ext2fs_file_close(f);
	buf[n] = '\0';
	*text = buf;
	return 0;
}

int bootloader_extract(const char *disk, const char *kernel_out, const char *initrd_out,
		       bool *have_initrd, char *cmdline, size_t cmdline_size, struct err *err)
{
	static const char *const grub_cfgs[] = { "/boot/grub/grub.cfg", "/grub/grub.cfg",
						 "/boot/grub2/grub.cfg", "/grub2/grub.cfg" };
	static const char *const plain[][2] = { { "/vmlinuz", "/initrd.img" },
						{ "/boot/vmlinuz", "/boot/initrd.img" } };
	char opts[64], kernel[1024] = "", initrd[1024] = "", tried[1200] = "";
	ext2_filsys fs = NULL;
	uint64_t off = 0;
	char *text = NULL;
	int r;

	*have_initrd = false;
	cmdline[0] = '\0';
	r = find_fs(disk, &off, err);
	if (r < 0)
		return r;
	snprintf(opts, sizeof(opts), "offset=%llu", (unsigned long long)off);
	errcode_t e = ext2fs_open2(disk, opts, 0, 0, 0, unix_io_manager, &fs);
	if (e != 0)
		return err_set(err, EIO, "bootloader: disk %s: cannot open its file system: %s", disk,
			       error_message(e));
	for (size_t i = 0; i < ARRAY_SIZE(grub_cfgs) && !kernel[0]; i++) {
		if (read_small(fs, grub_cfgs[i], &text) < 0)
			continue;
		if (bootloader_grub_default(text, kernel, sizeof(kernel), initrd, sizeof(initrd),
					    cmdline, cmdline_size) < 0) {
			kernel[0] = '\0';
			snprintf(tried, sizeof(tried), "%s has no usable menuentry; ", grub_cfgs[i]);
		} else if (strncmp(grub_cfgs[i], "/boot/", 6) == 0 || strncmp(kernel, "/boot/", 6) == 0) {
			/* paths are relative to the file system grub.cfg is on */
		}
		free(text);
		text = NULL;
	}
	if (kernel[0]) {
		r = copy_out(fs, kernel, kernel_out, err);
		if (r == -ENOENT) {
			/* a separate /boot's paths seen from the root file system */
			char alt[1100];
			if (strlen(kernel) > 1000 || strlen(initrd) > 1000)
				return err_set(err, ENAMETOOLONG, "bootloader: path too long");
			snprintf(alt, sizeof(alt), "/boot%s", kernel);
			r = copy_out(fs, alt, kernel_out, err);
			if (r == 0 && initrd[0]) {
				snprintf(alt, sizeof(alt), "/boot%s", initrd);
				memcpy(initrd, alt, strlen(alt) + 1);
			}
		}
		if (r == -ENOENT) {
			r = err_set(err, ENOENT, "bootloader: disk %s: grub.cfg's kernel %s is not "
						 "on the disk", disk, kernel);
			goto out;
		}
		if (r < 0)
			goto out;
		if (initrd[0]) {
			r = copy_out(fs, initrd, initrd_out, err);
			if (r == -ENOENT)
				r = err_set(err, ENOENT, "bootloader: disk %s: grub.cfg's initrd %s is "
							 "not on the disk", disk, initrd);
			if (r < 0)
				goto out;
			*have_initrd = true;
		}
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		r = copy_out(fs, plain[i][0], kernel_out, err);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			goto out;
		r = copy_out(fs, plain[i][1], initrd_out, err);
		if (r == 0)
			*have_initrd = true;
		else if (r != -ENOENT)
			goto out;
		r = 0;
		goto out;
	}
	r = err_set(err, ENOENT, "bootloader: disk %s: no kernel found (%sno /boot/grub/grub.cfg "
				 "entry, no /vmlinuz, no /boot/vmlinuz)", disk, tried);
out:
	ext2fs_close_free(&fs);
	return r;
}
