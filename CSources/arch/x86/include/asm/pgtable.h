/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page-table accessors with the kernel's names.  Every setter checks that
 * the caller holds the lock that the machine's ptl variant says guards the
 * entry (see mm/pgtable_lock.c).
 */
#ifndef _ASM_X86_PGTABLE_H
#define _ASM_X86_PGTABLE_H

#include <asm/page.h>

static inline unsigned long pgd_index(unsigned long addr)
{
	return (addr >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1);
}

static inline unsigned long pud_index(unsigned long addr)
{
	return (addr >> PUD_SHIFT) & (PTRS_PER_PUD - 1);
}

static inline unsigned long pmd_index(unsigned long addr)
{
	return (addr >> PMD_SHIFT) & (PTRS_PER_PMD - 1);
}

static inline unsigned long pte_index(unsigned long addr)
{
	return (addr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1);
}

/* pte bits */
static inline int pte_none(pte_t pte)		{ return !pte_val(pte); }
static inline int pte_present(pte_t pte)
{
	return !!(pte_val(pte) & (_PAGE_PRESENT | _PAGE_PROTNONE));
}

static inline int pte_write(pte_t pte)	{ return !!(pte_val(pte) & _PAGE_RW); }
static inline unsigned long pte_pfn(pte_t pte)
{
	return (pte_val(pte) & PTE_PFN_MASK) >> PAGE_SHIFT;
}

static inline struct page *pte_page(pte_t pte)
{
	return pfn_to_page(pte_pfn(pte));
}

static inline pte_t pte_wrprotect(pte_t pte)
{
	return __pte(pte_val(pte) & ~_PAGE_RW);
}

static inline pte_t pte_mkwrite(pte_t pte)
{
	return __pte(pte_val(pte) | _PAGE_RW);
}

static inline pte_t pte_mkdirty(pte_t pte)
{
	return __pte(pte_val(pte) | _PAGE_DIRTY);
}

static inline pte_t pte_mkyoung(pte_t pte)
{
	return __pte(pte_val(pte) | _PAGE_ACCESSED);
}

static inline pte_t pfn_pte(unsigned long pfn, pgprot_t prot)
{
	return __pte(((u64)pfn << PAGE_SHIFT) | pgprot_val(prot));
}

#define mk_pte(page, prot)	pfn_pte(page_to_pfn(page), (prot))

static inline pte_t pte_modify(pte_t pte, pgprot_t newprot)
{
	u64 keep = pte_val(pte) & (PTE_PFN_MASK | _PAGE_DIRTY);

	return __pte(keep | pgprot_val(newprot));
}

/*
 * gather=inplace: a zapped pte that still names its page until phase 3
 * frees it.  Not present, so the hardware walker faults on it.  It also
 * names the CPU whose gather owns it: only that gather's phase 3 may free
 * the page, after that gather's flush (MADV_DONTNEEDs of one range may run
 * at once).
 */
#define GATHER_OWNER_SHIFT	52
#define GATHER_OWNER_MASK	(0xfULL << GATHER_OWNER_SHIFT)

static inline pte_t pte_mkgathered(unsigned long pfn, int owner)
{
	return __pte(((u64)pfn << PAGE_SHIFT) | _PAGE_GATHERED |
		     ((u64)owner << GATHER_OWNER_SHIFT));
}

static inline int pte_gather_owner(pte_t pte)
{
	return (pte_val(pte) & GATHER_OWNER_MASK) >> GATHER_OWNER_SHIFT;
}

static inline int pte_gathered(pte_t pte)
{
	return (pte_val(pte) & (_PAGE_PRESENT | _PAGE_PROTNONE |
				_PAGE_GATHERED)) == _PAGE_GATHERED;
}

/*
 * A swap entry: not present to the hardware, naming the swap slot that
 * holds the page (x86 keeps type and offset where the pfn goes; this
 * machine has one swap device, so only the offset).
 */
typedef struct { u64 val; } swp_entry_t;

static inline int is_swap_pte(pte_t pte)
{
	return (pte_val(pte) & (_PAGE_PRESENT | _PAGE_PROTNONE |
				_PAGE_GATHERED | _PAGE_SWAPENT)) ==
	       _PAGE_SWAPENT;
}

static inline swp_entry_t pte_to_swp_entry(pte_t pte)
{
	return (swp_entry_t) { pte_pfn(pte) };
}

