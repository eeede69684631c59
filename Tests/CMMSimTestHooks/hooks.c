// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel paths broken on purpose, so that the tests can watch each checker
 * fire.  See include/mmsim_test.h.
 */
#include <linux/mm.h>
#include <asm/tlbflush.h>
#include <asm/pgalloc.h>
#include "mmsim_test.h"

static pte_t *walk_pte(struct mm_struct *mm, unsigned long addr, pmd_t **pmdp)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	pud_t *pud;
	pmd_t *pmd;

	if (pgd_none(*pgd))
		return NULL;
	pud = pud_offset(pgd, addr);
	if (pud_none(*pud))
		return NULL;
	pmd = pmd_offset(pud, addr);
	if (pmd_none(*pmd))
		return NULL;
	*pmdp = pmd;
	return pte_offset_map(pmd, addr);
}

int mmsim_test_free_cached_frame(struct mmsim *m, int mm_id, uint64_t addr)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	struct page *page;
	spinlock_t *ptl;
	pmd_t *pmd;
	pte_t *pte;
	int err = -ENOENT;

	if (!mm)
		goto out;
	pte = walk_pte(mm, addr, &pmd);
	if (!pte || !pte_present(*pte))
		goto out;
	page = pte_page(*pte);
	ptl = pte_lockptr(mm, pmd);
	spin_lock(ptl);
	pte_clear(mm, addr, pte);
	mm->anon_rss -= !!PageAnon(page);
	mm->file_rss -= !PageAnon(page);
	page_remove_rmap(page);
	spin_unlock(ptl);
	/* the bug: no flush before the frame goes back */
	put_page(page);
	err = 0;
out:
	sim_leave(saved);
	return err;
}

int mmsim_test_unmap_no_remote_flush(struct mmsim *m, int cpu, int mm_id,
				     uint64_t addr)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, cpu);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	struct page *page;
	spinlock_t *ptl;
	pmd_t *pmd;
	pte_t *pte;
	int err = -ENOENT;

	if (!mm)
		goto out;
	context_switch_to(mm);
	pte = walk_pte(mm, addr, &pmd);
	if (!pte || !pte_present(*pte))
		goto out;
	page = pte_page(*pte);
	ptl = pte_lockptr(mm, pmd);
	spin_lock(ptl);
	pte_clear(mm, addr, pte);
	mm->anon_rss -= !!PageAnon(page);
	mm->file_rss -= !PageAnon(page);
	page_remove_rmap(page);
	spin_unlock(ptl);
	/* the bug: only the local TLB is flushed, no IPI */
	__flush_tlb_one(addr);
	/* the page itself is kept alive: only coherence is under test */
	sim_mmu_check_coherent(mm, __func__);
	err = 0;
out:
	sim_leave(saved);
	return err;
}

int mmsim_test_leak_pte_table(struct mmsim *m, int cpu, int mm_id,
			      uint64_t addr)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, cpu);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	pmd_t *pmd;
	int err = -ENOENT;

	if (!mm)
		goto out;
	context_switch_to(mm);
	if (!walk_pte(mm, addr, &pmd))
		goto out;
	/* the bug: unhooked and flushed, but never freed */
	pmd_clear(pmd);
	mm->nr_ptes--;
	flush_tlb_mm(mm);
	err = 0;
out:
	sim_leave(saved);
	return err;
}
