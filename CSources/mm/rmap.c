// SPDX-License-Identifier: GPL-2.0
/*
 * The reverse map: from an anonymous page to the ptes that map it, for
 * reclaim (see <linux/rmap.h> for why a page's virtual page number and
 * its fork family are enough), and the mapcounts the rest of mm keeps.
 *
 * Lock order of a walk: anon_vma->lock; each mm's mmap_sem, tried for
 * reading (a walk never waits for it: the mm is changing its mappings,
 * and the walk passes it by); that mm's pmd lock (pmd_lockptr()), held only while
 * the pmd entry is read and the pte table's lock taken, so that no
 * unshare can repoint the pmd in between.  Holding mmap_sem keeps every
 * table of the mm in place (only munmap, exit and exec free tables, and
 * they hold it for writing).
 */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>
#include <asm/tlbflush.h>

/* Fork families */

/* A new family, of @mm alone (a new mm, or an exec) */
int anon_vma_prepare(struct mm_struct *mm)
{
	struct anon_vma *anon_vma = kzalloc(sizeof(*anon_vma),
					    GFP_KERNEL | __GFP_NOFAIL);

	if (!anon_vma)
		return -ENOMEM;
	spin_lock_init_class(&anon_vma->lock, LOCK_CLASS_ANON_VMA);
	INIT_LIST_HEAD(&anon_vma->mms);
	anon_vma->refs = 1;
	list_add_tail(&mm->anon_vma_node, &anon_vma->mms);
	mm->anon_vma = anon_vma;
	return 0;
}

/* fork: @child joins @parent's family */
void anon_vma_link(struct mm_struct *child, struct mm_struct *parent)
{
	struct anon_vma *anon_vma = parent->anon_vma;

	spin_lock(&anon_vma->lock);
	__atomic_fetch_add(&anon_vma->refs, 1, __ATOMIC_RELAXED);
	list_add_tail(&child->anon_vma_node, &anon_vma->mms);
	child->anon_vma = anon_vma;
	spin_unlock(&anon_vma->lock);
}

void put_anon_vma(struct anon_vma *anon_vma)
{
	if (__atomic_sub_fetch(&anon_vma->refs, 1, __ATOMIC_ACQ_REL) == 0)
		kfree(anon_vma);
}

/* @mm, whose page tables are gone, leaves its family */
void anon_vma_unlink(struct mm_struct *mm)
{
	struct anon_vma *anon_vma = mm->anon_vma;

	if (!anon_vma)
		return;
	spin_lock(&anon_vma->lock);
	list_del_init(&mm->anon_vma_node);
	spin_unlock(&anon_vma->lock);
	mm->anon_vma = NULL;
	put_anon_vma(anon_vma);
}

/* Mapcounts */

/* The first pte of a new anonymous page, at @address of @vma */
void page_add_new_anon_rmap(struct page *page, struct vm_area_struct *vma,
			    unsigned long address)
{
	SetPageAnon(page);
	page->anon_vma = vma->vm_mm->anon_vma;
	page->index = address >> PAGE_SHIFT;
	page->_mapcount = 0;
}

/* One more pte of an anonymous page that had a reverse map already */
void page_add_anon_rmap(struct page *page, struct vm_area_struct *vma,
			unsigned long address)
{
	WARN_ON(page->anon_vma != vma->vm_mm->anon_vma ||
		page->index != address >> PAGE_SHIFT);
	page->_mapcount++;
}

void page_add_file_rmap(struct page *page)
{
	page->_mapcount++;
}

void page_dup_rmap(struct page *page)
{
	page->_mapcount++;
}

void page_remove_rmap(struct page *page)
{
	if (--page->_mapcount < -1) {
		sim_report(MMSIM_V_BAD_REFCOUNT, smp_processor_id(), 0,
			   page_to_pfn(page), __func__, "mapcount below zero");
		page->_mapcount = -1;
	}
}

/* The walk */

/*
 * The pte of @mm at @address, with its lock held in *@ptlp, or NULL when
 * no pte table maps @address.  Called with @mm's mmap_sem held.
 */
static pte_t *page_check_address(struct mm_struct *mm, unsigned long address,
				 spinlock_t **ptlp)
{
	pgd_t *pgd = pgd_offset(mm, address);
	spinlock_t *ptl, *pml;
	pud_t *pud;
	pmd_t *pmd;

	if (pgd_none(*pgd))
		return NULL;
	pud = pud_offset(pgd, address);
	if (pud_none(*pud))
		return NULL;
	pmd = pmd_offset(pud, address);
	pml = pmd_lock(mm, pmd);
	/* a huge pmd maps a compound page, which reclaim passes by */
	if (pmd_none(*pmd) || pmd_trans_huge(*pmd)) {
		spin_unlock(pml);
		return NULL;
	}
	ptl = pte_lockptr(mm, pmd);
	if (ptl != pml) {
		spin_lock(ptl);
		spin_unlock(pml);
	}
	*ptlp = ptl;
	return pte_offset_map(pmd, address);
}

/* The vma of @mm that maps anonymous @page, or NULL */
static struct vm_area_struct *anon_vma_address(struct page *page,
					       struct mm_struct *mm,
					       unsigned long *address)
{
	struct vm_area_struct *vma;

	*address = page->index << PAGE_SHIFT;
	vma = find_vma(mm, *address);
	if (!vma || vma->vm_start > *address || vma->vm_file)
		return NULL;
	return vma;
}

