// SPDX-License-Identifier: GPL-2.0
/*
 * The fault path and the page-table walks that populate, copy, zap and
 * free user mappings: Linux 2.6.16's design, on the simulated machine.
 */
#include <linux/mm.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>
#include <asm-generic/tlb.h>
#include <linux/rmap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>

struct page *vm_normal_page(struct vm_area_struct *vma, unsigned long addr,
			    pte_t pte)
{
	unsigned long pfn = pte_pfn(pte);

	if (unlikely(!pfn_valid(pfn))) {
		sim_report(MMSIM_V_BUG, smp_processor_id(), addr, pfn,
			   __func__, "pte %#llx maps no frame",
			   (unsigned long long)pte_val(pte));
		return NULL;
	}
	return pfn_to_page(pfn);
}

pgprot_t vm_get_page_prot(unsigned long vm_flags)
{
	if (!(vm_flags & VM_PROT_MASK))
		return PAGE_NONE;
	if ((vm_flags & VM_SHARED) && (vm_flags & VM_WRITE))
		return PAGE_SHARED;
	/* private writable mappings start read-only: copy-on-write */
	return PAGE_COPY;
}

static inline pte_t maybe_mkwrite(pte_t pte, struct vm_area_struct *vma)
{
	if (likely(vma->vm_flags & VM_WRITE))
		pte = pte_mkwrite(pte);
	return pte;
}

/* Allocation of missing page-table levels, under the mm's lock */

pud_t *pud_alloc(struct mm_struct *mm, pgd_t *pgd, unsigned long address)
{
	pud_t *new;

	if (!pgd_none(*pgd))
		return pud_offset(pgd, address);
	new = pud_alloc_one(mm, address);
	if (!new)
		return NULL;
	spin_lock(&mm->page_table_lock);
	if (pgd_none(*pgd)) {
		pgd_populate(mm, pgd, new);
		new = NULL;
	}
	spin_unlock(&mm->page_table_lock);
	if (new)
		pud_free(new);
	return pud_offset(pgd, address);
}

pmd_t *pmd_alloc(struct mm_struct *mm, pud_t *pud, unsigned long address)
{
	pmd_t *new;

	if (!pud_none(*pud))
		return pmd_offset(pud, address);
	new = pmd_alloc_one(mm, address);
	if (!new)
		return NULL;
	spin_lock(&mm->page_table_lock);
	if (pud_none(*pud)) {
		pud_populate(mm, pud, new);
		new = NULL;
	}
	spin_unlock(&mm->page_table_lock);
	if (new)
		pmd_free(new);
	return pmd_offset(pud, address);
}

/*
 * A pte table for the empty pmd @pmd, under the pmd's lock: a huge fault
 * beside this one takes it too, and one of the two finds the pmd taken.
 */
int __pte_alloc(struct mm_struct *mm, pmd_t *pmd, unsigned long address)
{
	struct page *new = pte_alloc_one(mm, address);
	spinlock_t *ptl;

	if (!new)
		return -ENOMEM;
	ptl = pmd_lock(mm, pmd);
	if (!pmd_none(*pmd)) {	/* another fault populated it */
		spin_unlock(ptl);
		pte_free(new);
		return 0;
	}
	mm->nr_ptes++;
	pmd_populate(mm, pmd, new);
	spin_unlock(ptl);
	return 0;
}

/* The fault handlers */

static int do_anonymous_page(struct mm_struct *mm, struct vm_area_struct *vma,
			     unsigned long address, pmd_t *pmd,
			     int write_access)
{
	struct page *page;
	spinlock_t *ptl;
	pte_t *pte, entry;

	page = alloc_page(GFP_HIGHUSER | __GFP_ZERO);
	if (!page)
		return VM_FAULT_OOM;
	/*
	 * No ZERO_PAGE here: a read fault gets a page of its own, writable
	 * if the vma is (what kernels without a zero page do).
	 */
	entry = maybe_mkwrite(mk_pte(page, vma->vm_page_prot), vma);
	if (write_access)
		entry = pte_mkdirty(entry);

	pte = pte_offset_map_lock(mm, pmd, address, &ptl);
	if (!pte_none(*pte)) {
		pte_unmap_unlock(pte, ptl);
		put_page(page);
		return VM_FAULT_MINOR;
	}
	mm->anon_rss++;
	page_add_new_anon_rmap(page, vma, address);
	set_pte_at(mm, address, pte, entry);
	pte_unmap_unlock(pte, ptl);
	return VM_FAULT_MINOR;
}

