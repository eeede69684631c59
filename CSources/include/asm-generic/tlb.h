/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmu_gather: batching the TLB shootdown of an unmap.
 *
 * The gather lives on the caller's stack; the machine's "gather" setting
 * chooses how it remembers what to free once the TLBs are flushed.
 *
 * gather=vector, Linux 2.6.16: tlb_gather_mmu() takes this CPU's vector
 * of FREE_PTE_NR pages and disables preemption until tlb_finish_mmu().
 * Pages and page tables are queued in the vector and freed only after the
 * flush; a full vector forces a flush in the middle of the unmap, and the
 * unmap is broken into ZAP_BLOCK_SIZE pieces, each with a flush of its own,
 * so that preemption is not held off for long.  With one CPU online the
 * gather runs in "fast mode": nothing but the local TLB can hold a stale
 * entry, and it is flushed before user code runs again, so pages are freed
 * at once.
 *
 * gather=inplace, the 2006 RFC: no vector and no per-CPU state.  The page
 * tables themselves remember what to free: phase 1 turns each zapped pte
 * into a "gathered" entry (not present to the hardware, still naming its
 * page) and detaches emptied page tables from the level above onto lists
 * in the gather; phase 2 flushes the TLBs once; phase 3 walks the range
 * and the detached tables again and frees the pages and the tables.  The
 * zap takes ordinary preemption points, and nothing is allocated.
 *
 * A huge pmd (mm/huge_memory.c) goes through either gather as one entry:
 * the vector holds its compound page tagged with its size (Linux's
 * encoded pages), the in-place gather a gathered pmd entry naming it.
 * x86 flushes the whole mm here, so a gather need not flush when the
 * page size changes (tlb_change_page_size() of other architectures).
 */
#ifndef _ASM_GENERIC_TLB_H
#define _ASM_GENERIC_TLB_H

#include <linux/mm.h>

#define FREE_PTE_NR	506

/*
 * gather=inplace with CONFIG_PREEMPT: the zap and the second walk drop the
 * pte lock for a preemption point every this many ptes, instead of
 * breaking the gather.
 */
#define INPLACE_RESCHED_PTES	8

/* gather=vector: the per-CPU vector */
struct mmu_gather_batch {
	unsigned int nr;		/* ~0U: fast mode */
	struct page *pages[FREE_PTE_NR];
};

struct mmu_gather {
	struct mm_struct *mm;
	unsigned int need_flush;	/* really unmapped some ptes? */
	unsigned int fullmm;		/* non-zero: the whole mm goes */
	/*
	 * free_pgtables() follows for [free_start, free_end) (free_end 0:
	 * it does not): a shared pte table inside it is only let go of
	 */
	unsigned long free_start, free_end;
	bool inplace;
	/* gather=vector: this CPU's vector, held with preemption off */
	struct mmu_gather_batch *batch;
	/* gather=inplace: where gathered ptes may be left in live tables */
	unsigned long start, end;
	/* gather=inplace: page tables detached in phase 1 */
	struct list_head pte_tables;
	struct list_head pmd_tables;
	struct list_head upper_tables;
};

/* The level of a page table tlb_remove_table() is given */
enum tlb_table_level {
	TLB_TABLE_PTE,
	TLB_TABLE_PMD,		/* may hold gathered huge pmds */
	TLB_TABLE_UPPER,
};

static inline bool tlb_fast_mode(const struct mmu_gather *tlb)
{
	return tlb->batch->nr == ~0U;
}

void tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm,
		    unsigned int full_mm_flush);
void tlb_flush_mmu(struct mmu_gather *tlb);
void tlb_finish_mmu(struct mmu_gather *tlb, unsigned long start,
		    unsigned long end);
void tlb_remove_page(struct mmu_gather *tlb, struct page *page);
void tlb_gather_pte(struct mmu_gather *tlb, unsigned long addr, pte_t *ptep,
		    struct page *page);
void tlb_remove_table(struct mmu_gather *tlb, struct page *table,
		      enum tlb_table_level level);
void tlb_remove_huge_page(struct mmu_gather *tlb, struct page *head);
void tlb_gather_pmd(struct mmu_gather *tlb, unsigned long addr, pmd_t *pmd,
		    struct page *head);
void tlb_release_huge_page(struct page *head);
void tlb_free_gathered_range(struct mmu_gather *tlb);
void tlb_free_detached_tables(struct mmu_gather *tlb);

/*
 * Tracepoint: gather=inplace has finished phase @phase (1: unmapped,
 * 2: flushed, 3: freed).  Tests hook it to look at the machine in between.
 */
void trace_mmu_gather_phase(struct mmu_gather *tlb, int phase);

static inline void tlb_remove_tlb_entry(struct mmu_gather *tlb, pte_t *ptep,
					unsigned long address)
{
	tlb->need_flush = 1;
}

/* Page tables go through the gather like pages: freed after the flush */
#define pte_free_tlb(tlb, page) tlb_remove_table((tlb), (page), TLB_TABLE_PTE)
#define pmd_free_tlb(tlb, pmd)						\
	tlb_remove_table((tlb), virt_to_page(pmd), TLB_TABLE_PMD)
#define pud_free_tlb(tlb, pud)						\
	tlb_remove_table((tlb), virt_to_page(pud), TLB_TABLE_UPPER)

#endif /* _ASM_GENERIC_TLB_H */
