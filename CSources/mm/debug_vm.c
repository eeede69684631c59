// SPDX-License-Identifier: GPL-2.0
/*
 * Whole-machine audits: accounting (refcounts, mapcounts and per-mm
 * counters against what the page tables say) and leaks (what is still
 * allocated once every mm is gone).  They read kernel state only, and run
 * at quiescent points, between calls.
 *
 * And the run-time check of the concurrent regime made at the release of
 * mmap_sem: coherence at return of the call that releases it.
 */
#include <stdlib.h>
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>

struct audit {
	u32 *maps;		/* ptes mapping each frame */
	u32 *refs;		/* references expected on each frame */
	u8 *table;		/* frame is a page table of some mm */
	u32 refs_end;		/* refs[] is 0 from here on */
	u32 *slots;		/* swap entries naming each swap slot */
	int found;
};

/* What one mm's ptes count, for its counters */
struct audit_rss {
	unsigned long file, anon, swap;
};

/* Count a reference to @pfn (one below the machine's frame count) */
static void audit_ref(struct audit *a, unsigned long pfn)
{
	a->refs[pfn]++;
	if (pfn >= a->refs_end)
		a->refs_end = pfn + 1;
}

/*
 * The index of the first entry of @table at or after @i that is not none
 * (none is 0 at every level), or @n.  The audit runs at quiescent points,
 * so plain loads see what the acquire loads of pgd_none() and its kin see.
 */
static unsigned int next_entry(const void *table, unsigned int i,
			       unsigned int n)
{
	const u64 *t = table;

	while (i + 4 <= n && !(t[i] | t[i + 1] | t[i + 2] | t[i + 3]))
		i += 4;
	while (i < n && !t[i])
		i++;
	return i;
}

#define audit_report(a, kind, addr, pfn, fmt, ...) do {		\
	(a)->found++;							\
	sim_report(kind, -1, addr, pfn, "mmsim_check", fmt,		\
		   ##__VA_ARGS__);					\
} while (0)

static struct vm_area_struct *vma_of(struct mm_struct *mm,
				     unsigned long addr)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	return vma && vma->vm_start <= addr ? vma : NULL;
}

/* A swap entry of @mm; @once: the first visit of its pte table */
static void audit_swap_pte(struct audit *a, struct vm_area_struct *vma,
			   unsigned long addr, pte_t pte, bool once,
			   struct audit_rss *rss)
{
	struct swap_info_struct *si = sim->swap_info;
	unsigned long slot = swp_offset(pte_to_swp_entry(pte));

	if (!vma || vma->vm_file) {
		audit_report(a, MMSIM_V_ACCOUNTING, addr, -1,
			     "swap entry %lu outside any private vma", slot);
		return;
	}
	if (!si || !slot || slot >= si->slots_hw) {
		audit_report(a, MMSIM_V_ACCOUNTING, addr, -1,
			     "swap entry %lu names no slot ever used", slot);
		return;
	}
	rss->swap++;
	if (once && a->slots)
		a->slots[slot]++;
}

/*
 * A present pte of @mm.  @once: the first visit of its pte table (a table
 * shared by several mms is visited once per sharer; its ptes are one set
 * of mappings, counted once, but count in every sharer's rss).
 */
static void audit_pte(struct audit *a, struct mm_struct *mm,
		      unsigned long addr, pte_t pte, bool once,
		      struct audit_rss *rss)
{
	struct vm_area_struct *vma = vma_of(mm, addr);
	unsigned long pfn = pte_pfn(pte);
	struct page *page;

