/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct sim_machine - one simulated computer: its frames, its CPUs and
 * their MMUs, the mms that live on it, and what the checkers found.
 *
 * The kernel code reaches it through the thread-local @sim, set on every
 * entry from the driver (arch/x86/sim/syscall.c), the way kernel code
 * reaches its globals and per-CPU data.
 */
#ifndef _ASM_X86_SIM_MACHINE_H
#define _ASM_X86_SIM_MACHINE_H

#include <linux/smp.h>
#include <linux/sched.h>
#include <asm/sim_mmu.h>
#include <uapi/mmsim.h>

struct mmu_gather_batch;
struct sim_smp;
struct swap_info_struct;

#define MAX_LOCK_DEPTH		8

/*
 * struct sim_lock - a host spinlock for the simulator's own shared state
 * (the TLBs of a CPU, the frame allocator, the violation log, the mm
 * registry), taken only while the CPUs run as host threads
 * (mmsim_run_threads()); recursive for the thread that holds it.
 */
struct sim_lock {
	u32 locked;
	u32 depth;
	const void *owner;
};

void sim_lock(struct sim_lock *lock);
void sim_unlock(struct sim_lock *lock);
/* A spinning host thread's pause; yields the core after a while */
void sim_spin_pause(unsigned int *spins);

enum tlbstate {
	TLBSTATE_OK = 1,
	TLBSTATE_LAZY = 2,
};

#define SIM_OWED_MAX		256

/*
 * What the call running on a CPU owes the TLBs: the ptes of @mm it has
 * taken a translation from (cleared, repointed, write-protected or made
 * old) and not yet flushed, each with the step of the change; and pmd
 * entries it repointed (an unshare), by the address of their 2 MiB.
 * Past SIM_OWED_MAX entries it owes the whole mm from @all_since on.
 * @any_mm: the changes were to a pte table several mms share, and are
 * owed to every mm.
 */
struct sim_owed {
	struct mm_struct *mm;
	u32 nr;
	bool all;
	bool any_mm;
	u64 all_since;
	struct {
		unsigned long vpn;
		u64 step;
	} pte[SIM_OWED_MAX];
};

/* DEFINE_PER_CPU data of the simulated kernel, one instance per CPU */
struct sim_percpu {
	struct task_struct task;	/* what this CPU runs now */
	struct sim_mmu mmu;
	struct mmu_gather_batch *mmu_gathers;	/* gather=vector only */
	struct {
		struct mm_struct *active_mm;
		int state;
	} cpu_tlbstate;
	struct sim_lock mmu_lock;	/* threaded: mmu and cpu_tlbstate */
	int preempt_count;
	int locks_held;
	const void *held_locks[MAX_LOCK_DEPTH];
	u8 held_keys[MAX_LOCK_DEPTH];
	unsigned long preempt_off_work;	/* ptes in this stretch */
	/* the concurrent regime (arch/x86/sim/smp.c) */
	bool in_walk;			/* the hardware walker is mid-walk */
	bool did_cow;			/* a fault of this call replaced a pte */
	bool did_gather;		/* this call ran an mmu_gather */
	u64 op_effect;			/* see struct mmsim_op */
	u64 op_locked;
	struct {	/* see debug_check_mmap_sem_release() */
		struct mm_struct *mm;
		unsigned long start, end;
		u64 since;
		const char *func;
		bool *only_if;	/* check only if this is true */
	} release_check;
	struct sim_owed owed;		/* see sim_pte_changed() */
};

#define SIM_MAX_VIOLATIONS	64

