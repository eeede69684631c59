/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The reverse map of anonymous pages (mm/rmap.c).
 *
 * An anonymous page never moves in virtual memory here (no mremap), and
 * fork keeps every address: so a page's @index, its virtual page number,
 * is its address in every mm that can map it, and those mms are its fork
 * family, @page->anon_vma.  From a page, the reverse map visits each mm
 * of the family at that one address.  A pte table that several of them
 * share is one set of ptes: the walk meets it once per sharer and acts
 * on it once.
 */
#ifndef _LINUX_RMAP_H
#define _LINUX_RMAP_H

#include <linux/mm.h>

/*
 * struct anon_vma - a fork family: the mms whose anonymous pages may be
 * mapped by each other.  @lock guards @mms and is held across a walk.
 * @refs: the mms on the list, and each walk under way.
 */
struct anon_vma {
	spinlock_t lock;
	struct list_head mms;
	int refs;
};

int anon_vma_prepare(struct mm_struct *mm);
void put_anon_vma(struct anon_vma *anon_vma);
void anon_vma_link(struct mm_struct *child, struct mm_struct *parent);
void anon_vma_unlink(struct mm_struct *mm);

struct vm_area_struct;

void page_add_new_anon_rmap(struct page *page, struct vm_area_struct *vma,
			    unsigned long address);
void page_add_anon_rmap(struct page *page, struct vm_area_struct *vma,
			unsigned long address);
void page_add_file_rmap(struct page *page);
void page_dup_rmap(struct page *page);
void page_remove_rmap(struct page *page);

static inline bool page_mapped(const struct page *page)
{
	return page_mapcount(page) > 0;
}

int page_referenced(struct page *page);

enum {
	SWAP_SUCCESS = 0,	/* every pte that mapped the page is gone */
	SWAP_AGAIN,		/* some are left: try later */
};

int try_to_unmap(struct page *page, bool *dirty);

#endif /* _LINUX_RMAP_H */
