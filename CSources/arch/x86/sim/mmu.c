// SPDX-License-Identifier: GPL-2.0
/*
 * The simulated MMU: per-CPU TLB and paging-structure cache, the hardware
 * page walker, the invalidation instructions, and the two hardware-side
 * checkers (frame safety, coherence).
 *
 * Like real hardware, neither cache looks at the page tables again once an
 * entry is filled: a TLB entry for a page that has since been unmapped goes
 * on translating until it is invalidated or evicted.  Every entry remembers
 * the generation of the frame it refers to, so that using an entry whose
 * frame was freed since is caught at the moment of use.
 *
 * A pmd entry with the page-size bit is a leaf: the walker stops there
 * and fills a separate, small TLB of 2 MiB entries; the paging-structure
 * cache never caches it as a table.  invlpg of any address inside a
 * 2 MiB entry drops it.  A CPU must never hold a 4 KiB and a 2 MiB
 * translation of one address that disagree (the SDM leaves which one it
 * uses undefined; AMD's erratum 383 makes it a machine check): the fills
 * check it.
 *
 * When the CPUs are host threads, each MMU has a host lock (see
 * sim_mmu_lock()): its owner holds it across a whole translation, fill
 * and the access that follows, and an IPI handler or a checker running
 * on another thread takes it too.  So an IPI waits for a walk to end, as
 * it waits for the instruction to retire on real hardware.
 */
#include <stdlib.h>
#include <linux/mm.h>

static const unsigned int level_shift[PSC_LEVELS] = {
	[PSC_PML4E] = PGDIR_SHIFT,
	[PSC_PDPTE] = PUD_SHIFT,
	[PSC_PDE] = PMD_SHIFT,
};

int sim_mmu_init(struct sim_mmu *mmu, unsigned int tlb_entries,
		 unsigned int psc_entries)
{
	mmu->tlb_sets = tlb_entries / TLB_WAYS;
	mmu->tlb = calloc(tlb_entries, sizeof(*mmu->tlb));
	mmu->tlb_victim = calloc(mmu->tlb_sets, 1);
	mmu->psc_size = psc_entries;
	mmu->psc = calloc(psc_entries, sizeof(*mmu->psc));
	mmu->cr3 = -1;
	if (!mmu->tlb || !mmu->tlb_victim || !mmu->psc)
		return -ENOMEM;
	return 0;
}

void sim_mmu_exit(struct sim_mmu *mmu)
{
	free(mmu->tlb);
	free(mmu->tlb_victim);
	free(mmu->psc);
}

static struct sim_mmu *this_mmu(void)
{
	return &__get_cpu_var(mmu);
}

static void remember_flushed(struct sim_mmu *mmu, u64 vpn)
{
	mmu->flushed_vpn[vpn % ARRAY_SIZE(mmu->flushed_vpn)] = vpn + 1;
}

/*
 * An entry of any of @mmu's caches, just made invalid, no longer refers
 * to frame @pfn; @flush: an invalidation, not an eviction or a refill.
 */
static void entry_gone(struct sim_mmu *mmu, u32 pfn, u8 *stale, bool flush)
{
	pfn_to_page(pfn)->sim_hwrefs--;
	if (*stale) {
		*stale = 0;
		mmu->nr_stale--;
	}
	if (flush)
		sim_stat_inc(entries_invalidated);
}

static void tlb_drop(struct sim_mmu *mmu, struct tlb_entry *e, bool flush)
{
	unsigned int i = e - mmu->tlb;

	if (!e->valid)
		return;
	e->valid = 0;
	mmu->tlb_valid[i / 64] &= ~(1ULL << (i % 64));
	entry_gone(mmu, e->pfn, &e->stale, flush);
	if (flush)
		remember_flushed(mmu, e->vpn);
}

static void tlb2m_drop(struct sim_mmu *mmu, struct tlb_entry *e, bool flush)
{
	if (!e->valid)
		return;
	e->valid = 0;
	entry_gone(mmu, e->pfn, &e->stale, flush);
}

/* The valid entry for @key in the TLB set @set, or NULL */
static struct tlb_entry *set_lookup(struct tlb_entry *set, u64 key)
{
	unsigned int way;

	for (way = 0; way < TLB_WAYS; way++)
		if (set[way].valid && set[way].vpn == key)
			return &set[way];
	return NULL;
}

/*
 * The entry of the TLB set @set to fill for @key: its own, a free one,
 * or the round-robin victim (*@victim) evicted
 */
