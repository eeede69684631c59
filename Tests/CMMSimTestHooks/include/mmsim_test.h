/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsim_test.h - deliberately broken kernel paths, for the tests only.
 *
 * Each entry point does something the kernel must never do, so that a test
 * can show the matching checker fires.  None of them is linked into mmfuzz.
 */
#ifndef MMSIM_TEST_H
#define MMSIM_TEST_H

#include <stdint.h>
#include "mmsim.h"

/*
 * Free the frame that backs @addr in @mm straight back to the page
 * allocator, leaving the pte and every CPU's TLB entry for it in place.
 * Expect MMSIM_V_FREE_WHILE_CACHED (and MMSIM_V_USE_AFTER_FREE on the next
 * access through a stale entry).  The pte is cleared so that accounting
 * does not trip over it.
 */
int mmsim_test_free_cached_frame(struct mmsim *m, int mm, uint64_t addr);

/*
 * munmap() of one page on @cpu that invalidates only the local TLB and
 * skips the IPI to the other CPUs in mm_cpumask.  Expect
 * MMSIM_V_INCOHERENT from the check at return.
 */
int mmsim_test_unmap_no_remote_flush(struct mmsim *m, int cpu, int mm,
				     uint64_t addr);

/*
 * Unhook the pte page that maps @addr in @mm from its pmd, flush, and
 * forget it instead of freeing it.  Expect MMSIM_V_LEAK once every mm has
 * exited.
 */
int mmsim_test_leak_pte_table(struct mmsim *m, int cpu, int mm,
			      uint64_t addr);

/*
 * Corrupt @mm's books: count one more anonymous page than its ptes map
 * (@what 0), or take a reference on the page at @addr that nothing
 * accounts for (@what 1).  Expect MMSIM_V_ACCOUNTING, resp.
 * MMSIM_V_BAD_REFCOUNT, from mmsim_check().
 */
int mmsim_test_miscount(struct mmsim *m, int mm, uint64_t addr, int what);

/* What the in-place gather's phase tracepoint saw, for one unmap */
struct mmsim_phase_report {
	uint32_t phases_seen;		/* bit n: phase n was traced */
	uint32_t pages;			/* frames mapped in the range at arm */
	uint32_t tables;		/* pte pages under the range at arm */
	/* end of phase 1 (unmapped, not flushed) */
	uint32_t reachable_after_unmap;	/* pages a page walk still reaches */
	uint32_t pages_alive_after_unmap;
	uint32_t tables_alive_after_unmap;
	uint32_t tlb_entries_after_unmap;	/* any CPU, for the range */
	/* end of phase 2 (flushed) */
	uint32_t tlb_entries_after_flush;
	uint32_t pages_alive_after_flush;
	/* end of phase 3 (freed) */
	uint32_t pages_alive_after_free;
	uint32_t tables_alive_after_free;
};

/*
 * Watch the next unmaps of [@addr, @addr + @len) in @mm through the
 * gather's phase tracepoint, filling @report (which must stay valid until
 * mmsim_test_untrace()).  Only gather=inplace has phases.
 */
int mmsim_test_trace_unmap(struct mmsim *m, int mm, uint64_t addr,
			   uint64_t len, struct mmsim_phase_report *report);
void mmsim_test_untrace(struct mmsim *m);

/* Write the pte of @addr (unchanged) without taking any lock. */
int mmsim_test_pte_write_unlocked(struct mmsim *m, int mm, uint64_t addr);

/*
 * Write the pte of @addr (unchanged) holding mm->page_table_lock only:
 * right with ptl=mm, a violation with ptl=split.
 */
int mmsim_test_pte_write_mm_locked(struct mmsim *m, int mm, uint64_t addr);

/*
 * Take mm->page_table_lock then the pte page lock of @addr, release both,
 * then take them in the opposite order: lockdep must report the inversion
 * although nothing deadlocked.  Needs ptl=split (with ptl=mm both are the
 * same lock).
 */
int mmsim_test_lock_inversion(struct mmsim *m, int mm, uint64_t addr);

/*
 * Take @mm's mmap_sem for reading while holding the pte lock of @addr:
 * a sleeping lock in atomic context, and the reverse of the fault path's
 * mmap_sem-then-pte-lock order.
 */
int mmsim_test_mmap_sem_under_ptl(struct mmsim *m, int mm, uint64_t addr);

/* cond_resched() with mm->page_table_lock held. */
int mmsim_test_resched_holding_lock(struct mmsim *m, int mm);

/*
 * Marks @mm's page_table_lock as held by CPU @owner (a CPU that will never
 * release it), or free again with -1: in a concurrent batch, every CPU
 * that needs the lock then waits for ever, which is a deadlock.
 */
