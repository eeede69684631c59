// SPDX-License-Identifier: GPL-2.0
/*
 * Which lock guards which page-table entry.
 *
 * ptl=mm: mm->page_table_lock guards every entry of every level.
 *
 * ptl=split: the spinlock in the struct page of a pte page guards the ptes
 * in it, so that faults and zaps in different 2 MiB regions of one mm run
 * in parallel; mm->page_table_lock only guards populating the upper levels
 * (pgd, pud and pmd entries).  Lock order, outermost first:
 *
 *	mmap_sem
 *	  mm->page_table_lock	taken alone, never under a pte lock
 *	  pte page lock		(child's, at fork)
 *	    pte page lock	nested: the parent's, at fork
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
	if (split_ptlocks())
		lock = &table_page(ptep)->ptl;
	if (likely(spin_is_locked_by_me(lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0,
		   page_to_pfn(table_page(ptep)), func,
		   "pte write without %s",
		   split_ptlocks() ? "its pte page's lock" :
				     "mm->page_table_lock");
}

void check_upper_lock(struct mm_struct *mm, const char *func)
{
	sim_interleave();
	if (likely(spin_is_locked_by_me(&mm->page_table_lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1, func,
		   "upper-level population without mm->page_table_lock");
}

/**
 * ptep_clear_flush - clear a pte and flush it from every CPU's TLB
 *
 * Return: the pte as it was.  No CPU can translate through it once this
 * returns, so a new pte stored next is the only translation of @address.
 */
pte_t ptep_clear_flush(struct vm_area_struct *vma, unsigned long address,
		       pte_t *ptep)
{
	pte_t pte = ptep_get_and_clear(vma->vm_mm, address, ptep);

	flush_tlb_page(vma, address);
	return pte;
}
