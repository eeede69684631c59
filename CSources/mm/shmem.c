// SPDX-License-Identifier: GPL-2.0
/*
 * The shmem object behind shared anonymous mappings: the pages it holds,
 * kept sorted by offset (an object holds at most the machine's frames).
 */
#include <linux/mm.h>
#include <linux/shmem_fs.h>

struct address_space *shmem_setup(unsigned long nr_pages)
{
	struct address_space *mapping = kzalloc(sizeof(*mapping), GFP_KERNEL);

	if (!mapping)
		return NULL;
	mapping->refcount = 1;
	return mapping;
}

/*
 * The objects are shared by the mms that fork made: when the CPUs are host
 * threads, their references and page arrays are under sim->shmem_lock (the
 * mapping's tree_lock, in Linux).
 */
void shmem_get(struct address_space *mapping)
{
	sim_lock_threaded(&sim->shmem_lock);
	mapping->refcount++;
	sim_unlock_threaded(&sim->shmem_lock);
}

/* The last vma is gone: drop the object's reference on every page */
void shmem_put(struct address_space *mapping)
{
	unsigned long i;

	sim_lock_threaded(&sim->shmem_lock);
	if (--mapping->refcount) {
		sim_unlock_threaded(&sim->shmem_lock);
		return;
	}
	sim_unlock_threaded(&sim->shmem_lock);
	for (i = 0; i < mapping->nr_pages; i++) {
		mapping->pages[i]->mapping = NULL;
		put_page(mapping->pages[i]);
	}
	kfree(mapping->pages);
	kfree(mapping);
}

static unsigned long shmem_slot(struct address_space *mapping,
				unsigned long idx)
{
	unsigned long lo = 0, hi = mapping->nr_pages;

	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (mapping->pages[mid]->index < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int shmem_insert(struct address_space *mapping, unsigned long slot,
			struct page *page)
{
	struct page **pages;

	pages = kmalloc((mapping->nr_pages + 1) * sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	if (mapping->nr_pages) {
		memcpy(pages, mapping->pages, slot * sizeof(*pages));
		memcpy(pages + slot + 1, mapping->pages + slot,
		       (mapping->nr_pages - slot) * sizeof(*pages));
	}
	pages[slot] = page;
	kfree(mapping->pages);
	mapping->pages = pages;
	mapping->nr_pages++;
	return 0;
}

/**
 * shmem_getpage - the page at offset @idx, allocated zeroed if missing
 *
 * Return: the page with a reference for the caller, or NULL when out of
 * memory.
 */
static struct page *__shmem_getpage(struct address_space *mapping,
				    unsigned long idx)
{
	unsigned long slot = shmem_slot(mapping, idx);
	struct page *page;

	if (slot < mapping->nr_pages && mapping->pages[slot]->index == idx) {
		page = mapping->pages[slot];
		get_page(page);
		return page;
	}
	page = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
	if (!page)
		return NULL;
	page->mapping = mapping;
	page->index = idx;
	if (shmem_insert(mapping, slot, page)) {
		page->mapping = NULL;
		put_page(page);
		return NULL;
	}
	get_page(page);
	return page;
}

struct page *shmem_getpage(struct address_space *mapping, unsigned long idx)
{
	struct page *page;

	sim_lock_threaded(&sim->shmem_lock);
	page = __shmem_getpage(mapping, idx);
	sim_unlock_threaded(&sim->shmem_lock);
	return page;
}
