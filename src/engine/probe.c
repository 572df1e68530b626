/* SPDX-License-Identifier: MIT */
/* probe.c: time a ring-0 loop in a tiny KVM guest against the same loop on the host. */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/*
 * The probe guest runs in real mode. Real mode is CPL 0, so its code is guest kernel code, and
 * it needs no descriptor or page tables: the whole guest is a few bytes plus CS/DS bases of 0.
 * SVM and VMX with unrestricted guest execute it natively; VMX without unrestricted guest runs
 * it in vm86 mode, still natively, since every segment base is selector << 4. An engine that
 * emulates guest kernel code (PVM) emulates it like any other ring-0 code.
 *
 * Guest memory is one 4 KiB page at guest physical 0; the loop count lives at GUEST_N_ADDR and
 * is reloaded on every pass, so the host changes it while the guest sits in an exit and never
 * touches the vCPU registers after setup:
 *
 *	0x00	66 8b 0e 00 01	top:	mov ecx, [GUEST_N_ADDR]
 *	0x05	e6 10			out PORT_START, al	; exit #1: clock starts
 *	0x07	66 49		loop:	dec ecx
 *	0x09	75 fc			jnz loop
 *	0x0b	e6 11			out PORT_END, al	; exit #2: clock stops
 *	0x0d	eb f1			jmp top
 *	0x0f	f4			hlt		; never reached
 *
 * The time from exit #1 reaching user space to exit #2 reaching it is the loop plus one exit
 * round trip. The round trip is measured with a count of 1 and subtracted, and the count grows
 * until the loop dominates it: in a nested host running under TCG an exit costs as much as a
 * long loop, and on native hardware a short loop is lost in the exit.
 */
#define GUEST_MEM_SIZE	0x1000
#define GUEST_N_ADDR	0x100
#define PORT_START	0x10
#define PORT_END	0x11
#define GUEST_TSS_ADDR	0xfffbd000u	/* 3 pages: VMX real mode without unrestricted guest */

static const uint8_t guest_code[] = {
	0x66, 0x8b, 0x0e, GUEST_N_ADDR & 0xff, GUEST_N_ADDR >> 8,
	0xe6, PORT_START,
	0x66, 0x49,
	0x75, 0xfc,
	0xe6, PORT_END,
	0xeb, 0xf1,
	0xf4,
};

#define PROBE_SAMPLES	5		/* timed runs behind each median */
#define N_START		1000u		/* first guest loop count: ~0.5 ms when emulated */
#define N_MAX		(1u << 28)
#define HOST_N_MIN	16384u
#define LOOP_MIN_NS	20000.0		/* the loop must take at least this long ... */
#define LOOP_EXITS	10.0		/* ... and this many exit round trips */
#define RUN_CUTOFF_NS	50e6		/* a single run this long is a verdict by itself */
#define BUDGET_NS	60e6		/* guest (and host) run time spent before settling */

