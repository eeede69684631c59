// SPDX-License-Identifier: GPL-2.0
/*
 * The page allocator of the simulated machine: a stack of free frames, so
 * that allocation order is deterministic, with fail-nth fault injection.
 *
 * 2 MiB compound pages come from aligned blocks of 512 free frames, the
 * highest block first, so that 4 KiB allocations (lowest first) and huge
 * ones fragment each other as late as they can.
 *
 * Freeing is where frame safety is checked first: a frame must not go back
 * to the allocator while any CPU's TLB or paging-structure cache may still
 * use it (see sim_mmu_frame_freed()).
 */
#include <linux/mm.h>

/**
 * alloc_page - allocate one frame
 * @gfp: __GFP_ZERO to clear it
 *
 * Return: the page with one reference, or NULL when the machine is out of
 * frames or fault injection says so.
 */
struct page *alloc_page(unsigned int gfp)
{
	struct page *page;
	bool first;
	u32 pfn;

	if (should_fail_alloc())
		return NULL;
	sim_lock_threaded(&sim->alloc_lock);
	if (!sim->nr_free) {
		sim_unlock_threaded(&sim->alloc_lock);
		count_vm_event(alloc_failures);
		return NULL;
	}
	pfn = sim->free_list[--sim->nr_free];
	first = pfn >= sim->frames_hw;
	if (first)
		sim->frames_hw = pfn + 1;
	if (pfn >> HPAGE_PMD_ORDER < sim->nr_blocks)
		sim->block_free[pfn >> HPAGE_PMD_ORDER]--;
	sim_unlock_threaded(&sim->alloc_lock);
	page = pfn_to_page(pfn);
	BUG_ON(!PageBuddy(page));
	page->flags = 0;
	page->_count = 1;
	page->_mapcount = -1;
	page->mapping = NULL;
	page->anon_vma = NULL;
	page->index = 0;
	page->private = 0;
	/*
	 * A frame the boot zeroed and nothing allocated since is still zero.
	 * One the host has never given (a fresh frame reads as zero too) is
	 * better written now: a first read would map the host's zero page
	 * and the first write fault a second time.
	 */
	if ((gfp & __GFP_ZERO) && !(first && pfn < sim->frames_cleared))
		memset(page_address(page), 0, PAGE_SIZE);
	return page;
}

/* A frame no longer allocated: free, its generation moved on */
static void set_page_free(struct page *page)
{
	page->flags = 1UL << PG_buddy;
	page->_mapcount = -1;
	page->mapping = NULL;
	page->sim_gen++;
}

/* Push @pfn on the free stack, with the allocator's lock held */
static void free_list_push(unsigned long pfn)
{
	sim->free_list[sim->nr_free++] = pfn;
	if (pfn >> HPAGE_PMD_ORDER < sim->nr_blocks)
		sim->block_free[pfn >> HPAGE_PMD_ORDER]++;
}

/**
 * alloc_huge_page - allocate a 2 MiB compound page, zeroed
 *
 * The highest aligned block of 512 free frames is taken out of the free
 * stack (the other frames keep their order).  Fault injection counts it
 * as one allocation.
 *
 * Return: the head page with one reference, or NULL when no whole block
 * is free or fault injection says so.
 */
struct page *alloc_huge_page(void)
{
	unsigned long block, first, pfn;
	struct page *page;
	u32 i, j, hw;

	if (should_fail_alloc())
		return NULL;
	sim_lock_threaded(&sim->alloc_lock);
	for (block = sim->nr_blocks; block-- > 0; )
		if (sim->block_free[block] == HPAGE_PMD_NR)
			break;
	if (block == ~0UL) {
		sim_unlock_threaded(&sim->alloc_lock);
		return NULL;
	}
	first = block << HPAGE_PMD_ORDER;
	for (i = j = 0; i < sim->nr_free; i++)
		if (sim->free_list[i] - first >= HPAGE_PMD_NR)
			sim->free_list[j++] = sim->free_list[i];
	sim->nr_free = j;
	sim->block_free[block] = 0;
	hw = sim->frames_hw;
	if (first + HPAGE_PMD_NR > hw)
		sim->frames_hw = first + HPAGE_PMD_NR;
	sim_unlock_threaded(&sim->alloc_lock);

