// SPDX-License-Identifier: GPL-2.0
/*
 * The page allocator of the simulated machine: a stack of free frames, so
 * that allocation order is deterministic, with fail-nth fault injection.
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
	page->flags = 1UL << PG_buddy;
	page->_mapcount = -1;
	page->mapping = NULL;
	page->sim_gen++;
	sim_lock_threaded(&sim->alloc_lock);
	sim->free_list[sim->nr_free++] = pfn;
	sim_unlock_threaded(&sim->alloc_lock);
}

/* Drop a reference; the last one frees the frame. */
void put_page(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);

	if (PageBuddy(page) || page->_count <= 0) {
		sim_report(MMSIM_V_DOUBLE_FREE, smp_processor_id(), 0, pfn,
			   __func__, "%s on a free page (count %d)",
			   __func__, page->_count);
		return;
	}
	if (--page->_count)
		return;
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
