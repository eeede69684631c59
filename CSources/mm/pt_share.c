// SPDX-License-Identifier: GPL-2.0
/*
 * pte tables shared between address spaces (share=fork): the 2002
 * proposal's other half, after Daniel Phillips's patch for 2.4.
 *
 * fork gives the child the parent's pte table itself, not a copy: the
 * child's pmd entry points at it and the table's page count, its share
 * count, goes up by one.  Every private writable pte in it is
 * write-protected once, in place, for all sharers.  From then on the
 * table's entries belong to every sharer at once, so:
 *
 * - a change by one sharer (a fault of any kind, mprotect, a munmap or
 *   MADV_DONTNEED of part of it, an mmap over it) first unshares it: the
 *   sharer gets a copy of its own, with a reference on every page and
 *   swap slot, and lets go of the shared one;
 * - exit, or a munmap of its whole range, only lets go of it: the pmd
 *   entry is cleared, this mm's CPUs flushed, the count dropped;
 * - reclaim is the one path that changes an entry in place, for every
 *   sharer (mm/rmap.c), flushing it from every CPU that may cache it
 *   (flush_tlb_shared());
 * - the last sharer holds a table of its own again, count one, and zaps
 *   and frees it as any other.
 *
 * The table's own lock guards its entries, its count and its list of
 * sharers (ptl=split is required: no mm's page_table_lock can guard a
 * table two mms use).  Letting go of the table, by unshare or by exit,
 * takes the mm's pmd lock (the pmd entry changes) and then the
 * table's lock, flushes the mm's CPUs (their TLB entries and
 * paging-structure caches may lead through the table) and only then
 * drops the count: a table whose count a sharer dropped without that
 * flush could reach zero and be freed while a CPU still walks it
 * (CVE-2021-4002).
 *
 * A shared table never enters an mmu_gather: the gather's entries and
 * lists are one mm's, and in place a gathered entry names one owner's
 * phase 3.  What a gather unmaps is always a table of the mm's own.
 */
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/swap.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>

/**
 * pte_table_shareable - may fork share the pte table that maps @addr?
 * @vma: the parent's vma being copied
 *
 * Only when every vma of the parent in the table's 2 MiB is a private
 * one: a shared mapping's ptes are not copied at fork (the child faults
 * its pages in from the object).
 */
bool pte_table_shareable(struct vm_area_struct *vma, unsigned long addr)
{
	unsigned long start = addr & PMD_MASK, end = start + PMD_SIZE;
	struct vm_area_struct *v;

	if (!share_ptables())
		return false;
	for (v = find_vma(vma->vm_mm, start); v && v->vm_start < end;
	     v = v->vm_next)
		if (v->vm_file)
			return false;
	return true;
}

/*
 * Does [@start, @end) cover all of the pte table that maps @addr?  The
 * last table reaches past TASK_SIZE, where nothing can be mapped.
 */
bool pte_table_within(unsigned long addr, unsigned long start,
		      unsigned long end)
{
	unsigned long table = addr & PMD_MASK;

	return table >= start &&
	       (table + PMD_SIZE <= end || end >= TASK_SIZE);
}

/* The sharer node of @mm on @table, unlinked; NULL if it has none */
static struct pt_sharer *sharer_unlink(struct page *table,
				       struct mm_struct *mm)
{
	struct pt_sharer **p, *s;

	for (p = &table->sharers; (s = *p) != NULL; p = &s->next) {
		if (s->mm == mm) {
			*p = s->next;
			return s;
		}
	}
	return NULL;
}

/*
 * @mm lets go of @table, whose lock is held: its node goes, and the
 * count drops.  It cannot reach zero here: only a table shared (count
 * above one, under this lock) is let go of.  A table left with one
 * sharer is that sharer's own again, without a list.
 */
