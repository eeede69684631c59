// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent huge pages: private anonymous memory mapped 2 MiB at a
 * time by one pmd entry (see <linux/huge_mm.h> for when, and which lock
 * guards such an entry).
 *
 * A huge pmd maps the 512 frames of one compound page.  Each huge pmd
 * has a pte table deposited beside it (on its pmd table page), allocated
 * when the pmd is mapped, so that splitting it later never fails: the
 * split paths (a partial munmap, mprotect or MADV_DONTNEED, a vma split,
 * a write fault to a shared huge page) cannot give up half-way.
 *
 * A split invalidates the pmd (present bit cleared, so that no CPU can
 * load the 2 MiB translation again or set its accessed and dirty bits),
 * flushes it from every CPU, and only then installs the deposited table,
 * filled with ptes that map the same frames with the same rights: no CPU
 * ever holds a 2 MiB and a 4 KiB translation of one address at once.
 * The compound page stays whole; its ptes take references on the head.
 *
 * A write fault to a write-protected huge pmd (fork shared it) reuses the
 * page in place when this pmd is its only user, else splits the pmd and
 * lets the 4 KiB copy-on-write path copy the one page written: copying
 * 2 MiB for one store is what Linux stopped doing in 5.8 ("mm: thp:
 * split huge pmd on wp fault"), for latency and memory.
 */
#include <linux/mm.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>
#include <asm-generic/tlb.h>
#include <linux/rmap.h>

/* Does the aligned 2 MiB around @address lie in @vma, which wants it? */
bool vma_huge_eligible(struct vm_area_struct *vma, unsigned long address)
{
	unsigned long haddr = address & HPAGE_PMD_MASK;

	if ((vma->vm_flags & (VM_HUGEPAGE | VM_NOHUGEPAGE)) != VM_HUGEPAGE ||
	    vma->vm_file)
		return false;
	return haddr >= vma->vm_start && haddr + HPAGE_PMD_SIZE <= vma->vm_end;
}

/*
 * The deposited pte tables of a pmd table page, under its pmd lock: a
 * stack chained through the tables' own pmd_huge_pte.
 */
static void pgtable_trans_huge_deposit(struct mm_struct *mm, pmd_t *pmd,
				       struct page *table)
{
	struct page *holder = table_page(pmd);

	assert_spin_locked(pmd_lockptr(mm, pmd));
	table->pmd_huge_pte = holder->pmd_huge_pte;
	holder->pmd_huge_pte = table;
	mm->nr_ptes++;
}

struct page *pgtable_trans_huge_withdraw(struct mm_struct *mm, pmd_t *pmd)
{
	struct page *holder = table_page(pmd), *table;

	assert_spin_locked(pmd_lockptr(mm, pmd));
	table = holder->pmd_huge_pte;
	if (!table) {
		sim_report(MMSIM_V_BUG, smp_processor_id(), 0,
			   page_to_pfn(holder), __func__,
			   "huge pmd without a deposited pte table");
		return NULL;
	}
	holder->pmd_huge_pte = table->pmd_huge_pte;
	table->pmd_huge_pte = NULL;
	mm->nr_ptes--;
	return table;
}

/* Every frame of a new compound page joins @vma's family at its vpn */
static void huge_add_new_anon_rmap(struct page *head,
				   struct vm_area_struct *vma,
				   unsigned long haddr)
{
	unsigned long i;

	for (i = 0; i < HPAGE_PMD_NR; i++) {
		struct page *page = head + i;

		SetPageAnon(page);
		page->anon_vma = vma->vm_mm->anon_vma;
		page->index = (haddr >> PAGE_SHIFT) + i;
	}
	head->compound_mapcount = 1;
}

/**
 * do_huge_pmd_anonymous_page - map a 2 MiB page at an empty pmd
 *
 * Return: VM_FAULT_MINOR (mapped, or another fault populated the pmd
 * first: the access is retried), or VM_FAULT_FALLBACK when the compound
 * page or its deposit cannot be allocated: the 4 KiB path takes over.
 */
int do_huge_pmd_anonymous_page(struct mm_struct *mm,
			       struct vm_area_struct *vma,
			       unsigned long address, pmd_t *pmd,
			       int write_access)
{
	unsigned long haddr = address & HPAGE_PMD_MASK;
	struct page *page, *table;
	spinlock_t *ptl;
	pmd_t entry;

	table = pte_alloc_one(mm, haddr);
	if (!table)
		goto fallback;
	page = alloc_huge_page();
	if (!page) {
		pte_free(table);
		goto fallback;
	}
	entry = pfn_pmd(page_to_pfn(page), vma->vm_page_prot);
	if (vma->vm_flags & VM_WRITE)
		entry = pmd_mkwrite(entry);
	if (write_access)
		entry = pmd_mkdirty(entry);

	ptl = pmd_lock(mm, pmd);
	if (!pmd_none(*pmd)) {
		spin_unlock(ptl);
		put_page(page);
		pte_free(table);
		return VM_FAULT_MINOR;
	}
	huge_add_new_anon_rmap(page, vma, haddr);
	pgtable_trans_huge_deposit(mm, pmd, table);
	mm->anon_rss += HPAGE_PMD_NR;
	set_pmd_at(mm, haddr, pmd, entry);
	spin_unlock(ptl);
	count_vm_event(thp_faults);
	return VM_FAULT_MINOR;
fallback:
	count_vm_event(thp_fallbacks);
	return VM_FAULT_FALLBACK;
}

/*
 * pmdp_invalidate - make a huge pmd not present, keeping what it maps,
 * and flush it from every CPU
 *
 * Return: the entry as it was, its accessed and dirty bits final: no CPU
 * can set them once the entry is not present.
 */
static pmd_t pmdp_invalidate(struct vm_area_struct *vma, unsigned long haddr,
			     pmd_t *pmd)
{
	struct mm_struct *mm = vma->vm_mm;
	u64 old;

	check_pmd_lock(mm, pmd, __func__);
	old = __atomic_fetch_and(&pmd->pmd, ~_PAGE_PRESENT, __ATOMIC_RELAXED);
	sim_huge_pmd_changed(mm, haddr, old, old & ~_PAGE_PRESENT);
	flush_tlb_range(vma, haddr, haddr + HPAGE_PMD_SIZE);
	return __pmd(old);
}

/*
 * Split the huge pmd at @haddr of @vma, with its pmd lock held: the same
 * frames, now mapped by the deposited pte table.
 */
static void __split_huge_pmd_locked(struct vm_area_struct *vma, pmd_t *pmd,
				    unsigned long haddr)
{
	struct mm_struct *mm = vma->vm_mm;
	struct page *head, *table;
	unsigned long i;
	pte_t *pte;
	pmd_t old;

	old = pmdp_invalidate(vma, haddr, pmd);
	head = pmd_page(old);
	table = pgtable_trans_huge_withdraw(mm, pmd);
	if (!table)
		return;
	/* not linked yet: no CPU and no other call can see these ptes */
	pte = page_address(table);
	for (i = 0; i < HPAGE_PMD_NR; i++) {
		WRITE_ONCE(pte[i].pte, pte_val(pmd_subpage_pte(old, i)));
		head[i]._mapcount++;
	}
	/* the pmd's reference becomes the first pte's; one for each other */
	head->_count += HPAGE_PMD_NR - 1;
	head->compound_mapcount--;
	mm->nr_ptes++;
	pmd_populate(mm, pmd, table);
	count_vm_event(thp_splits);
}

/**
 * split_huge_pmd - split the huge pmd that maps @address, if it still is
 *
 * Any lock but mmap_sem must not be held.  A gathered huge pmd (another
 * CPU's in-place gather owns it, a MADV_DONTNEED beside this call) is
 * left to its owner.
 */
void split_huge_pmd(struct vm_area_struct *vma, pmd_t *pmd,
		    unsigned long address)
{
	spinlock_t *ptl = pmd_lock(vma->vm_mm, pmd);

	if (pmd_trans_huge(*pmd) && !pmd_gathered(*pmd))
		__split_huge_pmd_locked(vma, pmd, address & HPAGE_PMD_MASK);
	spin_unlock(ptl);
}

/* Split the huge pmd, if any, whose 2 MiB @address is inside but not at */
void split_huge_pmd_address(struct vm_area_struct *vma, unsigned long address)
{
	struct mm_struct *mm = vma->vm_mm;
	pgd_t *pgd;
	pud_t *pud;
	pmd_t *pmd;

	if (!(address & ~HPAGE_PMD_MASK))
		return;
	pgd = pgd_offset(mm, address);
	if (pgd_none(*pgd))
		return;
	pud = pud_offset(pgd, address);
	if (pud_none(*pud))
		return;
	pmd = pmd_offset(pud, address);
	if (pmd_trans_huge(*pmd))
		split_huge_pmd(vma, pmd, address);
}

/*
 * A write to a write-protected huge pmd, @orig, with its pmd lock @ptl
 * held (dropped here).  Reused in place when this pmd is the compound
 * page's only reference; otherwise split, and the retried access takes
 * the 4 KiB copy-on-write path for the one page it writes.
 */
static int do_huge_pmd_wp_page(struct mm_struct *mm,
			       struct vm_area_struct *vma,
			       unsigned long haddr, pmd_t *pmd,
			       spinlock_t *ptl, pmd_t orig)
{
	struct page *head = pmd_page(orig);

	if (page_count(head) == 1 && head->compound_mapcount == 1) {
		pmd_t entry = pmd_mkyoung(pmd_mkdirty(orig));

		if (vma->vm_flags & VM_WRITE)
			entry = pmd_mkwrite(entry);
		set_pmd_at(mm, haddr, pmd, entry);
		flush_tlb_page(vma, haddr);
		count_vm_event(thp_cow_reuses);
	} else {
		__split_huge_pmd_locked(vma, pmd, haddr);
	}
	spin_unlock(ptl);
	return VM_FAULT_MINOR;
}

static bool pmd_changed(const void *pmdp)
{
	const pmd_t *pmd = pmdp;

	return (READ_ONCE(pmd->pmd) & (_PAGE_PRESENT | _PAGE_PSE)) !=
	       _PAGE_PSE;
}

/**
 * do_huge_pmd_fault - a fault at a huge pmd: a write to a write-protected
 *	one, or the accessed and dirty bits, or one on its way out
 *
 * An in-place gather owns a gathered huge pmd until its phase 3 clears
 * it: wait for that, then retry, as for a gathered pte.
 */
int do_huge_pmd_fault(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long address, pmd_t *pmd, int write_access)
{
	unsigned long haddr = address & HPAGE_PMD_MASK;
	spinlock_t *ptl = pmd_lock(mm, pmd);
	pmd_t orig = __pmd(READ_ONCE(pmd->pmd)), entry;

	if (!pmd_trans_huge(orig)) {
		spin_unlock(ptl);
		return VM_FAULT_MINOR;
	}
	if (!(pmd_val(orig) & _PAGE_PRESENT)) {
		spin_unlock(ptl);
		if (pmd_gathered(orig))
			sim_spin_until(pmd_changed, pmd);
		return VM_FAULT_MINOR;
	}
	if (write_access && !pmd_write(orig))
		return do_huge_pmd_wp_page(mm, vma, haddr, pmd, ptl, orig);
	entry = pmd_mkyoung(orig);
	if (write_access)
		entry = pmd_mkdirty(entry);
	if (pmd_val(entry) != pmd_val(orig))
		set_pmd_at(mm, haddr, pmd, entry);
	if (write_access)
		flush_tlb_page(vma, haddr);
	spin_unlock(ptl);
	return VM_FAULT_MINOR;
}

/**
 * copy_huge_pmd - fork's copy of a huge pmd: both mms map the compound
 *	page, write-protected when the mapping is copy-on-write
 *
 * Return: 0, or -ENOMEM when the child's deposit cannot be allocated.
 */
int copy_huge_pmd(struct mm_struct *dst_mm, struct mm_struct *src_mm,
		  pmd_t *dst_pmd, pmd_t *src_pmd, unsigned long addr,
		  struct vm_area_struct *vma)
{
	spinlock_t *dst_ptl, *src_ptl;
	struct page *table, *head;
	pmd_t pmd;

	table = pte_alloc_one(dst_mm, addr);
	if (!table)
		return -ENOMEM;
	dst_ptl = pmd_lock(dst_mm, dst_pmd);
	src_ptl = pmd_lockptr(src_mm, src_pmd);
	spin_lock_nested(src_ptl, SINGLE_DEPTH_NESTING);
	pmd = __pmd(READ_ONCE(src_pmd->pmd));
	/* gathered entries only live inside an unmap: never here */
	if (unlikely(pmd_gathered(pmd))) {
		sim_report(MMSIM_V_BUG, smp_processor_id(), addr, -1, __func__,
			   "fork met gathered huge pmd %#llx",
			   (unsigned long long)pmd_val(pmd));
		spin_unlock(src_ptl);
		spin_unlock(dst_ptl);
		pte_free(table);
		return 0;
	}
	head = pmd_page(pmd);
	get_page(head);
	head->compound_mapcount++;
	if (is_cow_mapping(vma->vm_flags) && pmd_write(pmd)) {
		pmdp_set_wrprotect(src_mm, addr, src_pmd);
		pmd = pmd_wrprotect(pmd);
	}
	pmd = __pmd(pmd_val(pmd) & ~_PAGE_ACCESSED);
	pgtable_trans_huge_deposit(dst_mm, dst_pmd, table);
	dst_mm->anon_rss += HPAGE_PMD_NR;
	set_pmd_at(dst_mm, addr, dst_pmd, pmd);
	spin_unlock(src_ptl);
	spin_unlock(dst_ptl);
	count_vm_event(thp_fork_copies);
	return 0;
}

/**
 * zap_huge_pmd - unmap the whole huge pmd at @addr through @tlb
 *
 * The pmd test of the caller was made without the lock: it is made again
 * under it, since a MADV_DONTNEED beside this one may have zapped or
 * split the entry since (Linux's ced108037c2a: a zap must never act on a
 * pmd it did not see huge under its lock).  The deposited table was never
 * linked: no CPU can reach it, it goes at once.  The compound page goes
 * through the gather: queued with its size in the vector, or, in place,
 * named by a gathered pmd entry that phase 3 frees after the flush.
 *
 * Return: true if the entry was huge (zapped, or another gather's),
 * false if it is a pte table now.
 */
bool zap_huge_pmd(struct mmu_gather *tlb, struct vm_area_struct *vma,
		  pmd_t *pmd, unsigned long addr)
{
	struct mm_struct *mm = tlb->mm;
	spinlock_t *ptl = pmd_lock(mm, pmd);
	struct page *table;
	pmd_t orig = __pmd(READ_ONCE(pmd->pmd));

	if (!pmd_trans_huge(orig)) {
		spin_unlock(ptl);
		return false;
	}
	/* another MADV_DONTNEED's gather: its phase 3 frees it */
	if (pmd_gathered(orig)) {
		spin_unlock(ptl);
		return true;
	}
	preempt_account_work(1);
	orig = pmdp_huge_get_and_clear(mm, addr, pmd);
	tlb->need_flush = 1;
	mm->anon_rss -= HPAGE_PMD_NR;
	table = pgtable_trans_huge_withdraw(mm, pmd);
	if (table)
		pte_free(table);
	if (tlb->inplace)
		tlb_gather_pmd(tlb, addr, pmd, pmd_page(orig));
	else
		tlb_remove_huge_page(tlb, pmd_page(orig));
	spin_unlock(ptl);
	return true;
}

/*
 * mprotect of a whole huge pmd: its rights change in place.  The caller
 * flushes.  Return: false if the entry is not huge.
 */
bool change_huge_pmd(struct vm_area_struct *vma, pmd_t *pmd,
		     unsigned long addr, pgprot_t newprot)
{
	struct mm_struct *mm = vma->vm_mm;
	spinlock_t *ptl = pmd_lock(mm, pmd);
	pmd_t entry;

	if (!pmd_trans_huge(*pmd) || pmd_gathered(*pmd)) {
		spin_unlock(ptl);
		return false;
	}
	preempt_account_work(1);
	entry = pmdp_huge_get_and_clear(mm, addr, pmd);
	set_pmd_at(mm, addr, pmd, pmd_modify(entry, newprot));
	spin_unlock(ptl);
	return true;
}

/*
 * gather=inplace, phase 3: the gathered huge pmd @pmd at @addr, if this
 * CPU's gather owns it: clear it, and let the compound page go.
 */
void free_gathered_huge_pmd(struct mmu_gather *tlb, pmd_t *pmd,
			    unsigned long addr)
{
	spinlock_t *ptl = pmd_lock(tlb->mm, pmd);
	pmd_t entry = __pmd(READ_ONCE(pmd->pmd));

	count_vm_event(phase3_entries);
	if (pmd_gathered(entry) &&
	    pte_gather_owner(__pte(pmd_val(entry))) == smp_processor_id()) {
		pmd_val(entry) = pmd_val(pmdp_huge_get_and_clear(tlb->mm,
								 addr, pmd));
		tlb_release_huge_page(pmd_page(entry));
	}
	spin_unlock(ptl);
}

/**
 * madvise_hugepage - MADV_HUGEPAGE or MADV_NOHUGEPAGE on [@start, @end)
 *	of @vma, which it covers: the vma is split to the range, as
 *	mprotect splits it, and marked
 *
 * Pages already mapped stay as they are (no collapse, no split).
 *
 * Return: 0, or -ENOMEM when a split cannot be allocated.
 */
long madvise_hugepage(struct vm_area_struct *vma,
		      struct vm_area_struct **prev, unsigned long start,
		      unsigned long end, int behavior)
{
	unsigned long newflags = vma->vm_flags;
	struct mm_struct *mm = vma->vm_mm;
	int err;

	if (behavior == MADV_HUGEPAGE)
		newflags = (newflags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
	else
		newflags = (newflags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
	if (newflags == vma->vm_flags)
		goto out;
	if (start != vma->vm_start) {
		err = split_vma(mm, vma, start, 1);
		if (err)
			return err;
	}
	if (end != vma->vm_end) {
		err = split_vma(mm, vma, end, 0);
		if (err)
			return err;
	}
	vma->vm_flags = newflags;
	vma = vma_merge(mm, vma);
out:
	*prev = vma;
	return 0;
}
