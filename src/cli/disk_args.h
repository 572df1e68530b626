/* SPDX-License-Identifier: MIT */
/* disk_args.h: the value of --disk, PATH[,readonly][,direct][,shared][,size=SIZE][,serial=ID], parsed
 * into struct disk_opts as a pure function (no file access), so every error is unit-testable. */
#ifndef DOMUS_DISK_ARGS_H
#define DOMUS_DISK_ARGS_H

#include "backends/disk/disk.h"

/* disk_args_parse: parse (spec) into (out). PATH comes first; a comma inside it is written
 * as ",,". Options, each at most once: readonly, direct, size=SIZE (bytes or with a suffix
 * K, M, G, T; a multiple of 512; creates a missing file, else must match), shared (no lock:
 * other VMs may write it too), serial=ID (1-20
 * printable ASCII characters other than comma and space). Returns 0, or -EINVAL with a
 * one-line message in (err) naming the bad part. */
int disk_args_parse(const char *spec, struct disk_opts *out, struct err *err);

#endif
