/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsim.h - the one header the Swift driver sees.
 *
 * A simulated x86-64 machine (frames, 4-level page tables, CPUs with TLBs
 * and paging-structure caches, IPIs) running a slice of the Linux memory
 * manager.  Everything here is self-contained: no kernel types, no
 * force-included compatibility header.
 *
 * Calls return 0 or a negative Linux errno (MMSIM_E*).  A call never
 * aborts the process: kernel bugs found by the run-time checkers are
 * recorded as violations and read back with mmsim_violation().
 */
#ifndef MMSIM_UAPI_H
#define MMSIM_UAPI_H

#include <stdint.h>
#include <stddef.h>

#define MMSIM_MAX_CPUS		8
#define MMSIM_PAGE_SIZE		4096ULL
#define MMSIM_TASK_SIZE		0x00007ffffffff000ULL

/* mmap prot and flags: Linux's values */
#define MMSIM_PROT_NONE		0x0
#define MMSIM_PROT_READ		0x1
#define MMSIM_PROT_WRITE	0x2
#define MMSIM_PROT_EXEC		0x4

#define MMSIM_MAP_SHARED	0x01
#define MMSIM_MAP_PRIVATE	0x02
#define MMSIM_MAP_FIXED		0x10
#define MMSIM_MAP_ANONYMOUS	0x20
#define MMSIM_MAP_DENYWRITE	0x800
#define MMSIM_MAP_NORESERVE	0x4000
#define MMSIM_MAP_STACK		0x20000

#define MMSIM_MADV_DONTNEED	4
#define MMSIM_MADV_HUGEPAGE	14	/* private anonymous: 2 MiB pages */
#define MMSIM_MADV_NOHUGEPAGE	15

/* No mm: MMSIM_OP_SWITCH_MM to it runs a kernel thread (lazy TLB) */
#define MMSIM_NO_MM		(-1)

enum mmsim_gather {
	MMSIM_GATHER_VECTOR = 0,	/* 2.6.16 per-CPU page vector */
	MMSIM_GATHER_INPLACE = 1,	/* the 2006 RFC */
};

enum mmsim_ptl {
	MMSIM_PTL_MM = 0,		/* one mm->page_table_lock */
	MMSIM_PTL_SPLIT = 1,		/* lock in each page-table page */
};

/* Page tables shared between mms (the 2002 proposal); needs MMSIM_PTL_SPLIT */
enum mmsim_share {
	MMSIM_SHARE_OFF = 0,		/* fork copies every pte */
	MMSIM_SHARE_FORK = 1,		/* fork shares pte tables */
};

/* Whom a change to an entry of a shared pte table is flushed on */
enum mmsim_sharemask {
	MMSIM_SHAREMASK_ALL = 0,	/* every CPU (Linus's rule) */
	MMSIM_SHAREMASK_PRECISE = 1,	/* the sharers' cpu_vm_masks */
};

struct mmsim_config {
	uint32_t nr_cpus;		/* 1 .. MMSIM_MAX_CPUS */
	uint32_t nr_frames;		/* physical page frames */
	uint32_t tlb_entries;		/* per CPU, a multiple of 4 */
	uint32_t psc_entries;		/* paging-structure cache, per CPU */
	uint32_t gather;		/* enum mmsim_gather */
	uint32_t ptl;			/* enum mmsim_ptl */
	uint32_t preempt;		/* CONFIG_PREEMPT: 0 or 1 */
	uint32_t share;			/* enum mmsim_share */
	uint32_t sharemask;		/* enum mmsim_sharemask */
};

/*
 * Fills @cfg with the defaults: 4 CPUs, 4096 frames, 64 TLB entries.
 * The swap device has as many slots as the machine has frames.
 */
void mmsim_default_config(struct mmsim_config *cfg);

struct mmsim;

int mmsim_create(const struct mmsim_config *cfg, struct mmsim **out);
void mmsim_destroy(struct mmsim *m);

/*
 * Errors.  Calls return 0 or one of these, negated: Linux's numbers, on
 * every host (arch/x86/sim/syscall.c refuses to compile where the host's
 * <errno.h> differs).
 */