static void sharer_drop(struct page *table, struct mm_struct *mm)
{
	struct pt_sharer *s = sharer_unlink(table, mm);

	if (!s)
		sim_report(MMSIM_V_BUG, smp_processor_id(), 0,
			   page_to_pfn(table), __func__,
			   "mm %d lets go of a table it does not share",
			   mm->id);
	kfree(s);
	if (--table->_count == 1) {
		kfree(table->sharers);
		table->sharers = NULL;
	}
}

/* What the entries of @table count for an mm that maps it */
static void table_rss(struct page *table, long *anon, long *swap)
{
	pte_t *pte = page_address(table);
	unsigned int i;

	*anon = 0;
	*swap = 0;
	for (i = 0; i < PTRS_PER_PTE; i++) {
		if (pte_present(pte[i]))
			(*anon)++;
		else if (is_swap_pte(pte[i]))
			(*swap)++;
	}
}

/**
 * share_pte_table - fork: the child's pmd entry points at the parent's
 *	pte table
 * @dst_mm: the child, @dst_pmd its pmd entry for @addr
 * @src_mm: the parent, @src_pmd its pmd entry
 *
 * Return: 0, or -ENOMEM (the child is torn down).
 */
int share_pte_table(struct mm_struct *dst_mm, struct mm_struct *src_mm,
		    pmd_t *dst_pmd, pmd_t *src_pmd, unsigned long addr)
{
	struct page *table = pmd_page(*src_pmd);
	struct pt_sharer *child, *parent = NULL;
	unsigned long a = addr & PMD_MASK;
	pte_t *pte = page_address(table);
	spinlock_t *dst_ptl;
	long anon, swap;
	unsigned int i;

	/* another vma in this 2 MiB shared it already */
	if (!pmd_none(*dst_pmd))
		return 0;
	/*
	 * A table with a count of one has no list: the parent's node too,
	 * unless another sharer is listed by the time the lock is held (one
	 * that lets go meanwhile may leave the table the parent's alone).
	 */
	child = kzalloc(sizeof(*child), GFP_KERNEL);
	parent = kzalloc(sizeof(*parent), GFP_KERNEL);
	if (!child || !parent) {
		kfree(child);
		kfree(parent);
		return -ENOMEM;
	}
	dst_ptl = pmd_lock(dst_mm, dst_pmd);
	spin_lock(&table->ptl);
	if (!table->sharers) {
		parent->mm = src_mm;
		table->sharers = parent;
		parent = NULL;
	}
	/* once, in place, for every sharer: writes now fault and unshare */
	for (i = 0; i < PTRS_PER_PTE; i++, a += PAGE_SIZE)
		if (pte_present(pte[i]) && pte_write(pte[i]))
			ptep_set_wrprotect(src_mm, a, &pte[i]);
	table_rss(table, &anon, &swap);
	dst_mm->anon_rss += anon;
	dst_mm->swap_ents += swap;
	child->mm = dst_mm;
	child->next = table->sharers;
	table->sharers = child;
	get_page(table);
	dst_mm->nr_ptes++;
	pmd_populate(dst_mm, dst_pmd, table);
	spin_unlock(&table->ptl);
	spin_unlock(dst_ptl);
	kfree(parent);
	count_vm_event(ptables_shared);
	return 0;
}

/**
 * unshare_pte_table - give @mm a pte table of its own for @addr before it
 *	changes one
 * @pmd: @mm's pmd entry, which points at a present pte table
 *
 * Called with @mm's mmap_sem held.  The copy takes a reference on every
 * page and swap slot it names; the pmd entry is pointed at it, this mm's
 * CPUs flushed, and only then the shared table let go of.
 *
 * Return: 0, or -ENOMEM.
 */