static struct tlb_entry *set_claim(struct tlb_entry *set, u8 *victim,
				   u64 key)
{
	struct tlb_entry *e;
	unsigned int way;

	for (way = 0; way < TLB_WAYS; way++)
		if (!set[way].valid || set[way].vpn == key)
			return &set[way];
	e = &set[*victim];
	*victim = (*victim + 1) % TLB_WAYS;
	sim_stat_inc(tlb_evictions);
	return e;
}

/* Fill @e, free now, with the translation of @key by leaf entry @leaf */
static void set_fill(struct tlb_entry *e, u64 key, u64 leaf)
{
	u32 pfn = (leaf & PTE_PFN_MASK) >> PAGE_SHIFT;

	e->vpn = key;
	e->pfn = pfn;
	e->gen = pfn_to_page(pfn)->sim_gen;
	e->writable = !!(leaf & _PAGE_RW);
	e->dirty = !!(leaf & _PAGE_DIRTY);
	e->filled = sim_clock();
	e->stale = 0;
	e->valid = 1;
	pfn_to_page(pfn)->sim_hwrefs++;
}

static struct tlb_entry *tlb2m_lookup(struct sim_mmu *mmu, unsigned long addr)
{
	u64 hpn = addr >> PMD_SHIFT;

	return set_lookup(&mmu->tlb2m[(hpn % TLB2M_SETS) * TLB_WAYS], hpn);
}

static void psc_drop(struct sim_mmu *mmu, struct psc_entry *e, bool flush)
{
	if (!e->valid)
		return;
	e->valid = 0;
	entry_gone(mmu, e->pfn, &e->stale, flush);
}

static void psc_flush_all(struct sim_mmu *mmu)
{
	unsigned int i;

	for (i = 0; i < mmu->psc_size; i++)
		psc_drop(mmu, &mmu->psc[i], true);
}

/* A cr3 load without PCIDs: everything cached goes. */
void __flush_tlb(void)
{
	struct sim_mmu *mmu = this_mmu();
	unsigned int i;

	sim_mmu_lock(smp_processor_id());
	sim_stat_inc(flush_all);
	for (i = 0; i < mmu->tlb_sets * TLB_WAYS; i++)
		tlb_drop(mmu, &mmu->tlb[i], true);
	for (i = 0; i < TLB2M_ENTRIES; i++)
		tlb2m_drop(mmu, &mmu->tlb2m[i], true);
	psc_flush_all(mmu);
	sim_mmu_unlock(smp_processor_id());
}

/*
 * invlpg: drops the TLB entry for @addr, the 2 MiB entry that covers it,
 * and, as the SDM specifies, every paging-structure cache entry whatever
 * its address.
 */
void __flush_tlb_one(unsigned long addr)
{
	struct sim_mmu *mmu = this_mmu();
	u64 vpn = addr >> PAGE_SHIFT;
	struct tlb_entry *set, *big;
	unsigned int way;

	sim_mmu_lock(smp_processor_id());
	sim_stat_inc(flush_one);
	set = &mmu->tlb[(vpn % mmu->tlb_sets) * TLB_WAYS];
	for (way = 0; way < TLB_WAYS; way++)
		if (set[way].valid && set[way].vpn == vpn)
			tlb_drop(mmu, &set[way], true);
	big = tlb2m_lookup(mmu, addr);
	if (big)
		tlb2m_drop(mmu, big, true);
	psc_flush_all(mmu);
	sim_mmu_unlock(smp_processor_id());
}

void native_write_cr3(long pgd_pfn)
{
	struct sim_mmu *mmu = this_mmu();

	sim_mmu_lock(smp_processor_id());
	mmu->cr3 = pgd_pfn;
	__flush_tlb();
	sim_mmu_unlock(smp_processor_id());
}

static struct tlb_entry *tlb_lookup(struct sim_mmu *mmu, u64 vpn)
{
	return set_lookup(&mmu->tlb[(vpn % mmu->tlb_sets) * TLB_WAYS], vpn);
}

/*
 * Two page sizes: does the 4 KiB translation of @vpn to @pfn disagree
 * with the 2 MiB entry @big (frame or write permission)?
 */
static bool sizes_disagree(const struct tlb_entry *big, u64 vpn, u32 pfn,
			   bool writable)
{
	return big->pfn + (vpn & (HPAGE_PMD_NR - 1)) != pfn ||
	       big->writable != writable;
}

