// SPDX-License-Identifier: MIT
// boottime: run one VMM boot and time it (a helper of bench/boot, built static
// so it runs unchanged inside the nested test host).
//
//   boottime [options] -- COMMAND [ARG...]
//
//   -t SEC     kill the VMM (its whole process group) after SEC seconds (default 60)
//   -m STRING  console marker to time on the VMM's stdout
//              (default "domus-guest: init ready")
//   -k         kill the VMM as soon as its first KVM_RUN was seen
//   -o FILE    copy the VMM's stdout and stderr to FILE
//   -e K=V     set an environment variable for the VMM (repeatable)
//   -s DIR     sample KVM's per-VM statistics of the VMM every 20 ms from DIR
//              (debugfs, /sys/kernel/debug/kvm: the VM's directory is
//              "<pid>-<fd>") and print the last sample (counts for the whole
//              run, minus the last <= 20 ms) as kvm_<name>=N fields
//
// The clock starts just before fork(). The VMM gets a pipe as stdin that is
// never written (no tty, no EOF), and pipes as stdout and stderr. Measured:
//   first_run_ms  first entry into KVM_RUN of the boot vCPU: from the line
//                 "domus-trace: first-kvm-run <CLOCK_MONOTONIC ns>" on stderr
//                 (domus with DOMUS_TRACE=1; the timestamp is domus's own), or
//                 the first "kvm_vcpu_ioctl ... type 0xae80" line on stderr
//                 (QEMU with -trace kvm_vcpu_ioctl; timestamp = when read here)
//   marker_ms     when the marker was read from the VMM's stdout
//   exit_ms       when the VMM process ended (pidfd readable)
//   maxrss_kb     peak RSS of the VMM process (wait4 rusage ru_maxrss)
// and printed as one line on stdout:
//   first_run_ms=F marker_ms=M exit_ms=E maxrss_kb=R status=S timeout=0|1
// with "NA" for what was not seen; status is the exit status, or "sig<N>".
// Exit status: 0 if the run completed (also with -k), 1 on timeout or error.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "boottime: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: boottime [-t SEC] [-m MARKER] [-k] [-o FILE] [-e K=V]... -- COMMAND [ARG...]\n");
	exit(2);
}

// A stream we scan: a window of the last bytes (for the marker, which may be
// split between reads) and the current line (for the trace lines).
struct stream {
	int fd;
	char line[4096];
	size_t len;
	char tail[256];
	size_t tlen;
};

static void fmt_ms(char *buf, size_t n, int64_t ns)
{
	if (ns < 0)
		snprintf(buf, n, "NA");
	else
		snprintf(buf, n, "%.3f", (double)ns / 1e6);
}

// KVM statistics (debugfs) worth comparing between VMMs.
static const char *const kvm_stat_names[] = {
	"exits", "io_exits", "mmio_exits", "halt_exits", "irq_injections",
	"irq_window_exits", "insn_emulation", "pf_fixed", "pf_taken",
};
#define NSTATS (sizeof(kvm_stat_names) / sizeof(kvm_stat_names[0]))

// Read the statistics of pid's VM from dir; false if it has no VM (yet/any more)
// or a file could not be read (the VM went away half-way).
static bool kvm_stats_sample(const char *dir, pid_t pid, long long *vals)
{
	char prefix[32], path[512];
	int plen = snprintf(prefix, sizeof(prefix), "%d-", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *de;
	char vmdir[256] = "";
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, (size_t)plen) == 0) {
			snprintf(vmdir, sizeof(vmdir), "%s", de->d_name);
			break;
		}
	closedir(d);
	if (!vmdir[0])
		return false;
	for (size_t i = 0; i < NSTATS; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", dir, vmdir, kvm_stat_names[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		char buf[64];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return false;
		buf[n] = 0;
		vals[i] = strtoll(buf, NULL, 10);
	}
	return true;
}

