// SPDX-License-Identifier: GPL-2.0
/*
 * The mmu_gather, both ways (see <asm-generic/tlb.h>): the 2.6.16 per-CPU
 * vector, and the in-place gather.
 */
#include <linux/mm.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>
#include <asm-generic/tlb.h>
#include <linux/rmap.h>
#include <linux/swap.h>

/*
 * i386's tlb_flush(): the whole mm, on every CPU that may cache it.  The
 * range of the unmap is not used.
 */
static void tlb_flush(struct mmu_gather *tlb)
{
	count_vm_tlb_event(gather_flushes);
	flush_tlb_mm(tlb->mm);
}

void tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm,
		    unsigned int full_mm_flush)
{
	tlb->mm = mm;
	inc_tlb_flush_pending(mm);
	__get_cpu_var(did_gather) = true;
	tlb->fullmm = full_mm_flush;
	tlb->free_start = 0;
	tlb->free_end = 0;
	tlb->need_flush = 0;
	tlb->inplace = gather_inplace();
	if (tlb->inplace) {
		tlb->batch = NULL;
		tlb->start = -1UL;
		tlb->end = 0;
		INIT_LIST_HEAD(&tlb->pte_tables);
		INIT_LIST_HEAD(&tlb->pmd_tables);
		INIT_LIST_HEAD(&tlb->upper_tables);
		return;
	}
	preempt_disable();	/* get_cpu_var(mmu_gathers) */
	tlb->batch = __get_cpu_var(mmu_gathers);
	/* Use fast mode if only one CPU is online */
	tlb->batch->nr = num_online_cpus() > 1 ? 0U : ~0U;
}

/*
 * A page the zap unmapped: its mapcount drops only now, after the flush.
 * Dropped at the zap, as 2.6.16 did, another mm still mapping the page
 * would find itself its last mapper and reuse it in place on a write
 * fault, while a CPU of this mm still reads it through a TLB entry the
 * gather has not flushed yet (the delayed rmap removal of Linux 6.2's
 * "mm: delay page_remove_rmap() until after the TLB has been flushed").
 */
static void tlb_release_page(struct page *page)
{
	if (!PagePgtable(page)) {
		page_remove_rmap(page);
		free_swap_cache(page);
		count_vm_tlb_event(pages_gathered);
	}
	put_page(page);
}

/* A huge pmd's compound page, unmapped: as tlb_release_page() */
void tlb_release_huge_page(struct page *head)
{
	head->compound_mapcount--;
	count_vm_tlb_events(pages_gathered, HPAGE_PMD_NR);
	put_page(head);
}

/*
 * gather=vector: an entry of the vector is a page, or, with the low bit
 * set, the compound page of a huge pmd (struct pages are aligned).
 */
#define TLB_ENTRY_HUGE	1UL

static struct page *encode_huge_page(struct page *head)
{
	return (struct page *)((unsigned long)head | TLB_ENTRY_HUGE);
}

static void free_pages_and_swap_cache(struct page **pages, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		unsigned long entry = (unsigned long)pages[i];

		if (entry & TLB_ENTRY_HUGE)
			tlb_release_huge_page((struct page *)
					      (entry & ~TLB_ENTRY_HUGE));
		else
			tlb_release_page(pages[i]);
	}
}

/* gather=vector: flush, then free what the vector holds */
void tlb_flush_mmu(struct mmu_gather *tlb)
{
	if (!tlb->need_flush)
		return;
	tlb->need_flush = 0;
	tlb_flush(tlb);
	if (!tlb_fast_mode(tlb)) {
		free_pages_and_swap_cache(tlb->batch->pages, tlb->batch->nr);
		tlb->batch->nr = 0;
	}
}

/*
 * Another gather on this mm may have cleared ptes of our range and not
 * flushed yet: we found them none and would return without a flush while
 * other CPUs can still use them.  Flush regardless (what Linux 4.16 does
 * with mm_tlb_flush_nested()).
 */
static void tlb_flush_if_nested(struct mmu_gather *tlb)
{
	if (mm_tlb_flush_nested(tlb->mm))
		tlb->need_flush = 1;
}

/**
 * tlb_finish_mmu - flush, then free everything gathered
 *
 * With gather=inplace this is phases 2 and 3: one flush for all that was
 * unmapped, then the second walk.  Until the flush no page or table is
 * freed: other CPUs may still translate through them.
 */