static void report_sizes(int cpu, const struct tlb_entry *big,
			 const struct tlb_entry *small, const char *func)
{
	sim_report(MMSIM_V_INCOHERENT, cpu, small->vpn << PAGE_SHIFT,
		   small->pfn, func,
		   "cpu %d translates %#llx at two page sizes that disagree: 4 KiB to frame %u%s, 2 MiB to frame %llu%s",
		   cpu, (unsigned long long)small->vpn << PAGE_SHIFT,
		   small->pfn, small->writable ? " rw" : "",
		   (unsigned long long)big->pfn +
		   (small->vpn & (HPAGE_PMD_NR - 1)),
		   big->writable ? " rw" : "");
}

/* The valid 4 KiB entries of @mmu inside the 2 MiB entry @big that disagree */
static int check_sizes(int cpu, struct sim_mmu *mmu,
		       const struct tlb_entry *big, const char *func)
{
	unsigned int i, w, words = (mmu->tlb_sets * TLB_WAYS + 63) / 64;
	int found = 0;
	u64 valid;

	for (w = 0; w < words; w++) {
		for (valid = mmu->tlb_valid[w]; valid; valid &= valid - 1) {
			const struct tlb_entry *e;

			i = w * 64 + __builtin_ctzll(valid);
			e = &mmu->tlb[i];
			if (e->vpn >> HPAGE_PMD_ORDER != big->vpn ||
			    !sizes_disagree(big, e->vpn, e->pfn, e->writable))
				continue;
			report_sizes(cpu, big, e, func);
			found++;
		}
	}
	return found;
}

static void tlb_fill(struct sim_mmu *mmu, u64 vpn, u64 pte)
{
	unsigned int idx = vpn % mmu->tlb_sets;
	struct tlb_entry *e, *big;

	e = set_claim(&mmu->tlb[idx * TLB_WAYS], &mmu->tlb_victim[idx], vpn);
	tlb_drop(mmu, e, false);
	set_fill(e, vpn, pte);
	mmu->tlb_valid[(e - mmu->tlb) / 64] |= 1ULL << ((e - mmu->tlb) % 64);
	big = tlb2m_lookup(mmu, vpn << PAGE_SHIFT);
	if (big && sizes_disagree(big, vpn, e->pfn, e->writable))
		report_sizes(smp_processor_id(), big, e, "sim_mmu_translate");
}

/* Fill the 2 MiB TLB from the huge pmd @pmd that maps @addr */
static void tlb2m_fill(struct sim_mmu *mmu, unsigned long addr, u64 pmd)
{
	u64 hpn = addr >> PMD_SHIFT;
	unsigned int idx = hpn % TLB2M_SETS;
	struct tlb_entry *e;

	e = set_claim(&mmu->tlb2m[idx * TLB_WAYS], &mmu->tlb2m_victim[idx],
		      hpn);
	tlb2m_drop(mmu, e, false);
	set_fill(e, hpn, pmd);
	sim_stat_inc(tlb2m_fills);
	check_sizes(smp_processor_id(), mmu, e, "sim_mmu_translate");
}

static struct psc_entry *psc_lookup(struct sim_mmu *mmu, int level,
				    unsigned long addr)
{
	u64 tag = addr >> level_shift[level];
	unsigned int i;

	for (i = 0; i < mmu->psc_size; i++) {
		struct psc_entry *e = &mmu->psc[i];

		if (e->valid && e->level == level && e->tag == tag)
			return e;
	}
	return NULL;
}

static void psc_fill(struct sim_mmu *mmu, int level, unsigned long addr,
		     u32 pfn)
{
	struct psc_entry *e = psc_lookup(mmu, level, addr);
	unsigned int i;

	for (i = 0; i < mmu->psc_size && !e; i++)
		if (!mmu->psc[i].valid)
			e = &mmu->psc[i];
	if (!e) {
		e = &mmu->psc[mmu->psc_victim];
		mmu->psc_victim = (mmu->psc_victim + 1) % mmu->psc_size;
	}
	psc_drop(mmu, e, false);
	e->tag = addr >> level_shift[level];
	e->level = level;
	e->pfn = pfn;
	e->gen = pfn_to_page(pfn)->sim_gen;
	e->filled = sim_clock();
	e->stale = 0;
	e->valid = 1;
	pfn_to_page(pfn)->sim_hwrefs++;
}

static void check_frame_live(u32 pfn, u32 gen, unsigned long addr,
			     const char *what)
{
	struct page *page = pfn_to_page(pfn);

	if (page->sim_gen != gen || PageBuddy(page))
		sim_report(MMSIM_V_USE_AFTER_FREE, smp_processor_id(), addr,
			   pfn, "sim_mmu_translate",
			   "%s reached frame %u, freed since it was cached",
			   what, pfn);
}

