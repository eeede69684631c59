/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Swap: one swap device as big as the machine's memory, its slots' use
 * counts (mm/swapfile.c), and the swap cache (mm/swap_state.c), which
 * keeps a page that is on its way to or from a slot findable by the slot.
 */
#ifndef _LINUX_SWAP_H
#define _LINUX_SWAP_H

#include <linux/mm_types.h>
#include <asm/pgtable.h>

/* swap_map[] flag: the slot has a page in the swap cache */
#define SWAP_HAS_CACHE	0x80000000U
#define SWAP_COUNT_MASK	(~SWAP_HAS_CACHE)

/*
 * struct swap_info_struct - the swap device.  Slot 0 is never used (a
 * swap entry of 0 would read as pte_none()); slots 1 .. @max - 1 are.
 * @swap_map: per slot, the ptes that hold it, | SWAP_HAS_CACHE; 0: free.
 * @cache: the swap cache, by slot.
 * @data: the device's storage, one page per slot, host zero pages.
 */
struct swap_info_struct {
	unsigned long max;
	u32 *swap_map;
	struct page **cache;
	u32 *free_slots;	/* stack of free slots, lowest on top */
	unsigned long nr_free;
	unsigned long slots_hw;	/* slots from here on were never used */
	u64 *data;
};

/* mm/swapfile.c */
swp_entry_t get_swap_page(void);
int swap_duplicate(swp_entry_t entry);
void swap_free(swp_entry_t entry);
void free_swap_and_cache(swp_entry_t entry);
int page_swapcount(struct page *page);
bool can_share_swap_page(struct page *page);
bool remove_exclusive_swap_page(struct page *page);
void swap_readpage(struct page *page, swp_entry_t entry);
void swap_writepage(struct page *page, swp_entry_t entry);
void swap_info_free(struct swap_info_struct *si);
void swap_slot_free(struct swap_info_struct *si, unsigned long slot);
u64 swap_entry_word0(swp_entry_t entry, unsigned long *pfn);
u32 swap_map_count(unsigned long slot);

/* mm/swap_state.c */
int add_to_swap(struct page *page);
int add_to_swap_cache(struct page *page, swp_entry_t entry);
void delete_from_swap_cache(struct page *page);
struct page *lookup_swap_cache(swp_entry_t entry);
void free_swap_cache(struct page *page);

/* mm/vmscan.c */
unsigned long shrink_anon_pages(unsigned long nr_to_reclaim);

#endif /* _LINUX_SWAP_H */
