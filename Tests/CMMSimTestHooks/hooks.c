// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel paths broken on purpose, so that the tests can watch each checker
 * fire.  See include/mmsim_test.h.
 */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>
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

/*
 * Enter @m on @cpu and find the pte of @addr in @mm_id; the caller leaves
 * with sim_leave(*saved) whatever the result.
 */
static pte_t *hook_enter(struct mmsim *m, int cpu, int mm_id, uint64_t addr,
			 struct sim_context *saved, struct mm_struct **mmp,
			 pmd_t **pmdp)
{
	*saved = sim_enter((struct sim_machine *)m, cpu);
	*mmp = sim_mm_by_id(mm_id);
	return *mmp ? walk_pte(*mmp, addr, pmdp) : NULL;
}

int mmsim_test_free_cached_frame(struct mmsim *m, int mm_id, uint64_t addr)
{
	struct sim_context saved;
	struct mm_struct *mm;
	struct page *page;
	spinlock_t *ptl;
	pmd_t *pmd;
	pte_t *pte = hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd);
	int err = -ENOENT;

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
	struct sim_context saved;
	struct mm_struct *mm;
	struct page *page;
	spinlock_t *ptl;
	pmd_t *pmd;
	pte_t *pte = hook_enter(m, cpu, mm_id, addr, &saved, &mm, &pmd);
	int err = -ENOENT;

	if (!pte || !pte_present(*pte))
		goto out;
	context_switch_to(mm);
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
	sim_mmu_check_coherent(mm, 0, TASK_SIZE, U64_MAX, __func__);
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

/* The gather phase tracepoint, watched for one range of one mm */

struct phase_watch {
	struct mm_struct *mm;
	unsigned long start, end;
	struct mmsim_phase_report *report;
	u32 pfns[512];
	u32 nr_pfns;
	u32 tables[8];
	u32 nr_tables;
};

static __thread struct phase_watch watch;

static u32 frames_alive(const u32 *pfns, u32 nr)
{
	u32 i, alive = 0;

	for (i = 0; i < nr; i++)
		alive += !PageBuddy(pfn_to_page(pfns[i]));
	return alive;
}

static u32 range_reachable(void)
{
	unsigned long addr;
	pmd_t *pmd;
	pte_t *pte;
	u32 n = 0;

	for (addr = watch.start; addr < watch.end; addr += PAGE_SIZE) {
		pte = walk_pte(watch.mm, addr, &pmd);
		n += pte && (pte_val(*pte) & _PAGE_PRESENT);
	}
	return n;
}

static u32 range_tlb_entries(void)
{
	unsigned int cpu, i;
	u32 n = 0;

	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		struct sim_mmu *mmu = &per_cpu(mmu, cpu);

		for (i = 0; i < mmu->tlb_sets * TLB_WAYS; i++) {
			unsigned long va = mmu->tlb[i].vpn << PAGE_SHIFT;

			n += mmu->tlb[i].valid && va >= watch.start &&
			     va < watch.end;
		}
	}
	return n;
}

static void phase_probe(struct mm_struct *mm, int phase)
{
	struct mmsim_phase_report *r = watch.report;

	if (mm != watch.mm)
		return;
	r->phases_seen |= 1U << phase;
	switch (phase) {
	case 1:
		r->reachable_after_unmap = range_reachable();
		r->pages_alive_after_unmap = frames_alive(watch.pfns,
							  watch.nr_pfns);
		r->tables_alive_after_unmap = frames_alive(watch.tables,
							   watch.nr_tables);
		r->tlb_entries_after_unmap = range_tlb_entries();
		break;
	case 2:
		r->tlb_entries_after_flush = range_tlb_entries();
		r->pages_alive_after_flush = frames_alive(watch.pfns,
							  watch.nr_pfns);
		break;
	case 3:
		r->pages_alive_after_free = frames_alive(watch.pfns,
							 watch.nr_pfns);
		r->tables_alive_after_free = frames_alive(watch.tables,
							  watch.nr_tables);
		break;
	}
}