struct probe_vm {
	int kvm;
	int vm;
	int vcpu;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* median: of (n >= 1) values; sorts (v). */
static double median(double *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* probe_fail: the error path: out->reason and (err) get the same one-line message. */
__attribute__((format(printf, 4, 5)))
static int probe_fail(struct kvm_probe *out, struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	out->native = false;
	return err_set(err, code, "%s", out->reason);
}

#if defined(__x86_64__) || defined(__i386__)

/* host_loop: the guest's loop, in host user space. */
static void host_loop(uint32_t n)
{
	__asm__ volatile("1:\n\tdec %%ecx\n\tjnz 1b" : "+c"(n) : : "cc");
}

static void vm_close(struct probe_vm *v)
{
	if (v->run != MAP_FAILED)
		munmap(v->run, v->run_size);
	if (v->vcpu >= 0)
		close(v->vcpu);
	if (v->vm >= 0)
		close(v->vm);
	if (v->mem != MAP_FAILED)
		munmap(v->mem, GUEST_MEM_SIZE);
	if (v->kvm >= 0)
		close(v->kvm);
}

static int vm_open(struct probe_vm *v, struct kvm_probe *out, struct err *err)
{
	struct kvm_userspace_memory_region slot = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	int r, e;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: %s", strerror(e));
	}
	r = ioctl(v->kvm, KVM_GET_API_VERSION, 0);
	if (r < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: KVM_GET_API_VERSION: %s", strerror(e));
	}
	if (r != KVM_API_VERSION)
		return probe_fail(out, err, ENOTSUP, "/dev/kvm: KVM API version %d, expected %d",
				  r, KVM_API_VERSION);
	do
		v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	while (v->vm < 0 && errno == EINTR);
	if (v->vm < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: cannot create a VM: %s", strerror(e));
	}
	r = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run)) {
		e = r < 0 ? errno : EPROTO;
		return probe_fail(out, err, e, "/dev/kvm: KVM_GET_VCPU_MMAP_SIZE: %s", strerror(e));
	}
	v->run_size = (size_t)r;

	v->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (v->mem == MAP_FAILED) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm probe: guest memory: %s", strerror(e));
	}
	memcpy(v->mem, guest_code, sizeof(guest_code));

	/* Only VMX without unrestricted guest needs it for real mode; elsewhere it is a no-op
	 * or unsupported, and a failure here shows up as a failed entry below. */
	if (ioctl(v->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0)
		(void)ioctl(v->vm, KVM_SET_TSS_ADDR, (unsigned long)GUEST_TSS_ADDR);

	slot.slot = 0;
	slot.guest_phys_addr = 0;
	slot.memory_size = GUEST_MEM_SIZE;
	slot.userspace_addr = (uintptr_t)v->mem;
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: KVM_SET_USER_MEMORY_REGION: %s",
				  strerror(e));
	}
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: cannot create a vCPU: %s", strerror(e));
	}
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: vCPU mmap: %s", strerror(e));
	}

	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: KVM_GET_SREGS: %s", strerror(e));
	}
	struct kvm_segment *segs[] = { &sregs.cs, &sregs.ds, &sregs.es, &sregs.ss };

	for (size_t i = 0; i < ARRAY_SIZE(segs); i++) {
		segs[i]->selector = 0;
		segs[i]->base = 0;
		segs[i]->limit = 0xffff;
	}
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: KVM_SET_SREGS: %s", strerror(e));
	}
	regs.rip = 0;
	regs.rflags = 0x2;	/* reserved bit 1; IF clear: nothing interrupts the loop */
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: KVM_SET_REGS: %s", strerror(e));
	}
	return 0;
}

/* vm_run_to: KVM_RUN until the guest writes to (port); anything else is an error. */
static int vm_run_to(struct probe_vm *v, uint16_t port, struct kvm_probe *out, struct err *err)
{
	const struct kvm_run *run = v->run;
	int r, e;

	do
		r = ioctl(v->vcpu, KVM_RUN, 0);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	if (r < 0) {
		e = errno;
		return probe_fail(out, err, e, "/dev/kvm: KVM_RUN: %s", strerror(e));
	}
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == port)
			return 0;
		return probe_fail(out, err, EIO,
				  "/dev/kvm: probe guest stopped unexpectedly (%s port 0x%x)",
				  run->io.direction == KVM_EXIT_IO_OUT ? "out to" : "in from",
				  run->io.port);
	case KVM_EXIT_FAIL_ENTRY:
		return probe_fail(out, err, EIO,
				  "/dev/kvm: cannot enter the probe guest (hardware reason 0x%llx)",
				  (unsigned long long)
				  run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return probe_fail(out, err, EIO, "/dev/kvm: probe guest: KVM internal error %u",
				  run->internal.suberror);
	case KVM_EXIT_MMIO:
		return probe_fail(out, err, EIO,
				  "/dev/kvm: probe guest stopped unexpectedly (MMIO at 0x%llx)",
				  (unsigned long long)run->mmio.phys_addr);
	case KVM_EXIT_HLT:
		return probe_fail(out, err, EIO, "/dev/kvm: probe guest halted unexpectedly");
	case KVM_EXIT_SHUTDOWN:
		return probe_fail(out, err, EIO, "/dev/kvm: probe guest shut down (triple fault)");
	default:
		return probe_fail(out, err, EIO,
				  "/dev/kvm: probe guest stopped unexpectedly (exit reason %u)",
				  run->exit_reason);
	}
}

/* guest_once: one pass of the guest loop with count (n); *ns: exit #1 to exit #2. */
static int guest_once(struct probe_vm *v, uint32_t n, double *ns, struct kvm_probe *out,
		      struct err *err)
{
	uint64_t t0;
	int r;

	/* The guest reads it after the next entry: it waits in exit #2 (or before its start). */
	*(volatile uint32_t *)(v->mem + GUEST_N_ADDR) = n;
	r = vm_run_to(v, PORT_START, out, err);
	if (r < 0)
		return r;
	t0 = now_ns();
	r = vm_run_to(v, PORT_END, out, err);
	if (r < 0)
		return r;
	*ns = (double)(now_ns() - t0);
	return 0;
}