	if (is_swap_pte(pte)) {
		audit_swap_pte(a, vma, addr, pte, once, rss);
		return;
	}
	if (!pte_present(pte)) {
		audit_report(a, MMSIM_V_ACCOUNTING, addr, -1,
			     "unknown pte %#lx", pte_val(pte));
		return;
	}
	if (!vma) {
		audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
			     "pte for frame %lu outside any vma", pfn);
		return;
	}
	if (!pfn_valid(pfn) || PageBuddy(pfn_to_page(pfn))) {
		audit_report(a, MMSIM_V_USE_AFTER_FREE, addr, pfn,
			     "pte maps free frame %lu", pfn);
		return;
	}
	page = pfn_to_page(pfn);
	if (pte_write(pte) && !(vma->vm_flags & VM_WRITE))
		audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
			     "writable pte in a vma without VM_WRITE (flags %#lx)",
			     vma->vm_flags);
	if (pte_write(pte) && !(vma->vm_flags & VM_SHARED) &&
	    page_mapcount(page) != 1)
		audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
			     "writable private pte to a page mapped %lu times",
			     (unsigned long)page_mapcount(page));
	if (!!PageAnon(page) == !!(vma->vm_flags & VM_SHARED))
		audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
			     "page anon=%lu in a vma with flags %#lx",
			     (unsigned long)PageAnon(page), vma->vm_flags);
	/* the reverse map finds this pte from the page: its family, here */
	if (PageAnon(page) && (page->anon_vma != mm->anon_vma ||
			       page->index != addr >> PAGE_SHIFT))
		audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
			     "reverse map of frame %lu leads to vpn %#lx of %s family, not to this pte of mm %d",
			     pfn, page->index,
			     page->anon_vma == mm->anon_vma ? "this" :
							      "another",
			     mm->id);
	if (PageAnon(page))
		rss->anon++;
	else
		rss->file++;
	if (!once)
		return;
	a->maps[pfn]++;
	audit_ref(a, pfn);
}

/*
 * A huge pmd of @mm at @addr: it maps a compound page, from one private
 * vma that covers its 2 MiB, writable only if nothing else maps the page;
 * every frame of the page counts the mapping, the head its reference.
 */
static void audit_huge_pmd(struct audit *a, struct mm_struct *mm,
			   unsigned long addr, pmd_t pmd,
			   struct audit_rss *rss)
{
	struct vm_area_struct *vma = vma_of(mm, addr);
	unsigned long head = pmd_pfn(pmd), i;
	struct page *page;

	if (!(pmd_val(pmd) & (_PAGE_PRESENT | _PAGE_PROTNONE))) {
		audit_report(a, MMSIM_V_ACCOUNTING, addr, -1,
			     "huge pmd %#llx left %s", (unsigned long long)
			     pmd_val(pmd), pmd_gathered(pmd) ?
			     "gathered after its gather ended" :
			     "invalidated after its split");
		return;
	}
	if (!vma || vma->vm_file || addr < vma->vm_start ||
	    addr + HPAGE_PMD_SIZE > vma->vm_end) {
		audit_report(a, MMSIM_V_ACCOUNTING, addr, head,
			     "huge pmd for frame %lu outside one private vma",
			     head);
		return;
	}
	if (!pfn_valid(head) || (head & (HPAGE_PMD_NR - 1)) ||
	    !PageHead(pfn_to_page(head))) {
		audit_report(a, MMSIM_V_USE_AFTER_FREE, addr, head,
			     "huge pmd maps frame %lu, not a compound page",
			     head);
		return;
	}
	page = pfn_to_page(head);
	if (pmd_write(pmd) && !(vma->vm_flags & VM_WRITE))
		audit_report(a, MMSIM_V_ACCOUNTING, addr, head,
			     "writable huge pmd in a vma without VM_WRITE (flags %#lx)",
			     vma->vm_flags);
	if (pmd_write(pmd) &&
	    (page->compound_mapcount != 1 || page_count(page) != 1))
		audit_report(a, MMSIM_V_ACCOUNTING, addr, head,
			     "writable huge pmd to a page with %d references, mapped by %d pmds",
			     page_count(page), page->compound_mapcount);
	if (page->anon_vma != mm->anon_vma ||
	    page->index != addr >> PAGE_SHIFT)
		audit_report(a, MMSIM_V_ACCOUNTING, addr, head,
			     "reverse map of huge page %lu leads to vpn %#lx of %s family, not to this pmd of mm %d",
			     head, page->index,
			     page->anon_vma == mm->anon_vma ? "this" :
							      "another",
			     mm->id);
	rss->anon += HPAGE_PMD_NR;
	for (i = 0; i < HPAGE_PMD_NR; i++)
		a->maps[head + i]++;
	audit_ref(a, head);
	if (head + HPAGE_PMD_NR > a->refs_end)
		a->refs_end = head + HPAGE_PMD_NR;
}