/* do_no_page() for a shared anonymous (shmem) mapping */
static int do_shared_fault(struct mm_struct *mm, struct vm_area_struct *vma,
			   unsigned long address, pmd_t *pmd,
			   int write_access)
{
	unsigned long pgoff;
	struct page *page;
	spinlock_t *ptl;
	pte_t *pte, entry;

	pgoff = ((address - vma->vm_start) >> PAGE_SHIFT) + vma->vm_pgoff;
	page = shmem_getpage(vma->vm_file, pgoff);
	if (!page)
		return VM_FAULT_OOM;
	entry = mk_pte(page, vma->vm_page_prot);
	if (write_access)
		entry = pte_mkdirty(entry);

	pte = pte_offset_map_lock(mm, pmd, address, &ptl);
	if (!pte_none(*pte)) {
		pte_unmap_unlock(pte, ptl);
		put_page(page);
		return VM_FAULT_MINOR;
	}
	mm->file_rss++;
	page_add_file_rmap(page);
	set_pte_at(mm, address, pte, entry);
	pte_unmap_unlock(pte, ptl);
	return VM_FAULT_MINOR;
}

/*
 * do_wp_page - a write to a present, write-protected pte, with @ptl held.
 *
 * An anonymous page nothing else can see (mapped once, and no swap entry
 * names its slot if it is in the swap cache) is reused in place, out of
 * the swap cache.  Not one reclaim owns: reclaim may be writing it out.
 * Otherwise the page is copied: the old pte is cleared and flushed from
 * every CPU, then the copy is installed, and only then does the old
 * page's mapcount drop, since other CPUs may still read it through their
 * TLBs until the flush.
 */
static int do_wp_page(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long address, pte_t *page_table, pmd_t *pmd,
		      spinlock_t *ptl, pte_t orig_pte)
{
	struct page *old_page, *new_page;
	pte_t entry;

	old_page = vm_normal_page(vma, address, orig_pte);
	if (!old_page)
		goto unlock;
	if ((vma->vm_flags & VM_SHARED) ||
	    (PageAnon(old_page) && !PageLocked(old_page) &&
	     can_share_swap_page(old_page))) {
		if (PageSwapCache(old_page))
			delete_from_swap_cache(old_page);
		entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig_pte)), vma);
		set_pte_at(mm, address, page_table, entry);
		flush_tlb_page(vma, address);
		count_vm_event(cow_reuses);
		goto unlock;
	}

	get_page(old_page);
	pte_unmap_unlock(page_table, ptl);
	new_page = alloc_page(GFP_HIGHUSER);
	if (!new_page) {
		put_page(old_page);
		return VM_FAULT_OOM;
	}
	memcpy(page_address(new_page), page_address(old_page), PAGE_SIZE);

	page_table = pte_offset_map_lock(mm, pmd, address, &ptl);
	if (likely(pte_same(*page_table, orig_pte))) {
		entry = mk_pte(new_page, vma->vm_page_prot);
		entry = maybe_mkwrite(pte_mkdirty(entry), vma);
		/*
		 * Clear and flush the old pte before the new one goes in:
		 * 2.6.16's ptep_establish() set the new pte, then flushed,
		 * and in between one CPU could write the copy while another
		 * still read the old page through its TLB.
		 */
		ptep_clear_flush(vma, address, page_table);
		set_pte_at(mm, address, page_table, entry);
		__get_cpu_var(did_cow) = true;
		page_add_new_anon_rmap(new_page, vma, address);
		/*
		 * Only now may the old page's mapcount drop: until the flush
		 * a CPU of this mm may still read it through its TLB, and
		 * the last other mapper, seeing a count of one, would reuse
		 * it in place and write it.  2.6.16 dropped it first; Linux
		 * fixed both in "mm: fix race in COW logic" (2008).
		 */
		page_remove_rmap(old_page);
		/* its swap entries may all be gone: the cache lets go too */
		free_swap_cache(old_page);
		count_vm_event(cow_copies);
		new_page = old_page;	/* drop the mapping's reference */
	}
	put_page(new_page);
	put_page(old_page);
unlock:
	pte_unmap_unlock(page_table, ptl);
	return VM_FAULT_MINOR;
}

static bool page_unlocked(const void *page)
{
	return !PageLocked((const struct page *)page);
}