int mmsim_test_trace_unmap(struct mmsim *m, int mm_id, uint64_t addr,
			   uint64_t len, struct mmsim_phase_report *report)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	unsigned long a;
	int err = -EINVAL;

	if (!mm || len / PAGE_SIZE > ARRAY_SIZE(watch.pfns) ||
	    len / PMD_SIZE + 2 > ARRAY_SIZE(watch.tables))
		goto out;
	memset(&watch, 0, sizeof(watch));
	memset(report, 0, sizeof(*report));
	watch.mm = mm;
	watch.start = addr;
	watch.end = addr + len;
	watch.report = report;
	for (a = addr; a < addr + len; a += PAGE_SIZE) {
		pmd_t *pmd;
		pte_t *pte = walk_pte(mm, a, &pmd);
		u32 table;

		if (!pte)
			continue;
		table = pmd_pfn(*pmd);
		if (!watch.nr_tables || watch.tables[watch.nr_tables - 1] !=
					table)
			watch.tables[watch.nr_tables++] = table;
		if (pte_present(*pte))
			watch.pfns[watch.nr_pfns++] = pte_pfn(*pte);
	}
	report->pages = watch.nr_pfns;
	report->tables = watch.nr_tables;
	sim->gather_phase_probe = phase_probe;
	err = 0;
out:
	sim_leave(saved);
	return err;
}

void mmsim_test_untrace(struct mmsim *m)
{
	((struct sim_machine *)m)->gather_phase_probe = NULL;
	memset(&watch, 0, sizeof(watch));
}

/* Lock rules */

static int rewrite_pte(struct mmsim *m, int mm_id, uint64_t addr,
		       bool take_mm_lock)
{
	struct sim_context saved;
	struct mm_struct *mm;
	pmd_t *pmd;
	pte_t *pte = hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd);
	int err = -ENOENT;

	if (pte) {
		if (take_mm_lock)
			spin_lock(&mm->page_table_lock);
		set_pte_at(mm, addr, pte, *pte);
		if (take_mm_lock)
			spin_unlock(&mm->page_table_lock);
		err = 0;
	}
	sim_leave(saved);
	return err;
}

int mmsim_test_pte_write_unlocked(struct mmsim *m, int mm_id, uint64_t addr)
{
	return rewrite_pte(m, mm_id, addr, false);
}

int mmsim_test_pte_write_mm_locked(struct mmsim *m, int mm_id, uint64_t addr)
{
	return rewrite_pte(m, mm_id, addr, true);
}

int mmsim_test_lock_inversion(struct mmsim *m, int mm_id, uint64_t addr)
{
	struct sim_context saved;
	struct mm_struct *mm;
	spinlock_t *ptl;
	pmd_t *pmd;
	int err = -ENOENT;

	if (!hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd))
		goto out;
	ptl = pte_lockptr(mm, pmd);
	spin_lock(&mm->page_table_lock);
	spin_lock(ptl);
	spin_unlock(ptl);
	spin_unlock(&mm->page_table_lock);
	/* the bug: the opposite order */
	spin_lock(ptl);
	spin_lock(&mm->page_table_lock);
	spin_unlock(&mm->page_table_lock);
	spin_unlock(ptl);
	err = 0;
out:
	sim_leave(saved);
	return err;
}

int mmsim_test_resched_holding_lock(struct mmsim *m, int mm_id)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);

	if (mm) {
		spin_lock(&mm->page_table_lock);
		cond_resched();
		spin_unlock(&mm->page_table_lock);
	}
	sim_leave(saved);
	return mm ? 0 : -ENOENT;
}

int mmsim_test_mmap_sem_under_ptl(struct mmsim *m, int mm_id, uint64_t addr)
{
	struct sim_context saved;
	struct mm_struct *mm;
	spinlock_t *ptl;
	pmd_t *pmd;
	int err = -ENOENT;

	if (!hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd))
		goto out;
	ptl = pte_lockptr(mm, pmd);
	spin_lock(ptl);
	down_read(&mm->mmap_sem);
	up_read(&mm->mmap_sem);
	spin_unlock(ptl);
	err = 0;
out:
	sim_leave(saved);
	return err;
}

int mmsim_test_miscount(struct mmsim *m, int mm_id, uint64_t addr, int what)
{
	struct sim_context saved;
	struct mm_struct *mm;
	pmd_t *pmd;
	pte_t *pte = hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd);
	int err = -ENOENT;

	if (pte && pte_present(*pte)) {
		if (what)
			get_page(pte_page(*pte));
		else
			mm->anon_rss++;
		err = 0;
	}
	sim_leave(saved);
	return err;
}

int mmsim_test_hold_mm_lock(struct mmsim *m, int mm_id, int owner)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);

	if (mm)
		mm->page_table_lock.owner = owner;
	sim_leave(saved);
	return mm ? 0 : -ESRCH;
}

/*
 * At the end of every in-place gather's phase 1 (ptes cleared, nothing
 * flushed yet), take every other CPU out of the mm's cpu_vm_mask: the
 * flush then stays local, and the frames phase 3 frees may still be
 * cached elsewhere.  An IPI mask computed wrong, for any regime.
 */