static unsigned int table_index(int level, unsigned long addr)
{
	if (level == PSC_LEVELS)
		return pte_index(addr);
	return (addr >> level_shift[level]) & (PTRS_PER_PGD - 1);
}

/*
 * The hardware walker: from the deepest paging-structure cache hit, or
 * from cr3, down to the pte; sets the accessed (and, for a write, dirty)
 * bit and fills the TLB.  Returns 0 or a page-fault error code.
 *
 * Other CPUs may run between the reads of the levels and change the
 * tables, as they may on real hardware; but an IPI waits for the walk to
 * end (interrupts are taken between instructions), so no table the walk
 * holds can be flushed and freed under it.
 */
/*
 * The walk ends at a huge pmd, *@pmdp = @entry: check the rights, set the
 * accessed and dirty bits in the pmd, and fill the 2 MiB TLB.
 */
static int walk_huge_pmd(struct sim_mmu *mmu, unsigned long addr, bool write,
			 u64 *pmdp, u64 entry, u32 *pfn)
{
	int code = PF_USER | (write ? PF_WRITE : 0);
	unsigned long head = (entry & PTE_PFN_MASK) >> PAGE_SHIFT;

	if (!(entry & _PAGE_USER))
		return code;
	if (write && !(entry & _PAGE_RW))
		return code | PF_PROT;
	if (!pfn_valid(head) || (head & (HPAGE_PMD_NR - 1)))
		return code | PF_PROT;
	entry |= _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
	if (!sim_threaded())
		__atomic_fetch_or(pmdp, _PAGE_ACCESSED |
				  (write ? _PAGE_DIRTY : 0), __ATOMIC_RELAXED);
	tlb2m_fill(mmu, addr, entry);
	*pfn = head + ((addr >> PAGE_SHIFT) & (HPAGE_PMD_NR - 1));
	return 0;
}

static int __hw_walk(struct sim_mmu *mmu, unsigned long addr, bool write,
		     u32 *pfn)
{
	int code = PF_USER | (write ? PF_WRITE : 0);
	int level = PSC_PML4E;
	u64 table = mmu->cr3;
	u64 entry, *ptes, *slot;
	int l;

	sim_stat_inc(walks);
	if (mmu->cr3 < 0)
		return code;
	for (l = PSC_PDE; l >= PSC_PML4E; l--) {
		struct psc_entry *e = psc_lookup(mmu, l, addr);

		if (e) {
			sim_stat_inc(psc_hits);
			check_frame_live(e->pfn, e->gen, addr,
					 "paging-structure cache");
			table = e->pfn;
			level = l + 1;
			break;
		}
	}
	for (; level < PSC_LEVELS; level++) {
		sim_interleave();
		if (PageBuddy(pfn_to_page(table)))
			check_frame_live(table, ~0U, addr, "page walk");
		slot = &((u64 *)__va(table << PAGE_SHIFT))
			[table_index(level, addr)];
		/* acquire: pairs with the release of *_populate() */
		entry = smp_load_acquire(slot);
		if (!(entry & _PAGE_PRESENT))
			return code;
		if (level == PSC_PDE && (entry & _PAGE_PSE))
			return walk_huge_pmd(mmu, addr, write, slot, entry, pfn);
		table = (entry & PTE_PFN_MASK) >> PAGE_SHIFT;
		if (!pfn_valid(table))
			return code;
		psc_fill(mmu, level, addr, table);
	}
	sim_interleave();
	if (PageBuddy(pfn_to_page(table)))
		check_frame_live(table, ~0U, addr, "page walk");
	ptes = __va(table << PAGE_SHIFT);
	entry = READ_ONCE(ptes[pte_index(addr)]);
	if (!(entry & _PAGE_PRESENT) || !(entry & _PAGE_USER))
		return code;
	if (write && !(entry & _PAGE_RW))
		return code | PF_PROT;
	if (!pfn_valid((entry & PTE_PFN_MASK) >> PAGE_SHIFT))
		return code | PF_PROT;
	/*
	 * The locked update of the accessed and dirty bits.  Not when the
	 * CPUs are host threads: the 2.6.16 kernel reads ptes under their
	 * lock with plain loads (Linux only made them ptep_get() in 6.5),
	 * which a write from outside the lock makes a data race in C.
	 */
	entry |= _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
	if (!sim_threaded())
		__atomic_fetch_or(&ptes[pte_index(addr)],
				  _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0),
				  __ATOMIC_RELAXED);
	tlb_fill(mmu, addr >> PAGE_SHIFT, entry);
	*pfn = (entry & PTE_PFN_MASK) >> PAGE_SHIFT;
	return 0;
}