/*
 * do_swap_page - a fault on a swap entry, with nothing locked
 *
 * The page comes from the swap cache, or is read from its slot into a new
 * page put in the swap cache, so that every pte naming the slot gets the
 * one page.  The page is mapped only if the pte still holds the entry,
 * checked under the pte lock (pte_same): a fault beside this one, a zap
 * or reclaim may have changed it since it was read; and only if the page
 * is still the slot's and reclaim does not own it (locked, on its way
 * out), else it is waited for and the fault retried.  A write
 * is retried as a write fault on the read-only pte (copy-on-write),
 * unless nothing else can see the page.
 */
static int do_swap_page(struct mm_struct *mm, struct vm_area_struct *vma,
			unsigned long address, pmd_t *pmd, int write_access,
			pte_t orig_pte)
{
	swp_entry_t entry = pte_to_swp_entry(orig_pte);
	struct page *page;
	spinlock_t *ptl;
	pte_t *pte, new;
	bool exclusive;
	int err;

	page = lookup_swap_cache(entry);
	if (page) {
		count_vm_event(swap_cache_hits);
	} else {
		page = alloc_page(GFP_HIGHUSER);
		if (!page)
			return VM_FAULT_OOM;
		err = add_to_swap_cache(page, entry);
		if (err) {
			put_page(page);
			/*
			 * -EEXIST: another fault read it in; -ENOENT: the
			 * slot is gone, so the pte must have changed.  Wait
			 * for whoever holds the pte lock, and look again.
			 */
			pte = pte_offset_map_lock(mm, pmd, address, &ptl);
			if (err == -ENOENT && pte_same(*pte, orig_pte)) {
				sim_report(MMSIM_V_BUG, smp_processor_id(),
					   address, -1, __func__,
					   "pte names free swap slot %llu",
					   (unsigned long long)entry.val);
				pte_unmap_unlock(pte, ptl);
				return VM_FAULT_SIGSEGV;
			}
			pte_unmap_unlock(pte, ptl);
			return VM_FAULT_MINOR;
		}
		swap_readpage(page, entry);
	}
	pte = pte_offset_map_lock(mm, pmd, address, &ptl);
	if (unlikely(!pte_same(*pte, orig_pte))) {
		pte_unmap_unlock(pte, ptl);
		put_page(page);
		return VM_FAULT_MINOR;
	}
	/*
	 * Under the pte lock, which reclaim takes to unmap this pte: the page
	 * must still be the slot's and not reclaim's, or reclaim might miss
	 * the mapping made here and free the page or split its sharers.
	 */
	if (PageLocked(page) || !PageSwapCache(page) ||
	    page->private != entry.val) {
		pte_unmap_unlock(pte, ptl);
		sim_spin_until(page_unlocked, page);
		put_page(page);
		return VM_FAULT_MINOR;
	}
	/* this pte is the only one to see it: its own slot count, no map */
	exclusive = page_mapcount(page) + page_swapcount(page) == 1;
	mm->anon_rss++;
	mm->swap_ents--;
	if (PageAnon(page))
		page_add_anon_rmap(page, vma, address);
	else
		page_add_new_anon_rmap(page, vma, address);
	new = mk_pte(page, vma->vm_page_prot);
	if (write_access && exclusive)
		new = maybe_mkwrite(pte_mkdirty(new), vma);
	/*
	 * The page goes in before the pte lets go of the slot: a fault that
	 * reads the pte without the lock must not find it naming a free slot
	 */
	set_pte_at(mm, address, pte, new);
	swap_free(entry);
	/* the slot's last pte is gone: so is its copy, and the cache's hold */
	remove_exclusive_swap_page(page);
	pte_unmap_unlock(pte, ptl);
	return VM_FAULT_MINOR;
}

static bool pte_not_gathered(const void *ptep)
{
	return !pte_gathered(__pte(READ_ONCE(((pte_t *)ptep)->pte)));
}