static inline pte_t swp_entry_to_pte(swp_entry_t entry)
{
	return __pte(((u64)entry.val << PAGE_SHIFT) | _PAGE_SWAPENT);
}

static inline unsigned long swp_offset(swp_entry_t entry)
{
	return entry.val;
}

static inline int pte_dirty(pte_t pte)
{
	return !!(pte_val(pte) & _PAGE_DIRTY);
}

static inline int pte_young(pte_t pte)
{
	return !!(pte_val(pte) & _PAGE_ACCESSED);
}

static inline pte_t pte_mkold(pte_t pte)
{
	return __pte(pte_val(pte) & ~_PAGE_ACCESSED);
}

static inline int pte_same(pte_t a, pte_t b)
{
	return pte_val(a) == pte_val(b);
}

/* upper levels */
/*
 * An upper-level entry is tested before its lock is taken (the populate
 * fast paths, a zap beside a fault that populates): read it once, as an
 * atomic with acquire, so that host threads may do so while another
 * populates it, and then see the table it links (and its lock) set up.
 * The argument is the entry itself, *pmdp, as in 2.6.16.
 */
/* acquire: pairs with the release of *_populate() */
#define pmd_none(entry)		(!smp_load_acquire(&(entry).pmd))
/* acquire: pairs with the release of *_populate() */
#define pud_none(entry)		(!smp_load_acquire(&(entry).pud))
/* acquire: pairs with the release of *_populate() */
#define pgd_none(entry)		(!smp_load_acquire(&(entry).pgd))
/* acquire: pairs with the release of *_populate() */
#define pmd_present(e)	(!!(smp_load_acquire(&(e).pmd) & _PAGE_PRESENT))

static inline unsigned long pmd_pfn(pmd_t pmd)
{
	return (pmd_val(pmd) & PTE_PFN_MASK) >> PAGE_SHIFT;
}

static inline unsigned long pud_pfn(pud_t pud)
{
	return (pud_val(pud) & PTE_PFN_MASK) >> PAGE_SHIFT;
}

static inline unsigned long pgd_pfn(pgd_t pgd)
{
	return (pgd_val(pgd) & PTE_PFN_MASK) >> PAGE_SHIFT;
}

#define pmd_page(pmd)	pfn_to_page(pmd_pfn(pmd))

/*
 * A pmd entry read once without its lock, by a walker that other CPUs
 * may race (MADV_DONTNEED and faults hold mmap_sem only for reading): a
 * huge pmd may be zapped or split between two reads.  What the walker
 * decides is decided on this one value; only a pte table, once linked,
 * stays where it is under mmap_sem.
 */
static inline pmd_t pmdp_get_lockless(pmd_t *pmdp)
{
	/* acquire: pairs with the release of pmd_populate() */
	return __pmd(smp_load_acquire(&pmdp->pmd));
}

/*
 * A huge pmd: the page-size bit makes the entry a leaf that maps 2 MiB.
 * It stays set while the entry is invalidated for a split, PROT_NONE or
 * gathered, so that no walker of the kernel takes it for a pte table.
 * Read once, with acquire, as the other upper-level tests are.
 */
#define pmd_trans_huge(e)	(!!(smp_load_acquire(&(e).pmd) & _PAGE_PSE))

static inline pmd_t pfn_pmd(unsigned long pfn, pgprot_t prot)
{
	return __pmd(((u64)pfn << PAGE_SHIFT) | pgprot_val(prot) | _PAGE_PSE);
}

static inline int pmd_write(pmd_t pmd)	{ return !!(pmd_val(pmd) & _PAGE_RW); }

static inline pmd_t pmd_wrprotect(pmd_t pmd)
{
	return __pmd(pmd_val(pmd) & ~_PAGE_RW);
}

static inline pmd_t pmd_mkwrite(pmd_t pmd)
{
	return __pmd(pmd_val(pmd) | _PAGE_RW);
}

static inline pmd_t pmd_mkdirty(pmd_t pmd)
{
	return __pmd(pmd_val(pmd) | _PAGE_DIRTY);
}

static inline pmd_t pmd_mkyoung(pmd_t pmd)
{
	return __pmd(pmd_val(pmd) | _PAGE_ACCESSED);
}

static inline pmd_t pmd_modify(pmd_t pmd, pgprot_t newprot)
{
	u64 keep = pmd_val(pmd) & (PTE_PFN_MASK | _PAGE_DIRTY | _PAGE_PSE);

	return __pmd(keep | pgprot_val(newprot));
}