void tlb_finish_mmu(struct mmu_gather *tlb, unsigned long start,
		    unsigned long end)
{
	tlb_flush_if_nested(tlb);
	if (!tlb->inplace) {
		tlb_flush_mmu(tlb);
		dec_tlb_flush_pending(tlb->mm);
		preempt_enable();	/* put_cpu_var(mmu_gathers) */
		return;
	}
	trace_mmu_gather_phase(tlb, 1);
	if (tlb->need_flush) {
		tlb->need_flush = 0;
		tlb_flush(tlb);
	}
	dec_tlb_flush_pending(tlb->mm);
	trace_mmu_gather_phase(tlb, 2);
	tlb_free_gathered_range(tlb);
	tlb_free_detached_tables(tlb);
	trace_mmu_gather_phase(tlb, 3);
}

/**
 * tlb_remove_page - gather=vector: queue @page to be freed after the flush
 *
 * In fast mode (one CPU online) the page is freed at once: only this
 * CPU's TLB can still refer to it, and it is flushed before user code runs
 * again.  A full vector forces the flush now.
 */
void tlb_remove_page(struct mmu_gather *tlb, struct page *page)
{
	struct mmu_gather_batch *batch = tlb->batch;

	tlb->need_flush = 1;
	if (tlb_fast_mode(tlb)) {
		count_vm_tlb_event(gather_fast_frees);
		if (!PagePgtable(page)) {
			page_remove_rmap(page);
			free_swap_cache(page);
		}
		put_page(page);
		return;
	}
	batch->pages[batch->nr++] = page;
	if (batch->nr >= FREE_PTE_NR) {
		count_vm_tlb_event(gather_full);
		tlb_flush_mmu(tlb);
	}
}

/*
 * tlb_remove_huge_page - gather=vector: queue the compound page of a huge
 * pmd, with its size, to be freed after the flush (at once in fast mode)
 */
void tlb_remove_huge_page(struct mmu_gather *tlb, struct page *head)
{
	struct mmu_gather_batch *batch = tlb->batch;

	tlb->need_flush = 1;
	count_vm_tlb_event(thp_zaps_vector);
	if (tlb_fast_mode(tlb)) {
		count_vm_tlb_event(gather_fast_frees);
		tlb_release_huge_page(head);
		return;
	}
	batch->pages[batch->nr++] = encode_huge_page(head);
	if (batch->nr >= FREE_PTE_NR) {
		count_vm_tlb_event(gather_full);
		tlb_flush_mmu(tlb);
	}
}

/*
 * tlb_remove_table - a page table unhooked from the level above, to be
 * freed after the flush: through the vector, or (gather=inplace) on the
 * gather's lists, linked through the table's own struct page.
 */
void tlb_remove_table(struct mmu_gather *tlb, struct page *table,
		      enum tlb_table_level level)
{
	tlb->need_flush = 1;
	if (!tlb->inplace) {
		tlb_remove_page(tlb, table);
		return;
	}
	switch (level) {
	case TLB_TABLE_PTE:
		list_add_tail(&table->lru, &tlb->pte_tables);
		break;
	case TLB_TABLE_PMD:
		list_add_tail(&table->lru, &tlb->pmd_tables);
		break;
	default:
		list_add_tail(&table->lru, &tlb->upper_tables);
	}
}

/*
 * gather=inplace: the page tables remember what to free.
 *
 * Phase 1 (the zap, under the pte lock) replaces each pte by a gathered
 * entry naming the page: the hardware can no longer load it into a TLB,
 * yet the page is still allocated, so a stale TLB entry on another CPU
 * reaches a live page.  free_pgtables() unhooks emptied tables and puts
 * them on the gather's lists.  Phase 2 is one flush.  Phase 3, below,
 * frees the pages named by gathered entries, first in the tables still
 * linked (a partial unmap, or MADV_DONTNEED, keeps them), then in the
 * detached ones, and last the detached tables themselves.
 *
 * Nothing here allocates, and nothing is held across the preemption
 * points but the page tables, which only this caller can reach: the vmas
 * are gone (munmap, exit) or the range is owned under mmap_sem
 * (MADV_DONTNEED).
 */

/* Phase 1: @ptep, already cleared, now remembers @page */
void tlb_gather_pte(struct mmu_gather *tlb, unsigned long addr, pte_t *ptep,
		    struct page *page)
{
	set_pte_at(tlb->mm, addr, ptep,
		   pte_mkgathered(page_to_pfn(page), smp_processor_id()));
	tlb->need_flush = 1;
	if (addr < tlb->start)
		tlb->start = addr;
	if (addr + PAGE_SIZE > tlb->end)
		tlb->end = addr + PAGE_SIZE;
}

/*
 * Phase 1 of a huge pmd, already cleared: it now remembers the compound
 * page @head, for the whole of its 2 MiB.
 */
