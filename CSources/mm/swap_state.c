// SPDX-License-Identifier: GPL-2.0
/*
 * The swap cache: a page on its way to swap (reclaim has it locked), or
 * read back from a slot that other ptes still name, is found by its slot,
 * so that every pte naming one slot maps one page.  The cache holds a
 * reference on the page and SWAP_HAS_CACHE on the slot.
 */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>

/**
 * add_to_swap_cache - put @page in the swap cache for @entry
 *
 * Return: 0; -EEXIST when the slot already has a page there; -ENOENT
 * when no pte holds the slot any more (it was freed under a swap-in).
 */
int add_to_swap_cache(struct page *page, swp_entry_t entry)
{
	struct swap_info_struct *si = sim->swap_info;
	int err = 0;

	sim_lock_threaded(&sim->swap_lock);
	if (!si || !entry.val || entry.val >= si->max ||
	    !si->swap_map[entry.val])
		err = -ENOENT;
	else if (si->cache[entry.val])
		err = -EEXIST;
	if (!err) {
		get_page(page);
		SetPageSwapCache(page);
		page->private = entry.val;
		si->cache[entry.val] = page;
		si->swap_map[entry.val] |= SWAP_HAS_CACHE;
		count_vm_event(swap_cache_now);
	}
	sim_unlock_threaded(&sim->swap_lock);
	return err;
}

/**
 * add_to_swap - give @page, which reclaim has locked, a slot
 *
 * The page is not on the device yet: it is marked dirty, so that reclaim
 * writes it.  Return: 0, or -ENOSPC when swap is full.
 */
int add_to_swap(struct page *page)
{
	swp_entry_t entry = get_swap_page();
	int err;

	if (!entry.val)
		return -ENOSPC;
	err = add_to_swap_cache(page, entry);
	/* the slot is held for the cache: nobody else can have taken it */
	BUG_ON(err);
	/* get_swap_page() set SWAP_HAS_CACHE already */
	SetPageDirty(page);
	return 0;
}

/* Take @page out of the swap cache; the slot goes too if no pte holds it */
void delete_from_swap_cache(struct page *page)
{
	struct swap_info_struct *si = sim->swap_info;
	unsigned long slot = page->private;

	sim_lock_threaded(&sim->swap_lock);
	BUG_ON(!PageSwapCache(page) || si->cache[slot] != page);
	si->cache[slot] = NULL;
	ClearPageSwapCache(page);
	page->private = 0;
	si->swap_map[slot] &= ~SWAP_HAS_CACHE;
	if (!si->swap_map[slot])
		swap_slot_free(si, slot);
	count_vm_events(swap_cache_now, -1);
	sim_unlock_threaded(&sim->swap_lock);
	put_page(page);
}

/* The page in the swap cache for @entry, with a reference, or NULL */
struct page *lookup_swap_cache(swp_entry_t entry)
{
	struct swap_info_struct *si = sim->swap_info;
	struct page *page = NULL;

	sim_lock_threaded(&sim->swap_lock);
	if (si && entry.val && entry.val < si->max) {
		page = si->cache[entry.val];
		if (page)
			get_page(page);
	}
	sim_unlock_threaded(&sim->swap_lock);
	return page;
}

/*
 * A gather freed a mapping of @page: if that was its last and no swap
 * entry names its slot, the swap cache lets go of it too.
 */
void free_swap_cache(struct page *page)
{
	if (PageSwapCache(page) && !page_mapped(page))
		remove_exclusive_swap_page(page);
}