/*
 * The pte tables deposited on the pmd table @holder: one per huge pmd in
 * it (@nr_huge), empty, page tables nothing links.
 */
static void audit_deposits(struct audit *a, unsigned long addr,
			   struct page *holder, unsigned long nr_huge)
{
	unsigned long nr = 0;
	struct page *table;

	for (table = holder->pmd_huge_pte; table && nr <= nr_huge;
	     table = table->pmd_huge_pte, nr++) {
		unsigned long pfn = page_to_pfn(table);

		if (next_entry(page_address(table), 0, PTRS_PER_PTE) !=
		    PTRS_PER_PTE)
			audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
				     "deposited pte table %lu is not empty",
				     pfn);
		a->table[pfn] = 1;
		audit_ref(a, pfn);
	}
	if (nr != nr_huge)
		audit_report(a, MMSIM_V_ACCOUNTING, addr,
			     page_to_pfn(holder),
			     "pmd table %lu has %lu huge pmds and %s%lu deposited pte tables",
			     page_to_pfn(holder), nr_huge,
			     nr > nr_huge ? "more than " : "", nr);
}

/*
 * A pte table @mm's pmd entry at @addr points at: the share count (the
 * page count) is checked against the pmds that point at it once every mm
 * is walked; here, that a shared one is listed as shared by @mm, that
 * its entries are write-protected for all, and that ptl=split guards it.
 */
static void audit_shared_table(struct audit *a, struct mm_struct *mm,
			       unsigned long addr, struct page *table)
{
	pte_t *pte = page_address(table);
	unsigned long pfn = page_to_pfn(table);
	struct pt_sharer *s;
	int listed = 0, on_list = 0;
	unsigned int i;

	if (!pte_table_shared(table)) {
		if (table->sharers)
			audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
				     "pte table %lu lists sharers with count %d",
				     pfn, page_count(table));
		return;
	}
	if (!split_ptlocks())
		audit_report(a, MMSIM_V_LOCKING, addr, pfn,
			     "pte table %lu is shared without ptl=split", pfn);
	for (s = table->sharers; s; s = s->next) {
		listed++;
		if (s->mm == mm)
			on_list++;
	}
	if (listed != page_count(table) || on_list != 1)
		audit_report(a, MMSIM_V_ACCOUNTING, addr, pfn,
			     "pte table %lu: share count %d, %d sharers listed, mm %d listed %d times",
			     pfn, page_count(table), listed, mm->id, on_list);
	for (i = 0; i < PTRS_PER_PTE; i++)
		if (pte_present(pte[i]) && pte_write(pte[i]))
			audit_report(a, MMSIM_V_ACCOUNTING,
				     addr + i * PAGE_SIZE, pte_pfn(pte[i]),
				     "writable pte in pte table %lu shared by %d mms",
				     pfn, page_count(table));
}

