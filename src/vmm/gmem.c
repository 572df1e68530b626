/* SPDX-License-Identifier: MIT */
/* gmem.c: guest RAM backed by one memfd. */
#include "gmem.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "boot/e820.h"
#include "common/err.h"

int gmem_create(struct gmem *mem, uint64_t ram_size, struct err *err)
{
	uint64_t base[GMEM_MAX_REGIONS], size[GMEM_MAX_REGIONS], off = 0;

	memset(mem, 0, sizeof(*mem));
	mem->base = NULL;
	mem->fd = memfd_create("domus-guest-ram", MFD_CLOEXEC);
	if (mem->fd < 0)
		return err_setsys(err, errno, "guest memory: memfd_create");
	if (ftruncate(mem->fd, (off_t)ram_size) < 0) {
		int r = err_setsys(err, errno, "guest memory: cannot size %llu MiB",
				   (unsigned long long)(ram_size >> 20));
		close(mem->fd);
		mem->fd = -1;
		return r;
	}
	/* MAP_NORESERVE: pages are allocated as the guest touches them. */
	mem->base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 mem->fd, 0);
	if (mem->base == MAP_FAILED) {
		int r = err_setsys(err, errno, "guest memory: mmap %llu MiB",
				   (unsigned long long)(ram_size >> 20));
		mem->base = NULL;
		close(mem->fd);
		mem->fd = -1;
		return r;
	}
	madvise(mem->base, ram_size, MADV_HUGEPAGE);
	mem->size = ram_size;
	mem->nr_regions = e820_ram_slots(ram_size, base, size);
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		mem->regions[i] = (struct gmem_region){
			.gpa = base[i], .size = size[i], .hva = mem->base + off, .fd_offset = off,
		};
		off += size[i];
	}
	return 0;
}

void gmem_destroy(struct gmem *mem)
{
	gmem_track_stop(mem);
	if (mem->base)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}

void *gmem_ptr(const struct gmem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (ckd_add(&end, gpa, len))
		return NULL;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct gmem_region *r = &mem->regions[i];
		if (gpa >= r->gpa && end <= r->gpa + r->size)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_write(const struct gmem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = gmem_ptr(mem, gpa, len);

	if (dst == NULL)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gmem_load_fd(const struct gmem *mem, uint64_t gpa, int fd, uint64_t offset, uint64_t len)
{
	uint8_t *dst = gmem_ptr(mem, gpa, len);
	off_t in_off = (off_t)offset;

	if (dst == NULL)
		return -EFAULT;
	/* the memfd offset of (gpa): guest RAM is the memfd, in order */
	if (lseek(mem->fd, (off_t)(dst - mem->base), SEEK_SET) < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = sendfile(mem->fd, fd, &in_off, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* the file shrank under us */
		len -= (uint64_t)n;
	}
	return 0;
}

/* --- dirty tracking for live migration --------------------------------------------- */

void gmem_mark_dirty(const struct gmem *mem, const void *hva, size_t len)
{
	uint64_t *bm = atomic_load_explicit(&((struct gmem *)mem)->dirty, memory_order_acquire);
	const uint8_t *p = hva;

	if (bm == NULL || len == 0 || p < mem->base || p >= mem->base + mem->size)
		return;
	uint64_t first = (uint64_t)(p - mem->base) >> 12;
	uint64_t last = ((uint64_t)(p - mem->base) + len - 1) >> 12;
	if (last >= mem->size >> 12)
		last = (mem->size >> 12) - 1;
	for (uint64_t pg = first; pg <= last; pg++)
		__atomic_fetch_or(&bm[pg / 64], 1ULL << (pg % 64), __ATOMIC_RELAXED);
}

int gmem_track_start(struct gmem *mem)
{
	size_t words = (size_t)((mem->size >> 12) + 63) / 64;
	uint64_t *bm = calloc(words ? words : 1, sizeof(uint64_t));

	if (bm == NULL)
		return -ENOMEM;
	atomic_store_explicit(&mem->dirty, bm, memory_order_release);
	return 0;
}

void gmem_track_stop(struct gmem *mem)
{
	uint64_t *bm = atomic_exchange(&mem->dirty, NULL);

	/* Callers stop tracking with the devices quiet (vCPUs stopped and
	 * devices quiesced, or the VM going away), so nobody still holds bm. */
	free(bm);
}

void gmem_track_take(struct gmem *mem, uint64_t *bitmap)
{
	uint64_t *bm = atomic_load(&mem->dirty);
	size_t words = (size_t)((mem->size >> 12) + 63) / 64;

	if (bm == NULL)
		return;
	for (size_t i = 0; i < words; i++)
		bitmap[i] |= __atomic_exchange_n(&bm[i], 0, __ATOMIC_RELAXED);
}

int gmem_map_file(struct gmem *mem, int fd, uint64_t offset)
{
	void *p = mmap(mem->base, mem->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)offset);

	if (p == MAP_FAILED)
		return -errno;
	mem->file_mapped = true;
	return 0;
}