#define MMSIM_ENOENT		2	/* nothing there */
#define MMSIM_ESRCH		3	/* no such mm */
#define MMSIM_EBADF		9	/* mmap of a file: there is none */
#define MMSIM_ENOMEM		12
#define MMSIM_EFAULT		14	/* a user access would get SIGSEGV */
#define MMSIM_EBUSY		16
#define MMSIM_EINVAL		22
#define MMSIM_EDEADLK		35	/* a concurrent batch deadlocked */

/*
 * Calls.  Everything a task asks of the kernel is one struct mmsim_op,
 * made by mmsim_call() (one at a time) or mmsim_run_concurrent() (several
 * CPUs at once).  An mm is named by a small non-negative id, valid from
 * the call that returns it until its last user exits.  Every call that
 * takes (cpu, mm) runs in a task of @mm on @cpu: it first switches @cpu to
 * @mm, as the scheduler would.  A call out of range (kind, cpu) returns
 * -EINVAL, an mm id with no users -ESRCH.
 */
enum mmsim_op_kind {
	MMSIM_OP_MMAP = 1,		/* prot, flags; out: address */
	MMSIM_OP_MUNMAP,
	MMSIM_OP_MPROTECT,		/* prot */
	MMSIM_OP_MADVISE,		/* flags: the advice */
	MMSIM_OP_FORK,			/* out: the child's mm id */
	/*
	 * User load or store of one 64-bit word (@addr 8-byte aligned)
	 * through the TLB and the hardware walker, taking page faults as
	 * needed.  Return 0, -EFAULT when the task would get SIGSEGV, or
	 * -ENOMEM when the fault handler ran out of memory (VM_FAULT_OOM).
	 */
	MMSIM_OP_LOAD,			/* out: the value read */
	MMSIM_OP_STORE,			/* value; out: the value stored */
	MMSIM_OP_SWITCH_MM,		/* mm MMSIM_NO_MM: a kernel thread */
	/* Not in mmsim_run_concurrent() batches: */
	MMSIM_OP_MM_NEW,		/* a new, empty mm; out: its id */
	MMSIM_OP_MM_GET,		/* clone(CLONE_VM): mm_users++ */
	MMSIM_OP_EXIT,			/* the last user's exit tears @mm down */
	MMSIM_OP_EXEC,			/* a fresh, empty mm; out: its id */
	/*
	 * kswapd on @cpu (a kernel thread: lazy TLB, no mm; @mm is not
	 * used): reclaim up to @len anonymous pages, unmapping each from
	 * every mm through the reverse map, then writing it to swap and
	 * freeing its frame.  Allowed in batches.  out: pages reclaimed.
	 */
	MMSIM_OP_RECLAIM,
	MMSIM_OP_NR,
};

struct mmsim_op {
	uint32_t kind;			/* enum mmsim_op_kind */
	int32_t cpu;
	int32_t mm;
	int32_t prot;
	int32_t flags;
	uint32_t pad;
	uint64_t addr;
	uint64_t len;
	uint64_t value;
	/* filled in by the call */
	int64_t ret;			/* 0 or -errno, as the call returned */
	uint64_t out;
	/* ... and, in a concurrent run, when it ran */
	uint64_t start;			/* scheduling step of the invocation */
	uint64_t end;			/* ... and of the response */
	/*
	 * Hints for checkers: the step at which the op took effect (a
	 * call's last mmap_sem release, a load's or store's completed
	 * access), and the step at which it first held mmap_sem.
	 */
	uint64_t effect;
	uint64_t locked;
};

/* Makes the call @op; returns op->ret, and sets op->out as its kind says */
int mmsim_call(struct mmsim *m, struct mmsim_op *op);

/*
 * The concurrent regime.  mmsim_run_concurrent() runs a batch of calls and
 * user accesses on several CPUs at once: each CPU runs its ops in array
 * order, and the CPUs interleave at every page-table write, lock operation,
 * preemption point, step of the hardware walker, user access and IPI.  A
 * scheduler chosen by @sched decides who runs at each of those points; the
 * whole run is a function of the machine's state, the ops and @sched.
 */
