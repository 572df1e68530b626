/* SPDX-License-Identifier: MIT */
/* gmem.h: guest RAM. One memfd holds all of it (snapshots and migration will
 * map or send the same fd); it is mapped once and split into KVM memory slots
 * around the 32-bit MMIO hole. Every guest-physical access by the VMM goes
 * through gmem_ptr(), which checks the whole range lies in RAM. */
#ifndef DOMUS_GMEM_H
#define DOMUS_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define GMEM_MAX_REGIONS 2

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;		/* host mapping of the region */
	uint64_t fd_offset;	/* offset of the region in the memfd */
};

struct gmem {
	int fd;			/* memfd with all guest RAM */
	uint64_t size;		/* bytes of RAM */
	uint8_t *base;		/* mapping of the whole memfd */
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned nr_regions;
	/* Pages the VMM itself wrote (virtio devices), one bit per 4 KiB page
	 * of the memfd, while live migration tracks dirty memory; NULL when
	 * not tracking. KVM's dirty log only sees what vCPUs write. */
	_Atomic(uint64_t *) dirty;
	bool file_mapped;	/* RAM is a private mapping of a snapshot file */
};

/* gmem_create: (ram_size) bytes of RAM laid out as e820_ram_slots() says. */
int gmem_create(struct gmem *mem, uint64_t ram_size, struct err *err);
void gmem_destroy(struct gmem *mem);

/* gmem_ptr: host pointer for [gpa, gpa+len) if it lies inside one RAM region
 * (overflow-checked), else NULL. */
void *gmem_ptr(const struct gmem *mem, uint64_t gpa, uint64_t len);

/* gmem_write: copy (len) bytes to (gpa); -EFAULT outside RAM. */
int gmem_write(const struct gmem *mem, uint64_t gpa, const void *src, uint64_t len);

/* gmem_load_fd: copy (len) bytes of file (fd) from (offset) to (gpa) with
 * sendfile(2), so neither the file nor guest RAM is faulted in page by page
 * through user space (which dominates start-up for a 14 MB kernel).
 * Returns 0, -EFAULT outside RAM, or -errno. */
int gmem_load_fd(const struct gmem *mem, uint64_t gpa, int fd, uint64_t offset, uint64_t len);

/* gmem_mark_dirty: the VMM wrote [hva, hva + len) of guest RAM; recorded
 * for live migration while tracking is on, else nothing. Any thread. */
void gmem_mark_dirty(const struct gmem *mem, const void *hva, size_t len);
/* gmem_track_start / gmem_track_stop: turn the VMM's own dirty tracking on
 * (all bits clear) and off. Returns 0 or -ENOMEM. */
int gmem_track_start(struct gmem *mem);
void gmem_track_stop(struct gmem *mem);
/* gmem_track_take: OR the pages written since the last call into (bitmap)
 * (one bit per page of the memfd) and clear them. */
void gmem_track_take(struct gmem *mem, uint64_t *bitmap);

/* gmem_map_file: replace guest RAM's mapping with a private (copy on write)
 * mapping of (fd) at (offset) (page-aligned, the whole RAM): pages are read
 * in as the guest touches them. Before the vCPUs run. 0 or -errno. */
int gmem_map_file(struct gmem *mem, int fd, uint64_t offset);

#endif
