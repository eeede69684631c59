// SPDX-License-Identifier: GPL-2.0
/*
 * native.c: real system calls inside an arena, in a child process driven
 * by its parent over a socket pair (see include/native.h).
 *
 * The child runs only this file's code after fork(): no malloc, no stdio,
 * nothing of the Swift runtime (the parent is multi-threaded, so the child
 * may only use async-signal-safe calls).  Every range it is asked to touch
 * is an offset into its arena, checked against the arena's size before the
 * call: a request that would leave the arena is refused, never made.
 *
 * NATIVE_FORK forks the child: the new process serves a copy of the arena
 * on a new socket pair, whose other end goes to the tool with the reply
 * (SCM_RIGHTS).  It is a raw clone() with CLONE_PARENT, for two reasons:
 * the new process is the tool's child as the first one is, so the tool
 * reaps every process the same way (waitpid) and none is ever orphaned
 * when the process it was forked from exits first (an orphan is init's to
 * reap, whenever init gets to it: seconds later on this machine); and no
 * atfork handler of any library runs in a process forked from a
 * multi-threaded one.  NATIVE_EXIT is a real exit, replied to first.
 *
 * Loads and stores go through access_word(): a real load or store
 * instruction, with SIGSEGV and SIGBUS caught by a handler on an alternate
 * stack that siglongjmp()s back to the accessor.  That is the user-access
 * path the model speaks of (a hardware fault, the kernel's page-fault
 * handler, copy-on-write, a signal); process_vm_readv()/writev() would
 * instead go through get_user_pages(), a different path with its own
 * rules (it would report EFAULT, not the signal and its si_code).
 *
 * NATIVE_BATCH runs up to NATIVE_BATCH_MAX sub-requests on up to
 * NATIVE_THREADS_MAX threads of the child, started together (x86-64
 * only).  The threads are raw clone()s (CLONE_VM | CLONE_THREAD ..., on
 * stacks mapped when the child starts), not pthread_create(): a process
 * made by NATIVE_FORK's raw clone carries glibc's idea of its one thread
 * (the cached tid, the thread list, the stack cache) copied from another
 * process without glibc knowing, which pthread_create() relies on; and a
 * child of the multi-threaded tool may only make async-signal-safe calls.
 * A new thread shares the serving thread's TLS (no CLONE_SETTLS), so it
 * calls nothing that writes it: system calls through sys6() (which returns
 * -errno, never touching errno), clock_gettime() through the vDSO (which
 * cannot fail for CLOCK_MONOTONIC, so never writes errno either).  Each
 * thread spins on a start flag once every thread is there, so that they
 * run at once; the serving thread joins them by CLONE_CHILD_CLEARTID
 * (the kernel clears the tid word and wakes its futex when a thread
 * exits).
 *
 * A thread's loads and stores go through tacc(), an instruction whose
 * fault on_fault() fixes up in the faulting thread's own saved context,
 * as the kernel's exception tables do: it moves the instruction pointer
 * to a fixup label and leaves the signal, si_code and address in
 * registers.  SIGSEGV and SIGBUS from an access are delivered to the
 * thread that faulted, and all a fault's state lives in that thread's
 * registers: no other thread's handler can take it, and there is no jmp
 * buffer or signal mask to keep per thread.  Each thread has an
 * alternate stack of its own (sigaltstack is per thread, and a CLONE_VM
 * thread starts without one).
 */
#include "native.h"

#include <errno.h>

#ifdef __linux__

#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE_SIZE_ 4096ULL

/* The child's state (one child per process image: it is forked). */
static uint64_t arena_base;
static pid_t tool_pid;		/* the parent of every child */
static sigjmp_buf access_env;
/*
 * Shared with on_fault(), in the same thread: read and written with
 * __atomic builtins and signal fences, so that the compiler keeps every
 * access where it is written.
 */
static int in_access;
static int fault_sig, fault_code;
static uintptr_t fault_addr;

static int tacc_fixup(int sig, siginfo_t *si, void *uc);

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;

	if (tacc_fixup(sig, si, uc))
		return;	/* a batch thread's access: it goes on at the fixup */
	if (!__atomic_load_n(&in_access, __ATOMIC_RELAXED)) {
		/* Not ours: die of it, as the default action would. */
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		return;	/* the instruction faults again, fatally */
	}
	__atomic_store_n(&in_access, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_sig, sig, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_code, si->si_code, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_addr, (uintptr_t)si->si_addr, __ATOMIC_RELAXED);
	siglongjmp(access_env, 1);
}