enum mmsim_sched_policy {
	MMSIM_SCHED_RANDOM = 0,		/* switch at a point with some odds */
	MMSIM_SCHED_PCT,		/* probabilistic concurrency testing */
	MMSIM_SCHED_REPLAY,		/* follow a recorded schedule */
	/*
	 * Strict CPU priorities (shuffled by @seed); the running CPU drops
	 * below every other where it enters the window of a TLB shootdown
	 * (it took a translation away and has not flushed it yet), with
	 * the odds @window_permille, and elsewhere with @switch_permille
	 */
	MMSIM_SCHED_WINDOW,
};

/* @steps scheduling points in a row at which @cpu was chosen */
struct mmsim_sched_run {
	uint32_t cpu;
	uint32_t steps;
};

struct mmsim_sched {
	uint32_t policy;		/* enum mmsim_sched_policy */
	uint32_t switch_permille;	/* RANDOM: odds of a switch at a point */
	uint32_t pct_depth;		/* PCT: bug depth, >= 1 */
	uint32_t pct_steps;		/* PCT: expected number of points */
	uint32_t window_permille;	/* WINDOW */
	uint32_t pad;
	uint64_t seed;			/* RANDOM, PCT and WINDOW */
	const struct mmsim_sched_run *replay;	/* REPLAY */
	uint32_t nr_replay;
};

/*
 * Return: 0 when every op ran (each op's ret says how it did), -EINVAL for
 * a bad op (a bad CPU, a kind not allowed in a batch) or schedule
 * (nothing runs), -ENOMEM when the host cannot give the CPUs their
 * stacks, -EDEADLK when every CPU left waits for a lock (reported as a
 * violation; the machine is then only fit to be destroyed).
 */
int mmsim_run_concurrent(struct mmsim *m, struct mmsim_op *ops,
			 uint32_t nr_ops, const struct mmsim_sched *sched);

/*
 * The schedule of the last concurrent run: copies up to @cap runs into
 * @runs and returns how many there are.  Replaying them with
 * MMSIM_SCHED_REPLAY on the same machine state and ops repeats the run.
 */
uint32_t mmsim_last_schedule(struct mmsim *m, struct mmsim_sched_run *runs,
			     uint32_t cap);

/*
 * The pte changes of the last concurrent run, in the order they were
 * made: for checkers that must place an effect of a call (one page of a
 * MADV_DONTNEED's zap, a fault's new pte) at the moment it happened.
 */
enum mmsim_pte_change {		/* "maps": present or PROT_NONE */
	MMSIM_PTE_CLEARED = 1,		/* a pte that mapped a page no longer does */
	MMSIM_PTE_INSTALLED,		/* a pte that mapped none now maps one */
	MMSIM_PTE_CHANGED,		/* mapped to mapped, another frame */
};

struct mmsim_pte_event {
	uint32_t what;			/* enum mmsim_pte_change */
	int32_t cpu;
	int32_t mm;
	uint32_t pad;
	uint64_t addr;			/* page address */
	uint64_t step;			/* scheduling step, as in mmsim_op */
};

#define MMSIM_PTE_EVENTS_MAX	65536	/* kept per run; later ones are not */

/* Copies up to @cap events into @events and returns how many there are. */
uint32_t mmsim_last_pte_events(struct mmsim *m, struct mmsim_pte_event *events,
			       uint32_t cap);

/*
 * Fail the @nth frame or kernel-object allocation from now on (1 is the
 * next one); 0 disarms.  The failure fires once.
 */
void mmsim_fail_nth_alloc(struct mmsim *m, uint64_t nth);

/* Abstract state, for comparison against a model. */
struct mmsim_vma_info {
	uint64_t start;
	uint64_t end;
	int prot;			/* MMSIM_PROT_* */
	int shared;			/* MAP_SHARED */
};

/* The @index-th vma of @mm in address order; -ENOENT past the last */
int mmsim_vma(struct mmsim *m, int mm, uint32_t index,
	      struct mmsim_vma_info *out);

struct mmsim_pte_info {
	uint64_t pfn;
	uint64_t word0;			/* first data word of the page */
	int present;
	int writable;
	int swapped;			/* a swap entry: the page is in swap */
	int huge;			/* mapped by a 2 MiB pmd entry */
};

