/* SPDX-License-Identifier: MIT */
/* snapshot.h: a VM saved to a file and restored from it (docs/snapshots.md).
 * The file is a VM state stream; guest RAM sits page-aligned in it, so a
 * restore maps it copy-on-write and the guest runs before it is read in.
 * With compression (zstd), RAM is in compressed chunks and read in. */
#ifndef DOMUS_SNAPSHOT_H
#define DOMUS_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct err;
struct stream;
struct section;

struct snapshot_stats {
	uint64_t bytes;		/* file size */
	uint64_t ram_bytes;	/* guest RAM bytes written (zero pages are holes) */
	double ms;		/* time to write */
};

/* snapshot_save: write (vm), quiesced (vmstate_quiesce), to (path): through
 * a temporary file in the same directory, fsync'ed and renamed into place,
 * so (path) is either the whole snapshot or untouched. (compress): zstd.
 * Returns 0 or -errno with (err) set. */
int snapshot_save(struct vm *vm, const char *path, bool compress, struct snapshot_stats *st,
		  struct err *err);

/* snapshot_put_preamble: header, "config" and "cpuid" sections of (vm). */
int snapshot_put_preamble(struct vm *vm, struct stream *s, struct err *err);

/* snapshot_ram_cb: the vmstate_ram_cb of a restore from file (arg: unused).
 * Raw RAM is mapped from the file (checked to be all there), zstd chunks
 * are decompressed into guest RAM. */
int snapshot_ram_cb(void *arg, struct vm *vm, struct stream *s, const struct section *sec,
		    struct err *err);

#endif