/* measure_guest: fills exit_ns, iterations and guest_ns; *settled: the loop dominated. */
static int measure_guest(struct probe_vm *v, struct kvm_probe *out, bool *settled,
			 struct err *err)
{
	double s[PROBE_SAMPLES], t = 0, loop, exit_ns, target, spent = 0;
	uint32_t n = N_START;
	bool stop;
	size_t k;
	int r;

	/* The first pass faults the page in and sets the vCPU up: not timed. */
	r = guest_once(v, 1, &t, out, err);
	for (k = 0; r == 0 && k < PROBE_SAMPLES; k++)
		r = guest_once(v, 1, &s[k], out, err);
	if (r < 0)
		return r;
	exit_ns = median(s, PROBE_SAMPLES);
	target = exit_ns * LOOP_EXITS > LOOP_MIN_NS ? exit_ns * LOOP_EXITS : LOOP_MIN_NS;

	for (;;) {
		r = guest_once(v, n, &t, out, err);
		if (r < 0)
			return r;
		spent += t;
		loop = t - exit_ns;
		stop = t >= RUN_CUTOFF_NS || spent >= BUDGET_NS;
		if (loop >= target || stop || n >= N_MAX) {
			/* Long enough, or no time left: take the median. A single pass can
			 * be long because something interrupted it; then the count grows. */
			s[0] = t;
			for (k = 1; k < PROBE_SAMPLES && !stop; k++) {
				r = guest_once(v, n, &s[k], out, err);
				if (r < 0)
					return r;
				spent += s[k];
				stop = spent >= BUDGET_NS;
			}
			loop = median(s, k) - exit_ns;
			if (loop >= target / 2 || stop || n >= N_MAX)
				break;
		}
		double grow = loop > 0 ? 1.25 * target / loop : 64;

		grow = grow < 2 ? 2 : grow > 64 ? 64 : grow;
		n = (double)n * grow >= N_MAX ? N_MAX : (uint32_t)((double)n * grow);
	}
	out->exit_ns = exit_ns;
	out->iterations = n;
	out->guest_ns = loop > 0 ? loop : 0;
	*settled = loop >= 2 * exit_ns;
	return 0;
}

/* measure_host: host_ns, the host time of out->iterations passes, timed over enough passes
 * to be well above the clock's resolution. */
static void measure_host(struct kvm_probe *out)
{
	double s[PROBE_SAMPLES], spent = 0;
	uint32_t n = out->iterations > HOST_N_MIN ? out->iterations : HOST_N_MIN;
	uint64_t t0;
	size_t k;

	for (;;) {
		t0 = now_ns();
		host_loop(n);
		s[0] = (double)(now_ns() - t0);
		spent += s[0];
		if (s[0] >= LOOP_MIN_NS || n >= N_MAX || spent >= BUDGET_NS)
			break;
		n = n >= N_MAX / 2 ? N_MAX : n * 2;
	}
	for (k = 0; k < PROBE_SAMPLES && (k == 0 || spent < BUDGET_NS); k++) {
		t0 = now_ns();
		host_loop(n);
		s[k] = (double)(now_ns() - t0);
		spent += s[k];
	}
	out->host_ns = median(s, k) * out->iterations / n;
}

int kvm_probe_run(struct kvm_probe *out, struct err *err)
{
	struct probe_vm v = { .kvm = -1, .vm = -1, .vcpu = -1, .mem = MAP_FAILED,
			      .run = MAP_FAILED };
	bool settled = false;
	int r;

	memset(out, 0, sizeof(*out));
	r = vm_open(&v, out, err);
	if (r < 0)
		goto out;
	r = measure_guest(&v, out, &settled, err);
	if (r < 0)
		goto out;
	measure_host(out);

	out->ratio = out->host_ns > 0 ? out->guest_ns / out->host_ns : 0;
	if (!settled) {
		out->native = false;
		snprintf(out->reason, sizeof(out->reason),
			 "/dev/kvm: guest code could not be timed (%.0f us per exit), "
			 "taken as emulated", out->exit_ns / 1000);
	} else if (out->ratio > KVM_PROBE_RATIO_LIMIT) {
		out->native = false;
		snprintf(out->reason, sizeof(out->reason),
			 "/dev/kvm runs guest kernel code %.0fx slower than native "
			 "(emulated, e.g. PVM)", out->ratio);
	} else {
		out->native = true;
		snprintf(out->reason, sizeof(out->reason),
			 "/dev/kvm runs guest kernel code at native speed (ratio %.1f)",
			 out->ratio);
	}
out:
	vm_close(&v);
	return r;
}

