// SPDX-License-Identifier: GPL-2.0
/*
 * Which lock guards which page-table entry: mm->page_table_lock guards
 * every entry of every level.  The setters in <asm/pgtable.h> call the
 * checks below on every write.
 */
#include <linux/mm.h>

spinlock_t *pte_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	return &mm->page_table_lock;
}

void check_pte_lock(struct mm_struct *mm, pte_t *ptep, const char *func)
{
	if (likely(spin_is_locked_by_me(&mm->page_table_lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0,
		   page_to_pfn(table_page(ptep)), func,
		   "pte write without mm->page_table_lock");
}

void check_upper_lock(struct mm_struct *mm, const char *func)
{
	if (likely(spin_is_locked_by_me(&mm->page_table_lock)))
		return;
	sim_report(MMSIM_V_LOCKING, smp_processor_id(), 0, -1, func,
		   "upper-level population without mm->page_table_lock");
}
