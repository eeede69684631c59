/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Transparent huge pages (mm/huge_memory.c): private anonymous memory
 * that madvise(MADV_HUGEPAGE) marked is mapped 2 MiB at a time, by one
 * pmd entry with the page-size bit, when a whole aligned 2 MiB of one vma
 * is empty at the fault.
 *
 * The lock that guards a huge pmd is pmd_lockptr(): mm->page_table_lock
 * with ptl=mm, the lock in the pmd table page's struct page with
 * ptl=split (Linux 3.13's split PMD lock).  It also guards populating a
 * pmd entry with a pte table, so that a huge fault and a 4 KiB fault
 * racing for one empty pmd see each other.
 */
#ifndef _LINUX_HUGE_MM_H
#define _LINUX_HUGE_MM_H

struct mmu_gather;

spinlock_t *pmd_lockptr(struct mm_struct *mm, pmd_t *pmd);

static inline spinlock_t *pmd_lock(struct mm_struct *mm, pmd_t *pmd)
{
	spinlock_t *ptl = pmd_lockptr(mm, pmd);

	spin_lock(ptl);
	return ptl;
}

struct page *alloc_huge_page(void);

bool vma_huge_eligible(struct vm_area_struct *vma, unsigned long address);
int do_huge_pmd_anonymous_page(struct mm_struct *mm,
			       struct vm_area_struct *vma,
			       unsigned long address, pmd_t *pmd,
			       int write_access);
int do_huge_pmd_fault(struct mm_struct *mm, struct vm_area_struct *vma,
		      unsigned long address, pmd_t *pmd, int write_access);
int copy_huge_pmd(struct mm_struct *dst_mm, struct mm_struct *src_mm,
		  pmd_t *dst_pmd, pmd_t *src_pmd, unsigned long addr,
		  struct vm_area_struct *vma);
bool zap_huge_pmd(struct mmu_gather *tlb, struct vm_area_struct *vma,
		  pmd_t *pmd, unsigned long addr);
bool change_huge_pmd(struct vm_area_struct *vma, pmd_t *pmd,
		     unsigned long addr, pgprot_t newprot);
void split_huge_pmd(struct vm_area_struct *vma, pmd_t *pmd,
		    unsigned long address);
void split_huge_pmd_address(struct vm_area_struct *vma,
			    unsigned long address);
void split_huge_range_edges(struct mm_struct *mm, unsigned long start,
			    unsigned long end);
void free_gathered_huge_pmd(struct mmu_gather *tlb, pmd_t *pmd,
			    unsigned long addr);
struct page *pgtable_trans_huge_withdraw(struct mm_struct *mm, pmd_t *pmd);
long madvise_hugepage(struct vm_area_struct *vma,
		      struct vm_area_struct **prev, unsigned long start,
		      unsigned long end, int behavior);

#endif /* _LINUX_HUGE_MM_H */