static int handle_pte_fault(struct mm_struct *mm, struct vm_area_struct *vma,
			    unsigned long address, pte_t *pte, pmd_t *pmd,
			    int write_access)
{
	pte_t entry, old;
	spinlock_t *ptl;

	old = __pte(READ_ONCE(pte->pte));
	if (!pte_present(old)) {
		/*
		 * gather=inplace: the pte is being unmapped and belongs to
		 * the zapper until its phase 3 clears it (MADV_DONTNEED runs
		 * beside faults).  Wait for it and retry, as for a migration
		 * entry; the retry finds it none.
		 */
		if (pte_gathered(old)) {
			sim_spin_until(pte_not_gathered, pte);
			return VM_FAULT_MINOR;
		}
		if (is_swap_pte(old))
			return do_swap_page(mm, vma, address, pmd,
					    write_access, old);
		if (!pte_none(old)) {
			sim_report(MMSIM_V_BUG, smp_processor_id(), address,
				   -1, __func__, "unknown non-present pte %#llx",
				   (unsigned long long)pte_val(old));
			return VM_FAULT_SIGSEGV;
		}
		if (vma->vm_file)
			return do_shared_fault(mm, vma, address, pmd,
					       write_access);
		return do_anonymous_page(mm, vma, address, pmd, write_access);
	}

	pte = pte_offset_map_lock(mm, pmd, address, &ptl);
	if (unlikely(!pte_same(*pte, old)))
		goto unlock;
	entry = old;
	if (write_access) {
		if (!pte_write(entry))
			return do_wp_page(mm, vma, address, pte, pmd, ptl,
					  entry);
		entry = pte_mkdirty(entry);
	}
	entry = pte_mkyoung(entry);
	if (!pte_same(old, entry)) {
		/* ptep_set_access_flags() */
		set_pte_at(mm, address, pte, entry);
		if (write_access)
			flush_tlb_page(vma, address);
	} else if (write_access) {
		flush_tlb_page(vma, address);
	}
unlock:
	pte_unmap_unlock(pte, ptl);
	return VM_FAULT_MINOR;
}

/**
 * handle_mm_fault - resolve a fault at @address in @vma
 *
 * Return: VM_FAULT_MINOR, or VM_FAULT_OOM when a page or a page table
 * could not be allocated.
 */
int handle_mm_fault(struct mm_struct *mm, struct vm_area_struct *vma,
		    unsigned long address, int write_access)
{
	pmd_t *pmd, pmdval;
	pgd_t *pgd;
	pud_t *pud;
	pte_t *pte;

	count_vm_event(faults);
	pgd = pgd_offset(mm, address);
	pud = pud_alloc(mm, pgd, address);
	if (!pud)
		return VM_FAULT_OOM;
	pmd = pmd_alloc(mm, pud, address);
	if (!pmd)
		return VM_FAULT_OOM;
	if (pmd_none(*pmd) && vma_huge_eligible(vma, address)) {
		int ret = do_huge_pmd_anonymous_page(mm, vma, address, pmd,
						     write_access);

		if (!(ret & VM_FAULT_FALLBACK))
			return ret;
	}
	pmdval = pmdp_get_lockless(pmd);
	if (pmd_trans_huge(pmdval))
		return do_huge_pmd_fault(mm, vma, address, pmd, write_access);
	if (pmd_none(pmdval) && __pte_alloc(mm, pmd, address))
		return VM_FAULT_OOM;
	/*
	 * A huge fault beside this one mapped the pmd first, and a
	 * MADV_DONTNEED may have zapped it since: retry
	 */
	pmdval = pmdp_get_lockless(pmd);
	if (unlikely(pmd_none(pmdval) || pmd_trans_huge(pmdval)))
		return VM_FAULT_MINOR;
	pte = pte_offset_map(pmd, address);
	/* every change to a shared pte table unshares it first */
	if (unlikely(pte_table_shared(pmd_page(*pmd)))) {
		if (unshare_pte_table(mm, pmd, address))
			return VM_FAULT_OOM;
		pte = pte_offset_map(pmd, address);
	}
	return handle_pte_fault(mm, vma, address, pte, pmd, write_access);
}

/* fork: copy the ptes of a private vma, write-protecting both sides */

/* rss[] of copy_pte_range(): file, anon, swap entries */
enum { RSS_FILE, RSS_ANON, RSS_SWAP, NR_RSS };

static void copy_one_pte(struct mm_struct *dst_mm, struct mm_struct *src_mm,
			 pte_t *dst_pte, pte_t *src_pte,
			 struct vm_area_struct *vma, unsigned long addr,
			 int *rss)
{
	pte_t pte = *src_pte;
	struct page *page;

	count_vm_event(fork_ptes_copied);
	if (is_swap_pte(pte)) {
		swap_duplicate(pte_to_swp_entry(pte));
		rss[RSS_SWAP]++;
		set_pte_at(dst_mm, addr, dst_pte, pte);
		return;
	}

	if (is_cow_mapping(vma->vm_flags) && pte_write(pte)) {
		ptep_set_wrprotect(src_mm, addr, src_pte);
		pte = pte_wrprotect(pte);
	}
	pte = __pte(pte_val(pte) & ~_PAGE_ACCESSED);
	page = vm_normal_page(vma, addr, pte);
	if (page) {
		get_page(page);
		page_dup_rmap(page);
		rss[PageAnon(page) ? RSS_ANON : RSS_FILE]++;
	}
	set_pte_at(dst_mm, addr, dst_pte, pte);
}