static void drop_remote_cpus(struct mm_struct *mm, int phase)
{
	int cpu;

	if (phase != 1)
		return;
	for (cpu = 0; cpu < num_online_cpus(); cpu++)
		if (cpu != smp_processor_id())
			cpu_clear(cpu, mm->cpu_vm_mask);
}

void mmsim_test_break_shootdown(struct mmsim *m)
{
	((struct sim_machine *)m)->gather_phase_probe = drop_remote_cpus;
}

int mmsim_test_wrprotect_no_flush(struct mmsim *m, int mm_id, uint64_t addr)
{
	struct sim_context saved;
	struct mm_struct *mm;
	pmd_t *pmd;
	pte_t *pte = hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd);
	int err = -ENOENT;

	if (pte && pte_present(*pte)) {
		__atomic_fetch_and(&pte->pte, ~_PAGE_RW, __ATOMIC_RELAXED);
		err = 0;
	}
	sim_leave(saved);
	return err;
}

uint64_t mmsim_test_clock(struct mmsim *m)
{
	return ((struct sim_machine *)m)->clock;
}

int mmsim_test_release_check(struct mmsim *m, int cpu, int mm_id,
			     uint64_t addr, uint64_t len, uint64_t since)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, cpu);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	int found = -ESRCH;

	if (mm)
		found = sim_mmu_check_coherent(mm, addr, addr + len, since,
					       "mmsim_test_release_check");
	sim_leave(saved);
	return found;
}

uint64_t mmsim_test_frames_base(struct mmsim *m)
{
	return (uintptr_t)((struct sim_machine *)m)->mem;
}

int mmsim_test_frames_nonzero(struct mmsim *m)
{
	struct sim_machine *machine = (struct sim_machine *)m;
	const u64 *word = machine->mem;
	size_t i, n = (size_t)machine->config.nr_frames * PAGE_SIZE / 8;
	int found = 0;

	for (i = 0; i < n; i++)
		found += word[i] != 0;
	return found;
}

int mmsim_test_corrupt(struct mmsim *m, int mm_id, uint64_t addr, int what)
{
	struct sim_context saved;
	struct mm_struct *mm;
	struct page *table;
	pmd_t *pmd;
	pte_t *pte = hook_enter(m, 0, mm_id, addr, &saved, &mm, &pmd);
	int err = -ENOENT;

	if (!pte)
		goto out;
	table = table_page(pte);
	switch (what) {
	case MMSIM_TEST_SHARE_COUNT:
		get_page(table);
		err = 0;
		break;
	case MMSIM_TEST_SHARER_UNLISTED: {
		struct pt_sharer **p;

		for (p = &table->sharers; *p; p = &(*p)->next) {
			if ((*p)->mm == mm) {
				struct pt_sharer *s = *p;

				*p = s->next;
				kfree(s);
				err = 0;
				break;
			}
		}
		break;
	}
	case MMSIM_TEST_SHARED_WRITABLE:
		if (!pte_table_shared(table) || !pte_present(*pte))
			break;
		pte->pte |= _PAGE_RW;
		err = 0;
		break;
	case MMSIM_TEST_RMAP_INDEX:
		if (!pte_present(*pte) || !PageAnon(pte_page(*pte)))
			break;
		pte_page(*pte)->index++;
		err = 0;
		break;
	case MMSIM_TEST_SWAP_COUNT:
		if (!is_swap_pte(*pte))
			break;
		sim->swap_info->swap_map[swp_offset(pte_to_swp_entry(*pte))]++;
		err = 0;
		break;
	case MMSIM_TEST_SWAP_SLOT_FREED: {
		unsigned long slot;

		if (!is_swap_pte(*pte))
			break;
		slot = swp_offset(pte_to_swp_entry(*pte));
		if (sim->swap_info->cache[slot])
			break;
		sim->swap_info->swap_map[slot] = 0;
		swap_slot_free(sim->swap_info, slot);
		err = 0;
		break;
	}
	case MMSIM_TEST_SWAP_ENTS:
		mm->swap_ents++;
		err = 0;
		break;
	case MMSIM_TEST_OLD_NO_FLUSH:
		if (!pte_present(*pte))
			break;
		pte->pte &= ~_PAGE_ACCESSED;
		err = 0;
		break;
	default:
		err = -EINVAL;
	}
out:
	sim_leave(saved);
	return err;
}

static pmd_t *walk_pmd(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	pud_t *pud;

	if (pgd_none(*pgd))
		return NULL;
	pud = pud_offset(pgd, addr);
	if (pud_none(*pud))
		return NULL;
	return pmd_offset(pud, addr);
}