void tlb_gather_pmd(struct mmu_gather *tlb, unsigned long addr, pmd_t *pmd,
		    struct page *head)
{
	unsigned long haddr = addr & HPAGE_PMD_MASK;

	set_pmd_at(tlb->mm, haddr, pmd,
		   pmd_mkgathered(page_to_pfn(head), smp_processor_id()));
	count_vm_tlb_event(thp_zaps_inplace);
	tlb->need_flush = 1;
	if (haddr < tlb->start)
		tlb->start = haddr;
	if (haddr + HPAGE_PMD_SIZE > tlb->end)
		tlb->end = haddr + HPAGE_PMD_SIZE;
}

static void free_gathered_page(pte_t pte)
{
	tlb_release_page(pte_page(pte));
}

static void free_gathered_ptes(struct mmu_gather *tlb, pmd_t *pmd,
			       unsigned long addr, unsigned long end)
{
	struct mm_struct *mm = tlb->mm;
	spinlock_t *ptl = pte_lockptr(mm, pmd);
	pte_t *pte = pte_offset_map(pmd, addr);
	unsigned int since_resched = 0;

	spin_lock(ptl);
	do {
		pte_t ptent = *pte;

		preempt_account_work(1);
		count_vm_event(phase3_entries);
		if (pte_gathered(ptent) &&
		    pte_gather_owner(ptent) == smp_processor_id()) {
			pte_clear(mm, addr, pte);
			free_gathered_page(ptent);
		}
		if (preempt_model_full() &&
		    ++since_resched == INPLACE_RESCHED_PTES) {
			since_resched = 0;
			spin_unlock(ptl);
			cond_resched();
			spin_lock(ptl);
		}
	} while (pte++, addr += PAGE_SIZE, addr != end);
	spin_unlock(ptl);
}

/*
 * Phase 3, tables still linked: clear the gathered entries in
 * [tlb->start, tlb->end) and free their pages.
 */
void tlb_free_gathered_range(struct mmu_gather *tlb)
{
	unsigned long addr = tlb->start, end = tlb->end, next;
	pgd_t *pgd;

	if (addr >= end)
		return;
	pgd = pgd_offset(tlb->mm, addr);
	do {
		unsigned long pud_next, pmd_next;
		pud_t *pud;

		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd))
			continue;
		pud = pud_offset(pgd, addr);
		do {
			pmd_t *pmd;

			pud_next = pud_addr_end(addr, next);
			if (pud_none(*pud))
				continue;
			pmd = pmd_offset(pud, addr);
			do {
				pmd_t pmdval = pmdp_get_lockless(pmd);

				pmd_next = pmd_addr_end(addr, pud_next);
				if (pmd_none(pmdval))
					continue;
				if (pmd_trans_huge(pmdval)) {
					free_gathered_huge_pmd(tlb, pmd, addr);
					continue;
				}
				free_gathered_ptes(tlb, pmd, addr, pmd_next);
			} while (pmd++, addr = pmd_next, addr != pud_next);
		} while (pud++, addr = pud_next, addr != next);
	} while (pgd++, addr = next, addr != end);
	tlb->start = -1UL;
	tlb->end = 0;
}

/*
 * Phase 3, detached tables: no CPU can reach them any more, so no lock is
 * needed to read them; free the pages they name (the compound pages of
 * gathered huge pmds, in a pmd table), then the tables.
 */
void tlb_free_detached_tables(struct mmu_gather *tlb)
{
	struct page *table, *next;
	unsigned int i;

	list_for_each_entry_safe(table, next, &tlb->pte_tables, lru) {
		pte_t *pte = page_address(table);

		for (i = 0; i < PTRS_PER_PTE; i++) {
			preempt_account_work(1);
			if (pte_gathered(pte[i]))
				free_gathered_page(pte[i]);
		}
		count_vm_events(phase3_entries, PTRS_PER_PTE);
		list_del_init(&table->lru);
		pte_free(table);
		cond_resched();
	}
	list_for_each_entry_safe(table, next, &tlb->pmd_tables, lru) {
		pmd_t *pmd = page_address(table);

		for (i = 0; i < PTRS_PER_PMD; i++) {
			preempt_account_work(1);
			if (pmd_gathered(pmd[i]))
				tlb_release_huge_page(pmd_page(pmd[i]));
		}
		count_vm_events(phase3_entries, PTRS_PER_PMD);
		list_del_init(&table->lru);
		__free_page(table);
		cond_resched();
	}
	list_for_each_entry_safe(table, next, &tlb->upper_tables, lru) {
		list_del_init(&table->lru);
		__free_page(table);
	}
}
