/* SPDX-License-Identifier: GPL-2.0 */
/*
 * native.h: the host side of `mmfuzz native` (issue 14).
 *
 * A child process reserves an arena of address space and makes real system
 * calls inside it (mmap, munmap, mprotect, madvise, fork, exit) and real
 * user loads and stores of one 64-bit word, for the tool that drives it
 * over a socket pair, one request at a time.  Addresses travel as offsets
 * into the arena, so the child never touches memory outside it.  A fork
 * makes another such child, with a socket pair of its own.
 *
 * Self-contained: Swift imports this header.
 */
#ifndef MMFUZZ_NATIVE_H
#define MMFUZZ_NATIVE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the arena: 64 GiB, reserved PROT_NONE with MAP_NORESERVE. */
#define NATIVE_ARENA_SIZE (64ULL << 30)
/*
 * The arena's base is aligned to this (1 GiB): offsets keep their
 * alignment to 2 MiB (huge pages) and 1 GiB.
 */
#define NATIVE_ARENA_ALIGN (1ULL << 30)

/* Request kinds: the same numbers as Request.Kind (mmsim.h). */
enum native_kind {
	NATIVE_MMAP = 1,
	NATIVE_MUNMAP = 2,
	NATIVE_MPROTECT = 3,
	NATIVE_MADVISE = 4,
	NATIVE_FORK = 5,	/* native_fork() only */
	NATIVE_LOAD = 6,
	NATIVE_STORE = 7,
	NATIVE_EXIT = 11,
	NATIVE_MINCORE = 100,	/* the harness's own: see struct native_res */
};

/* Bytes and pages of the window NATIVE_MINCORE reports on (a pmd's reach). */
#define NATIVE_WINDOW_SIZE (2ULL << 20)
#define NATIVE_WINDOW_PAGES 512

/*
 * The harness's own requests (not Request.Kind numbers): a batch of
 * sub-requests run on several threads of the child at once (see
 * native_batch()).
 */
#define NATIVE_BATCH 200
/* Sub-requests of a batch at most (Batch.maxCalls), and threads. */
#define NATIVE_BATCH_MAX 32
#define NATIVE_THREADS_MAX 4

/* Linux's MAP_FIXED_NOREPLACE (not in every libc's headers). */
#define NATIVE_MAP_FIXED_NOREPLACE 0x100000

/*
 * One request.  `off` is an offset into the arena (any value: the child
 * refuses ranges that leave it).  mmap's flags must hold MAP_FIXED or
 * MAP_FIXED_NOREPLACE, or the child refuses it.
 */
struct native_req {
	uint32_t kind;
	int32_t prot;
	int32_t flags;		/* mmap's flags, madvise's advice */
	uint32_t pad;
	uint64_t off;
	uint64_t len;
	uint64_t value;		/* a store's value */
};

/* What happened. */
enum native_status {
	NATIVE_OK = 0,		/* the call returned `ret` (>= 0; fork: the pid) */
	NATIVE_ERRNO = 1,	/* the call failed with errno `err` */
	NATIVE_FAULT = 2,	/* the access took signal `sig` (si_code `code`) */
	NATIVE_REFUSED = 3,	/* the harness refused: it would leave the arena */
};

struct native_res {
	int32_t status;		/* enum native_status */
	int32_t err;
	int32_t sig;
	int32_t code;
	uint64_t ret;		/* mmap: the offset mapped; other calls 0 */
	uint64_t value;		/* a load's value */
	uint64_t fault_off;	/* the faulting address's offset (si_addr) */
	/*
	 * NATIVE_MINCORE: residency of the `len` bytes at `off` (whole
	 * pages, inside one NATIVE_WINDOW_SIZE window), by mincore(2) in
	 * the child: bit i of bits[i / 64] (i % 64) for page i of the
	 * window; a page outside the range or that nothing maps reads 0.
	 */
	uint64_t bits[NATIVE_WINDOW_PAGES / 64];
};

/*
 * One sub-request of a batch: a request of kind mmap (MAP_FIXED or
 * MAP_FIXED_NOREPLACE), munmap, mprotect, madvise, load or store, made by
 * thread `thread` (0 .. NATIVE_THREADS_MAX - 1).  Each thread makes its
 * sub-requests in the order of the batch.
 */
struct native_sub {
	struct native_req req;
	uint32_t thread;
	uint32_t pad;
};

struct native_batch {
	uint32_t count;		/* sub-requests, at most NATIVE_BATCH_MAX */
	uint32_t pad;
	struct native_sub subs[NATIVE_BATCH_MAX];
};

/*
 * What one sub-request did (as struct native_res), and when:
 * CLOCK_MONOTONIC nanoseconds read by its thread right before the call or
 * access and right after it (with fences, so that a store is visible to
 * every CPU before `end_ns` is read, and an access begins after
 * `start_ns` is).
 */
struct native_sub_res {
	int32_t status;		/* enum native_status */
	int32_t err;
	int32_t sig;
	int32_t code;
	uint64_t ret;
	uint64_t value;
	uint64_t fault_off;
	uint64_t start_ns;
	uint64_t end_ns;
};

struct native_batch_res {
	/* 0, or a negative errno: the batch did not run (nothing was made) */
	int32_t status;
	uint32_t count;
	struct native_sub_res res[NATIVE_BATCH_MAX];
};

/* The parent's handle on a child. */
struct native_child {
	int pid;
	int fd;
	uint64_t base;		/* the child's arena base, as it reported it */
};

/*
 * Forks the child and waits for it to report its arena.  Returns 0, or a
 * negative errno (-EOPNOTSUPP where the host is not Linux).
 */
int native_start(struct native_child *c);

/*
 * Sends one request and waits up to `timeout_ms` for its result.  Returns
 * 0, or a negative errno: -EPIPE when the child died (see native_stop()),
 * -ETIMEDOUT, -EINVAL for NATIVE_FORK (see native_fork()).
 */
int native_call(struct native_child *c, const struct native_req *req,
		struct native_res *res, int timeout_ms);

/*
 * Forks the child `c` (NATIVE_FORK) and waits up to `timeout_ms` for the
 * reply in *res: NATIVE_OK with the new process in *forked (a copy of `c`'s
 * arena, copy-on-write; the tool's child too, so native_stop() reaps it),
 * or NATIVE_ERRNO when the fork failed in `c` (*forked has pid -1).  Returns
 * 0, or a negative errno as native_call() does.
 */
int native_fork(struct native_child *c, struct native_child *forked,
		struct native_res *res, int timeout_ms);

/*
 * Runs `batch` in the child `c` on as many threads as it names, started
 * together, and waits up to `timeout_ms` for every result in *res.
 * Returns 0 (res->status says whether the batch ran), or a negative errno
 * as native_call() does.
 */
int native_batch(struct native_child *c, const struct native_batch *batch,
		 struct native_batch_res *res, int timeout_ms);

/*
 * Asks the child to exit (NATIVE_EXIT: a real exit, replied to first),
 * closes the socket, kills it if it has not exited within `timeout_ms`,
 * and reaps it.  Returns its wait status, or -1.  Forked children are
 * stopped the same way.
 */
int native_stop(struct native_child *c, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* MMFUZZ_NATIVE_H */