struct sim_machine {
	struct mmsim_config config;
	u64 *mem;			/* nr_frames * PAGE_SIZE bytes */
	struct page *mem_map;
	u32 *free_list;			/* stack of free pfns */
	u32 nr_free;
	u32 frames_hw;			/* frames below: allocated once or more */
	u32 frames_cleared;		/* frames below: zeroed by the boot */
	u16 *block_free;		/* free frames of each aligned 2 MiB */
	u32 nr_blocks;			/* whole 2 MiB blocks of frames */
	struct sim_percpu percpu[MMSIM_MAX_CPUS];
	struct mm_struct **mms;		/* by id; NULL once gone */
	int nr_mm_ids;
	int mm_ids_cap;
	u64 fail_nth;			/* 0: no injected failure armed */
	/* the threaded regime, while mmsim_run_threads() runs */
	bool threaded;
	struct sim_lock alloc_lock;	/* free_list, nr_free */
	struct sim_lock report_lock;	/* violations */
	struct sim_lock mms_lock;	/* the mm registry */
	struct sim_lock shmem_lock;	/* shmem objects */
	struct sim_lock swap_lock;	/* swap_info */
	struct swap_info_struct *swap_info;	/* set up at the first swap-out */
	unsigned long reclaim_hand;	/* the clock of mm/vmscan.c, a pfn */
	/* lockdep: lock_order[a][b] set once key b was taken holding key a */
	u8 lock_order[LOCK_KEYS][LOCK_KEYS];
	u64 stats[MMSIM_NR_COUNTERS];	/* by MMSIM_CTR_<name> */
	/* audit_vm()'s counts by frame, all zero between audits */
	u32 *audit_maps;
	u32 *audit_refs;
	u8 *audit_table;
	u32 *audit_slots;		/* by swap slot, below slots_hw */
	/* the concurrent regime, while mmsim_run_concurrent() runs */
	struct sim_smp *smp;
	void *cpu_stacks[MMSIM_MAX_CPUS];
	/*
	 * The machine's clock: one tick per scheduling point and per entry
	 * from the driver, never reset, so that what it stamps (TLB fills,
	 * pte changes, call entries) compares across batches.
	 */
	u64 clock;
	struct mmsim_pte_event *pte_log;	/* of the last concurrent run */
	u32 nr_pte_log;
	u32 pte_log_cap;
	struct mmsim_sched_run *schedule;	/* ... and its schedule */
	u32 nr_schedule;
	u32 schedule_cap;
	bool broken;			/* a deadlock left CPUs mid-call */
	/* tracepoint probe for trace_mmu_gather_phase(), tests only */
	void (*gather_phase_probe)(struct mm_struct *mm, int phase);
	u32 nr_violations;
	struct mmsim_violation violations[SIM_MAX_VIOLATIONS];
};

#define per_cpu(var, cpu)	(sim->percpu[cpu].var)
#define __get_cpu_var(var)	per_cpu(var, smp_processor_id())

/* Frames of the machine's memory: pfns run from 0 to max_pfn - 1 */
#define max_pfn			((unsigned long)sim->config.nr_frames)
/* Frames from max_used_pfn on were never allocated: free, as at boot */
#define max_used_pfn		((unsigned long)sim->frames_hw)

/* The live mm of the lowest id from *@id on, and *@id past it; or NULL */
static inline struct mm_struct *sim_next_mm(int *id)
{
	while (*id < sim->nr_mm_ids) {
		struct mm_struct *mm = sim->mms[(*id)++];

		if (mm)
			return mm;
	}
	return NULL;
}

/* Every live mm of the machine, by id (@id an int cursor) */
#define for_each_mm(mm, id)						\
	for ((id) = 0; ((mm) = sim_next_mm(&(id))) != NULL; )

/*
 * The machine's counters, by name (the list is in uapi/mmsim.h).  The
 * kernel counts through <linux/vmstat.h>.
 */
#define sim_stat(name)		(sim->stats[MMSIM_CTR_##name])
#define sim_stat_inc(name)	sim_stat_add(name, 1)
#define sim_stat_add(name, n) do {					\
	if (unlikely(sim->threaded))					\
		__atomic_fetch_add(&sim_stat(name), (n),		\
				   __ATOMIC_RELAXED);			\
	else								\
		sim_stat(name) += (n);					\
} while (0)