static void audit_mm(struct audit *a, struct mm_struct *mm)
{
	struct audit_rss rss = { 0 };
	unsigned long nr_ptes = 0, total_vm = 0;
	struct vm_area_struct *vma;
	unsigned int i, j, k, l;
	int map_count = 0;

	a->table[page_to_pfn(virt_to_page(mm->pgd))] = 1;
	audit_ref(a, page_to_pfn(virt_to_page(mm->pgd)));
	for (i = next_entry(mm->pgd, 0, PTRS_PER_PGD); i < PTRS_PER_PGD;
	     i = next_entry(mm->pgd, i + 1, PTRS_PER_PGD)) {
		pgd_t *pgd = mm->pgd + i;
		pud_t *pud;

		a->table[pgd_pfn(*pgd)] = 1;
		audit_ref(a, pgd_pfn(*pgd));
		pud = (pud_t *)__va(pgd_val(*pgd) & PTE_PFN_MASK);
		for (j = next_entry(pud, 0, PTRS_PER_PUD); j < PTRS_PER_PUD;
		     j = next_entry(pud, j + 1, PTRS_PER_PUD)) {
			pmd_t *pmd;

			unsigned long nr_huge = 0;

			a->table[pud_pfn(pud[j])] = 1;
			audit_ref(a, pud_pfn(pud[j]));
			pmd = (pmd_t *)__va(pud_val(pud[j]) & PTE_PFN_MASK);
			for (k = next_entry(pmd, 0, PTRS_PER_PMD);
			     k < PTRS_PER_PMD;
			     k = next_entry(pmd, k + 1, PTRS_PER_PMD)) {
				bool once;
				pte_t *pte;

				nr_ptes++;
				if (pmd_trans_huge(pmd[k])) {
					nr_huge++;
					audit_huge_pmd(a, mm,
						       ((unsigned long)i << PGDIR_SHIFT) |
						       ((unsigned long)j << PUD_SHIFT) |
						       ((unsigned long)k << PMD_SHIFT),
						       pmd[k], &rss);
					continue;
				}
				once = !a->table[pmd_pfn(pmd[k])];
				a->table[pmd_pfn(pmd[k])] = 1;
				audit_ref(a, pmd_pfn(pmd[k]));
				pte = (pte_t *)__va(pmd_val(pmd[k]) &
						    PTE_PFN_MASK);
				audit_shared_table(a, mm,
						   ((unsigned long)i << PGDIR_SHIFT) |
						   ((unsigned long)j << PUD_SHIFT) |
						   ((unsigned long)k << PMD_SHIFT),
						   pmd_page(pmd[k]));
				for (l = next_entry(pte, 0, PTRS_PER_PTE);
				     l < PTRS_PER_PTE;
				     l = next_entry(pte, l + 1,
						    PTRS_PER_PTE)) {
					unsigned long addr;

					addr = ((unsigned long)i << PGDIR_SHIFT) |
					       ((unsigned long)j << PUD_SHIFT) |
					       ((unsigned long)k << PMD_SHIFT) |
					       ((unsigned long)l << PAGE_SHIFT);
					audit_pte(a, mm, addr, pte[l], once,
						  &rss);
				}
			}
			audit_deposits(a, ((unsigned long)i << PGDIR_SHIFT) |
				       ((unsigned long)j << PUD_SHIFT),
				       virt_to_page(pmd), nr_huge);
		}
	}
	for (vma = mm->mmap; vma; vma = vma->vm_next) {
		map_count++;
		total_vm += (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
		if (vma->vm_next && vma->vm_next->vm_start < vma->vm_end)
			audit_report(a, MMSIM_V_ACCOUNTING, vma->vm_start, -1,
				     "vmas overlap or are unsorted at %#lx",
				     vma->vm_start);
	}
	if (rss.anon != mm->anon_rss)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "anon_rss is %lu, ptes map %lu", mm->anon_rss,
			     rss.anon);
	if (rss.file != mm->file_rss)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "file_rss is %lu, ptes map %lu", mm->file_rss,
			     rss.file);
	if (rss.swap != mm->swap_ents)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "swap_ents is %lu, %lu ptes are swap entries",
			     mm->swap_ents, rss.swap);
	if (mm->anon_vma && list_empty(&mm->anon_vma_node))
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "mm %d is not on its family's list", mm->id);
	if (nr_ptes != mm->nr_ptes)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "nr_ptes is %lu, page tables hold %lu",
			     mm->nr_ptes, nr_ptes);
	if (total_vm != mm->total_vm)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "total_vm is %lu, vmas span %lu", mm->total_vm,
			     total_vm);
	if ((unsigned long)map_count != (unsigned long)mm->map_count)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "map_count is %lu, %lu vmas",
			     (unsigned long)mm->map_count,
			     (unsigned long)map_count);
}