typedef int (*rmap_one_fn)(struct page *page, struct vm_area_struct *vma,
			   unsigned long address, pte_t *pte, void *arg);

/*
 * Call @one for each pte that maps @page, each with its table's lock held,
 * reached from every mm of the page's family whose mmap_sem could be had.
 * A pte table shared by several mms is reached once per sharer: @one
 * finds the pte changed the second time.  Return: the sum of @one's
 * returns, and in *@busy whether some mm was passed by.
 */
static int rmap_walk_anon(struct page *page, rmap_one_fn one, void *arg,
			  bool *busy)
{
	struct anon_vma *anon_vma = page->anon_vma;
	struct mm_struct *mm;
	int ret = 0;

	*busy = false;
	spin_lock(&anon_vma->lock);
	list_for_each_entry(mm, &anon_vma->mms, anon_vma_node) {
		struct vm_area_struct *vma;
		unsigned long address;
		spinlock_t *ptl;
		pte_t *pte;

		if (!down_read_trylock(&mm->mmap_sem)) {
			*busy = true;
			continue;
		}
		vma = anon_vma_address(page, mm, &address);
		pte = vma ? page_check_address(mm, address, &ptl) : NULL;
		if (pte) {
			pte_t ptent = *pte;

			if (pte_present(ptent) &&
			    pte_pfn(ptent) == page_to_pfn(page))
				ret += one(page, vma, address, pte, arg);
			pte_unmap_unlock(pte, ptl);
		}
		up_read(&mm->mmap_sem);
	}
	spin_unlock(&anon_vma->lock);
	return ret;
}

/*
 * A walk holds the family, and the page, whose anon_vma it reads; only a
 * page some pte maps may be walked (its family has that mm, so lives).
 */
static struct anon_vma *page_lock_family(struct page *page)
{
	struct anon_vma *anon_vma = page->anon_vma;

	if (!PageAnon(page) || !page_mapped(page) || !anon_vma)
		return NULL;
	__atomic_fetch_add(&anon_vma->refs, 1, __ATOMIC_RELAXED);
	return anon_vma;
}

static int page_referenced_one(struct page *page, struct vm_area_struct *vma,
			       unsigned long address, pte_t *pte, void *arg)
{
	return ptep_clear_flush_young(vma, address, pte);
}

/**
 * page_referenced - harvest the accessed bits of @page's ptes
 *
 * Each young pte is made old and flushed from every CPU that may cache
 * it (a CPU that keeps its TLB entry would go on using the page without
 * ever setting the bit again, and the page would look idle).
 *
 * Return: the number of ptes that were young.
 */
int page_referenced(struct page *page)
{
	struct anon_vma *anon_vma = page_lock_family(page);
	bool busy;
	int young;

	if (!anon_vma)
		return 0;
	young = rmap_walk_anon(page, page_referenced_one, NULL, &busy);
	put_anon_vma(anon_vma);
	return young;
}

struct unmap_args {
	swp_entry_t entry;
	bool dirty;
};

/* Each mm that maps the pte table of @pte: its counters change */
static void swap_out_account(struct vm_area_struct *vma, pte_t *pte)
{
	struct page *table = table_page(pte);
	struct pt_sharer *s;

	if (!pte_table_shared(table)) {
		vma->vm_mm->anon_rss--;
		vma->vm_mm->swap_ents++;
		return;
	}
	for (s = table->sharers; s; s = s->next) {
		s->mm->anon_rss--;
		s->mm->swap_ents++;
	}
}

/*
 * Replace one pte of @page by the swap entry: clear it and flush it from
 * every CPU that may cache it (all the table's sharers'), and take the
 * dirty bit from the cleared pte, after which no CPU can write the page.
 */
static int try_to_unmap_one(struct page *page, struct vm_area_struct *vma,
			    unsigned long address, pte_t *pte, void *arg)
{
	struct unmap_args *args = arg;
	pte_t pteval;

	pteval = ptep_clear_flush(vma, address, pte);
	if (pte_dirty(pteval))
		args->dirty = true;
	swap_duplicate(args->entry);
	set_pte_at(vma->vm_mm, address, pte, swp_entry_to_pte(args->entry));
	swap_out_account(vma, pte);
	page_remove_rmap(page);
	put_page(page);
	return 1;
}

/**
 * try_to_unmap - replace every pte of @page, a locked page in the swap
 *	cache, by its swap entry
 * @page: the page
 * @dirty: set when a pte said the page was written since it was mapped
 *
 * Return: SWAP_SUCCESS when no pte maps it any more; SWAP_AGAIN when one
 * does (an mm was busy, or a gather owns the pte).
 */
int try_to_unmap(struct page *page, bool *dirty)
{
	struct anon_vma *anon_vma = page_lock_family(page);
	struct unmap_args args = {
		.entry = { page->private },
		.dirty = false,
	};
	bool busy;

	if (!anon_vma)
		return page_mapped(page) ? SWAP_AGAIN : SWAP_SUCCESS;
	rmap_walk_anon(page, try_to_unmap_one, &args, &busy);
	put_anon_vma(anon_vma);
	*dirty = args.dirty;
	return page_mapped(page) ? SWAP_AGAIN : SWAP_SUCCESS;
}