static inline void sim_stat_max_atomic(u64 *stat, u64 val)
{
	u64 old = __atomic_load_n(stat, __ATOMIC_RELAXED);

	while (val > old &&
	       !__atomic_compare_exchange_n(stat, &old, val, false,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* Raise the high-water mark @name to @val */
#define sim_stat_max(name, val) do {					\
	u64 __val = (val);						\
									\
	if (unlikely(sim->threaded))					\
		sim_stat_max_atomic(&sim_stat(name), __val);		\
	else if (__val > sim_stat(name))				\
		sim_stat(name) = __val;					\
} while (0)

/*
 * The kernel's configuration, chosen per machine at mmsim_create() where
 * a kernel would choose it at build time.
 */

/* CONFIG_PREEMPT: cond_resched() and preempt_enable() may reschedule */
static inline bool preempt_model_full(void)
{
	return sim->config.preempt;
}

/* Page-table locks: one per pte page, not one per mm (mm->page_table_lock) */
static inline bool split_ptlocks(void)
{
	return sim->config.ptl == MMSIM_PTL_SPLIT;
}

/* The mmu_gather in place (the 2006 RFC), not the per-CPU page vector */
static inline bool gather_inplace(void)
{
	return sim->config.gather == MMSIM_GATHER_INPLACE;
}

/* fork shares pte tables (the 2002 proposal); implies split_ptlocks() */
static inline bool share_ptables(void)
{
	return sim->config.share == MMSIM_SHARE_FORK;
}

/* A shared table's entry is flushed on its sharers' CPUs, not all */
static inline bool sharemask_precise(void)
{
	return sim->config.sharemask == MMSIM_SHAREMASK_PRECISE;
}

/* The simulated CPUs run as host threads: no scheduler, real locks */
static inline bool sim_threaded(void)
{
	return sim->threaded;
}

/* Take @lock when the CPUs are host threads; otherwise nothing to do */
static inline void sim_lock_threaded(struct sim_lock *lock)
{
	if (unlikely(sim->threaded))
		sim_lock(lock);
}

static inline void sim_unlock_threaded(struct sim_lock *lock)
{
	if (unlikely(sim->threaded))
		sim_unlock(lock);
}

/* Lock @cpu's MMU against the other host threads (threaded regime only) */
static inline void sim_mmu_lock(int cpu)
{
	if (unlikely(sim->threaded))
		sim_lock(&sim->percpu[cpu].mmu_lock);
}

static inline void sim_mmu_unlock(int cpu)
{
	if (unlikely(sim->threaded))
		sim_unlock(&sim->percpu[cpu].mmu_lock);
}

/* Enter the simulated kernel on @cpu of @m; returns the previous context */
struct sim_context {
	struct sim_machine *machine;
	int cpu;
};

struct sim_context sim_enter(struct sim_machine *m, int cpu);
void sim_leave(struct sim_context saved);

/* Host memory for the machine's frames: zero pages, mapped on demand */
void *host_map_zeroed(size_t size);
void host_unmap(void *addr, size_t size);
void host_discard(void *addr, size_t size);

/* Fault injection shared by the page and object allocators */
bool should_fail_alloc(void);

/*
 * The concurrent regime (arch/x86/sim/smp.c).  sim_interleave() is a point
 * where another CPU may run; sim_spin_until() waits, letting the others
 * run, until @cond(@arg) holds.  Both do nothing in the sequential regime.
 */
void sim_interleave(void);
void sim_spin_until(bool (*cond)(const void *arg), const void *arg);
bool sim_concurrent(void);
u64 sim_clock(void);
void sim_tlb_flushed(struct mm_struct *mm, unsigned long va);
bool sim_flush_owed_elsewhere(struct mm_struct *mm, unsigned long addr,
			      u64 since);
bool sim_pmd_flush_owed_elsewhere(struct mm_struct *mm, unsigned long addr);
bool sim_huge_flush_owed_elsewhere(struct mm_struct *mm, unsigned long addr,
				   u64 since);
void sim_smp_free(struct sim_machine *m);

struct mm_struct *sim_mm_by_id(int id);
int sim_mm_register(struct mm_struct *mm);
void sim_mm_unregister(struct mm_struct *mm);

#endif /* _ASM_X86_SIM_MACHINE_H */