/* Each shmem object holds one reference on each of its pages */
static void audit_shmem(struct audit *a, struct address_space *mapping,
			struct address_space ***seen, size_t *nr_seen)
{
	struct address_space **grown;
	unsigned long i;
	size_t s;

	for (s = 0; s < *nr_seen; s++)
		if ((*seen)[s] == mapping)
			return;
	grown = realloc(*seen, (*nr_seen + 1) * sizeof(*grown));
	if (!grown)
		return;
	*seen = grown;
	(*seen)[(*nr_seen)++] = mapping;
	for (i = 0; i < mapping->nr_pages; i++)
		audit_ref(a, page_to_pfn(mapping->pages[i]));
}

/*
 * The machine's per-frame counts for audit_vm(), allocated zeroed by its
 * first audit and kept: an audit counts only below its refs_end, and
 * audit_end() zeroes that much again, which costs less than a fresh
 * zeroed allocation of every frame's counts at each checkpoint.
 */
static int audit_begin(struct audit *a)
{
	unsigned long nr = max_pfn;

	if (!sim->audit_maps || !sim->audit_refs || !sim->audit_table) {
		free(sim->audit_maps);
		free(sim->audit_refs);
		free(sim->audit_table);
		sim->audit_maps = calloc(nr, sizeof(*sim->audit_maps));
		sim->audit_refs = calloc(nr, sizeof(*sim->audit_refs));
		sim->audit_table = calloc(nr, 1);
		if (!sim->audit_maps || !sim->audit_refs ||
		    !sim->audit_table)
			return -ENOMEM;
	}
	a->maps = sim->audit_maps;
	a->refs = sim->audit_refs;
	a->table = sim->audit_table;
	/* the swap slots' counts, the same way, below the slots ever used */
	if (sim->swap_info && !sim->audit_slots) {
		sim->audit_slots = calloc(sim->swap_info->max,
					  sizeof(*sim->audit_slots));
		if (!sim->audit_slots)
			return -ENOMEM;
	}
	a->slots = sim->audit_slots;
	return 0;
}

/* Every count audit_ref() and its callers made is below refs_end */
static void audit_end(struct audit *a)
{
	if (!a->maps)
		return;
	memset(a->maps, 0, a->refs_end * sizeof(*a->maps));
	memset(a->refs, 0, a->refs_end * sizeof(*a->refs));
	memset(a->table, 0, a->refs_end);
	if (a->slots)
		memset(a->slots, 0,
		       sim->swap_info->slots_hw * sizeof(*a->slots));
}

/*
 * Every slot against the swap entries that name it and the swap cache:
 * a slot in use is held by its ptes or by a page in the swap cache, never
 * by neither; the cache's pages are where they say and hold a reference.
 */
