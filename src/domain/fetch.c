/* SPDX-License-Identifier: MIT */
/* fetch.c: one HTTP(S) download with libcurl (fetch.h). */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

struct progress {
	const char *label;
	bool on;
	double last;
	bool drawn;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw(struct progress *p, curl_off_t now, curl_off_t total)
{
	char bar[31];
	int fill = total > 0 ? (int)(30 * now / total) : 0;

	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
	bar[30] = '\0';
	if (total > 0)
		fprintf(stderr, "\r%-20.20s %3d%% [%s] %6.1f/%.1f MiB", p->label,
			(int)(100 * now / total), bar, (double)now / 1048576.0,
			(double)total / 1048576.0);
	else
		fprintf(stderr, "\r%-20.20s      %6.1f MiB", p->label, (double)now / 1048576.0);
	p->drawn = true;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct progress *p = arg;
	double t = mono();

	(void)ultotal;
	(void)ulnow;
	if (p->on && (t - p->last >= 0.1 || (dltotal > 0 && dlnow == dltotal))) {
		p->last = t;
		draw(p, dlnow, dltotal);
	}
	return 0;
}

int fetch_url(const char *url, const char *dest, const char *label, bool progress,
	      struct err *err)
{
	struct progress pr = { .label = label, .on = progress };
	char tmp[4096], cerr[CURL_ERROR_SIZE] = "";
	CURL *c = NULL;
	FILE *f = NULL;
	long code = 0;
	int r;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return err_set(err, EINVAL, "%s: only http:// and https:// URLs", url);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.part", dest) >= sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "%s: path too long", dest);
	f = fopen(tmp, "wbe");
	if (f == NULL)
		return err_setsys(err, errno, "%s", tmp);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (c == NULL) {
		r = err_set(err, ENOMEM, "libcurl: cannot initialize");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled server ends the download rather than hanging it */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "domus/" DOMUS_VERSION);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &pr);
	CURLcode cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (pr.drawn)
		fprintf(stderr, cr == CURLE_OK && code < 400 ? "\n" : "  failed\n");
	if (cr != CURLE_OK) {
		r = err_set(err, EIO, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cr));
		goto out;
	}
	if (code == 404 || code == 410) {
		r = err_set(err, ENOENT, "%s: not found (HTTP %ld)", url, code);
		goto out;
	}
	if (code >= 400) {
		r = err_set(err, EIO, "%s: HTTP %ld", url, code);
		goto out;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		r = err_setsys(err, errno, "%s", tmp);
		goto out;
	}
	fclose(f);
	f = NULL;
	if (rename(tmp, dest) < 0) {
		r = err_setsys(err, errno, "%s", dest);
		goto out;
	}
	r = 0;
out:
	if (f)
		fclose(f);
	if (r < 0)
		unlink(tmp);
	if (c)
		curl_easy_cleanup(c);
	return r;
}