/* The pte that maps the frame @index of a huge pmd, with its rights */
static inline pte_t pmd_subpage_pte(pmd_t pmd, unsigned long index)
{
	u64 flags = pmd_val(pmd) & PTE_FLAGS_MASK & ~_PAGE_PSE;

	return __pte(((pmd_pfn(pmd) + index) << PAGE_SHIFT) | flags);
}

/* gather=inplace: a zapped huge pmd that still names its compound page */
static inline pmd_t pmd_mkgathered(unsigned long pfn, int owner)
{
	return __pmd(pte_val(pte_mkgathered(pfn, owner)) | _PAGE_PSE);
}

static inline int pmd_gathered(pmd_t pmd)
{
	return pte_gathered(__pte(pmd_val(pmd)));
}

static inline pgd_t *pgd_offset(struct mm_struct *mm, unsigned long addr)
{
	return mm->pgd + pgd_index(addr);
}

static inline pud_t *pud_offset(pgd_t *pgd, unsigned long addr)
{
	/* acquire: pairs with the release of *_populate() */
	return (pud_t *)__va(smp_load_acquire(&pgd->pgd) & PTE_PFN_MASK) +
	       pud_index(addr);
}

static inline pmd_t *pmd_offset(pud_t *pud, unsigned long addr)
{
	/* acquire: pairs with the release of *_populate() */
	return (pmd_t *)__va(smp_load_acquire(&pud->pud) & PTE_PFN_MASK) +
	       pmd_index(addr);
}

static inline pte_t *pte_offset_map(pmd_t *pmd, unsigned long addr)
{
	/* acquire: pairs with the release of *_populate() */
	return (pte_t *)__va(smp_load_acquire(&pmd->pmd) & PTE_PFN_MASK) +
	       pte_index(addr);
}

#define pte_unmap(pte)	((void)(pte))

/* The page-table page that holds entry @ptr, of any level */
static inline struct page *table_page(const void *ptr)
{
	return virt_to_page(ptr);
}

/*
 * Lock rules, checked by every setter below.  pte_lockptr() is the lock
 * that guards the entries of the pte page that @pmd points to.
 */
spinlock_t *pte_lockptr(struct mm_struct *mm, pmd_t *pmd);
void check_pte_lock(struct mm_struct *mm, pte_t *ptep, const char *func);
void check_upper_lock(struct mm_struct *mm, const char *func);
/* What the simulated machine learns of every pte write (sim/smp.c) */
void sim_pte_changed(struct mm_struct *mm, unsigned long addr, pte_t *ptep,
		     u64 old, u64 new);
/* ... and of an unshare repointing the pmd entry of @addr */
void sim_pmd_changed(struct mm_struct *mm, unsigned long addr);
/* ... and of every write of a huge pmd */
void sim_huge_pmd_changed(struct mm_struct *mm, unsigned long addr,
			  u64 old, u64 new);
/* ... and of a pmd that mapped 2 MiB (@old) now linking a pte table */
void sim_pmd_size_changed(struct mm_struct *mm, u64 old, const char *func);
/* The lock that guards the pmd entry @pmd, and its check */
void check_pmd_lock(struct mm_struct *mm, pmd_t *pmd, const char *func);

/* The setters exchange: the walker may be setting accessed or dirty */
static inline void set_pte_at(struct mm_struct *mm, unsigned long addr,
			      pte_t *ptep, pte_t pte)
{
	u64 old;

	check_pte_lock(mm, ptep, __func__);
	old = __atomic_exchange_n(&ptep->pte, pte_val(pte), __ATOMIC_RELAXED);
	sim_pte_changed(mm, addr, ptep, old, pte_val(pte));
}

static inline pte_t ptep_get_and_clear(struct mm_struct *mm,
				       unsigned long addr, pte_t *ptep)
{
	u64 old;

	check_pte_lock(mm, ptep, __func__);
	old = __atomic_exchange_n(&ptep->pte, 0, __ATOMIC_RELAXED);
	sim_pte_changed(mm, addr, ptep, old, 0);
	return __pte(old);
}

#define pte_clear(mm, addr, ptep) ((void)ptep_get_and_clear(mm, addr, ptep))

struct vm_area_struct;
pte_t ptep_clear_flush(struct vm_area_struct *vma, unsigned long address,
		       pte_t *ptep);
