/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmu_gather: batching the TLB shootdown of an unmap.
 *
 * Baseline (gather=vector), as in Linux 2.6.16: each CPU owns one gather
 * with a vector of FREE_PTE_NR pages.  tlb_gather_mmu() takes it and
 * disables preemption until tlb_finish_mmu(); pages and page tables are
 * queued in the vector and freed only after the TLBs have been flushed.
 * A full vector forces a flush in the middle of the unmap.  With one CPU
 * online the gather runs in "fast mode": nothing can hold a stale entry
 * but the local TLB, which is flushed before user code runs again, so
 * pages are freed at once.
 */
#ifndef _ASM_GENERIC_TLB_H
#define _ASM_GENERIC_TLB_H

#include <linux/mm.h>

#define FREE_PTE_NR	506

struct mmu_gather {
	struct mm_struct *mm;
	unsigned int nr;		/* ~0U: fast mode */
	unsigned int need_flush;	/* really unmapped some ptes? */
	unsigned int fullmm;		/* non-zero: the whole mm goes */
	struct page *pages[FREE_PTE_NR];
};

static inline bool tlb_fast_mode(const struct mmu_gather *tlb)
{
	return tlb->nr == ~0U;
}

struct mmu_gather *tlb_gather_mmu(struct mm_struct *mm,
				  unsigned int full_mm_flush);
void tlb_flush_mmu(struct mmu_gather *tlb, unsigned long start,
		   unsigned long end);
void tlb_finish_mmu(struct mmu_gather *tlb, unsigned long start,
		    unsigned long end);
void tlb_remove_page(struct mmu_gather *tlb, struct page *page);

static inline void tlb_remove_tlb_entry(struct mmu_gather *tlb, pte_t *ptep,
					unsigned long address)
{
	tlb->need_flush = 1;
}

/* Page tables go through the gather like pages: freed after the flush */
#define pte_free_tlb(tlb, page) tlb_remove_page((tlb), (page))
#define pmd_free_tlb(tlb, pmd) tlb_remove_page((tlb), virt_to_page(pmd))
#define pud_free_tlb(tlb, pud) tlb_remove_page((tlb), virt_to_page(pud))

#endif /* _ASM_GENERIC_TLB_H */