static int copy_pte_range(struct mm_struct *dst_mm, struct mm_struct *src_mm,
			  pmd_t *dst_pmd, pmd_t *src_pmd,
			  struct vm_area_struct *vma, unsigned long addr,
			  unsigned long end)
{
	spinlock_t *src_ptl, *dst_ptl;
	pte_t *src_pte, *dst_pte;
	int rss[NR_RSS] = { 0 };

	if (pmd_none(*dst_pmd) && __pte_alloc(dst_mm, dst_pmd, addr))
		return -ENOMEM;
	dst_pte = pte_offset_map_lock(dst_mm, dst_pmd, addr, &dst_ptl);
	src_pte = pte_offset_map(src_pmd, addr);
	src_ptl = pte_lockptr(src_mm, src_pmd);
	spin_lock_nested(src_ptl, SINGLE_DEPTH_NESTING);
	do {
		preempt_account_work(1);
		if (pte_none(*src_pte))
			continue;
		/* gathered entries only live inside an unmap: never here */
		if (unlikely(!pte_present(*src_pte) &&
			     !is_swap_pte(*src_pte))) {
			sim_report(MMSIM_V_BUG, smp_processor_id(), addr, -1,
				   __func__, "fork met non-present pte %#llx",
				   (unsigned long long)pte_val(*src_pte));
			continue;
		}
		copy_one_pte(dst_mm, src_mm, dst_pte, src_pte, vma, addr, rss);
	} while (dst_pte++, src_pte++, addr += PAGE_SIZE, addr != end);
	spin_unlock(src_ptl);
	dst_mm->file_rss += rss[RSS_FILE];
	dst_mm->anon_rss += rss[RSS_ANON];
	dst_mm->swap_ents += rss[RSS_SWAP];
	pte_unmap_unlock(dst_pte - 1, dst_ptl);
	cond_resched();
	return 0;
}

static int copy_pmd_range(struct mm_struct *dst_mm, struct mm_struct *src_mm,
			  pud_t *dst_pud, pud_t *src_pud,
			  struct vm_area_struct *vma, unsigned long addr,
			  unsigned long end)
{
	pmd_t *src_pmd, *dst_pmd;
	unsigned long next;

	dst_pmd = pmd_alloc(dst_mm, dst_pud, addr);
	if (!dst_pmd)
		return -ENOMEM;
	src_pmd = pmd_offset(src_pud, addr);
	do {
		next = pmd_addr_end(addr, end);
		if (pmd_none(*src_pmd))
			continue;
		if (pmd_trans_huge(*src_pmd)) {
			if (copy_huge_pmd(dst_mm, src_mm, dst_pmd, src_pmd,
					  addr, vma))
				return -ENOMEM;
			continue;
		}
		if (pte_table_shareable(vma, addr)) {
			if (share_pte_table(dst_mm, src_mm, dst_pmd, src_pmd,
					    addr))
				return -ENOMEM;
			continue;
		}
		if (copy_pte_range(dst_mm, src_mm, dst_pmd, src_pmd, vma,
				   addr, next))
			return -ENOMEM;
	} while (dst_pmd++, src_pmd++, addr = next, addr != end);
	return 0;
}

static int copy_pud_range(struct mm_struct *dst_mm, struct mm_struct *src_mm,
			  pgd_t *dst_pgd, pgd_t *src_pgd,
			  struct vm_area_struct *vma, unsigned long addr,
			  unsigned long end)
{
	pud_t *src_pud, *dst_pud;
	unsigned long next;

	dst_pud = pud_alloc(dst_mm, dst_pgd, addr);
	if (!dst_pud)
		return -ENOMEM;
	src_pud = pud_offset(src_pgd, addr);
	do {
		next = pud_addr_end(addr, end);
		if (pud_none(*src_pud))
			continue;
		if (copy_pmd_range(dst_mm, src_mm, dst_pud, src_pud, vma,
				   addr, next))
			return -ENOMEM;
	} while (dst_pud++, src_pud++, addr = next, addr != end);
	return 0;
}

/**
 * copy_page_range - fork's copy of the ptes of @vma
 *
 * Shared mappings are not copied: the child's faults find their pages in
 * the shmem object.  Private ones are, write-protected on both sides.
 *
 * Return: 0 or -ENOMEM; the caller tears the half-built child down.
 */
