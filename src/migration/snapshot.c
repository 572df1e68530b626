/* SPDX-License-Identifier: MIT */
/* snapshot.c: saving a VM to a file and taking its RAM back from one. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/err.h"
#include "kvmstate.h"
#include "stream.h"
#include "vmm/vm.h"
#include "vmstate.h"

#define PAGE		4096u
#define CHUNK		(1u << 20)	/* zero detection and zstd chunk */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zero[4096];

	for (size_t off = 0; off < len; off += sizeof(zero)) {
		size_t n = len - off < sizeof(zero) ? len - off : sizeof(zero);
		if (memcmp(p + off, zero, n) != 0)
			return false;
	}
	return true;
}

int snapshot_put_preamble(struct vm *vm, struct stream *s, struct err *err)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = stream_put_header(s);
	if (r == 0 && (r = vmconfig_save(vm->cfg, &b)) == 0)
		r = stream_put_section(s, "config", VMCONFIG_VERSION, b.data, b.len);
	if (r == 0) {
		b.len = 0;
		if ((r = kvmstate_save_cpuid(vm->cpuid, &b)) == 0)
			r = stream_put_section(s, "cpuid", KVMSTATE_CPUID_VERSION, b.data, b.len);
	}
	buf_free(&b);
	return r < 0 ? err_setsys(err, -r, "writing the VM state") : 0;
}

/* A chunk of guest RAM worth writing: untouched memfd ranges are holes
 * (skipped without reading them), and chunks of zeros are left out too. */
static bool chunk_has_data(const struct vm *vm, uint64_t off, const uint8_t *p, size_t n)
{
	if (!vm->mem.file_mapped) {
		off_t data = lseek(vm->mem.fd, (off_t)off, SEEK_DATA);
		if (data < 0 || (uint64_t)data >= off + n)
			return false;
	}
	return !all_zero(p, n);
}

/* Raw RAM: the bulk data, written with pwrite at its place in the file;
 * chunks of zeros are left as holes (a sparse file, read back as zeros). */
static int save_ram_raw(struct vm *vm, struct stream *s, int fd, uint64_t *written)
{
	uint8_t d[16];
	uint64_t base;
	int r;

	vmstate_ram_desc(d, vm->mem.size, RAM_ENC_RAW);
	if ((r = stream_put_bulk(s, "ram", RAM_VERSION, d, sizeof(d), vm->mem.size)) < 0 ||
	    (r = stream_flush(s)) < 0)
		return r;
	base = s->offset;
	for (uint64_t off = 0; off < vm->mem.size; off += CHUNK) {
		size_t n = vm->mem.size - off < CHUNK ? (size_t)(vm->mem.size - off) : CHUNK;
		const uint8_t *p = vm->mem.base + off;

		if (!chunk_has_data(vm, off, p, n))
			continue;
		for (size_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, p + done, n - done, (off_t)(base + off + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			done += (size_t)w;
		}
		*written += n;
	}
	s->offset += vm->mem.size;
	if (lseek(fd, (off_t)s->offset, SEEK_SET) < 0)
		return -errno;
	return 0;
}

/* zstd: "ram" says so, then one "ramz" section per non-zero chunk: u64
 * offset, u32 length, the zstd frame (with its own checksum). */
static int save_ram_zstd(struct vm *vm, struct stream *s, uint64_t *written)
{
	size_t cap = ZSTD_compressBound(CHUNK) + 12;
	uint8_t d[16], *out = malloc(cap);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	int r = 0;

	if (out == NULL || cc == NULL) {
		r = -ENOMEM;
		goto done;
	}
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	vmstate_ram_desc(d, vm->mem.size, RAM_ENC_ZSTD);
	if ((r = stream_put_section(s, "ram", RAM_VERSION, d, sizeof(d))) < 0)
		goto done;
	for (uint64_t off = 0; off < vm->mem.size; off += CHUNK) {
		size_t n = vm->mem.size - off < CHUNK ? (size_t)(vm->mem.size - off) : CHUNK;
		const uint8_t *p = vm->mem.base + off;
		size_t z;

		if (!chunk_has_data(vm, off, p, n))
			continue;
		z = ZSTD_compress2(cc, out + 12, cap - 12, p, n);
		if (ZSTD_isError(z)) {
			r = -EIO;
			goto done;
		}
		memcpy(out, &off, 8);
		uint32_t n32 = (uint32_t)n;
		memcpy(out + 8, &n32, 4);
		if ((r = stream_put_section(s, "ramz", RAM_VERSION, out, z + 12)) < 0)
			goto done;
		*written += n;
	}
done:
	ZSTD_freeCCtx(cc);
	free(out);
	return r;
}

int snapshot_save(struct vm *vm, const char *path, bool compress, struct snapshot_stats *st,
		  struct err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct stream s;
	double t0 = now_ms();
	uint64_t ram = 0;
	int fd, r;

	snprintf(dir, sizeof(dir), "%s", path);
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dir), basename((char *)path)) >=
	    (int)sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "save %s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_setsys(err, errno, "save %s: cannot create a file there", path);
	r = stream_open(&s, fd, true);
	if (r < 0) {
		err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	r = snapshot_put_preamble(vm, &s, err);
	if (r < 0)
		goto fail_stream;
	r = compress ? save_ram_zstd(vm, &s, &ram) : save_ram_raw(vm, &s, fd, &ram);
	if (r < 0) {
		err_setsys(err, -r, "save %s: writing guest memory", path);
		goto fail_stream;
	}
	r = vmstate_save_devices(vm, &s, err);
	if (r < 0)
		goto fail_stream;
	if ((r = stream_put_end(&s)) < 0 || (r = stream_flush(&s)) < 0) {
		err_setsys(err, -r, "save %s", path);
		goto fail_stream;
	}
	if (ftruncate(fd, (off_t)s.offset) < 0 || fsync(fd) < 0) {
		r = err_setsys(err, errno, "save %s", path);
		goto fail_stream;
	}
	if (rename(tmp, path) < 0) {
		r = err_setsys(err, errno, "save %s: cannot rename the new file into place", path);
		goto fail_stream;
	}
	if (st) {
		st->bytes = s.offset;
		st->ram_bytes = ram;
		st->ms = now_ms() - t0;
	}
	stream_close(&s);
	close(fd);
	return 0;
fail_stream:
	stream_close(&s);
fail:
	close(fd);
	unlink(tmp);
	return r;
}