/*
 * What @mm's page tables say about @addr, read by software (no TLB, no
 * accessed bits set).  -ENOENT when nothing is mapped there.  A page in
 * swap is reported with @swapped set and @present clear; its @pfn is its
 * identity: the frame of its swap-cache page if it has one, else the
 * machine's frame count plus its swap slot, so that two ptes name the
 * same page exactly when their @pfn is equal.  @word0 is read from the
 * swap-cache page or the swap slot.
 */
int mmsim_lookup(struct mmsim *m, int mm, uint64_t addr,
		 struct mmsim_pte_info *out);

struct mmsim_mm_info {
	uint64_t anon_rss;		/* private anonymous pages mapped */
	uint64_t file_rss;		/* shared pages mapped */
	uint64_t nr_ptes;		/* pte pages */
	uint64_t total_vm;		/* pages of vmas */
	uint32_t map_count;		/* vmas */
	uint32_t users;			/* mm_users */
	uint64_t swap_ents;		/* ptes that are swap entries */
};

int mmsim_mm_info(struct mmsim *m, int mm, struct mmsim_mm_info *out);

/*
 * Counters.  MMSIM_COUNTERS() is the one list of them, in the order the
 * driver shows them: each entry's name, kind and one-line description.
 * The counters' indices (MMSIM_CTR_<name>), the kernel's array of them,
 * mmsim_counter_info() and every table and JSON object of the driver are
 * made from it.  Adding a counter is one line here and its increment
 * site in the kernel (count_vm_event(), <linux/vmstat.h>).
 *
 * An EVENT counts up from 0; a PEAK is the highest value seen; a GAUGE is
 * the amount held now.
 */
enum mmsim_counter_kind {
	MMSIM_COUNTER_EVENT = 0,
	MMSIM_COUNTER_PEAK,
	MMSIM_COUNTER_GAUGE,
};