int copy_page_range(struct mm_struct *dst_mm, struct mm_struct *src_mm,
		    struct vm_area_struct *vma)
{
	unsigned long addr = vma->vm_start, end = vma->vm_end, next;
	pgd_t *src_pgd, *dst_pgd;

	if (vma->vm_file)
		return 0;
	dst_pgd = pgd_offset(dst_mm, addr);
	src_pgd = pgd_offset(src_mm, addr);
	do {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*src_pgd))
			continue;
		if (copy_pud_range(dst_mm, src_mm, dst_pgd, src_pgd, vma,
				   addr, next))
			return -ENOMEM;
	} while (dst_pgd++, src_pgd++, addr = next, addr != end);
	return 0;
}

/* Unmapping: zap the ptes of a range, page tables stay */

/*
 * How much zapping is done under one gather before it is broken up to
 * give the scheduler a chance: 8 pages under CONFIG_PREEMPT, 1024 without.
 */
static long zap_block_size(void)
{
	return (preempt_model_full() ? 8 : 1024) * PAGE_SIZE;
}

static unsigned long zap_pte_range(struct mmu_gather *tlb,
				   struct vm_area_struct *vma, pmd_t *pmd,
				   unsigned long addr, unsigned long end,
				   long *zap_work)
{
	struct mm_struct *mm = tlb->mm;
	bool resched = tlb->inplace && preempt_model_full();
	unsigned int since_resched = 0;
	spinlock_t *ptl;
	pte_t *pte;

	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	do {
		pte_t ptent = *pte;
		struct page *page;

		preempt_account_work(1);
		if (resched && ++since_resched == INPLACE_RESCHED_PTES) {
			since_resched = 0;
			pte_unmap_unlock(pte, ptl);
			cond_resched();
			pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
			ptent = *pte;
		}
		if (pte_none(ptent)) {
			(*zap_work)--;
			continue;
		}
		*zap_work -= PAGE_SIZE;
		/* another MADV_DONTNEED's gather: its phase 3 frees it */
		if (pte_gathered(ptent) &&
		    pte_gather_owner(ptent) != smp_processor_id())
			continue;
		/* no translation to flush: the slot goes at once */
		if (is_swap_pte(ptent)) {
			pte_clear(mm, addr, pte);
			mm->swap_ents--;
			free_swap_and_cache(pte_to_swp_entry(ptent));
			continue;
		}
		if (unlikely(!pte_present(ptent))) {
			sim_report(MMSIM_V_BUG, smp_processor_id(), addr, -1,
				   __func__, "zap met non-present pte %#llx",
				   (unsigned long long)pte_val(ptent));
			continue;
		}
		/* accessed and dirty are harvested here, before the flush */
		ptent = ptep_get_and_clear(mm, addr, pte);
		tlb_remove_tlb_entry(tlb, pte, addr);
		page = vm_normal_page(vma, addr, ptent);
		if (!page)
			continue;
		if (PageAnon(page))
			mm->anon_rss--;
		else
			mm->file_rss--;
		/* the mapcount drops when the gather frees it, after the flush */
		if (tlb->inplace)
			tlb_gather_pte(tlb, addr, pte, page);
		else
			tlb_remove_page(tlb, page);
	} while (pte++, addr += PAGE_SIZE, addr != end && *zap_work > 0);
	pte_unmap_unlock(pte - 1, ptl);
	return addr;
}

static unsigned long zap_pmd_range(struct mmu_gather *tlb,
				   struct vm_area_struct *vma, pud_t *pud,
				   unsigned long addr, unsigned long end,
				   long *zap_work)
{
	pmd_t *pmd = pmd_offset(pud, addr);
	unsigned long next;

	do {
		pmd_t pmdval = pmdp_get_lockless(pmd);

		next = pmd_addr_end(addr, end);
		if (pmd_none(pmdval)) {
			(*zap_work)--;
			continue;
		}
		/*
		 * A huge pmd goes whole, or is split first when only part of
		 * it is zapped (zap_huge_pmd() tests it again, locked).  Then
		 * it is a pte table, or it went meanwhile: zapped by another
		 * MADV_DONTNEED, or still huge, another gather's.
		 */
		if (pmd_trans_huge(pmdval)) {
			if (next - addr != HPAGE_PMD_SIZE)
				split_huge_pmd(vma, pmd, addr);
			else if (zap_huge_pmd(tlb, vma, pmd, addr))
				goto huge_done;
			pmdval = pmdp_get_lockless(pmd);
			if (pmd_none(pmdval) || pmd_trans_huge(pmdval))
				goto huge_done;
		}
		/*
		 * A shared table is unshared before any zap of part of it;
		 * one this unmap frees whole is only let go of.
		 */
		if (unlikely(pte_table_shared(pmd_page(*pmd)))) {
			if (tlb->free_end &&
			    pte_table_within(addr, tlb->free_start,
					     tlb->free_end) &&
			    drop_shared_pte_table(tlb->mm, pmd))
				continue;
			if (pte_table_shared(pmd_page(*pmd)))
				sim_report(MMSIM_V_BUG, smp_processor_id(),
					   addr, page_to_pfn(pmd_page(*pmd)),
					   __func__,
					   "zap of part of a shared pte table");
		}
		next = zap_pte_range(tlb, vma, pmd, addr, next, zap_work);
		continue;
huge_done:
		*zap_work -= PAGE_SIZE;
	} while (pmd++, addr = next, addr != end && *zap_work > 0);
	return addr;
}

