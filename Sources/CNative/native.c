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
 * Loads and stores go through access_word(): a real load or store
 * instruction, with SIGSEGV and SIGBUS caught by a handler on an alternate
 * stack that siglongjmp()s back to the accessor.  That is the user-access
 * path the model speaks of (a hardware fault, the kernel's page-fault
 * handler, copy-on-write, a signal); process_vm_readv()/writev() would
 * instead go through get_user_pages(), a different path with its own
 * rules (it would report EFAULT, not the signal and its si_code).
 */
#include "native.h"

#include <errno.h>

#ifdef __linux__

#include <poll.h>
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
#include <unistd.h>

#define PAGE_SIZE_ 4096ULL

/* The child's state (one child per process image: it is forked). */
static uint64_t arena_base;
static sigjmp_buf access_env;
static volatile sig_atomic_t in_access;
static volatile int fault_sig, fault_code;
static volatile uintptr_t fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;

	if (!in_access) {
		/* Not ours: die of it, as the default action would. */
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		return;	/* the instruction faults again, fatally */
	}
	in_access = 0;
	fault_sig = sig;
	fault_code = si->si_code;
	fault_addr = (uintptr_t)si->si_addr;
	siglongjmp(access_env, 1);
}

/* One 64-bit load or store at `p`.  Returns 0, or -1 after a fault. */
static int access_word(volatile uint64_t *p, int store, uint64_t v,
		       uint64_t *out)
{
	volatile uint64_t got = 0;

	if (sigsetjmp(access_env, 1))
		return -1;
	in_access = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (store)
		*p = v;
	else
		got = *p;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	in_access = 0;
	*out = got;
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

static void window_residency(uint64_t off, struct native_res *res)
{
	unsigned char vec[NATIVE_WINDOW_PAGES];
	int r = residency(arena_base + off, NATIVE_WINDOW_PAGES, vec);

	if (r) {
		res->status = NATIVE_ERRNO;
		res->err = r;
		return;
	}
	for (int i = 0; i < NATIVE_WINDOW_PAGES; i++)
		if (vec[i] & 1)
			res->bits[i / 64] |= 1ULL << (i % 64);
	res->status = NATIVE_OK;
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
		if (access_word((volatile uint64_t *)(uintptr_t)addr,
				q->kind == NATIVE_STORE, q->value, &res->value)) {
			res->status = NATIVE_FAULT;
			res->sig = fault_sig;
			res->code = fault_code;
			res->fault_off = (uint64_t)fault_addr - arena_base;
		} else {
			res->status = NATIVE_OK;
		}
		return;
	case NATIVE_MINCORE:
		if ((q->off & (NATIVE_WINDOW_SIZE - 1)) ||
		    !in_arena(q->off, NATIVE_WINDOW_SIZE))
			goto refuse;
		window_residency(q->off, res);
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

static __attribute__((noreturn)) void child_main(int fd, pid_t parent)
{
	struct native_req q;
	struct native_res res;
	struct sigaction sa;
	stack_t ss;
	sigset_t set;
	void *raw, *stack;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(125);
	close_other_fds(fd);

	raw = mmap(NULL, NATIVE_ARENA_SIZE + NATIVE_ARENA_ALIGN, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	stack = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED || stack == MAP_FAILED)
		_exit(124);
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
		_exit(123);
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigaddset(&set, SIGBUS);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	memset(&res, 0, sizeof(res));
	res.ret = arena_base;
	res.value = NATIVE_ARENA_SIZE;
	if (send_all(fd, &res, sizeof(res)))
		_exit(122);
	for (;;) {
		if (recv_all(fd, &q, sizeof(q), -1))
			_exit(0);	/* the parent is gone */
		if (q.kind == NATIVE_EXIT)
			_exit(0);
		serve(&q, &res);
		if (send_all(fd, &res, sizeof(res)))
			_exit(0);
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
		child_main(sv[1], parent);
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
	int r = send_all(c->fd, req, sizeof(*req));

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
			return -1;
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
	return -ENOSYS;
}

int native_call(struct native_child *c, const struct native_req *req,
		struct native_res *res, int timeout_ms)
{
	return -ENOSYS;
}

int native_stop(struct native_child *c, int timeout_ms)
{
	return -1;
}

#endif /* __linux__ */