static void audit_swap(struct audit *a)
{
	struct swap_info_struct *si = sim->swap_info;
	unsigned long slot, used = 0, cached = 0;

	if (!si || !a->slots)
		return;
	/* never used, a slot is free: an entry naming one is reported above */
	for (slot = 1; slot < si->slots_hw; slot++) {
		u32 map = si->swap_map[slot];
		struct page *page = si->cache[slot];

		if (!map) {
			if (a->slots[slot])
				audit_report(a, MMSIM_V_USE_AFTER_FREE, 0, -1,
					     "%u swap entries name free swap slot %lu",
					     a->slots[slot], slot);
			if (page)
				audit_report(a, MMSIM_V_ACCOUNTING, 0,
					     page_to_pfn(page),
					     "free swap slot %lu has a page in the swap cache",
					     slot);
			continue;
		}
		used++;
		if ((map & SWAP_COUNT_MASK) != a->slots[slot])
			audit_report(a, MMSIM_V_BAD_REFCOUNT, 0, -1,
				     "swap slot %lu has count %u, %u swap entries name it",
				     slot, map & SWAP_COUNT_MASK,
				     a->slots[slot]);
		if (!(map & SWAP_HAS_CACHE) != !page) {
			audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
				     "swap slot %lu: cache flag %d, cache page %s",
				     slot, !!(map & SWAP_HAS_CACHE),
				     page ? "present" : "absent");
			continue;
		}
		if (!page) {
			if (!(map & SWAP_COUNT_MASK))
				audit_report(a, MMSIM_V_LEAK, 0, -1,
					     "swap slot %lu held by nothing", slot);
			continue;
		}
		cached++;
		if (!PageSwapCache(page) || page->private != slot ||
		    PageBuddy(page)) {
			audit_report(a, MMSIM_V_ACCOUNTING, 0,
				     page_to_pfn(page),
				     "swap cache page of slot %lu says slot %lu (flag %d)",
				     slot, page->private, PageSwapCache(page));
			continue;
		}
		if (!(map & SWAP_COUNT_MASK) && !page_mapped(page))
			audit_report(a, MMSIM_V_LEAK, 0, page_to_pfn(page),
				     "swap cache page of slot %lu: no pte maps it or names its slot",
				     slot);
		audit_ref(a, page_to_pfn(page));
	}
	if (used != global_vm_event(swap_slots_now) ||
	    cached != global_vm_event(swap_cache_now))
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "%lu swap slots in use and %lu cached; counters say %llu and %llu",
			     used, cached,
			     (unsigned long long)global_vm_event(swap_slots_now),
			     (unsigned long long)global_vm_event(swap_cache_now));
}

/**
 * audit_vm - accounting and coherence of the whole machine
 *
 * Refcounts, mapcounts and page-table flags of every frame against what
 * the page tables of every mm (and the shmem objects) say, and every
 * CPU's TLB against every mm's ptes.  Return: the number of findings.
 */
int audit_vm(void)
{
	unsigned long nr = max_pfn, pfn, nr_huge = 0;
	struct address_space **seen = NULL;
	struct mm_struct *mm;
	size_t nr_seen = 0;
	struct audit a = { 0 };
	int id;

	if (audit_begin(&a))
		goto out;

	for_each_mm(mm, id) {
		struct vm_area_struct *vma;

		audit_mm(&a, mm);
		for (vma = mm->mmap; vma; vma = vma->vm_next)
			if (vma->vm_file)
				audit_shmem(&a, vma->vm_file, &seen, &nr_seen);
		sim_mmu_check_coherent(mm, 0, TASK_SIZE, U64_MAX,
				       "mmsim_check");
	}
	audit_swap(&a);
	for (pfn = 0; pfn < max_used_pfn; pfn++) {
		struct page *page = pfn_to_page(pfn);
		u32 refs = a.refs[pfn];

		if (PageBuddy(page)) {
			if (a.refs[pfn])
				audit_report(&a, MMSIM_V_USE_AFTER_FREE, 0, pfn,
					     "free frame still has %u users",
					     a.refs[pfn]);
			continue;
		}
		/* a compound page's references are its head's */
		if (PageHead(page)) {
			unsigned long i;

			nr_huge++;
			for (i = 1; i < HPAGE_PMD_NR; i++)
				refs += a.refs[pfn + i];
		}
		if (PageTail(page)) {
			if (page_mapcount(page) != (int)a.maps[pfn])
				audit_report(&a, MMSIM_V_BAD_REFCOUNT, 0, pfn,
					     "mapcount %d, ptes and huge pmds map it %u times",
					     page_mapcount(page), a.maps[pfn]);
			continue;
		}
		if (!refs) {
			audit_report(&a, MMSIM_V_LEAK, 0, pfn,
				     "%s allocated but unreachable (count %d)",
				     PageHead(page) ? "huge page" : "frame",
				     page_count(page));
			continue;
		}
		if (page_count(page) != (int)refs)
			audit_report(&a, MMSIM_V_BAD_REFCOUNT, 0, pfn,
				     "refcount %d, expected %u",
				     page_count(page), refs);
		if (page_mapcount(page) != (int)a.maps[pfn])
			audit_report(&a, MMSIM_V_BAD_REFCOUNT, 0, pfn,
				     "mapcount %d, ptes map it %u times",
				     page_mapcount(page), a.maps[pfn]);
		if (PagePgtable(page) != a.table[pfn])
			audit_report(&a, MMSIM_V_ACCOUNTING, 0, pfn,
				     "page-table flag %d, used as a table %d",
				     PagePgtable(page), a.table[pfn]);
	}
	/*
	 * Frames never allocated are free: only a reference can be wrong,
	 * and there is none from refs_end on.
	 */
	for (pfn = max_used_pfn; pfn < min_t(unsigned long, a.refs_end, nr); pfn++)
		if (a.refs[pfn])
			audit_report(&a, MMSIM_V_USE_AFTER_FREE, 0, pfn,
				     "free frame still has %u users",
				     a.refs[pfn]);
	if (nr_huge != global_vm_event(thp_now))
		audit_report(&a, MMSIM_V_ACCOUNTING, 0, -1,
			     "%lu compound pages allocated, thp_now says %llu",
			     nr_huge,
			     (unsigned long long)global_vm_event(thp_now));
out:
	free(seen);
	audit_end(&a);
	return a.found;
}

