// SPDX-License-Identifier: GPL-2.0
/*
 * The swap device: slots, the count of ptes that hold each, and the
 * device's storage.  It is set up at the first swap-out, as big as the
 * machine's memory (a swapon nobody has to ask for).
 *
 * Slot state lives in struct swap_info_struct (<linux/swap.h>) under the
 * machine's swap_lock, a host lock as for the frame allocator: every
 * operation here is short and has no scheduling point in it, so in the
 * concurrent regime each is atomic.
 */
#include <stdlib.h>
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>

static struct swap_info_struct *swap_info(void)
{
	return sim->swap_info;
}

/* Set up the device: slots 1 .. max_pfn, all free, lowest on top */
static struct swap_info_struct *swapon(void)
{
	struct swap_info_struct *si = calloc(1, sizeof(*si));
	unsigned long slot;

	if (!si)
		return NULL;
	si->max = max_pfn + 1;
	si->swap_map = calloc(si->max, sizeof(*si->swap_map));
	si->cache = calloc(si->max, sizeof(*si->cache));
	si->free_slots = calloc(si->max, sizeof(*si->free_slots));
	si->data = host_map_zeroed(si->max * PAGE_SIZE);
	if (!si->swap_map || !si->cache || !si->free_slots || !si->data) {
		swap_info_free(si);
		return NULL;
	}
	for (slot = si->max - 1; slot >= 1; slot--)
		si->free_slots[si->nr_free++] = slot;
	return si;
}

void swap_info_free(struct swap_info_struct *si)
{
	if (!si)
		return;
	free(si->swap_map);
	free(si->cache);
	free(si->free_slots);
	if (si->data)
		host_unmap(si->data, si->max * PAGE_SIZE);
	free(si);
}

/* A slot that nothing holds any more goes back to the free stack */
void swap_slot_free(struct swap_info_struct *si, unsigned long slot)
{
	si->free_slots[si->nr_free++] = slot;
	count_vm_events(swap_slots_now, -1);
}

/**
 * get_swap_page - a free slot, held for the swap cache (SWAP_HAS_CACHE)
 *
 * Return: its entry, or one of value 0 when the device is full.
 */
swp_entry_t get_swap_page(void)
{
	struct swap_info_struct *si;
	swp_entry_t entry = { 0 };

	sim_lock_threaded(&sim->swap_lock);
	if (!sim->swap_info)
		sim->swap_info = swapon();
	si = sim->swap_info;
	if (si && si->nr_free) {
		entry.val = si->free_slots[--si->nr_free];
		si->swap_map[entry.val] = SWAP_HAS_CACHE;
		if (entry.val >= si->slots_hw)
			si->slots_hw = entry.val + 1;
		count_vm_event(swap_slots_now);
	}
	sim_unlock_threaded(&sim->swap_lock);
	return entry;
}

static bool swap_entry_valid(struct swap_info_struct *si, swp_entry_t entry,
			     const char *func)
{
	if (si && entry.val && entry.val < si->max && si->swap_map[entry.val])
		return true;
	sim_report(MMSIM_V_BUG, smp_processor_id(), 0, -1, func,
		   "swap entry %lu names no slot in use", entry.val);
	return false;
}

/* One more pte holds @entry (fork copied it, or reclaim installed it) */
int swap_duplicate(swp_entry_t entry)
{
	struct swap_info_struct *si = swap_info();
	int err = -EINVAL;

	sim_lock_threaded(&sim->swap_lock);
	if (swap_entry_valid(si, entry, __func__)) {
		si->swap_map[entry.val]++;
		err = 0;
	}
	sim_unlock_threaded(&sim->swap_lock);
	return err;
}

/* A pte no longer holds @entry; the slot is freed with its last holder */
void swap_free(swp_entry_t entry)
{
	struct swap_info_struct *si = swap_info();

	sim_lock_threaded(&sim->swap_lock);
	if (!swap_entry_valid(si, entry, __func__))
		goto out;
	if (!(si->swap_map[entry.val] & SWAP_COUNT_MASK)) {
		sim_report(MMSIM_V_BAD_REFCOUNT, smp_processor_id(), 0, -1,
			   __func__, "swap slot %lu freed with no pte on it",
			   entry.val);
		goto out;
	}
	if (--si->swap_map[entry.val] == 0)
		swap_slot_free(si, entry.val);
out:
	sim_unlock_threaded(&sim->swap_lock);
}

/* The ptes that hold @slot now (0 for a free or unknown slot) */
u32 swap_map_count(unsigned long slot)
{
	struct swap_info_struct *si = swap_info();

	if (!si || !slot || slot >= si->max)
		return 0;
	return si->swap_map[slot] & SWAP_COUNT_MASK;
}

/* The ptes that hold the slot of @page, a swap-cache page */
int page_swapcount(struct page *page)
{
	if (!PageSwapCache(page))
		return 0;
	return swap_map_count(page->private);
}

/**
 * can_share_swap_page - may a write fault reuse @page in place?
 *
 * Only if nothing else can see it: one pte maps it and, when it is in
 * the swap cache, no swap entry names its slot (a swap-in through one
 * would find the page, written by this mm).
 */
bool can_share_swap_page(struct page *page)
{
	return page_mapcount(page) + page_swapcount(page) == 1;
}

/**
 * remove_exclusive_swap_page - take @page out of the swap cache if no
 * swap entry names its slot any more, freeing the slot
 *
 * Not while reclaim owns the page.  Return: whether it was removed.
 */
bool remove_exclusive_swap_page(struct page *page)
{
	if (!PageSwapCache(page) || PageLocked(page) || page_swapcount(page))
		return false;
	delete_from_swap_cache(page);
	return true;
}

/**
 * free_swap_and_cache - a zap let go of a swap entry
 *
 * The slot goes with its last holder, and a page left in the swap cache
 * for it with the slot, unless a pte still maps the page or reclaim owns
 * it (each lets go of it later).
 */
void free_swap_and_cache(swp_entry_t entry)
{
	struct page *page;

	swap_free(entry);
	page = lookup_swap_cache(entry);
	if (!page)
		return;
	if (!page_mapped(page))
		remove_exclusive_swap_page(page);
	put_page(page);
}

/* The device: a page's worth of words per slot */
static u64 *slot_data(swp_entry_t entry)
{
	return swap_info()->data + entry.val * (PAGE_SIZE / sizeof(u64));
}

void swap_readpage(struct page *page, swp_entry_t entry)
{
	memcpy(page_address(page), slot_data(entry), PAGE_SIZE);
	count_vm_event(swap_ins);
}

void swap_writepage(struct page *page, swp_entry_t entry)
{
	memcpy(slot_data(entry), page_address(page), PAGE_SIZE);
	ClearPageDirty(page);
	count_vm_event(swap_outs);
}

/**
 * swap_entry_word0 - the first word of the page a swap entry names, for
 * the driver's view (arch/x86/sim/syscall.c): its swap-cache page's, or
 * the slot's
 * @entry: the entry
 * @pfn: set to the page's identity: its frame, or max_pfn + the slot
 */
u64 swap_entry_word0(swp_entry_t entry, unsigned long *pfn)
{
	struct swap_info_struct *si = swap_info();
	struct page *page;

	if (!si || !entry.val || entry.val >= si->max) {
		*pfn = -1UL;
		return 0;
	}
	page = si->cache[entry.val];
	if (page) {
		*pfn = page_to_pfn(page);
		return *(u64 *)page_address(page);
	}
	*pfn = max_pfn + entry.val;
	return *slot_data(entry);
}