/* A huge page mapped at @haddr of @mm by @pmd, behind the kernel's back */
static int collapse_no_flush(struct mm_struct *mm, pmd_t *pmd,
			     unsigned long haddr)
{
	struct page *head;
	unsigned long i;

	if (pmd_none(*pmd) || pmd_trans_huge(*pmd))
		return -ENOENT;
	head = alloc_huge_page();
	if (!head)
		return -ENOMEM;
	for (i = 0; i < HPAGE_PMD_NR; i++) {
		SetPageAnon(head + i);
		head[i].anon_vma = mm->anon_vma;
		head[i].index = (haddr >> PAGE_SHIFT) + i;
	}
	head->compound_mapcount = 1;
	WRITE_ONCE(pmd->pmd, pmd_val(pfn_pmd(page_to_pfn(head), PAGE_SHARED)));
	return 0;
}

int mmsim_test_corrupt_huge(struct mmsim *m, int mm_id, uint64_t addr,
			    int what)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	struct mm_struct *mm = sim_mm_by_id(mm_id);
	unsigned long haddr = addr & HPAGE_PMD_MASK;
	pmd_t *pmd = mm ? walk_pmd(mm, addr) : NULL;
	struct page *head;
	int err = -ENOENT;

	if (!pmd)
		goto out;
	if (what == MMSIM_TEST_HUGE_COLLAPSE_NO_FLUSH) {
		err = collapse_no_flush(mm, pmd, haddr);
		goto out;
	}
	if (!pmd_trans_huge(*pmd) || pmd_gathered(*pmd))
		goto out;
	head = pmd_page(*pmd);
	err = 0;
	switch (what) {
	case MMSIM_TEST_HUGE_FREE_NO_FLUSH:
		WRITE_ONCE(pmd->pmd, 0);
		mm->anon_rss -= HPAGE_PMD_NR;
		spin_lock(pmd_lockptr(mm, pmd));
		__free_page(pgtable_trans_huge_withdraw(mm, pmd));
		spin_unlock(pmd_lockptr(mm, pmd));
		head->compound_mapcount--;
		put_page(head);
		break;
	case MMSIM_TEST_HUGE_WRPROTECT_NO_FLUSH:
		pmd->pmd &= ~_PAGE_RW;
		break;
	case MMSIM_TEST_HUGE_WRITABLE:
		pmd->pmd |= _PAGE_RW;
		break;
	case MMSIM_TEST_HUGE_NO_DEPOSIT:
		spin_lock(pmd_lockptr(mm, pmd));
		pgtable_trans_huge_withdraw(mm, pmd);
		spin_unlock(pmd_lockptr(mm, pmd));
		mm->nr_ptes++;
		break;
	case MMSIM_TEST_HUGE_MAPCOUNT:
		head->compound_mapcount++;
		break;
	case MMSIM_TEST_HUGE_COUNT:
		sim_stat_inc(thp_now);
		break;
	case MMSIM_TEST_HUGE_DEPOSIT_DIRTY:
		((pte_t *)page_address(table_page(pmd)->pmd_huge_pte))[7] =
			pfn_pte(page_to_pfn(head), PAGE_COPY);
		break;
	case MMSIM_TEST_HUGE_NOT_COMPOUND:
		pmd->pmd += PAGE_SIZE;
		break;
	case MMSIM_TEST_HUGE_LEFT_INVALIDATED:
		pmd->pmd &= ~_PAGE_PRESENT;
		break;
	case MMSIM_TEST_HUGE_WRITE_UNLOCKED:
		set_pmd_at(mm, haddr, pmd, __pmd(pmd_val(*pmd) & ~_PAGE_ACCESSED));
		break;
	case MMSIM_TEST_HUGE_SPLIT_NO_FLUSH: {
		spinlock_t *ptl = pmd_lock(mm, pmd);
		struct page *table = pgtable_trans_huge_withdraw(mm, pmd);
		pte_t *pte = page_address(table);
		unsigned long i;

		for (i = 0; i < HPAGE_PMD_NR; i++) {
			pte[i] = pmd_subpage_pte(*pmd, i);
			head[i]._mapcount++;
		}
		head->_count += HPAGE_PMD_NR - 1;
		head->compound_mapcount--;
		mm->nr_ptes++;
		pmd_populate(mm, pmd, table);
		spin_unlock(ptl);
		break;
	}
	default:
		err = -EINVAL;
	}
out:
	sim_leave(saved);
	return err;
}
