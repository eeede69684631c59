// SPDX-License-Identifier: GPL-2.0
/*
 * Which lock guards which page-table entry.
 *
 * ptl=mm: mm->page_table_lock guards every entry of every level.
 *
 * ptl=split: the spinlock in the struct page of a pte page guards the ptes
 * in it, so that faults and zaps in different 2 MiB regions of one mm run
 * in parallel; the spinlock of a pmd page guards its pmd entries (a huge
 * pmd, and populating an empty one with a pte table: Linux 3.13's split
 * PMD lock); mm->page_table_lock only guards populating the pgd and pud
 * entries.  Lock order, outermost first:
 *
 *	mmap_sem
 *	  mm->page_table_lock	taken alone, never under a pte or pmd lock
 *	  pmd page lock		(child's, at fork)
 *	    pmd page lock	nested: the parent's, at fork
 *	    pte page lock	the table an unshare copies
 *	  pte page lock		(child's, at fork)
 *	    pte page lock	nested: the parent's, at fork
 *
 * A pte table that fork shared between mms (share=fork) is guarded by its
 * own lock whatever mm reaches it: no mm's page_table_lock can serialise
 * the sharers, each of which holds only its own.  That is why share=fork
 * needs ptl=split.  An unshare takes the pmd's lock (it repoints the pmd)
 * and then the table's lock.
 *
 * The setters in <asm/pgtable.h> call the checks below on every write;
 * every write is also a point where another CPU may run.
 */
#include <linux/mm.h>
#include <asm/tlbflush.h>

spinlock_t *pte_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	u64 entry;

	if (!split_ptlocks())
		return &mm->page_table_lock;
	/* pairs with pmd_populate(): the table's lock is set up */
	entry = smp_load_acquire(&pmd->pmd);
	return &pfn_to_page((entry & PTE_PFN_MASK) >> PAGE_SHIFT)->ptl;
}

void check_pte_lock(struct mm_struct *mm, pte_t *ptep, const char *func)
{
	const spinlock_t *lock = &mm->page_table_lock;

	sim_interleave();
	if (split_ptlocks() || pte_table_shared(table_page(ptep)))
		lock = &table_page(ptep)->ptl;
	if (likely(spin_is_locked_by_me(lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0,
		   page_to_pfn(table_page(ptep)), func,
		   "pte write without %s",
		   lock != &mm->page_table_lock ? "its pte page's lock" :
						  "mm->page_table_lock");
}

/*
 * The lock that guards pmd entry @pmd: a huge pmd, and the population of
 * an empty one with a pte table or a huge page.
 */
spinlock_t *pmd_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	if (!split_ptlocks())
		return &mm->page_table_lock;
	return &table_page(pmd)->ptl;
}

void check_pmd_lock(struct mm_struct *mm, pmd_t *pmd, const char *func)
{
	sim_interleave();
	if (likely(spin_is_locked_by_me(pmd_lockptr(mm, pmd))))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0,
		   page_to_pfn(table_page(pmd)), func,
		   "pmd write without %s", split_ptlocks() ?
		   "its pmd page's lock" : "mm->page_table_lock");
}

void check_upper_lock(struct mm_struct *mm, const char *func)
{
	sim_interleave();
	if (likely(spin_is_locked_by_me(&mm->page_table_lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1, func,
		   "upper-level population without mm->page_table_lock");
}

/*
 * Flush the translation of @address that goes through @ptep: from the
 * CPUs of @vma's mm, or of every mm that shares the pte table.
 */
static void flush_tlb_pte(struct vm_area_struct *vma, unsigned long address,
			  pte_t *ptep)
{
	struct page *table = table_page(ptep);

	if (pte_table_shared(table))
		flush_tlb_shared(table, address);
	else
		flush_tlb_page(vma, address);
}

/**
 * ptep_clear_flush - clear a pte and flush it from every CPU's TLB
 *
 * Return: the pte as it was, accessed and dirty bits included: a CPU
 * whose TLB entry is not dirty must walk to write, and finds the pte
 * gone.  No CPU can translate through it once this returns, so a new pte
 * stored next is the only translation of @address.
 */
pte_t ptep_clear_flush(struct vm_area_struct *vma, unsigned long address,
		       pte_t *ptep)
{
	pte_t pte = ptep_get_and_clear(vma->vm_mm, address, ptep);

	flush_tlb_pte(vma, address, ptep);
	return pte;
}

/**
 * ptep_clear_flush_young - make a young pte old, and flush it
 *
 * x86 sets the accessed bit only when it fills a TLB entry: one left in a
 * TLB after the bit is cleared keeps the page in use without a trace.
 *
 * Return: whether the pte was young.
 */
int ptep_clear_flush_young(struct vm_area_struct *vma, unsigned long address,
			   pte_t *ptep)
{
	u64 old;

	check_pte_lock(vma->vm_mm, ptep, __func__);
	old = __atomic_fetch_and(&ptep->pte, ~_PAGE_ACCESSED,
				 __ATOMIC_RELAXED);
	if (!(old & _PAGE_ACCESSED))
		return 0;
	sim_pte_changed(vma->vm_mm, address, ptep, old,
			old & ~_PAGE_ACCESSED);
	flush_tlb_pte(vma, address, ptep);
	return 1;
}