/*
 * One 64-bit load or store at `p` (one plain mov: a relaxed atomic access
 * of an aligned word, which the compiler may not drop or merge).  Returns
 * 0, or -1 after a fault.  Nothing written between sigsetjmp() and the
 * access is read after a siglongjmp() back.
 */
static int access_word(uint64_t *p, int store, uint64_t v, uint64_t *out)
{
	if (sigsetjmp(access_env, 1))
		return -1;
	__atomic_store_n(&in_access, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (store) {
		__atomic_store_n(p, v, __ATOMIC_RELAXED);
		*out = 0;
	} else {
		*out = __atomic_load_n(p, __ATOMIC_RELAXED);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&in_access, 0, __ATOMIC_RELAXED);
	return 0;
}

/* Is [off, off + len rounded up to a page) inside the arena? */
static int in_arena(uint64_t off, uint64_t len)
{
	uint64_t alen = (len + PAGE_SIZE_ - 1) & ~(PAGE_SIZE_ - 1);

	if (alen < len)
		return 0;	/* rounding wrapped */
	return off <= NATIVE_ARENA_SIZE && alen <= NATIVE_ARENA_SIZE - off;
}

/*
 * mincore(2) of the n pages at addr into vec, a page nothing maps read as
 * not resident: mincore() refuses a range with a hole (ENOMEM), so such a
 * range is halved until each part is mapped or one page.  Returns 0, or
 * the errno of another failure.
 */
static int residency(uint64_t addr, unsigned int n, unsigned char *vec)
{
	int r;

	if (!syscall(SYS_mincore, addr, n * PAGE_SIZE_, vec))
		return 0;
	if (errno != ENOMEM)
		return errno;
	if (n == 1) {
		vec[0] = 0;
		return 0;
	}
	r = residency(addr, n / 2, vec);
	if (!r)
		r = residency(addr + n / 2 * PAGE_SIZE_, n - n / 2, vec + n / 2);
	return r;
}

/*
 * Residency of the len bytes at arena offset off, which lie in one window,
 * into res->bits by page of that window.
 */
static void range_residency(uint64_t off, uint64_t len, struct native_res *res)
{
	unsigned char vec[NATIVE_WINDOW_PAGES];
	unsigned int first = (off & (NATIVE_WINDOW_SIZE - 1)) / PAGE_SIZE_;
	unsigned int n = len / PAGE_SIZE_;
	int r = residency(arena_base + off, n, vec);

	if (r) {
		res->status = NATIVE_ERRNO;
		res->err = r;
		return;
	}
	for (unsigned int i = 0; i < n; i++)
		if (vec[i] & 1)
			res->bits[(first + i) / 64] |= 1ULL << ((first + i) % 64);
	res->status = NATIVE_OK;
}

/* Does [off, off + len) lie in one window, in page units? */
static int in_one_window(uint64_t off, uint64_t len)
{
	uint64_t mask = NATIVE_WINDOW_SIZE - 1;

	if ((off | len) & (PAGE_SIZE_ - 1) || !len || len > NATIVE_WINDOW_SIZE)
		return 0;
	return (off & ~mask) == ((off + len - 1) & ~mask);
}

static void result_of(struct native_res *res, long ret)
{
	if (ret < 0) {
		res->status = NATIVE_ERRNO;
		res->err = errno;
	} else {
		res->status = NATIVE_OK;
		res->ret = 0;
	}
}

static void serve(const struct native_req *q, struct native_res *res)
{
	uint64_t addr = arena_base + q->off;
	long ret;

	memset(res, 0, sizeof(*res));
	switch (q->kind) {
	case NATIVE_MMAP:
		if (!in_arena(q->off, q->len) ||
		    !(q->flags & (MAP_FIXED | NATIVE_MAP_FIXED_NOREPLACE)))
			goto refuse;
		ret = syscall(SYS_mmap, addr, q->len, q->prot, q->flags, -1, 0);
		if (ret == -1) {
			res->status = NATIVE_ERRNO;
			res->err = errno;
		} else if ((uint64_t)ret < arena_base ||
			   !in_arena((uint64_t)ret - arena_base, q->len)) {
			/* Cannot happen with MAP_FIXED*: say so loudly. */
			res->status = NATIVE_REFUSED;
			res->ret = (uint64_t)ret;
		} else {
			res->status = NATIVE_OK;
			res->ret = (uint64_t)ret - arena_base;
		}
		return;
	case NATIVE_MUNMAP:
		if (!in_arena(q->off, q->len))
			goto refuse;
		result_of(res, syscall(SYS_munmap, addr, q->len));
		return;
	case NATIVE_MPROTECT:
		if (!in_arena(q->off, q->len))
			goto refuse;
		result_of(res, syscall(SYS_mprotect, addr, q->len, q->prot));
		return;
	case NATIVE_MADVISE:
		if (!in_arena(q->off, q->len))
			goto refuse;
		result_of(res, syscall(SYS_madvise, addr, q->len, q->flags));
		return;
	case NATIVE_LOAD:
	case NATIVE_STORE:
		if (q->off > NATIVE_ARENA_SIZE - 8 || (q->off & 7))
			goto refuse;
		if (access_word((uint64_t *)(uintptr_t)addr,
				q->kind == NATIVE_STORE, q->value, &res->value)) {
			res->status = NATIVE_FAULT;
			res->sig = __atomic_load_n(&fault_sig, __ATOMIC_RELAXED);
			res->code = __atomic_load_n(&fault_code, __ATOMIC_RELAXED);
			res->fault_off = __atomic_load_n(&fault_addr,
							 __ATOMIC_RELAXED) -
					 arena_base;
		} else {
			res->status = NATIVE_OK;
		}
		return;
	case NATIVE_MINCORE:
		if (!in_one_window(q->off, q->len) ||
		    !in_arena(q->off, q->len))
			goto refuse;
		range_residency(q->off, q->len, res);
		return;
	}
refuse:
	res->status = NATIVE_REFUSED;
}

static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EPIPE;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Receives exactly n bytes, waiting at most timeout_ms (< 0: forever). */
static int recv_all(int fd, void *buf, size_t n, int timeout_ms)
{
	char *p = buf;

	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t k;
		int r = poll(&pfd, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		k = recv(fd, p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EPIPE;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Sends `res` with descriptor `pass` attached (SCM_RIGHTS). */
static int send_fd(int fd, const struct native_res *res, int pass)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)res, .iov_len = sizeof(*res) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	ssize_t k;

	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	do {
		k = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (k < 0 && errno == EINTR);
	if (k <= 0)
		return -EPIPE;
	return send_all(fd, (const char *)res + k, sizeof(*res) - (size_t)k);
}

/*
 * Receives a reply and the descriptor passed with it (*pass, or -1 when
 * none came), waiting at most timeout_ms.
 */
static int recv_fd(int fd, struct native_res *res, int *pass, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = res, .iov_len = sizeof(*res) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct cmsghdr *cm;
	ssize_t k;
	int r;

	*pass = -1;
	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	do {
		k = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	} while (k < 0 && errno == EINTR);
	if (k <= 0)
		return -EPIPE;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(pass, CMSG_DATA(cm), sizeof(int));
	}
	r = recv_all(fd, (char *)res + k, sizeof(*res) - (size_t)k,
		     timeout_ms);
	if (r && *pass >= 0) {
		close(*pass);
		*pass = -1;
	}
	return r;
}

static void close_other_fds(int keep)
{
#ifdef SYS_close_range
	if (keep > 3)
		syscall(SYS_close_range, 3, keep - 1, 0);
	if (syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
		return;
#endif
	for (int fd = 3; fd < 4096; fd++)
		if (fd != keep)
			close(fd);
}

/*
 * NATIVE_FORK.  The new process (the tool's child: CLONE_PARENT) goes on
 * serving with *fd set to one end of a new socket pair; the old one
 * replies with its pid and passes the other end to the tool.  A fork that
 * fails is replied as NATIVE_ERRNO.  Returns 0, or -EPIPE when the tool
 * is gone.
 */
static int serve_fork(int *fd)
{
	struct native_res res;
	int sv[2], err;
	long pid;

	memset(&res, 0, sizeof(res));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		goto fail;
	pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		goto fail_close;
	if (pid == 0) {
		close(*fd);
		close(sv[0]);
		*fd = sv[1];
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		return getppid() == tool_pid ? 0 : -EPIPE;
	}
	close(sv[1]);
	res.status = NATIVE_OK;
	res.ret = (uint64_t)pid;
	err = send_fd(*fd, &res, sv[0]);
	close(sv[0]);
	return err;

fail_close:
	err = errno;
	close(sv[0]);
	close(sv[1]);
	errno = err;
fail:
	res.status = NATIVE_ERRNO;
	res.err = errno;
	return send_all(*fd, &res, sizeof(res));
}

#ifdef __x86_64__

/* Bytes of each batch thread's stack, and of its alternate stack. */
#define BATCH_STACK (64 << 10)
#define BATCH_ALTSTACK (64 << 10)

/*
 * A system call made by a batch thread: the raw instruction, returning
 * the result or -errno (glibc's syscall() would write errno, in the TLS
 * the thread shares with the serving thread).
 */
static long sys6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 asm("r10") = a4;
	register long r8 asm("r8") = a5;
	register long r9 asm("r9") = a6;
	long ret;

	asm volatile("syscall"
		     : "=a" (ret)
		     : "a" (n), "D" (a1), "S" (a2), "d" (a3), "r" (r10),
		       "r" (r8), "r" (r9)
		     : "rcx", "r11", "memory");
	return ret;
}

/*
 * The labels of tacc()'s access instructions and of where a fault of one
 * resumes (defined by its assembly).
 */
extern const char native_tacc_load[], native_tacc_store[], native_tacc_fixup[];

/*
 * One 64-bit load (`store` 0: returned in *value) or store of *value at
 * `p`: a plain mov, single-copy atomic for an aligned word.  Returns 0,
 * or the signal the access took, with si_code in *code and si_addr in
 * *fault: tacc_fixup() resumes a faulting access at native_tacc_fixup
 * with the signal in %rax, si_code in %rdx and si_addr in %rcx.  Its one
 * caller is run_sub(), so its labels are defined once (twice would not
 * assemble).
 */
static long tacc(uint64_t *p, int store, uint64_t *value, int32_t *code,
		 uint64_t *fault)
{
	register long sig asm("rax") = 0;
	register uint64_t v asm("rdx") = *value;
	register uint64_t addr asm("rcx") = 0;

	asm volatile("testl %[store], %[store]\n"
		     "	jnz native_tacc_store\n"
		     "native_tacc_load:\n"
		     "	movq (%[p]), %%rdx\n"
		     "	jmp native_tacc_fixup\n"
		     "native_tacc_store:\n"
		     "	movq %%rdx, (%[p])\n"
		     "native_tacc_fixup:\n"
		     : "+r" (sig), "+r" (v), "+r" (addr)
		     : [p] "r" (p), [store] "r" (store)
		     : "memory", "cc");
	if (sig) {
		*code = (int32_t)v;
		*fault = addr;
	} else if (!store) {
		*value = v;
	}
	return sig;
}

/*
 * A fault of tacc()'s access instruction: resume at the fixup, in the
 * faulting thread's saved context.  Returns 1, or 0 when the fault is
 * not tacc()'s.
 */
static int tacc_fixup(int sig, siginfo_t *si, void *uc)
{
	greg_t *g = ((ucontext_t *)uc)->uc_mcontext.gregs;
	uintptr_t ip = (uintptr_t)g[REG_RIP];

	if (ip != (uintptr_t)native_tacc_load &&
	    ip != (uintptr_t)native_tacc_store)
		return 0;
	g[REG_RIP] = (greg_t)(uintptr_t)native_tacc_fixup;
	g[REG_RAX] = sig;
	g[REG_RDX] = si->si_code;
	g[REG_RCX] = (greg_t)(uintptr_t)si->si_addr;
	return 1;
}

static uint64_t ns_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

/* The time before a call: what follows begins after the clock is read. */
static uint64_t stamp_before(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	asm volatile("lfence" ::: "memory");
	return ns_of(&ts);
}

/* The time after a call: every store before it is visible by then. */
static uint64_t stamp_after(void)
{
	struct timespec ts;

	asm volatile("mfence; lfence" ::: "memory");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ns_of(&ts);
}

/* A system call's result as a sub-request's (mmap's: an arena offset). */
static void sub_result(struct native_sub_res *r, const struct native_req *q,
		       long ret)
{
	if (ret < 0 && ret > -4096) {
		r->status = NATIVE_ERRNO;
		r->err = (int32_t)-ret;
	} else if (q->kind != NATIVE_MMAP) {
		r->status = NATIVE_OK;
	} else if ((uint64_t)ret < arena_base ||
		   !in_arena((uint64_t)ret - arena_base, q->len)) {
		r->status = NATIVE_REFUSED;	/* cannot happen: MAP_FIXED* */
		r->ret = (uint64_t)ret;
	} else {
		r->status = NATIVE_OK;
		r->ret = (uint64_t)ret - arena_base;
	}
}

/* One sub-request, in a batch thread (serve()'s checks, raw calls). */
static void run_sub(const struct native_req *q, struct native_sub_res *r)
{
	uint64_t addr = arena_base + q->off;
	uint64_t value = q->value, fault = 0;
	int32_t code = 0;
	long ret, n;

	switch (q->kind) {
	case NATIVE_MMAP:
		if (!in_arena(q->off, q->len) ||
		    !(q->flags & (MAP_FIXED | NATIVE_MAP_FIXED_NOREPLACE)))
			break;
		r->start_ns = stamp_before();
		ret = sys6(SYS_mmap, addr, q->len, q->prot, q->flags, -1, 0);
		r->end_ns = stamp_after();
		sub_result(r, q, ret);
		return;
	case NATIVE_MUNMAP:
	case NATIVE_MPROTECT:
	case NATIVE_MADVISE:
		if (!in_arena(q->off, q->len))
			break;
		n = q->kind == NATIVE_MUNMAP ? SYS_munmap :
		    q->kind == NATIVE_MPROTECT ? SYS_mprotect : SYS_madvise;
		r->start_ns = stamp_before();
		ret = sys6(n, addr, q->len,
			   q->kind == NATIVE_MADVISE ? q->flags : q->prot,
			   0, 0, 0);
		r->end_ns = stamp_after();
		sub_result(r, q, ret);
		return;
	case NATIVE_LOAD:
	case NATIVE_STORE:
		if (q->off > NATIVE_ARENA_SIZE - 8 || (q->off & 7))
			break;
		r->start_ns = stamp_before();
		ret = tacc((uint64_t *)(uintptr_t)addr,
			   q->kind == NATIVE_STORE, &value, &code, &fault);
		r->end_ns = stamp_after();
		if (ret) {
			r->status = NATIVE_FAULT;
			r->sig = (int32_t)ret;
			r->code = code;
			r->fault_off = fault - arena_base;
		} else {
			r->status = NATIVE_OK;
			r->value = q->kind == NATIVE_STORE ? 0 : value;
		}
		return;
	}
	r->status = NATIVE_REFUSED;
}

/* One batch thread; the kernel clears `tid` when it exits. */
struct batch_thread {
	int tid;
	uint32_t index;
	char *stack;		/* BATCH_STACK bytes, then the alternate stack */
};

static char *batch_stacks;
static struct batch_thread batch_threads[NATIVE_THREADS_MAX];
static const struct native_batch *batch_in;
static struct native_batch_res *batch_out;
/* Threads at the start line; 1 to run, 2 to leave without running. */
static int batch_ready, batch_go;

static int batch_thread(void *arg)
{
	struct batch_thread *t = arg;
	stack_t ss = {
		.ss_sp = t->stack + BATCH_STACK,
		.ss_size = BATCH_ALTSTACK,
	};
	unsigned int spins = 0;
	int go;

	sys6(SYS_sigaltstack, (long)&ss, 0, 0, 0, 0, 0);
	__atomic_add_fetch(&batch_ready, 1, __ATOMIC_SEQ_CST);
	while (!(go = __atomic_load_n(&batch_go, __ATOMIC_ACQUIRE))) {
		__builtin_ia32_pause();
		/* More threads than CPUs: let the others reach the line. */
		if (++spins % 256 == 0)
			sys6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	}
	if (go != 1)
		return 0;
	for (uint32_t i = 0; i < batch_in->count; i++)
		if (batch_in->subs[i].thread == t->index)
			run_sub(&batch_in->subs[i].req, &batch_out->res[i]);
	return 0;
}

/* Maps the batch threads' stacks: before the arena has holes in it. */
static int batch_prepare(void)
{
	void *p = mmap(NULL, NATIVE_THREADS_MAX * (BATCH_STACK + BATCH_ALTSTACK),
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	batch_stacks = p;
	return 0;
}

/* Runs `b` on its threads, every result in *out. */
static void run_batch(const struct native_batch *b,
		      struct native_batch_res *out)
{
	const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			  CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
			  CLONE_CHILD_CLEARTID;
	uint32_t n = 0, started = 0;
	int v;

	memset(out, 0, sizeof(*out));
	if (b->count > NATIVE_BATCH_MAX || !batch_stacks) {
		out->status = -EINVAL;
		return;
	}
	for (uint32_t i = 0; i < b->count; i++) {
		if (b->subs[i].thread >= NATIVE_THREADS_MAX) {
			out->status = -EINVAL;
			return;
		}
		if (b->subs[i].thread >= n)
			n = b->subs[i].thread + 1;
	}
	out->count = b->count;
	batch_in = b;
	batch_out = out;
	__atomic_store_n(&batch_ready, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&batch_go, 0, __ATOMIC_SEQ_CST);
	for (; started < n; started++) {
		struct batch_thread *t = &batch_threads[started];

		t->index = started;
		t->stack = batch_stacks + started * (BATCH_STACK + BATCH_ALTSTACK);
		if (clone(batch_thread, t->stack + BATCH_STACK, flags, t,
			  &t->tid, NULL, &t->tid) < 0) {
			out->status = -errno;
			break;
		}
	}
	while (__atomic_load_n(&batch_ready, __ATOMIC_SEQ_CST) < (int)started)
		sched_yield();
	__atomic_store_n(&batch_go, out->status ? 2 : 1, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < started; i++)
		while ((v = __atomic_load_n(&batch_threads[i].tid,
					    __ATOMIC_ACQUIRE)))
			syscall(SYS_futex, &batch_threads[i].tid, FUTEX_WAIT,
				v, NULL, NULL, 0);
}

#else /* !__x86_64__ */

static int tacc_fixup(int sig, siginfo_t *si, void *uc)
{
	return 0;
}

static int batch_prepare(void)
{
	return 0;
}

static void run_batch(const struct native_batch *b,
		      struct native_batch_res *out)
{
	memset(out, 0, sizeof(*out));
	out->status = -EOPNOTSUPP;
}

#endif /* __x86_64__ */

/* NATIVE_BATCH: the batch follows the request.  Returns 0 or -EPIPE. */
static int serve_batch(int fd)
{
	static struct native_batch b;
	static struct native_batch_res res;

	if (recv_all(fd, &b, sizeof(b), 10000))
		return -EPIPE;
	run_batch(&b, &res);
	return send_all(fd, &res, sizeof(res));
}

/*
 * The child: sets itself up, reports its arena and serves requests until
 * the tool says NATIVE_EXIT or goes away.  Returns its exit status.
 */
static int child_main(int fd, pid_t parent)
{
	struct native_req q;
	struct native_res res;
	struct sigaction sa;
	stack_t ss;
	sigset_t set;
	void *raw, *stack;

	tool_pid = parent;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return 125;
	close_other_fds(fd);

	raw = mmap(NULL, NATIVE_ARENA_SIZE + NATIVE_ARENA_ALIGN, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	stack = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED || stack == MAP_FAILED || batch_prepare())
		return 124;
	arena_base = ((uint64_t)(uintptr_t)raw + NATIVE_ARENA_ALIGN - 1) &
		     ~(NATIVE_ARENA_ALIGN - 1);

	ss.ss_sp = stack;
	ss.ss_size = 1 << 16;
	ss.ss_flags = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&ss, NULL) || sigaction(SIGSEGV, &sa, NULL) ||
	    sigaction(SIGBUS, &sa, NULL))
		return 123;
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigaddset(&set, SIGBUS);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	memset(&res, 0, sizeof(res));
	res.ret = arena_base;
	res.value = NATIVE_ARENA_SIZE;
	if (send_all(fd, &res, sizeof(res)))
		return 122;
	for (;;) {
		if (recv_all(fd, &q, sizeof(q), -1))
			return 0;	/* the tool is gone */
		if (q.kind == NATIVE_EXIT) {
			memset(&res, 0, sizeof(res));
			send_all(fd, &res, sizeof(res));
			return 0;
		}
		if (q.kind == NATIVE_FORK) {
			if (serve_fork(&fd))
				return 0;
			continue;
		}
		if (q.kind == NATIVE_BATCH) {
			if (serve_batch(fd))
				return 0;
			continue;
		}
		serve(&q, &res);
		if (send_all(fd, &res, sizeof(res)))
			return 0;
	}
}

int native_start(struct native_child *c)
{
	struct native_res hello;
	int sv[2], r;
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(child_main(sv[1], parent));
	}
	close(sv[1]);
	c->pid = pid;
	c->fd = sv[0];
	r = recv_all(c->fd, &hello, sizeof(hello), 10000);
	if (r) {
		native_stop(c, 0);
		return r;
	}
	c->base = hello.ret;
	return 0;
}