/*
 * A page fault invalidates the paging-structure-cache entries that the
 * walk for its address would use (SDM 4.10.4.1), so that the retry after
 * the handler walks the tables as they are: a walk cached through a pte
 * table the kernel has since replaced (an unshare whose flush is still
 * on its way) does not fault for ever.
 */
static void psc_drop_walk(struct sim_mmu *mmu, unsigned long addr)
{
	int l;

	for (l = PSC_PML4E; l < PSC_LEVELS; l++) {
		struct psc_entry *e = psc_lookup(mmu, l, addr);

		if (e)
			psc_drop(mmu, e, false);
	}
}

static int hw_walk(struct sim_mmu *mmu, unsigned long addr, bool write,
		   u32 *pfn)
{
	int code;

	/* host threads: the MMU lock keeps IPIs out instead */
	if (sim_threaded()) {
		code = __hw_walk(mmu, addr, write, pfn);
	} else {
		__get_cpu_var(in_walk) = true;
		code = __hw_walk(mmu, addr, write, pfn);
		__get_cpu_var(in_walk) = false;
	}
	if (code)
		psc_drop_walk(mmu, addr);
	return code;
}

static int __sim_mmu_translate(unsigned long addr, bool write, u32 *pfn)
{
	struct sim_mmu *mmu = this_mmu();
	u64 vpn = addr >> PAGE_SHIFT;
	struct tlb_entry *e = tlb_lookup(mmu, vpn);
	struct tlb_entry *big = e ? NULL : tlb2m_lookup(mmu, addr);
	int code;

	if (e) {
		check_frame_live(e->pfn, e->gen, addr, "TLB hit");
		if (write && !e->writable) {
			/* a faulting entry is dropped, as x86 does */
			tlb_drop(mmu, e, false);
			return PF_PROT | PF_WRITE | PF_USER;
		}
		if (!write || e->dirty) {
			sim_stat_inc(tlb_hits);
			*pfn = e->pfn;
			return 0;
		}
		/* first write through a clean entry: walk to set dirty */
		tlb_drop(mmu, e, false);
	} else if (big) {
		check_frame_live(big->pfn, big->gen, addr, "2 MiB TLB hit");
		if (write && !big->writable) {
			tlb2m_drop(mmu, big, false);
			return PF_PROT | PF_WRITE | PF_USER;
		}
		if (!write || big->dirty) {
			sim_stat_inc(tlb2m_hits);
			*pfn = big->pfn + (vpn & (HPAGE_PMD_NR - 1));
			return 0;
		}
		tlb2m_drop(mmu, big, false);
	} else {
		u64 *slot = &mmu->flushed_vpn[vpn %
					      ARRAY_SIZE(mmu->flushed_vpn)];

		sim_stat_inc(tlb_misses);
		if (*slot == vpn + 1) {
			sim_stat_inc(misses_after_flush);
			*slot = 0;
		}
	}
	code = hw_walk(mmu, addr, write, pfn);
	if (code)
		sim_stat_inc(hw_faults);
	return code;
}

int sim_mmu_translate(unsigned long addr, bool write, u32 *pfn)
{
	int code;

	sim_mmu_lock(smp_processor_id());
	code = __sim_mmu_translate(addr, write, pfn);
	sim_mmu_unlock(smp_processor_id());
	return code;
}

/*
 * Frame safety at free time, for the @n entries of @tlb, one of @cpu's
 * TLBs, whose pages are 1 << @shift bytes
 */
static void tlb_frame_freed(struct sim_mmu *mmu, struct tlb_entry *tlb,
			    unsigned int n, unsigned int shift,
			    struct page *page, u32 pfn, unsigned int cpu,
			    int me, const char *func)
{
	bool huge = shift != PAGE_SHIFT;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct tlb_entry *e = &tlb[i];

		if (!e->valid || e->pfn != pfn ||
		    e->gen != page->sim_gen || e->stale)
			continue;
		if (cpu == me) {
			e->stale = 1;
			mmu->nr_stale++;
			continue;
		}
		sim_report(MMSIM_V_FREE_WHILE_CACHED, cpu, e->vpn << shift,
			   pfn, func,
			   "%s %u freed while cpu %u%s maps %#llx to it%s",
			   huge ? "huge page at frame" : "frame", pfn, cpu,
			   per_cpu(task, cpu).mm ? "" : " (lazy)",
			   (unsigned long long)e->vpn << shift,
			   huge ? " (2 MiB)" : "");
	}
}