/* Expands to a brace-enclosed list of C(name, kind, description) */
#define MMSIM_COUNTERS(C) {						\
	/* hardware */							\
	C(tlb_hits, EVENT, "TLB hits")					\
	C(tlb_misses, EVENT, "TLB misses")				\
	C(tlb_evictions, EVENT, "TLB evictions")			\
	C(walks, EVENT, "page walks by the hardware walker")		\
	C(psc_hits, EVENT, "paging-structure cache hits")		\
	C(hw_faults, EVENT, "walks that raised a page fault")		\
	C(flush_one, EVENT, "local single-page invalidations")		\
	C(flush_all, EVENT, "local whole-TLB flushes (cr3 loads)")	\
	C(ipis, EVENT, "flush IPIs sent")				\
	C(ipis_lazy, EVENT, "flush IPIs to CPUs in lazy TLB mode")	\
	C(entries_invalidated, EVENT, "TLB and PSC entries dropped")	\
	C(misses_after_flush, EVENT, "TLB misses on flushed entries")	\
	/* kernel */							\
	C(tlb_flush_calls, EVENT, "flush_tlb_{mm,range,page} calls")	\
	C(gather_flushes, EVENT, "tlb_flush() calls of an mmu_gather")	\
	C(gather_full, EVENT, "gather flushes forced by a full vector")	\
	C(gather_fast_frees, EVENT, "pages freed in UP fast mode")	\
	C(zap_breaks, EVENT, "ZAP_BLOCK_SIZE gather breaks")		\
	C(pages_gathered, EVENT, "pages freed through a gather")	\
	C(faults, EVENT, "page faults")					\
	C(cow_copies, EVENT, "COW copies")				\
	C(cow_reuses, EVENT, "COW reuses")				\
	C(pages_freed, EVENT, "pages freed")				\
	C(ptables_alloced, EVENT, "page tables allocated")		\
	C(ptables_freed, EVENT, "page tables freed")			\
	C(forks, EVENT, "forks")					\
	C(exits, EVENT, "exits")					\
	C(alloc_failures, EVENT, "allocations failed (injected or OOM)")	\
	/* reclaim and swap */						\
	C(reclaim_scanned, EVENT, "pages reclaim looked at")		\
	C(reclaim_referenced, EVENT, "pages reclaim found young")	\
	C(pages_reclaimed, EVENT, "pages reclaimed to swap")		\
	C(swap_outs, EVENT, "pages written to swap")			\
	C(swap_ins, EVENT, "pages read back from swap")			\
	C(swap_cache_hits, EVENT, "swap-in faults the swap cache served")	\
	C(swap_slots_now, GAUGE, "swap slots in use")			\
	C(swap_cache_now, GAUGE, "pages in the swap cache")		\
	/* shared page tables */					\
	C(fork_ptes_copied, EVENT, "ptes copied by fork")		\
	C(ptables_shared, EVENT, "pte tables shared by fork")		\
	C(ptables_unshared, EVENT, "shared pte tables copied to change")	\
	C(ptables_share_dropped, EVENT, "shared pte tables let go whole")	\
	C(shared_flushes, EVENT, "flushes of an entry of a shared table")	\
	C(shared_flush_ipis, EVENT, "IPIs those flushes sent")		\
	/* huge pages */						\
	C(thp_faults, EVENT, "faults that mapped a 2 MiB page")	\
	C(thp_fallbacks, EVENT, "2 MiB faults fallen back to 4 KiB")	\
	C(thp_splits, EVENT, "huge pmds split into pte tables")	\
	C(thp_fork_copies, EVENT, "huge pmds copied by fork")		\
	C(thp_cow_reuses, EVENT, "huge pmds made writable in place")	\
	C(thp_zaps_vector, EVENT, "huge pmds zapped, gather=vector")	\
	C(thp_zaps_inplace, EVENT, "huge pmds zapped, gather=inplace")	\
	C(thp_freed, EVENT, "2 MiB compound pages freed")		\
	C(thp_now, GAUGE, "2 MiB compound pages allocated")		\
	C(tlb2m_hits, EVENT, "2 MiB TLB hits")				\
	C(tlb2m_fills, EVENT, "2 MiB TLB fills")			\
	C(phase3_entries, EVENT, "entries the in-place phase 3 visited")	\
	C(preempt_points, EVENT, "preemption points taken")		\
	C(max_preempt_off_ptes, PEAK, "longest preempt-off stretch, ptes") \
	C(gather_percpu_bytes, GAUGE, "per-CPU gather memory, bytes")	\
	C(lock_acquisitions, EVENT, "spinlock acquisitions")		\
	C(lock_contended, EVENT, "spinlocks found held")		\
	C(sem_contended, EVENT, "mmap_sem found held")			\
	C(frames_used_now, GAUGE, "frames allocated, page tables too")	\
	C(slab_objects_now, GAUGE, "kernel objects (mm, vma) allocated") \
}

#define MMSIM_COUNTER_INDEX(name, kind, desc)	MMSIM_CTR_##name,
#define MMSIM_COUNTER_ONE(name, kind, desc)	1,

/* MMSIM_CTR_<name>: a counter's index in the list */
enum MMSIM_COUNTERS(MMSIM_COUNTER_INDEX);

enum {
	MMSIM_NR_COUNTERS = sizeof((char [])MMSIM_COUNTERS(MMSIM_COUNTER_ONE))
};

struct mmsim_counter_info {
	const char *name;		/* as in the list */
	const char *description;	/* one line, for tables */
	uint32_t kind;			/* enum mmsim_counter_kind */
};

/* What counter @index is; -EINVAL from MMSIM_NR_COUNTERS on */
int mmsim_counter_info(uint32_t index, struct mmsim_counter_info *out);

/*
 * The counters now, by index: copies up to @cap values into @values and
 * returns MMSIM_NR_COUNTERS.
 */
uint32_t mmsim_get_counters(struct mmsim *m, uint64_t *values, uint32_t cap);

/* Counter @index now (0 from MMSIM_NR_COUNTERS on): one, without a copy */
uint64_t mmsim_counter(struct mmsim *m, uint32_t index);

