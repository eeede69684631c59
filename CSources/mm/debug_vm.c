// SPDX-License-Identifier: GPL-2.0
/*
 * Whole-machine audits: accounting (refcounts, mapcounts and per-mm
 * counters against what the page tables say) and leaks (what is still
 * allocated once every mm is gone).  They read kernel state only, and run
 * at quiescent points, between calls.
 */
#include <stdlib.h>
#include <linux/mm.h>
#include <linux/shmem_fs.h>

struct audit {
	u32 *maps;		/* ptes mapping each frame */
	u32 *refs;		/* references expected on each frame */
	u8 *table;		/* frame is a page table of some mm */
	u32 refs_end;		/* refs[] is 0 from here on */
	int found;
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

static void audit_pte(struct audit *a, struct mm_struct *mm,
		      unsigned long addr, pte_t pte, unsigned long *rss)
{
	struct vm_area_struct *vma = vma_of(mm, addr);
	unsigned long pfn = pte_pfn(pte);
	struct page *page;

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
	a->maps[pfn]++;
	audit_ref(a, pfn);
	rss[!!PageAnon(page)]++;
}

static void audit_mm(struct audit *a, struct mm_struct *mm)
{
	unsigned long rss[2] = { 0, 0 }, nr_ptes = 0, total_vm = 0;
	struct vm_area_struct *vma;
	unsigned int i, j, k, l;
	int map_count = 0;

	a->table[page_to_pfn(virt_to_page(mm->pgd))] = 1;
	audit_ref(a, page_to_pfn(virt_to_page(mm->pgd)));
	for (i = next_entry(mm->pgd, 0, PTRS_PER_PGD); i < PTRS_PER_PGD;
	     i = next_entry(mm->pgd, i + 1, PTRS_PER_PGD)) {
		pgd_t *pgd = mm->pgd + i;
		pud_t *pud;

		if (pgd_none(*pgd))
			continue;
		a->table[pgd_pfn(*pgd)] = 1;
		audit_ref(a, pgd_pfn(*pgd));
		pud = (pud_t *)__va(pgd_val(*pgd) & PTE_PFN_MASK);
		for (j = next_entry(pud, 0, PTRS_PER_PUD); j < PTRS_PER_PUD;
		     j = next_entry(pud, j + 1, PTRS_PER_PUD)) {
			pmd_t *pmd;

			if (pud_none(pud[j]))
				continue;
			a->table[pud_pfn(pud[j])] = 1;
			audit_ref(a, pud_pfn(pud[j]));
			pmd = (pmd_t *)__va(pud_val(pud[j]) & PTE_PFN_MASK);
			for (k = next_entry(pmd, 0, PTRS_PER_PMD);
			     k < PTRS_PER_PMD;
			     k = next_entry(pmd, k + 1, PTRS_PER_PMD)) {
				pte_t *pte;

				if (pmd_none(pmd[k]))
					continue;
				nr_ptes++;
				a->table[pmd_pfn(pmd[k])] = 1;
				audit_ref(a, pmd_pfn(pmd[k]));
				pte = (pte_t *)__va(pmd_val(pmd[k]) &
						    PTE_PFN_MASK);
				for (l = next_entry(pte, 0, PTRS_PER_PTE);
				     l < PTRS_PER_PTE;
				     l = next_entry(pte, l + 1,
						    PTRS_PER_PTE)) {
					unsigned long addr;

					if (pte_none(pte[l]))
						continue;
					addr = ((unsigned long)i << PGDIR_SHIFT) |
					       ((unsigned long)j << PUD_SHIFT) |
					       ((unsigned long)k << PMD_SHIFT) |
					       ((unsigned long)l << PAGE_SHIFT);
					audit_pte(a, mm, addr, pte[l], rss);
				}
			}
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
	if (rss[1] != mm->anon_rss)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "anon_rss is %lu, ptes map %lu", mm->anon_rss,
			     rss[1]);
	if (rss[0] != mm->file_rss)
		audit_report(a, MMSIM_V_ACCOUNTING, 0, -1,
			     "file_rss is %lu, ptes map %lu", mm->file_rss,
			     rss[0]);
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

static int audit_machine(void)
{
	u32 nr = sim->config.nr_frames, pfn;
	struct address_space **seen = NULL;
	size_t nr_seen = 0;
	struct audit a = { 0 };
	int id;

	a.maps = calloc(nr, sizeof(*a.maps));
	a.refs = calloc(nr, sizeof(*a.refs));
	a.table = calloc(nr, 1);
	if (!a.maps || !a.refs || !a.table)
		goto out;

	for (id = 0; id < sim->nr_mm_ids; id++) {
		struct mm_struct *mm = sim->mms[id];
		struct vm_area_struct *vma;

		if (!mm)
			continue;
		audit_mm(&a, mm);
		for (vma = mm->mmap; vma; vma = vma->vm_next)
			if (vma->vm_file)
				audit_shmem(&a, vma->vm_file, &seen, &nr_seen);
		sim_mmu_check_coherent(mm, 0, TASK_SIZE, U64_MAX,
				       "mmsim_check");
	}
	for (pfn = 0; pfn < sim->frames_hw; pfn++) {
		struct page *page = pfn_to_page(pfn);

		if (PageBuddy(page)) {
			if (a.refs[pfn])
				audit_report(&a, MMSIM_V_USE_AFTER_FREE, 0, pfn,
					     "free frame still has %u users",
					     a.refs[pfn]);
			continue;
		}
		if (!a.refs[pfn]) {
			audit_report(&a, MMSIM_V_LEAK, 0, pfn,
				     "frame allocated but unreachable (count %d)",
				     page_count(page));
			continue;
		}
		if (page_count(page) != (int)a.refs[pfn])
			audit_report(&a, MMSIM_V_BAD_REFCOUNT, 0, pfn,
				     "refcount %d, expected %u",
				     page_count(page), a.refs[pfn]);
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
	for (pfn = sim->frames_hw; pfn < min(a.refs_end, nr); pfn++)
		if (a.refs[pfn])
			audit_report(&a, MMSIM_V_USE_AFTER_FREE, 0, pfn,
				     "free frame still has %u users",
				     a.refs[pfn]);
out:
	free(seen);
	free(a.table);
	free(a.refs);
	free(a.maps);
	return a.found;
}

int mmsim_check(struct mmsim *m)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	u32 before = sim->nr_violations;

	audit_machine();
	before = sim->nr_violations - before;
	sim_leave(saved);
	return before;
}

int mmsim_check_leaks(struct mmsim *m)
{
	struct sim_context saved = sim_enter((struct sim_machine *)m, 0);
	u32 before = sim->nr_violations, pfn;
	unsigned int cpu;
	int id, ret;

	for (id = 0; id < sim->nr_mm_ids; id++) {
		if (sim->mms[id] && sim->mms[id]->mm_users > 0) {
			sim_leave(saved);
			return -EBUSY;
		}
	}
	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		sim_cpu = cpu;
		sim_cpu_idle();
	}
	sim_cpu = 0;
	/* frames never allocated are free */
	for (pfn = 0; pfn < sim->frames_hw; pfn++) {
		struct page *page = pfn_to_page(pfn);

		if (PageBuddy(page))
			continue;
		sim_report(MMSIM_V_LEAK, -1, 0, pfn, __func__,
			   "%s frame %u still allocated after every mm exited",
			   PagePgtable(page) ? "page-table" : "user", pfn);
	}
	if (sim->stats.slab_objects_now)
		sim_report(MMSIM_V_LEAK, -1, 0, -1, __func__,
			   "%llu kernel objects still allocated",
			   (unsigned long long)sim->stats.slab_objects_now);
	ret = sim->nr_violations - before;
	sim_leave(saved);
	return ret;
}
