/* SPDX-License-Identifier: MIT */
/* fetch.h: downloads for `domus install --location http(s)://...` (libcurl). */
#ifndef DOMUS_FETCH_H
#define DOMUS_FETCH_H

#include <stdbool.h>

struct err;

/* fetch_url: GET (url) (http or https only; redirects followed) into (dest),
 * written to a temp file and renamed when complete. With (progress) a bar on
 * stderr names (label). Returns 0; -ENOENT for an HTTP 404/410; other
 * failures -EIO; (err) says which URL and why. */
int fetch_url(const char *url, const char *dest, const char *label, bool progress,
	      struct err *err);

#endif
