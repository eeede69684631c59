// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim of anonymous pages to swap, as kswapd does it: a clock over the
 * machine's frames (the hand goes on from where the last scan stopped)
 * with a second chance for pages whose accessed bit was set, an
 * approximation of 2.6.16's active and inactive lists.
 *
 * A page is reclaimed in this order, each step only after the one
 * before: it gets a swap slot and goes in the swap cache, locked; every
 * pte that maps it, in every mm, is cleared and flushed from every CPU
 * that may cache it, and becomes a swap entry (try_to_unmap()); then, if
 * it was dirty or was never written out, it is written to its slot; only
 * then does it leave the swap cache and its frame is freed.  A page some
 * pte still maps (an mm was busy, a gather owns the pte) stays in the
 * swap cache, where swap-in finds it.
 */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>

/* Reclaim @page, which the caller holds and has locked */
static bool shrink_page(struct page *page)
{
	bool dirty = false;

	if (!PageSwapCache(page) && add_to_swap(page))
		return false;
	if (try_to_unmap(page, &dirty) != SWAP_SUCCESS)
		return false;
	/* the ptes' dirty bits, harvested after the flush: complete */
	if (dirty)
		SetPageDirty(page);
	if (PageDirty(page))
		swap_writepage(page, (swp_entry_t) { page->private });
	delete_from_swap_cache(page);
	count_vm_event(pages_reclaimed);
	return true;
}

/*
 * The page at @pfn, held and locked, if it is a mapped anonymous page
 * nobody else is reclaiming; else NULL.  Not a frame of a compound page:
 * Linux splits a huge page before reclaiming it, which is not built.  Nothing between the test and the
 * hold lets another CPU run.
 */
static struct page *isolate_page(unsigned long pfn)
{
	struct page *page = pfn_to_page(pfn);

	if (PageBuddy(page) || PagePgtable(page) || !PageAnon(page) ||
	    PageCompound(page) || !page_mapped(page) || PageLocked(page))
		return NULL;
	get_page(page);
	SetPageLocked(page);
	return page;
}

/*
 * Reclaim lets go of @page.  A zap that dropped its last pte or swap
 * entry meanwhile left it to us in the swap cache (it was locked).
 */
static void putback_page(struct page *page)
{
	ClearPageLocked(page);
	free_swap_cache(page);
	put_page(page);
}

/**
 * shrink_anon_pages - kswapd: reclaim up to @nr_to_reclaim pages
 *
 * Scans at most twice the frames ever used.  Return: pages reclaimed.
 */
unsigned long shrink_anon_pages(unsigned long nr_to_reclaim)
{
	unsigned long scanned, reclaimed = 0, limit = 2 * max_used_pfn;

	for (scanned = 0; scanned < limit && reclaimed < nr_to_reclaim;
	     scanned++) {
		unsigned long pfn = sim->reclaim_hand;
		struct page *page;

		/* the hand stays below max_used_pfn, which only grows */
		sim->reclaim_hand = pfn + 1 < max_used_pfn ? pfn + 1 : 0;
		page = isolate_page(pfn);
		if (!page)
			continue;
		count_vm_event(reclaim_scanned);
		if (page_referenced(page))
			count_vm_event(reclaim_referenced);
		else if (shrink_page(page))
			reclaimed++;
		putback_page(page);
		cond_resched();
	}
	return reclaimed;
}