int main(int argc, char **argv)
{
	double timeout_s = 60;
	const char *marker = "domus-guest: init ready";
	bool kill_after_first = false;
	const char *outpath = NULL;
	const char *statsdir = NULL;
	long long stats[NSTATS], sample[NSTATS];
	bool have_stats = false;
	int64_t next_sample = 0;
	int opt;

	while ((opt = getopt(argc, argv, "+t:m:ko:e:s:")) != -1) {
		switch (opt) {
		case 't': timeout_s = atof(optarg); break;
		case 'm': marker = optarg; break;
		case 'k': kill_after_first = true; break;
		case 'o': outpath = optarg; break;
		case 's': statsdir = optarg; break;
		case 'e':
			if (!strchr(optarg, '=') || putenv(optarg) != 0)
				usage();
			break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	size_t mlen = strlen(marker);
	if (mlen == 0 || mlen >= sizeof(((struct stream *)0)->tail))
		usage();

	int outfd = -1;
	if (outpath) {
		outfd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (outfd < 0)
			die(outpath);
	}

	int in[2], out[2], err[2];
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		die("pipe");
	signal(SIGPIPE, SIG_IGN);

	int64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "boottime: exec %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); // both sides, so kill(-pid) works whoever runs first
	close(in[0]);
	close(out[1]);
	close(err[1]);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		die("pidfd_open");

	struct stream st[2] = { { .fd = out[0] }, { .fd = err[0] } };
	int64_t first_run = -1, marker_t = -1, exit_t = -1;
	int64_t deadline = t0 + (int64_t)(timeout_s * 1e9);
	bool timed_out = false, killed = false, exited = false;
	int wstatus = 0;
	struct rusage ru = { 0 };
	static char errtail[1024];
	size_t errlen = 0;

	while (!exited || st[0].fd >= 0 || st[1].fd >= 0) {
		struct pollfd pfd[3];
		int n = 0, idx[3];
		for (int i = 0; i < 2; i++)
			if (st[i].fd >= 0) {
				pfd[n] = (struct pollfd){ .fd = st[i].fd, .events = POLLIN };
				idx[n++] = i;
			}
		if (!exited) {
			pfd[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
			idx[n++] = 2;
		}
		int64_t left = deadline - now_ns();
		if (left <= 0 && !killed) {
			timed_out = true;
			killed = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			deadline = now_ns() + 5000000000LL; // then only drain
			continue;
		}
		if (left <= 0 && killed)
			break; // a grandchild holds the pipes: give up on them
		int wait_ms = (int)(left / 1000000) + 1;
		if (statsdir && !exited) {
			int64_t tn = now_ns();
			if (tn >= next_sample) {
				if (kvm_stats_sample(statsdir, pid, sample)) {
					memcpy(stats, sample, sizeof(stats));
					have_stats = true;
				}
				next_sample = tn + 20000000;
			}
			int ms = (int)((next_sample - tn) / 1000000) + 1;
			if (ms < wait_ms)
				wait_ms = ms;
		}
		int r = poll(pfd, n, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll");
		int64_t t = now_ns();
		for (int k = 0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (idx[k] == 2) {
				siginfo_t si = { 0 };
				if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
				    si.si_pid == pid) {
					// Whatever is left in its group goes with it (the
					// zombie keeps the group id from being reused).
					kill(-pid, SIGKILL);
					wait4(pid, &wstatus, 0, &ru);
					exited = true;
					exit_t = t;
				}
				continue;
			}
			struct stream *s = &st[idx[k]];
			char buf[65536];
			ssize_t got = read(s->fd, buf, sizeof(buf));
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				close(s->fd);
				s->fd = -1;
				continue;
			}
			if (outfd >= 0 && write(outfd, buf, (size_t)got) < 0) {
				close(outfd);
				outfd = -1;
			}
			if (idx[k] == 1) { // keep the end of stderr, for failures
				for (ssize_t i = 0; i < got; i++) {
					if (errlen == sizeof(errtail)) {
						memmove(errtail, errtail + 1, sizeof(errtail) - 1);
						errlen--;
					}
					errtail[errlen++] = buf[i];
				}
			}
			for (ssize_t i = 0; i < got; i++) {
				char c = buf[i];
				// marker: sliding window over the stdout bytes
				if (idx[k] == 0 && marker_t < 0) {
					if (s->tlen == mlen) {
						memmove(s->tail, s->tail + 1, mlen - 1);
						s->tlen--;
					}
					s->tail[s->tlen++] = c;
					if (s->tlen == mlen && memcmp(s->tail, marker, mlen) == 0)
						marker_t = t;
				}
				// trace lines on stderr
				if (idx[k] == 1 && first_run < 0) {
					if (c != '\n') {
						if (s->len < sizeof(s->line) - 1)
							s->line[s->len++] = c;
						continue;
					}
					s->line[s->len] = 0;
					s->len = 0;
					const char *p = strstr(s->line, "domus-trace: first-kvm-run ");
					if (p) {
						long long ns = strtoll(p + strlen("domus-trace: first-kvm-run "), NULL, 10);
						first_run = ns > t0 ? ns - t0 : t - t0;
					} else if (strstr(s->line, "kvm_vcpu_ioctl") &&
						   strstr(s->line, "type 0xae80,")) {
						first_run = t - t0;
					}
					if (first_run >= 0 && kill_after_first && !killed) {
						killed = true;
						kill(-pid, SIGKILL);
						kill(pid, SIGKILL);
					}
				}
			}
		}
	}
	if (!exited) {
		// The pipes were given up on: reap the VMM anyway.
		kill(-pid, SIGKILL);
		if (wait4(pid, &wstatus, 0, &ru) == pid)
			exit_t = now_ns();
	}

	if (!killed && exited && !(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) && errlen)
		fprintf(stderr, "boottime: %s failed; end of its stderr:\n%.*s\n", argv[optind],
			(int)errlen, errtail);

	/* domus reports the guest RAM its guest touched at exit (DOMUS_TRACE):
	 * pass that line on, for the VMM overhead (peak RSS minus guest RAM) */
	const char *gt = memmem(errtail, errlen, "domus-trace: guest-ram-touched ", 31);
	if (gt) {
		const char *end = memchr(gt, '\n', (size_t)(errtail + errlen - gt));
		fprintf(stderr, "%.*s\n", (int)((end ? end : errtail + errlen) - gt), gt);
	}

	char f[32], m[32], e[32], status[32], rss[32];
	fmt_ms(f, sizeof(f), first_run);
	fmt_ms(m, sizeof(m), marker_t >= 0 ? marker_t - t0 : -1);
	fmt_ms(e, sizeof(e), (exit_t >= 0 && !killed) ? exit_t - t0 : -1);
	if (WIFEXITED(wstatus))
		snprintf(status, sizeof(status), "%d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(status, sizeof(status), "sig%d", WTERMSIG(wstatus));
	else
		snprintf(status, sizeof(status), "NA");
	// The peak RSS of a run cut short says nothing about a boot.
	if (killed || !exited)
		snprintf(rss, sizeof(rss), "NA");
	else
		snprintf(rss, sizeof(rss), "%ld", ru.ru_maxrss);
	printf("first_run_ms=%s marker_ms=%s exit_ms=%s maxrss_kb=%s status=%s timeout=%d",
	       f, m, e, rss, status, timed_out ? 1 : 0);
	if (statsdir)
		for (size_t i = 0; i < NSTATS; i++) {
			if (have_stats)
				printf(" kvm_%s=%lld", kvm_stat_names[i], stats[i]);
			else
				printf(" kvm_%s=NA", kvm_stat_names[i]);
		}
	printf("\n");
	return timed_out ? 1 : 0;
}