#else /* !x86 */

int kvm_probe_run(struct kvm_probe *out, struct err *err)
{
	memset(out, 0, sizeof(*out));
	return probe_fail(out, err, ENOTSUP, "/dev/kvm: the probe supports x86 hosts only");
}

#endif

/* ---- The cache ---- */

#define CACHE_MAGIC	"domus-kvm-probe"
#define CACHE_MAX	4096

/* key_word: non-empty, printable, without spaces: storable on one "name value" line. */
static bool key_word(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n == max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

int kvm_probe_key_get(struct kvm_probe_key *key)
{
	struct utsname u;
	ssize_t n;
	int fd, r = 0;

	memset(key, 0, sizeof(*key));
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, key->boot_id, sizeof(key->boot_id) - 1);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	key->boot_id[n] = '\0';
	key->boot_id[strcspn(key->boot_id, "\n")] = '\0';
	if (uname(&u) < 0) {
		r = -errno;
		goto out;
	}
	snprintf(key->kernel, sizeof(key->kernel), "%s", u.release);
	if (!key_word(key->boot_id, sizeof(key->boot_id)) ||
	    !key_word(key->kernel, sizeof(key->kernel)))
		r = -EINVAL;
out:
	close(fd);
	return r;
}

/* to_ps: nanoseconds as whole picoseconds: the file carries no locale-dependent numbers. */
static unsigned long long to_ps(double ns)
{
	if (!(ns > 0))
		return 0;
	if (ns >= 1e15)
		return 1000000000000000000ull;
	return (unsigned long long)(ns * 1000 + 0.5);
}

int kvm_probe_cache_format(const struct kvm_probe_key *key, const struct kvm_probe *p,
			   char *buf, size_t len)
{
	char reason[sizeof(p->reason)];
	int n;

	if (!key_word(key->boot_id, sizeof(key->boot_id)) ||
	    !key_word(key->kernel, sizeof(key->kernel)))
		return -EINVAL;
	snprintf(reason, sizeof(reason), "%s", p->reason);
	for (char *c = reason; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			*c = '?';
	n = snprintf(buf, len,
		     CACHE_MAGIC " %d\n"
		     "boot_id %s\n"
		     "kernel %s\n"
		     "native %d\n"
		     "iterations %u\n"
		     "guest_ps %llu\n"
		     "host_ps %llu\n"
		     "exit_ps %llu\n"
		     "reason %s\n",
		     KVM_PROBE_CACHE_VERSION, key->boot_id, key->kernel, p->native ? 1 : 0,
		     (unsigned)p->iterations, to_ps(p->guest_ns), to_ps(p->host_ns),
		     to_ps(p->exit_ns), reason);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* parse_u64: all of (s) as a decimal number. */
static bool parse_u64(const char *s, unsigned long long *v)
{
	unsigned long long x = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (ckd_mul(&x, x, 10ull) || ckd_add(&x, x, (unsigned long long)(*s - '0')))
			return false;
	}
	*v = x;
	return true;
}

enum {
	F_BOOT_ID, F_KERNEL, F_NATIVE, F_ITERATIONS, F_GUEST, F_HOST, F_EXIT, F_REASON, F_COUNT
};

static const char *const cache_fields[F_COUNT] = {
	[F_BOOT_ID] = "boot_id", [F_KERNEL] = "kernel", [F_NATIVE] = "native",
	[F_ITERATIONS] = "iterations", [F_GUEST] = "guest_ps", [F_HOST] = "host_ps",
	[F_EXIT] = "exit_ps", [F_REASON] = "reason",
};

int kvm_probe_cache_parse(const char *text, size_t len, const struct kvm_probe_key *key,
			  struct kvm_probe *out)
{
	char buf[CACHE_MAX];
	const char *val[F_COUNT] = { 0 };
	unsigned long long num[F_COUNT] = { 0 };
	struct kvm_probe p = { 0 };
	char *line, *next, *sp;
	size_t i;

	if (len == 0 || len >= sizeof(buf) || memchr(text, '\0', len) || text[len - 1] != '\n')
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';

	/* First line: magic and format version. */
	next = strchr(buf, '\n');
	*next++ = '\0';
	sp = strchr(buf, ' ');
	if (sp == NULL)
		return -EINVAL;
	*sp = '\0';
	if (strcmp(buf, CACHE_MAGIC) != 0 || !parse_u64(sp + 1, &num[0]))
		return -EINVAL;
	if (num[0] != KVM_PROBE_CACHE_VERSION)
		return -ESTALE;

	for (line = next; *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		sp = strchr(line, ' ');
		if (sp == NULL)
			return -EINVAL;
		*sp = '\0';
		for (i = 0; i < F_COUNT && strcmp(line, cache_fields[i]) != 0; i++)
			;
		if (i == F_COUNT || val[i] != NULL)
			return -EINVAL;
		val[i] = sp + 1;
	}
	for (i = 0; i < F_COUNT; i++) {
		if (val[i] == NULL)
			return -EINVAL;
		if (i >= F_NATIVE && i <= F_EXIT && !parse_u64(val[i], &num[i]))
			return -EINVAL;
	}
	if (num[F_NATIVE] > 1 || num[F_ITERATIONS] == 0 || num[F_ITERATIONS] > UINT32_MAX ||
	    num[F_HOST] == 0 || val[F_REASON][0] == '\0' ||
	    strlen(val[F_REASON]) >= sizeof(p.reason))
		return -EINVAL;

	p.native = num[F_NATIVE] == 1;
	p.iterations = (uint32_t)num[F_ITERATIONS];
	p.guest_ns = (double)num[F_GUEST] / 1000;
	p.host_ns = (double)num[F_HOST] / 1000;
	p.exit_ns = (double)num[F_EXIT] / 1000;
	p.ratio = p.guest_ns / p.host_ns;
	p.cached = true;
	snprintf(p.reason, sizeof(p.reason), "%s", val[F_REASON]);
	if (p.native && p.ratio > KVM_PROBE_RATIO_LIMIT)
		return -EINVAL;

	if (strcmp(val[F_BOOT_ID], key->boot_id) != 0 || strcmp(val[F_KERNEL], key->kernel) != 0)
		return -ESTALE;
	*out = p;
	return 0;
}

int kvm_probe_cache_load(const char *path, const struct kvm_probe_key *key, struct kvm_probe *out)
{
	char buf[CACHE_MAX];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* Only a file this user (or root) wrote decides: the path may be in a shared /tmp. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0)) {
		r = -EPERM;
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = len == sizeof(buf) ? -EINVAL : kvm_probe_cache_parse(buf, len, key, out);
out:
	close(fd);
	return r;
}