enum mmsim_violation_kind {
	MMSIM_V_USE_AFTER_FREE = 1,	/* TLB/PSC used a freed frame */
	MMSIM_V_FREE_WHILE_CACHED,	/* frame freed, another CPU caches it */
	MMSIM_V_UNFLUSHED_RETURN,	/* CPU runs user code before its flush */
	MMSIM_V_INCOHERENT,		/* TLB grants more than the ptes */
	MMSIM_V_DOUBLE_FREE,
	MMSIM_V_BAD_REFCOUNT,
	MMSIM_V_ACCOUNTING,		/* counters disagree with ptes */
	MMSIM_V_LEAK,			/* frame or object left after exit */
	MMSIM_V_LOCKING,		/* lock or preemption rule broken */
	MMSIM_V_BUG,			/* BUG_ON() fired */
};

struct mmsim_violation {
	uint32_t kind;			/* enum mmsim_violation_kind */
	int32_t cpu;			/* -1: not tied to a CPU */
	uint64_t addr;			/* user address, or 0 */
	int64_t pfn;			/* frame, or -1 */
	char function[48];		/* kernel function that found it */
	char message[160];
};

/* Number of violations recorded since creation (or the last clear) */
uint32_t mmsim_nr_violations(struct mmsim *m);
int mmsim_violation(struct mmsim *m, uint32_t index,
		    struct mmsim_violation *out);
void mmsim_clear_violations(struct mmsim *m);

/*
 * Whole-machine audit: refcounts, mapcounts and per-mm counters against
 * the page tables, and coherence of every CPU's TLB and paging-structure
 * cache.  Records violations; returns how many it found.
 */
int mmsim_check(struct mmsim *m);

/*
 * Leak audit, for when every mm has exited: idles every CPU (dropping
 * lazily held mms, as CPUs that switch to init_mm do) and then reports
 * every frame and kernel object still allocated.  Returns the number of
 * leaks found, or -EBUSY while some mm is still alive.
 */
int mmsim_check_leaks(struct mmsim *m);

/*
 * The threaded regime (stress mode).  mmsim_run_threads() runs the first
 * @nr_threads simulated CPUs as host threads on real cores, with no
 * scheduler: real spinlocks, a real reader-writer mmap_sem, atomic
 * counters.  Each thread runs a seeded random stream of calls for its CPU
 * on @nr_mms shared address spaces (mmap, munmap, mprotect and
 * MADV_DONTNEED of ranges around a page-table boundary; loads, stores and
 * runs of stores; fork of a child that stores, loads and exits; switches
 * to another mm or to a kernel thread), until @duration_ms has passed or
 * @ops_per_thread ops are done, or a violation is recorded.  The kernel's
 * checkers run as in the other regimes (frame safety at use and at free,
 * lockdep, ptl rules, preempt balance; coherence at each return at a
 * quiescent point of the mm, see arch/x86/sim/syscall.c); each thread also
 * checks a region of its own in every shared mm, which it alone stores
 * to, by value, in the parent and in a forked child.  Then, back on one
 * thread, the machine is audited (mmsim_check), every mm exits, and the
 * leak audit runs (mmsim_check_leaks).  The machine is left with no mm.
 *
 * Return: 0 (the findings are in @out and in the violation log), -EINVAL
 * for bad parameters or a machine that already has mms, -ENOMEM, or the
 * error of a failed thread creation.
 */
struct mmsim_stress_params {
	uint32_t nr_threads;		/* 1 .. the machine's CPUs */
	uint32_t nr_mms;		/* shared mms, 1 .. 4 */
	uint64_t seed;
	uint64_t duration_ms;		/* 0: no time limit */
	uint64_t ops_per_thread;	/* 0: no op limit */
};

struct mmsim_stress_result {
	uint64_t ops;			/* calls and accesses, all threads */
	uint64_t ops_by_thread[MMSIM_MAX_CPUS];
	uint64_t forks;			/* children forked and exited */
	uint64_t failed_calls;		/* calls that returned an error */
	uint64_t bad_values;		/* own-region loads that read wrong */
	uint64_t bad_errors;		/* own-region accesses that failed */
	uint64_t elapsed_ns;		/* wall time of the threads */
	int32_t audit;			/* mmsim_check() at the end */
	int32_t leaks;			/* mmsim_check_leaks(), or -EBUSY */
};

int mmsim_run_threads(struct mmsim *m, const struct mmsim_stress_params *p,
		      struct mmsim_stress_result *out);

#endif /* MMSIM_UAPI_H */