static unsigned long zap_pud_range(struct mmu_gather *tlb,
				   struct vm_area_struct *vma, pgd_t *pgd,
				   unsigned long addr, unsigned long end,
				   long *zap_work)
{
	pud_t *pud = pud_offset(pgd, addr);
	unsigned long next;

	do {
		next = pud_addr_end(addr, end);
		if (pud_none(*pud)) {
			(*zap_work)--;
			continue;
		}
		next = zap_pmd_range(tlb, vma, pud, addr, next, zap_work);
	} while (pud++, addr = next, addr != end && *zap_work > 0);
	return addr;
}

static unsigned long unmap_page_range(struct mmu_gather *tlb,
				      struct vm_area_struct *vma,
				      unsigned long addr, unsigned long end,
				      long *zap_work)
{
	pgd_t *pgd = pgd_offset(vma->vm_mm, addr);
	unsigned long next;

	do {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd)) {
			(*zap_work)--;
			continue;
		}
		next = zap_pud_range(tlb, vma, pgd, addr, next, zap_work);
	} while (pgd++, addr = next, addr != end && *zap_work > 0);
	return addr;
}

/**
 * unmap_vmas - zap the ptes of every vma from @start_vma that meets
 *	[@start_addr, @end_addr)
 * @tlb: the gather
 *
 * gather=vector: after each ZAP_BLOCK_SIZE worth of work the gather is
 * finished (flush, free, preemption back on), the CPU may reschedule, and
 * the gather is taken again: the "mmu_gather breaking" that bounds
 * preemption latency.  gather=inplace never breaks: the zap itself is
 * preemptible.
 *
 * Return: the end of the range zapped.
 */
unsigned long unmap_vmas(struct mmu_gather *tlb,
			 struct vm_area_struct *start_vma,
			 unsigned long start_addr, unsigned long end_addr)
{
	long block = tlb->inplace ? LONG_MAX : zap_block_size();
	unsigned int fullmm = tlb->fullmm;
	unsigned long free_start = tlb->free_start;
	unsigned long free_end = tlb->free_end;
	long zap_work = block;
	unsigned long tlb_start = 0, start = start_addr;
	bool tlb_start_valid = false;
	struct vm_area_struct *vma;

	for (vma = start_vma; vma && vma->vm_start < end_addr;
	     vma = vma->vm_next) {
		unsigned long end;

		start = max(vma->vm_start, start_addr);
		if (start >= vma->vm_end)
			continue;
		end = min(vma->vm_end, end_addr);
		if (end <= vma->vm_start)
			continue;
		while (start != end) {
			if (!tlb_start_valid) {
				tlb_start = start;
				tlb_start_valid = true;
			}
			start = unmap_page_range(tlb, vma, start, end,
						 &zap_work);
			if (zap_work > 0) {
				BUG_ON(start != end);
				break;
			}
			tlb_finish_mmu(tlb, tlb_start, start);
			count_vm_event(zap_breaks);
			cond_resched();
			tlb_gather_mmu(tlb, vma->vm_mm, fullmm);
			tlb->free_start = free_start;
			tlb->free_end = free_end;
			tlb_start_valid = false;
			zap_work = block;
		}
	}
	return start;
}

/**
 * zap_page_range - remove the user pages of a range of one vma, keeping
 *	the vma and the page tables (MADV_DONTNEED)
 */
unsigned long zap_page_range(struct vm_area_struct *vma,
			     unsigned long address, unsigned long size)
{
	unsigned long end = address + size;
	struct mmu_gather tlb;

	tlb_gather_mmu(&tlb, vma->vm_mm, 0);
	end = unmap_vmas(&tlb, vma, address, end);
	tlb_finish_mmu(&tlb, address, end);
	return end;
}