/* Frame safety at free time, on @cpu's MMU */
static void frame_freed_on(struct page *page, u32 pfn, unsigned int cpu,
		   int me, const char *func)
{
	struct sim_mmu *mmu = &per_cpu(mmu, cpu);
	unsigned int i;

	tlb_frame_freed(mmu, mmu->tlb, mmu->tlb_sets * TLB_WAYS, PAGE_SHIFT,
			page, pfn, cpu, me, func);
	tlb_frame_freed(mmu, mmu->tlb2m, TLB2M_ENTRIES, PMD_SHIFT, page, pfn,
			cpu, me, func);
	for (i = 0; i < mmu->psc_size; i++) {
		struct psc_entry *e = &mmu->psc[i];

		if (!e->valid || e->pfn != pfn ||
		    e->gen != page->sim_gen || e->stale)
			continue;
		if (cpu == me) {
			e->stale = 1;
			mmu->nr_stale++;
			continue;
		}
		sim_report(MMSIM_V_FREE_WHILE_CACHED, cpu,
			   e->tag << level_shift[e->level], pfn, func,
			   "page table %u freed while cpu %u%s caches a walk through it",
			   pfn, cpu,
			   per_cpu(task, cpu).mm ? "" : " (lazy)");
	}
}

/**
 * sim_mmu_frame_freed - frame safety at free time
 * @pfn: the frame going back to the allocator
 * @func: who frees it
 *
 * Any other CPU that still caches a translation to @pfn, or a walk through
 * it, could use the frame after it has been reused: a violation, lazy CPUs
 * included.  The freeing CPU's own entries are tolerated but marked stale:
 * they must be flushed before this CPU runs user code again.
 */
void sim_mmu_frame_freed(u32 pfn, const char *func)
{
	struct page *page = pfn_to_page(pfn);
	int me = smp_processor_id();
	unsigned int cpu;

	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		sim_mmu_lock(cpu);
		if (per_cpu(mmu, cpu).cr3 == pfn)
			sim_report(MMSIM_V_FREE_WHILE_CACHED, cpu, 0, pfn, func,
				   "pgd %u freed while loaded in cpu %u's cr3",
				   pfn, cpu);
		sim_mmu_unlock(cpu);
	}
	if (!page->sim_hwrefs)
		return;
	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		sim_mmu_lock(cpu);
		frame_freed_on(page, pfn, cpu, me, func);
		sim_mmu_unlock(cpu);
	}
}

void sim_mmu_check_no_stale(const char *func)
{
	struct sim_mmu *mmu = this_mmu();
	int nr_stale;

	sim_mmu_lock(smp_processor_id());
	nr_stale = mmu->nr_stale;
	sim_mmu_unlock(smp_processor_id());
	if (nr_stale)
		sim_report(MMSIM_V_UNFLUSHED_RETURN, smp_processor_id(), 0, -1,
			   func,
			   "cpu %d goes on with %d entries to freed frames unflushed",
			   smp_processor_id(), nr_stale);
}

/* Read @mm's tables as the walker would, without touching any bit. */
static u64 soft_walk(long cr3, unsigned long addr, int to_level)
{
	u64 table = cr3, entry = 0;
	int level;

	for (level = PSC_PML4E; level <= to_level; level++) {
		entry = READ_ONCE(((u64 *)__va(table << PAGE_SHIFT))
				  [table_index(level, addr)]);
		if (!(entry & _PAGE_PRESENT))
			return 0;
		table = (entry & PTE_PFN_MASK) >> PAGE_SHIFT;
	}
	return entry;
}

/*
 * soft_walk() to the pte of @addr, reusing the walk to its pmd entry from
 * the last call with the same @c when @addr is in the same 2 MiB region:
 * the tables do not change while a checker runs.
 */
struct walk_cache {
	unsigned long region;	/* addr >> PMD_SHIFT, or ~0UL */
	u64 pmd;
};

static u64 soft_walk_cached(long cr3, unsigned long addr,
			    struct walk_cache *c)
{
	u64 table;

	if (addr >> PMD_SHIFT != c->region) {
		c->region = addr >> PMD_SHIFT;
		c->pmd = soft_walk(cr3, addr, PSC_PDE);
	}
	if (!(c->pmd & _PAGE_PRESENT))
		return 0;
	if (c->pmd & _PAGE_PSE)
		return pte_val(pmd_subpage_pte(__pmd(c->pmd),
					       pte_index(addr)));
	table = (c->pmd & PTE_PFN_MASK) >> PAGE_SHIFT;
	return READ_ONCE(((u64 *)__va(table << PAGE_SHIFT))
			 [table_index(PSC_LEVELS, addr)]);
}

