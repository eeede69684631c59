// SPDX-License-Identifier: GPL-2.0
/*
 * Which lock guards which page-table entry.
 *
 * ptl=mm (baseline): mm->page_table_lock guards every entry of every
 * level.  ptl=split: the lock in the struct page of a pte page guards the
 * ptes in it; mm->page_table_lock only guards populating upper levels.
 * The setters in <asm/pgtable.h> call the checks below on every write.
 */
#include <linux/mm.h>

spinlock_t *pte_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	if (sim->config.ptl == MMSIM_PTL_SPLIT)
		return &pmd_page(*pmd)->ptl;
	return &mm->page_table_lock;
}

void check_pte_lock(struct mm_struct *mm, pte_t *ptep, const char *func)
{
	const spinlock_t *lock = &mm->page_table_lock;

	if (sim->config.ptl == MMSIM_PTL_SPLIT)
		lock = &table_page(ptep)->ptl;
	if (likely(spin_is_locked_by_me(lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0,
		   page_to_pfn(table_page(ptep)), func,
		   "pte write without the %s lock",
		   sim->config.ptl == MMSIM_PTL_SPLIT ? "pte page's" : "mm's");
}

void check_upper_lock(struct mm_struct *mm, const char *func)
{
	if (likely(spin_is_locked_by_me(&mm->page_table_lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1, func,
		   "upper-level population without mm->page_table_lock");
}
