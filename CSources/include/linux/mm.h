/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H

#include <linux/gfp.h>
#include <linux/mman.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/vmstat.h>
#include <asm/pgtable.h>

#define VM_READ		0x00000001UL
#define VM_WRITE	0x00000002UL
#define VM_EXEC		0x00000004UL
#define VM_SHARED	0x00000008UL
#define VM_MAYREAD	0x00000010UL
#define VM_MAYWRITE	0x00000020UL
#define VM_MAYEXEC	0x00000040UL
#define VM_MAYSHARE	0x00000080UL
#define VM_ACCOUNT	0x00100000UL
#define VM_HUGEPAGE	0x20000000UL	/* MADV_HUGEPAGE */
#define VM_NOHUGEPAGE	0x40000000UL	/* MADV_NOHUGEPAGE */

#define VM_PROT_MASK	(VM_READ | VM_WRITE | VM_EXEC)

/* A private writable mapping: writes break copy-on-write */
static inline int is_cow_mapping(unsigned long flags)
{
	return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
}

pgprot_t vm_get_page_prot(unsigned long vm_flags);

/* references and mappings */
/* mmu_gathers under way on @mm (an atomic_t in Linux) */
static inline void inc_tlb_flush_pending(struct mm_struct *mm)
{
	__atomic_fetch_add(&mm->tlb_flush_pending, 1, __ATOMIC_RELAXED);
}

static inline void dec_tlb_flush_pending(struct mm_struct *mm)
{
	__atomic_fetch_sub(&mm->tlb_flush_pending, 1, __ATOMIC_RELAXED);
}

static inline bool mm_tlb_flush_nested(struct mm_struct *mm)
{
	return READ_ONCE(mm->tlb_flush_pending) > 1;
}

/* The head of the compound page @page belongs to, or @page itself */
static inline struct page *compound_head(struct page *page)
{
	if (unlikely(PageTail(page)))
		return pfn_to_page(page_to_pfn(page) & ~(HPAGE_PMD_NR - 1));
	return page;
}

/* A frame of a compound page counts its references on the head */
static inline int page_count(const struct page *page)
{
	if (unlikely(PageTail(page)))
		return pfn_to_page(page_to_pfn(page) &
				   ~(HPAGE_PMD_NR - 1))->_count;
	return page->_count;
}

static inline void get_page(struct page *page)
{
	page = compound_head(page);
	BUG_ON(page->_count <= 0);
	page->_count++;
}

void put_page(struct page *page);

/* The ptes that map @page, and the huge pmds that map all of it */
static inline int page_mapcount(const struct page *page)
{
	int ptes = page->_mapcount + 1;
	unsigned long head;

	if (likely(!PageCompound(page)))
		return ptes;
	head = page_to_pfn(page) & ~(HPAGE_PMD_NR - 1);
	return ptes + pfn_to_page(head)->compound_mapcount;
}

struct page *vm_normal_page(struct vm_area_struct *vma, unsigned long addr,
			    pte_t pte);

/*
 * pte tables shared between mms (share=fork, mm/pt_share.c).  A pte
 * table's page count is its share count: the pmd entries that point at
 * it.  A table with a count above one lists its sharers, one node each.
 */
struct pt_sharer {
	struct mm_struct *mm;
	struct pt_sharer *next;
};

static inline bool pte_table_shared(const struct page *table)
{
	return page_count(table) > 1;
}

int share_pte_table(struct mm_struct *dst_mm, struct mm_struct *src_mm,
		    pmd_t *dst_pmd, pmd_t *src_pmd, unsigned long addr);
bool pte_table_shareable(struct vm_area_struct *vma, unsigned long addr);
bool pte_table_within(unsigned long addr, unsigned long start,
		      unsigned long end);
int unshare_pte_table(struct mm_struct *mm, pmd_t *pmd,
		      unsigned long addr);
int unshare_range(struct mm_struct *mm, unsigned long start,
		  unsigned long end, bool keep_whole);
bool drop_shared_pte_table(struct mm_struct *mm, pmd_t *pmd);

/* A pte of @pmd's table, with the lock that guards it taken */
static inline pte_t *pte_offset_map_lock(struct mm_struct *mm, pmd_t *pmd,
					 unsigned long address,
					 spinlock_t **ptlp)
{
	spinlock_t *ptl = pte_lockptr(mm, pmd);

	*ptlp = ptl;
	spin_lock(ptl);
	return pte_offset_map(pmd, address);
}

static inline void pte_unmap_unlock(pte_t *pte, spinlock_t *ptl)
{
	spin_unlock(ptl);
	pte_unmap(pte);
}

/* the fault path */
#define VM_FAULT_OOM		0x0001
#define VM_FAULT_SIGSEGV	0x0002
#define VM_FAULT_MINOR		0x0004
#define VM_FAULT_FALLBACK	0x0008	/* no huge page: map 4 KiB */

int handle_mm_fault(struct mm_struct *mm, struct vm_area_struct *vma,
		    unsigned long address, int write_access);
int __pte_alloc(struct mm_struct *mm, pmd_t *pmd, unsigned long address);
pud_t *pud_alloc(struct mm_struct *mm, pgd_t *pgd, unsigned long address);
pmd_t *pmd_alloc(struct mm_struct *mm, pud_t *pud, unsigned long address);

/* unmapping */
struct mmu_gather;

unsigned long unmap_vmas(struct mmu_gather *tlb,
			 struct vm_area_struct *start_vma,
			 unsigned long start_addr, unsigned long end_addr);
unsigned long zap_page_range(struct vm_area_struct *vma,
			     unsigned long address, unsigned long size);
void free_pgtables(struct mmu_gather *tlb, struct vm_area_struct *start_vma,
		   unsigned long floor, unsigned long ceiling);
int copy_page_range(struct mm_struct *dst, struct mm_struct *src,
		    struct vm_area_struct *vma);

/* address-space calls */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, unsigned long addr,
				     struct vm_area_struct **pprev);
int split_vma(struct mm_struct *mm, struct vm_area_struct *vma,
	      unsigned long addr, int new_below);
void remove_vma(struct vm_area_struct *vma);
struct vm_area_struct *vma_merge(struct mm_struct *mm,
				 struct vm_area_struct *vma);
struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig);
void exit_mmap(struct mm_struct *mm);

long do_mmap_pgoff(struct mm_struct *mm, unsigned long addr,
		   unsigned long len, unsigned long prot, unsigned long flags);
int do_munmap(struct mm_struct *mm, unsigned long start, size_t len);
long sys_mprotect(struct mm_struct *mm, unsigned long start, size_t len,
		  unsigned long prot);
long sys_madvise(struct mm_struct *mm, unsigned long start, size_t len,
		 int behavior);

/* transparent huge pages */
#include <linux/huge_mm.h>

/* audits and run-time checks (mm/debug_vm.c) */
int audit_vm(void);
int audit_vm_leaks(void);
struct rw_semaphore;
void debug_check_mmap_sem_release(struct rw_semaphore *sem);

#endif /* _LINUX_MM_H */