/**
 * audit_vm_leaks - what is left once every mm is gone
 *
 * Every CPU must have let go of the mms it borrowed: only the free frames
 * and no kernel object may remain.  Return: the number of leaks found.
 */
int audit_vm_leaks(void)
{
	unsigned long pfn;
	int found = 0;
	u64 objects;

	/* frames never allocated are free */
	for (pfn = 0; pfn < max_used_pfn; pfn++) {
		struct page *page = pfn_to_page(pfn);

		if (PageBuddy(page) || PageTail(page))
			continue;
		sim_report(MMSIM_V_LEAK, -1, 0, pfn, "mmsim_check_leaks",
			   "%s frame %lu still allocated after every mm exited",
			   PagePgtable(page) ? "page-table" :
			   PageCompound(page) ? "huge-page" : "user", pfn);
		found++;
	}
	if (global_vm_event(swap_slots_now)) {
		sim_report(MMSIM_V_LEAK, -1, 0, -1, "mmsim_check_leaks",
			   "%llu swap slots still in use after every mm exited",
			   (unsigned long long)global_vm_event(swap_slots_now));
		found++;
	}
	objects = global_vm_event(slab_objects_now);
	if (objects) {
		sim_report(MMSIM_V_LEAK, -1, 0, -1, "mmsim_check_leaks",
			   "%llu kernel objects still allocated",
			   (unsigned long long)objects);
		found++;
	}
	return found;
}

/**
 * debug_check_mmap_sem_release - coherence at the release of mmap_sem
 * @sem: the semaphore up_read() or up_write() is about to release
 *
 * Called with @sem still held.  When @sem is the mmap_sem of the mm the
 * call running on this CPU armed a check for at its entry (the concurrent
 * regime, see arm_check() in arch/x86/sim/syscall.c), checks that no CPU
 * holds a translation of the armed range the ptes no longer grant: after
 * the call's flushes, before another call can change the page tables.
 */
void debug_check_mmap_sem_release(struct rw_semaphore *sem)
{
	int cpu = smp_processor_id();
	struct mm_struct *mm = per_cpu(release_check, cpu).mm;
	bool *done = per_cpu(release_check, cpu).only_if;

	if (!mm || &mm->mmap_sem != sem || (done && !*done))
		return;
	sim_mmu_check_coherent(mm, per_cpu(release_check, cpu).start,
			       per_cpu(release_check, cpu).end,
			       per_cpu(release_check, cpu).since,
			       per_cpu(release_check, cpu).func);
}