int unshare_pte_table(struct mm_struct *mm, pmd_t *pmd, unsigned long addr)
{
	struct page *table = pmd_page(*pmd), *new;
	spinlock_t *pml;
	pte_t *src, *dst;
	unsigned int i;

	if (!pte_table_shared(table))
		return 0;
	new = pte_alloc_one(mm, addr);
	if (!new)
		return -ENOMEM;
	pml = pmd_lock(mm, pmd);
	table = pmd_page(*pmd);
	spin_lock(&table->ptl);
	if (!pte_table_shared(table)) {
		/* the others let go meanwhile: it is ours alone */
		spin_unlock(&table->ptl);
		spin_unlock(pml);
		pte_free(new);
		return 0;
	}
	src = page_address(table);
	dst = page_address(new);
	for (i = 0; i < PTRS_PER_PTE; i++) {
		pte_t pte = src[i];

		if (pte_present(pte)) {
			get_page(pte_page(pte));
			page_dup_rmap(pte_page(pte));
		} else if (is_swap_pte(pte)) {
			swap_duplicate(pte_to_swp_entry(pte));
		} else if (!pte_none(pte)) {
			sim_report(MMSIM_V_BUG, smp_processor_id(), addr, -1,
				   __func__, "shared table holds pte %#llx",
				   (unsigned long long)pte_val(pte));
			continue;
		}
		/* not linked yet: no CPU can reach it, no lock guards it */
		dst[i] = pte;
	}
	pmd_populate(mm, pmd, new);
	sim_pmd_changed(mm, addr);
	flush_tlb_mm(mm);
	sharer_drop(table, mm);
	spin_unlock(&table->ptl);
	spin_unlock(pml);
	count_vm_event(ptables_unshared);
	return 0;
}

/**
 * unshare_range - unshare every shared pte table that maps part of
 *	[@start, @end) of @mm
 * @keep_whole: leave the tables @start .. @end covers whole (a munmap
 *	lets go of those without a copy)
 *
 * Called with @mm's mmap_sem held, before the change.  Return: 0, or
 * -ENOMEM with nothing changed but the tables unshared so far.
 */
int unshare_range(struct mm_struct *mm, unsigned long start,
		  unsigned long end, bool keep_whole)
{
	unsigned long addr, next;

	if (!share_ptables() || start >= end)
		return 0;
	for (addr = start; addr < end; addr = next) {
		pgd_t *pgd = pgd_offset(mm, addr);
		pmd_t *pmd, pmdval;
		pud_t *pud;
		int err;

		next = pmd_addr_end(addr, end);
		if (pgd_none(*pgd))
			continue;
		pud = pud_offset(pgd, addr);
		if (pud_none(*pud))
			continue;
		pmd = pmd_offset(pud, addr);
		pmdval = pmdp_get_lockless(pmd);
		if (pmd_none(pmdval) || pmd_trans_huge(pmdval) ||
		    !pte_table_shared(pmd_page(pmdval)))
			continue;
		if (keep_whole && pte_table_within(addr, start, end))
			continue;
		err = unshare_pte_table(mm, pmd, addr);
		if (err)
			return err;
	}
	return 0;
}

/**
 * drop_shared_pte_table - exit or munmap lets go of a whole shared table
 * @pmd: @mm's pmd entry for it
 *
 * Called with @mm's mmap_sem held for writing.  Return: true when the
 * table was shared and is let go of; false when it is @mm's own (the
 * caller zaps it).
 */
bool drop_shared_pte_table(struct mm_struct *mm, pmd_t *pmd)
{
	struct page *table;
	spinlock_t *pml;
	long anon, swap;

	pml = pmd_lock(mm, pmd);
	table = pmd_page(*pmd);
	spin_lock(&table->ptl);
	if (!pte_table_shared(table)) {
		spin_unlock(&table->ptl);
		spin_unlock(pml);
		return false;
	}
	table_rss(table, &anon, &swap);
	mm->anon_rss -= anon;
	mm->swap_ents -= swap;
	mm->nr_ptes--;
	pmd_clear(pmd);
	flush_tlb_mm(mm);
	sharer_drop(table, mm);
	spin_unlock(&table->ptl);
	spin_unlock(pml);
	count_vm_event(ptables_share_dropped);
	return true;
}