int native_call(struct native_child *c, const struct native_req *req,
		struct native_res *res, int timeout_ms)
{
	int r;

	if (req->kind == NATIVE_FORK || req->kind == NATIVE_BATCH)
		return -EINVAL;	/* see native_fork(), native_batch() */
	r = send_all(c->fd, req, sizeof(*req));
	if (r)
		return r;
	return recv_all(c->fd, res, sizeof(*res), timeout_ms);
}

int native_fork(struct native_child *c, struct native_child *forked,
		struct native_res *res, int timeout_ms)
{
	struct native_req q = { .kind = NATIVE_FORK };
	int r, fd;

	forked->pid = -1;
	forked->fd = -1;
	forked->base = c->base;
	r = send_all(c->fd, &q, sizeof(q));
	if (r)
		return r;
	r = recv_fd(c->fd, res, &fd, timeout_ms);
	if (r)
		return r;
	if (res->status != NATIVE_OK) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	forked->pid = (int)res->ret;
	if (fd < 0) {
		/* A process the tool cannot drive: stop it. */
		native_stop(forked, 0);
		return -EPROTO;
	}
	forked->fd = fd;
	return 0;
}

int native_batch(struct native_child *c, const struct native_batch *batch,
		 struct native_batch_res *res, int timeout_ms)
{
	struct native_req q = { .kind = NATIVE_BATCH };
	int r;