int mmsim_test_hold_mm_lock(struct mmsim *m, int mm, int owner);

/*
 * From now on, every in-place gather drops the other CPUs from the mm's
 * cpu_vm_mask before it flushes (its flush stays local); undone by
 * mmsim_test_untrace().
 */
void mmsim_test_break_shootdown(struct mmsim *m);

/* Take the write bit out of the pte of @addr, with no lock and no flush. */
int mmsim_test_wrprotect_no_flush(struct mmsim *m, int mm, uint64_t addr);

/* The machine's clock (scheduling points and entries so far). */
uint64_t mmsim_test_clock(struct mmsim *m);

/*
 * Where @m's frame memory starts, and how many of its 8-byte words are not
 * zero: a machine booted on the memory of one powered off before must
 * find it as clear as fresh host memory.
 */
uint64_t mmsim_test_frames_base(struct mmsim *m);
int mmsim_test_frames_nonzero(struct mmsim *m);

/*
 * The coherence check a call that began at step @since makes when it
 * releases mmap_sem, for [@addr, @addr + @len) of @mm, run on @cpu.
 * Returns the number of violations it recorded (or -ESRCH).
 */
int mmsim_test_release_check(struct mmsim *m, int cpu, int mm,
			     uint64_t addr, uint64_t len, uint64_t since);

/*
 * Break one rule of reclaim, swap or shared pte tables at @addr of @mm,
 * without the flush or the bookkeeping the kernel would do, so that the
 * audit (mmsim_check()) or coherence at return catches it:
 */
enum mmsim_test_corruption {
	/* one more reference on the pte table than pmds point at it */
	MMSIM_TEST_SHARE_COUNT = 1,
	/* @mm no longer listed among the sharers of its shared pte table */
	MMSIM_TEST_SHARER_UNLISTED,
	/* a pte of a shared table made writable */
	MMSIM_TEST_SHARED_WRITABLE,
	/* the anonymous page's reverse map names another address */
	MMSIM_TEST_RMAP_INDEX,
	/* the swap slot of the swap entry at @addr counts one pte more */
	MMSIM_TEST_SWAP_COUNT,
	/* the swap slot of the swap entry at @addr freed under it */
	MMSIM_TEST_SWAP_SLOT_FREED,
	/* @mm counts one swap entry more than its ptes hold */
	MMSIM_TEST_SWAP_ENTS,
	/* the pte's accessed bit cleared, and no flush */
	MMSIM_TEST_OLD_NO_FLUSH,
};

/* Return: 0, or -ENOENT when @addr has no pte of the kind the case needs */
int mmsim_test_corrupt(struct mmsim *m, int mm, uint64_t addr, int what);

/*
 * Break one rule of huge pages at the 2 MiB of @addr in @mm, without the
 * flush or the bookkeeping the kernel would do:
 */
enum mmsim_test_huge_corruption {
	/* a pte table replaced by a huge pmd of a new page, no flush */
	MMSIM_TEST_HUGE_COLLAPSE_NO_FLUSH = 1,
	/* the huge pmd cleared and its page freed, no flush */
	MMSIM_TEST_HUGE_FREE_NO_FLUSH,
	/* the huge pmd write-protected, no flush */
	MMSIM_TEST_HUGE_WRPROTECT_NO_FLUSH,
	/* the huge pmd made writable (after fork: shared with another mm) */
	MMSIM_TEST_HUGE_WRITABLE,
	/* the huge pmd's deposited pte table taken away and leaked */
	MMSIM_TEST_HUGE_NO_DEPOSIT,
	/* one huge pmd more counted in the compound page's mapcount */
	MMSIM_TEST_HUGE_MAPCOUNT,
	/* thp_now counts one compound page more */
	MMSIM_TEST_HUGE_COUNT,
	/* the huge pmd split, its pte table linked without a flush */
	MMSIM_TEST_HUGE_SPLIT_NO_FLUSH,
	/* the huge pmd left invalidated, as by a split that stopped */
	MMSIM_TEST_HUGE_LEFT_INVALIDATED,
	/* the huge pmd rewritten (made old) without its pmd lock */
	MMSIM_TEST_HUGE_WRITE_UNLOCKED,
	/* an entry written into the huge pmd's deposited pte table */
	MMSIM_TEST_HUGE_DEPOSIT_DIRTY,
	/* the huge pmd pointed at a frame that is not a compound page */
	MMSIM_TEST_HUGE_NOT_COMPOUND,
};

/* Return: 0, or -ENOENT when @addr is not mapped as the case needs */
int mmsim_test_corrupt_huge(struct mmsim *m, int mm, uint64_t addr,
			    int what);

#endif /* MMSIM_TEST_H */