	for (pfn = first; pfn < first + HPAGE_PMD_NR; pfn++) {
		page = pfn_to_page(pfn);
		BUG_ON(!PageBuddy(page));
		page->flags = 1UL << (pfn == first ? PG_head : PG_tail);
		page->_count = 0;
		page->_mapcount = -1;
		page->mapping = NULL;
		page->anon_vma = NULL;
		page->index = 0;
		page->private = 0;
		/*
		 * A frame never allocated since the boot is still zero: the
		 * boot zeroed it, or the host has never given it.  Unlike
		 * alloc_page(), not written now: most of a huge page's frames
		 * are never touched, and writing them costs the host 2 MiB.
		 */
		if (pfn < hw)
			memset(page_address(page), 0, PAGE_SIZE);
	}
	page = pfn_to_page(first);
	page->_count = 1;
	page->compound_mapcount = 0;
	count_vm_event(thp_now);
	return page;
}

/*
 * The last reference to a compound page is gone: every frame goes back,
 * none while a CPU may still reach it through a 2 MiB or 4 KiB entry.
 */
static void free_huge_page(struct page *head, const char *func)
{
	unsigned long first = page_to_pfn(head), pfn;

	if (head->compound_mapcount)
		sim_report(MMSIM_V_BAD_REFCOUNT, smp_processor_id(), 0, first,
			   func, "freeing a huge page still mapped by %d pmds",
			   head->compound_mapcount);
	for (pfn = first; pfn < first + HPAGE_PMD_NR; pfn++) {
		struct page *page = pfn_to_page(pfn);

		if (page->_mapcount != -1)
			sim_report(MMSIM_V_BAD_REFCOUNT, smp_processor_id(),
				   0, pfn, func,
				   "freeing a huge page whose frame %lu is still mapped %d times",
				   pfn, page->_mapcount + 1);
		sim_mmu_frame_freed(pfn, func);
		set_page_free(page);
	}
	sim_lock_threaded(&sim->alloc_lock);
	for (pfn = first + HPAGE_PMD_NR; pfn-- > first; )
		free_list_push(pfn);
	sim_unlock_threaded(&sim->alloc_lock);
	count_vm_event(thp_freed);
	count_vm_events(thp_now, -1);
	count_vm_events(pages_freed, HPAGE_PMD_NR);
}

static void free_hot_cold_page(struct page *page, const char *func)
{
	unsigned long pfn = page_to_pfn(page);

	if (page_mapcount(page)) {
		sim_report(MMSIM_V_BAD_REFCOUNT, smp_processor_id(), 0, pfn,
			   func, "freeing a page still mapped %d times",
			   page_mapcount(page));
	}
	if (page->sharers || PageSwapCache(page))
		sim_report(MMSIM_V_BUG, smp_processor_id(), 0, pfn, func,
			   "freeing a %s", page->sharers ?
			   "pte table mms still share" :
			   "page still in the swap cache");
	sim_mmu_frame_freed(pfn, func);
	set_page_free(page);
	sim_lock_threaded(&sim->alloc_lock);
	free_list_push(pfn);
	sim_unlock_threaded(&sim->alloc_lock);
}

/* Drop a reference; the last one frees the frame, or the compound page */
void put_page(struct page *page)
{
	unsigned long pfn;

	page = compound_head(page);
	pfn = page_to_pfn(page);
	if (PageBuddy(page) || page->_count <= 0) {
		sim_report(MMSIM_V_DOUBLE_FREE, smp_processor_id(), 0, pfn,
			   __func__, "%s on a free page (count %d)",
			   __func__, page->_count);
		return;
	}
	if (--page->_count)
		return;
	if (PageHead(page)) {
		free_huge_page(page, __func__);
		return;
	}
	if (PagePgtable(page))
		count_vm_event(ptables_freed);
	else
		count_vm_event(pages_freed);
	free_hot_cold_page(page, __func__);
}

/* Free a page-table page, which has exactly one reference. */
void __free_page(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);

	if (PageBuddy(page) || page->_count != 1) {
		sim_report(MMSIM_V_DOUBLE_FREE, smp_processor_id(), 0, pfn,
			   __func__, "freeing a table page with count %d",
			   page->_count);
		return;
	}
	page->_count = 0;
	count_vm_event(ptables_freed);
	free_hot_cold_page(page, __func__);
}