/* Is @e, a valid TLB entry of @cpu, coherent?  Reports it if not. */
static int check_tlb_entry(unsigned int cpu, struct mm_struct *mm, long cr3,
			   const struct tlb_entry *e, struct walk_cache *c,
			   unsigned long start, unsigned long end, u64 since,
			   const char *func)
{
	unsigned long addr = e->vpn << PAGE_SHIFT;
	bool old;
	u64 pte;

	if (addr < start || addr >= end)
		return 0;
	pte = soft_walk_cached(cr3, addr, c);
	/*
	 * x86 fills a TLB entry only from a pte it has made young: one whose
	 * pte is old now had its accessed bit cleared without a flush, and
	 * the CPU uses the page without the bit ever being set again.  (Host
	 * threads do not set the bit: not checked there.)
	 */
	old = !(pte & _PAGE_ACCESSED) && !sim_threaded();
	if ((pte & _PAGE_PRESENT) &&
	    pte_pfn(__pte(pte)) == e->pfn &&
	    (!e->writable || (pte & _PAGE_RW))) {
		if (!old)
			return 0;
		/*
		 * Only the accessed bit: the translation is still right, and
		 * the flush is owed by whoever cleared the bit, whenever this
		 * call began.
		 */
		if (sim_flush_owed_elsewhere(mm, addr, 0))
			return 0;
	} else if (sim_flush_owed_elsewhere(mm, addr, since)) {
		return 0;
	}
	sim_report(MMSIM_V_INCOHERENT, cpu, addr, e->pfn, func,
		   "cpu %u maps %#lx to frame %u%s (filled at %llu); ptes say %#llx%s",
		   cpu, addr, e->pfn, e->writable ? " rw" : "",
		   (unsigned long long)e->filled,
		   (unsigned long long)pte,
		   (pte & _PAGE_PRESENT) && old ?
		   ", old: its accessed bit was cleared and not flushed" : "");
	return 1;
}

/*
 * Is @e, a valid 2 MiB entry of @cpu, coherent: the pmd still maps the
 * huge page, as writably, and no 4 KiB entry disagrees with it?
 */
static int check_tlb2m_entry(unsigned int cpu, struct mm_struct *mm,
			     long cr3, struct sim_mmu *mmu,
			     const struct tlb_entry *e, unsigned long start,
			     unsigned long end, u64 since, const char *func)
{
	unsigned long addr = e->vpn << PMD_SHIFT;
	u64 pmd;

	if (addr + PMD_SIZE <= start || addr >= end)
		return 0;
	pmd = soft_walk(cr3, addr, PSC_PDE);
	if ((pmd & (_PAGE_PRESENT | _PAGE_PSE)) == (_PAGE_PRESENT | _PAGE_PSE) &&
	    pmd_pfn(__pmd(pmd)) == e->pfn &&
	    (!e->writable || (pmd & _PAGE_RW)) &&
	    ((pmd & _PAGE_ACCESSED) || sim_threaded()))
		return check_sizes(cpu, mmu, e, func);
	if (sim_huge_flush_owed_elsewhere(mm, addr, since))
		return check_sizes(cpu, mmu, e, func);
	sim_report(MMSIM_V_INCOHERENT, cpu, addr, e->pfn, func,
		   "cpu %u maps %#lx to huge page %u%s (filled at %llu); the pmd says %#llx",
		   cpu, addr, e->pfn, e->writable ? " rw" : "",
		   (unsigned long long)e->filled, (unsigned long long)pmd);
	return 1 + check_sizes(cpu, mmu, e, func);
}

/**
 * sim_pmd_size_changed - the pmd that mapped the huge page of @old now
 *	links a pte table: the translation of its 2 MiB changed page size
 *
 * The SDM asks software to invalidate a translation before its page size
 * changes (and AMD's erratum 383 makes the two sizes at once a machine
 * check): so the split invalidates the pmd and flushes before it links
 * the table.  No CPU that runs @mm may still cache the 2 MiB entry.
 */