int ptep_clear_flush_young(struct vm_area_struct *vma, unsigned long address,
			   pte_t *ptep);

static inline void ptep_set_wrprotect(struct mm_struct *mm,
				      unsigned long addr, pte_t *ptep)
{
	u64 old;

	check_pte_lock(mm, ptep, __func__);
	old = __atomic_fetch_and(&ptep->pte, ~_PAGE_RW, __ATOMIC_RELAXED);
	sim_pte_changed(mm, addr, ptep, old, old & ~_PAGE_RW);
}

static inline void pmd_populate(struct mm_struct *mm, pmd_t *pmd,
				struct page *pte)
{
	u64 old;

	check_pmd_lock(mm, pmd, __func__);
	old = READ_ONCE(pmd->pmd);
	/* the table, zeroed and its lock set up, before it is linked */
	smp_store_release(&pmd->pmd, ((u64)page_to_pfn(pte) << PAGE_SHIFT) |
			  _PAGE_TABLE);
	if (old & _PAGE_PSE)
		sim_pmd_size_changed(mm, old, __func__);
}

static inline void pud_populate(struct mm_struct *mm, pud_t *pud,
				pmd_t *pmd)
{
	check_upper_lock(mm, __func__);
	/* release: the table below is set up before it is linked */
	smp_store_release(&pud->pud, __pa(pmd) | _PAGE_TABLE);
}

static inline void pgd_populate(struct mm_struct *mm, pgd_t *pgd,
				pud_t *pud)
{
	check_upper_lock(mm, __func__);
	/* release: the table below is set up before it is linked */
	smp_store_release(&pgd->pgd, __pa(pud) | _PAGE_TABLE);
}

/* The setters of a huge pmd, under pmd_lockptr() */
static inline void set_pmd_at(struct mm_struct *mm, unsigned long addr,
			      pmd_t *pmdp, pmd_t pmd)
{
	u64 old;

	check_pmd_lock(mm, pmdp, __func__);
	old = __atomic_exchange_n(&pmdp->pmd, pmd_val(pmd), __ATOMIC_RELEASE);
	sim_huge_pmd_changed(mm, addr, old, pmd_val(pmd));
}

static inline pmd_t pmdp_huge_get_and_clear(struct mm_struct *mm,
					    unsigned long addr, pmd_t *pmdp)
{
	u64 old;

	check_pmd_lock(mm, pmdp, __func__);
	old = __atomic_exchange_n(&pmdp->pmd, 0, __ATOMIC_RELAXED);
	sim_huge_pmd_changed(mm, addr, old, 0);
	return __pmd(old);
}

static inline void pmdp_set_wrprotect(struct mm_struct *mm,
				      unsigned long addr, pmd_t *pmdp)
{
	u64 old;

	check_pmd_lock(mm, pmdp, __func__);
	old = __atomic_fetch_and(&pmdp->pmd, ~_PAGE_RW, __ATOMIC_RELAXED);
	sim_huge_pmd_changed(mm, addr, old, old & ~_PAGE_RW);
}

/*
 * Clearing an upper-level entry detaches the table below it.  The callers
 * (free_pgtables and friends) own the whole range under mmap_sem held for
 * writing, as in the kernel, so no lock is checked here.
 */
static inline void pmd_clear(pmd_t *pmd)	{ WRITE_ONCE(pmd->pmd, 0); }
static inline void pud_clear(pud_t *pud)	{ WRITE_ONCE(pud->pud, 0); }
static inline void pgd_clear(pgd_t *pgd)	{ WRITE_ONCE(pgd->pgd, 0); }

/* Address arithmetic of the page-table walkers */
#define pgd_addr_end(addr, end)						\
({	unsigned long __boundary = ((addr) + PGDIR_SIZE) & PGDIR_MASK;	\
	(__boundary - 1 < (end) - 1) ? __boundary : (end);		\
})

#define pud_addr_end(addr, end)						\
({	unsigned long __boundary = ((addr) + PUD_SIZE) & PUD_MASK;	\
	(__boundary - 1 < (end) - 1) ? __boundary : (end);		\
})

#define pmd_addr_end(addr, end)						\
({	unsigned long __boundary = ((addr) + PMD_SIZE) & PMD_MASK;	\
	(__boundary - 1 < (end) - 1) ? __boundary : (end);		\
})

#endif /* _ASM_X86_PGTABLE_H */
