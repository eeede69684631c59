// SPDX-License-Identifier: GPL-2.0
/*
 * The baseline mmu_gather (gather=vector): one per CPU, taken with
 * preemption disabled, queueing up to FREE_PTE_NR pages and page tables to
 * be freed once the TLBs no longer refer to them.
 */
#include <linux/mm.h>
#include <asm/tlbflush.h>
#include <asm-generic/tlb.h>

/*
 * i386's tlb_flush(): the whole mm, on every CPU that may cache it.  The
 * range of the unmap is not used.
 */
static void tlb_flush(struct mmu_gather *tlb)
{
	sim_stat_inc(gather_flushes);
	flush_tlb_mm(tlb->mm);
}

struct mmu_gather *tlb_gather_mmu(struct mm_struct *mm,
				  unsigned int full_mm_flush)
{
	struct mmu_gather *tlb;

	preempt_disable();	/* get_cpu_var(mmu_gathers) */
	tlb = __get_cpu_var(mmu_gathers);
	tlb->mm = mm;
	/* Use fast mode if only one CPU is online */
	tlb->nr = num_online_cpus() > 1 ? 0U : ~0U;
	tlb->fullmm = full_mm_flush;
	tlb->need_flush = 0;
	return tlb;
}

static void free_pages_and_swap_cache(struct page **pages, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		put_page(pages[i]);
	sim->stats.pages_gathered += nr;
}

void tlb_flush_mmu(struct mmu_gather *tlb, unsigned long start,
		   unsigned long end)
{
	if (!tlb->need_flush)
		return;
	tlb->need_flush = 0;
	tlb_flush(tlb);
	if (!tlb_fast_mode(tlb)) {
		free_pages_and_swap_cache(tlb->pages, tlb->nr);
		tlb->nr = 0;
	}
}

void tlb_finish_mmu(struct mmu_gather *tlb, unsigned long start,
		    unsigned long end)
{
	tlb_flush_mmu(tlb, start, end);
	preempt_enable();	/* put_cpu_var(mmu_gathers) */
}

/**
 * tlb_remove_page - queue @page to be freed after the flush
 *
 * In fast mode (one CPU online) the page is freed at once: only this
 * CPU's TLB can still refer to it, and it is flushed before user code runs
 * again.  A full vector forces the flush now.
 */
void tlb_remove_page(struct mmu_gather *tlb, struct page *page)
{
	tlb->need_flush = 1;
	if (tlb_fast_mode(tlb)) {
		sim_stat_inc(gather_fast_frees);
		put_page(page);
		return;
	}
	tlb->pages[tlb->nr++] = page;
	if (tlb->nr >= FREE_PTE_NR) {
		sim_stat_inc(gather_full);
		tlb_flush_mmu(tlb, 0, 0);
	}
}