/* --- restore ----------------------------------------------------------------------- */

struct ram_desc {
	uint64_t size;
	uint32_t enc;
};

static int parse_desc(const struct section *sec, struct ram_desc *d)
{
	struct buf_reader r;
	uint32_t zero;

	buf_reader_init(&r, sec->data, sec->len);
	if (sec->version != RAM_VERSION || !buf_get_u64(&r, &d->size) ||
	    !buf_get_u32(&r, &d->enc) || !buf_get_u32(&r, &zero) || zero != 0 || r.off != r.len)
		return -EINVAL;
	return 0;
}

int snapshot_ram_cb(void *arg, struct vm *vm, struct stream *s, const struct section *sec,
		    struct err *err)
{
	(void)arg;
	if (strcmp(sec->name, "ram") == 0) {
		struct ram_desc d;
		struct stat st;
		int r;

		if (parse_desc(sec, &d) < 0)
			return err_set(err, EINVAL, "snapshot corrupt: bad RAM descriptor");
		if (d.size != vm->mem.size)
			return err_set(err, EINVAL, "snapshot corrupt: %llu bytes of RAM for a %llu "
						    "MiB machine",
				       (unsigned long long)d.size,
				       (unsigned long long)(vm->mem.size >> 20));
		if (d.enc == RAM_ENC_ZSTD && !(sec->flags & STREAM_F_BULK))
			return 0;	/* "ramz" sections follow */
		if (d.enc != RAM_ENC_RAW || !(sec->flags & STREAM_F_BULK) ||
		    sec->bulk_len != d.size || sec->bulk_offset % PAGE)
			return err_set(err, EINVAL, "snapshot corrupt: RAM encoding %u", d.enc);
		/* Prevents a SIGBUS later: the guest touching RAM past the end
		 * of a truncated file. */
		if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size < sec->bulk_offset + d.size)
			return err_set(err, EINVAL, "snapshot truncated: guest memory is cut short");
		r = gmem_map_file(&vm->mem, s->fd, sec->bulk_offset);
		if (r < 0)
			return err_setsys(err, -r, "mapping guest memory from the snapshot");
		r = stream_skip(s, d.size);
		if (r < 0)
			return err_setsys(err, -r, "reading the snapshot");
		return 0;
	}
	if (strcmp(sec->name, "ramz") == 0) {
		uint64_t off;
		uint32_t n;
		size_t got;

		if (sec->len < 12)
			return err_set(err, EINVAL, "snapshot corrupt: short RAM chunk");
		memcpy(&off, sec->data, 8);
		memcpy(&n, sec->data + 8, 4);
		if (n == 0 || n > CHUNK || off % PAGE || off > vm->mem.size ||
		    n > vm->mem.size - off)
			return err_set(err, EINVAL, "snapshot corrupt: RAM chunk out of range");
		got = ZSTD_decompress(vm->mem.base + off, n, sec->data + 12, sec->len - 12);
		if (ZSTD_isError(got) || got != n)
			return err_set(err, EINVAL, "snapshot corrupt: a compressed RAM chunk does "
						    "not decompress (%s)",
				       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
		return 0;
	}
	return err_set(err, EINVAL, "snapshot corrupt: unexpected section %s", sec->name);
}