void sim_pmd_size_changed(struct mm_struct *mm, u64 old, const char *func)
{
	long cr3 = page_to_pfn(virt_to_page(mm->pgd));
	u32 head = pmd_pfn(__pmd(old));
	unsigned int cpu, i;

	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		struct sim_mmu *mmu = &per_cpu(mmu, cpu);

		sim_mmu_lock(cpu);
		for (i = 0; mmu->cr3 == cr3 && i < TLB2M_ENTRIES; i++) {
			const struct tlb_entry *e = &mmu->tlb2m[i];

			if (!e->valid || e->pfn != head)
				continue;
			sim_report(MMSIM_V_INCOHERENT, cpu,
				   e->vpn << PMD_SHIFT, head, func,
				   "pte table linked at %#llx while cpu %u caches its 2 MiB translation (pmd %s)",
				   (unsigned long long)e->vpn << PMD_SHIFT,
				   cpu, old & _PAGE_PRESENT ?
				   "not invalidated" : "invalidated, not flushed");
		}
		sim_mmu_unlock(cpu);
	}
}

/* Coherence at return, on @cpu's MMU */
static int check_coherent_on(unsigned int cpu, struct mm_struct *mm,
			     long cr3, unsigned long start, unsigned long end,
			     u64 since, const char *func)
{
	struct sim_mmu *mmu = &per_cpu(mmu, cpu);
	unsigned int i, w, words = (mmu->tlb_sets * TLB_WAYS + 63) / 64;
	struct walk_cache c = { .region = ~0UL };
	int found = 0;
	u64 valid;

	if (mmu->cr3 != cr3)
		return 0;
	/* The valid TLB entries, in index order */
	for (w = 0; w < words; w++) {
		for (valid = mmu->tlb_valid[w]; valid; valid &= valid - 1) {
			i = w * 64 + __builtin_ctzll(valid);
			found += check_tlb_entry(cpu, mm, cr3, &mmu->tlb[i],
						 &c, start, end, since, func);
		}
	}
	for (i = 0; i < TLB2M_ENTRIES; i++)
		if (mmu->tlb2m[i].valid)
			found += check_tlb2m_entry(cpu, mm, cr3, mmu,
						   &mmu->tlb2m[i], start, end,
						   since, func);
	for (i = 0; i < mmu->psc_size; i++) {
		struct psc_entry *e = &mmu->psc[i];
		unsigned long addr;
		u64 entry;

		if (!e->valid)
			continue;
		addr = e->tag << level_shift[e->level];
		if (addr + (1UL << level_shift[e->level]) <= start ||
		    addr >= end)
			continue;
		entry = soft_walk(cr3, addr, e->level);
		if ((entry & _PAGE_PRESENT) &&
		    ((entry & PTE_PFN_MASK) >> PAGE_SHIFT) == e->pfn)
			continue;
		/*
		 * An unshare under way elsewhere repointed the pmd entry at
		 * a copy and has yet to flush, under the old table's lock:
		 * the walk still finds what the copy says, and nothing can
		 * change the old table until that flush is done.  Whenever
		 * it began: repointing alone takes no translation away.
		 */
		if (e->level == PSC_PDE &&
		    sim_pmd_flush_owed_elsewhere(mm, addr))
			continue;
		found++;
		sim_report(MMSIM_V_INCOHERENT, cpu, addr, e->pfn, func,
			   "cpu %u caches a walk of %#lx through table %u, no longer linked",
			   cpu, addr, e->pfn);
	}
	return found;
}

/**
 * sim_mmu_check_coherent - coherence at return
 * @mm: the mm whose mappings were just reduced
 * @start: start of the range the call changed
 * @end: its end
 * @since: the scheduling step at which the call began
 * @func: the call that returns
 *
 * Every CPU that may run @mm's user code (it has @mm's pgd loaded, lazily
 * or not) must not hold a TLB entry for the range that maps more, or more
 * writably, than the page tables do now, nor a cached walk through a
 * table that is no longer where it was, whenever it was filled.  The one
 * excuse: a call under way on another CPU took that translation away at
 * or after @since and has not flushed yet (sim_flush_owed_elsewhere());
 * it must before it returns.
 *
 * Return: the number of violations found.
 */
int sim_mmu_check_coherent(struct mm_struct *mm, unsigned long start,
			   unsigned long end, u64 since, const char *func)
{
	long cr3 = page_to_pfn(virt_to_page(mm->pgd));
	unsigned int cpu;
	int found = 0;

	for (cpu = 0; cpu < sim->config.nr_cpus; cpu++) {
		sim_mmu_lock(cpu);
		found += check_coherent_on(cpu, mm, cr3, start, end, since,
					   func);
		sim_mmu_unlock(cpu);
	}
	return found;
}
