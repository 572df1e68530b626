// SPDX-License-Identifier: MIT
// ctrcycle: a helper of bench/container, built static so that the runtimes
// it starts inherit no large pre-exec RSS (ru_maxrss counts the memory of a
// process before its exec too).
//
//   ctrcycle RUNS RUNTIME ROOT BUNDLE
//
// For each run: RUNTIME --root ROOT create --bundle BUNDLE ID, start ID,
// wait for the container's process (we are a child subreaper), delete ID;
// prints one line per run: "ms=<create..delete> rss_kb=<largest ru_maxrss>".
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long run(char *const argv[], long *rss)
{
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	if (ru.ru_maxrss > *rss)
		*rss = ru.ru_maxrss;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: ctrcycle RUNS RUNTIME ROOT BUNDLE\n");
		return 2;
	}
	int runs = atoi(argv[1]);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	for (int i = 0; i < runs; i++) {
		char id[32];
		struct timespec a, b;
		long rss = 0;
		snprintf(id, sizeof(id), "bench%d", i);
		char *create[] = { argv[2], "--root", argv[3], "create", "--bundle", argv[4], id, NULL };
		char *start[] = { argv[2], "--root", argv[3], "start", id, NULL };
		char *del[] = { argv[2], "--root", argv[3], "delete", id, NULL };
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (run(create, &rss) != 0 || run(start, &rss) != 0) {
			fprintf(stderr, "ctrcycle: %s create/start failed\n", argv[2]);
			return 1;
		}
		while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
			;
		if (run(del, &rss) != 0) {
			fprintf(stderr, "ctrcycle: %s delete failed\n", argv[2]);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("ms=%.3f rss_kb=%ld\n",
		       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6, rss);
		fflush(stdout);
	}
	return 0;
}