/* Freeing page tables that no vma needs any more */

/*
 * Is the table that maps [@start & @mask, + ~@mask] free to go: not below
 * @floor and not reaching @ceiling (0 meaning the top of the space)?
 * @end is the end of the range being freed.
 */
static bool table_within(unsigned long start, unsigned long end,
			 unsigned long mask, unsigned long floor,
			 unsigned long ceiling)
{
	start &= mask;
	if (start < floor)
		return false;
	if (ceiling) {
		ceiling &= mask;
		if (!ceiling)
			return false;
	}
	return end - 1 <= ceiling - 1;
}

static void free_pte_range(struct mmu_gather *tlb, pmd_t *pmd)
{
	struct page *page = pmd_page(*pmd);

	pmd_clear(pmd);
	pte_free_tlb(tlb, page);
	tlb->mm->nr_ptes--;
}

static void free_pmd_range(struct mmu_gather *tlb, pud_t *pud,
			   unsigned long addr, unsigned long end,
			   unsigned long floor, unsigned long ceiling)
{
	unsigned long next, start = addr;
	pmd_t *pmd = pmd_offset(pud, addr);

	do {
		next = pmd_addr_end(addr, end);
		/* a gathered huge pmd: phase 3 frees its page, in any table */
		if (pmd_none(*pmd) || pmd_trans_huge(*pmd))
			continue;
		free_pte_range(tlb, pmd);
	} while (pmd++, addr = next, addr != end);

	if (!table_within(start, end, PUD_MASK, floor, ceiling))
		return;
	pmd = pmd_offset(pud, start & PUD_MASK);
	pud_clear(pud);
	pmd_free_tlb(tlb, pmd);
}

static void free_pud_range(struct mmu_gather *tlb, pgd_t *pgd,
			   unsigned long addr, unsigned long end,
			   unsigned long floor, unsigned long ceiling)
{
	unsigned long next, start = addr;
	pud_t *pud = pud_offset(pgd, addr);

	do {
		next = pud_addr_end(addr, end);
		if (pud_none(*pud))
			continue;
		free_pmd_range(tlb, pud, addr, next, floor, ceiling);
	} while (pud++, addr = next, addr != end);

	if (!table_within(start, end, PGDIR_MASK, floor, ceiling))
		return;
	pud = pud_offset(pgd, start & PGDIR_MASK);
	pgd_clear(pgd);
	pud_free_tlb(tlb, pud);
}

/*
 * free_pgd_range - free the page tables that map only [@addr, @end),
 * never one that also maps something below @floor or from @ceiling on
 * (the neighbouring vmas').  pte pages are freed whole: @addr is rounded
 * to the pmd below, @end to the pmd boundary short of @ceiling.
 */
static void free_pgd_range(struct mmu_gather *tlb, unsigned long addr,
			   unsigned long end, unsigned long floor,
			   unsigned long ceiling)
{
	unsigned long next;
	pgd_t *pgd;

	addr &= PMD_MASK;
	if (addr < floor) {
		addr += PMD_SIZE;
		if (!addr)
			return;
	}
	if (ceiling) {
		ceiling &= PMD_MASK;
		if (!ceiling)
			return;
	}
	if (end - 1 > ceiling - 1)
		end -= PMD_SIZE;
	if (addr > end - 1)
		return;

	pgd = pgd_offset(tlb->mm, addr);
	do {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd))
			continue;
		free_pud_range(tlb, pgd, addr, next, floor, ceiling);
	} while (pgd++, addr = next, addr != end);
}

/**
 * free_pgtables - free the page tables under a list of vmas being removed
 * @tlb: the gather the tables are freed through
 * @vma: first vma of the list (already detached from the mm)
 * @floor: end of the vma below, which keeps its tables
 * @ceiling: start of the vma above, or 0
 *
 * Neighbouring vmas less than a pmd apart are handled in one walk.
 */
void free_pgtables(struct mmu_gather *tlb, struct vm_area_struct *vma,
		   unsigned long floor, unsigned long ceiling)
{
	while (vma) {
		struct vm_area_struct *next = vma->vm_next;
		unsigned long addr = vma->vm_start;

		while (next && next->vm_start <= vma->vm_end + PMD_SIZE) {
			vma = next;
			next = vma->vm_next;
		}
		free_pgd_range(tlb, addr, vma->vm_end, floor,
			       next ? next->vm_start : ceiling);
		vma = next;
	}
}