	r = send_all(c->fd, &q, sizeof(q));
	if (!r)
		r = send_all(c->fd, batch, sizeof(*batch));
	if (r)
		return r;
	return recv_all(c->fd, res, sizeof(*res), timeout_ms);
}

int native_stop(struct native_child *c, int timeout_ms)
{
	struct native_req q = { .kind = NATIVE_EXIT };
	int status = -1;
	struct timespec nap = { 0, 1000000 };

	if (c->fd >= 0) {
		send_all(c->fd, &q, sizeof(q));
		close(c->fd);
		c->fd = -1;
	}
	if (c->pid <= 0)
		return -1;
	for (int waited = 0;; waited++) {
		pid_t w = waitpid(c->pid, &status, WNOHANG);

		if (w == c->pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		if (waited >= timeout_ms) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
			break;
		}
		nanosleep(&nap, NULL);
	}
	c->pid = -1;
	return status;
}

#else /* !__linux__ */

int native_start(struct native_child *c)
{
	c->pid = -1;
	c->fd = -1;
	return -EOPNOTSUPP;
}

int native_call(struct native_child *c, const struct native_req *req,
		struct native_res *res, int timeout_ms)
{
	return -EOPNOTSUPP;
}

int native_fork(struct native_child *c, struct native_child *forked,
		struct native_res *res, int timeout_ms)
{
	forked->pid = -1;
	forked->fd = -1;
	return -EOPNOTSUPP;
}

int native_batch(struct native_child *c, const struct native_batch *batch,
		 struct native_batch_res *res, int timeout_ms)
{
	return -EOPNOTSUPP;
}

int native_stop(struct native_child *c, int timeout_ms)
{
	return -1;
}

#endif /* __linux__ */