/* mkdir_parents: create the missing directories above the file (path). */
static int mkdir_parents(const char *path)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	for (char *c = dir + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*c = '/';
	}
	return 0;
}

int kvm_probe_cache_store(const char *path, const struct kvm_probe_key *key,
			  const struct kvm_probe *p)
{
	char text[CACHE_MAX], tmp[PATH_MAX];
	size_t off = 0;
	int fd = -1, n, r;

	n = kvm_probe_cache_format(key, p, text, sizeof(text));
	if (n < 0)
		return n;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	r = mkdir_parents(path);
	if (r < 0)
		return r;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < (size_t)n) {
		ssize_t w = write(fd, text + off, (size_t)n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) < 0) {
		r = -errno;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int kvm_probe_cached(const char *cache_path, struct kvm_probe *out, struct err *err)
{
	struct kvm_probe_key key;
	int r;

	if (cache_path == NULL || kvm_probe_key_get(&key) < 0)
		return kvm_probe_run(out, err);
	if (kvm_probe_cache_load(cache_path, &key, out) == 0)
		return 0;
	r = kvm_probe_run(out, err);
	/* A run whose loop did not dominate the exits may have been disturbed: not kept. */
	if (r == 0 && out->guest_ns >= 2 * out->exit_ns)
		(void)kvm_probe_cache_store(cache_path, &key, out);
	return r;
}

const char *kvm_probe_default_cache_path(char *buf, size_t len)
{
	const char *dir;
	int n;

	if (geteuid() == 0) {
		n = snprintf(buf, len, "/run/domus/kvm-probe");
	} else if ((dir = secure_getenv("XDG_RUNTIME_DIR")) != NULL && dir[0] == '/') {
		n = snprintf(buf, len, "%s/domus/kvm-probe", dir);
	} else if ((dir = secure_getenv("XDG_CACHE_HOME")) != NULL && dir[0] == '/') {
		n = snprintf(buf, len, "%s/domus/kvm-probe", dir);
	} else if ((dir = secure_getenv("HOME")) != NULL && dir[0] == '/') {
		n = snprintf(buf, len, "%s/.cache/domus/kvm-probe", dir);
	} else {
		return NULL;
	}
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}
