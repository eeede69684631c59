// SPDX-License-Identifier: GPL-2.0
/* mprotect(): change the protection of vmas and of the ptes under them. */
#include <linux/mm.h>
#include <asm/tlbflush.h>

static void change_pte_range(struct mm_struct *mm, pmd_t *pmd,
			     unsigned long addr, unsigned long end,
			     pgprot_t newprot)
{
	spinlock_t *ptl = pte_lockptr(mm, pmd);
	pte_t *pte = pte_offset_map(pmd, addr);

	spin_lock(ptl);
	do {
		pte_t ptent;

		preempt_account_work(1);
		if (!pte_present(*pte))
			continue;
		/* clear first, so that no hardware A/D update is lost */
		ptent = ptep_get_and_clear(mm, addr, pte);
		set_pte_at(mm, addr, pte, pte_modify(ptent, newprot));
	} while (pte++, addr += PAGE_SIZE, addr != end);
	spin_unlock(ptl);
}

static void change_pmd_range(struct vm_area_struct *vma, pud_t *pud,
			     unsigned long addr, unsigned long end,
			     pgprot_t newprot)
{
	struct mm_struct *mm = vma->vm_mm;
	pmd_t *pmd = pmd_offset(pud, addr);
	unsigned long next;

	do {
		next = pmd_addr_end(addr, end);
		if (pmd_none(*pmd))
			continue;
		if (pmd_trans_huge(*pmd)) {
			if (next - addr != HPAGE_PMD_SIZE)
				split_huge_pmd(vma, pmd, addr);
			else if (change_huge_pmd(vma, pmd, addr, newprot))
				continue;
		}
		change_pte_range(mm, pmd, addr, next, newprot);
	} while (pmd++, addr = next, addr != end);
}

static void change_pud_range(struct vm_area_struct *vma, pgd_t *pgd,
			     unsigned long addr, unsigned long end,
			     pgprot_t newprot)
{
	pud_t *pud = pud_offset(pgd, addr);
	unsigned long next;

	do {
		next = pud_addr_end(addr, end);
		if (pud_none(*pud))
			continue;
		change_pmd_range(vma, pud, addr, next, newprot);
	} while (pud++, addr = next, addr != end);
}

/*
 * change_protection - rewrite the ptes of [@addr, @end) with @newprot,
 * then flush: until the flush, other CPUs may still write through their
 * old entries, which is why mprotect cannot return before it.
 */
static void change_protection(struct vm_area_struct *vma, unsigned long addr,
			      unsigned long end, pgprot_t newprot)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned long start = addr, next;
	pgd_t *pgd = pgd_offset(mm, addr);

	do {
		next = pgd_addr_end(addr, end);
		if (pgd_none(*pgd))
			continue;
		change_pud_range(vma, pgd, addr, next, newprot);
	} while (pgd++, addr = next, addr != end);
	flush_tlb_range(vma, start, end);
}

static int mprotect_fixup(struct vm_area_struct *vma, unsigned long start,
			  unsigned long end, unsigned long newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	int error;

	if (newflags == vma->vm_flags)
		return 0;
	/* the ptes change: shared pte tables first get a copy of our own */
	error = unshare_range(mm, start, end, false);
	if (error)
		return error;
	if (start != vma->vm_start) {
		error = split_vma(mm, vma, start, 1);
		if (error)
			return error;
	}
	if (end != vma->vm_end) {
		error = split_vma(mm, vma, end, 0);
		if (error)
			return error;
	}
	vma->vm_flags = newflags;
	vma->vm_page_prot = vm_get_page_prot(newflags);
	change_protection(vma, start, end, vma->vm_page_prot);
	vma_merge(mm, vma);
	return 0;
}

static long do_mprotect(struct mm_struct *mm, unsigned long start,
			size_t len, unsigned long prot)
{
	unsigned long end, nstart, tmp, newflags;
	struct vm_area_struct *vma, *prev;
	int error;

	if (start & ~PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = PAGE_ALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~(unsigned long)(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -EINVAL;

	vma = find_vma_prev(mm, start, &prev);
	if (!vma || vma->vm_start > start)
		return -ENOMEM;

	for (nstart = start; ; ) {
		newflags = vma->vm_flags & ~VM_PROT_MASK;
		if (prot)
			newflags |= VM_READ;
		if (prot & PROT_WRITE)
			newflags |= VM_WRITE;
		if (prot & PROT_EXEC)
			newflags |= VM_EXEC;

		tmp = min(vma->vm_end, end);
		error = mprotect_fixup(vma, nstart, tmp, newflags);
		if (error)
			return error;
		nstart = tmp;
		if (nstart >= end)
			return 0;
		/* the vma may have merged with the next one: look again */
		vma = find_vma(mm, nstart);
		if (!vma || vma->vm_start > nstart)
			return -ENOMEM;
	}
}

/**
 * sys_mprotect - set the protection of [@start, @start + @len)
 *
 * Return: 0; -EINVAL for an unaligned start or unknown bits; -ENOMEM when
 * the range wraps or is not fully mapped (vmas before the hole have been
 * changed, as in Linux).
 */
long sys_mprotect(struct mm_struct *mm, unsigned long start, size_t len,
		  unsigned long prot)
{
	long err;

	down_write(&mm->mmap_sem);
	err = do_mprotect(mm, start, len, prot);
	up_write(&mm->mmap_sem);
	return err;
}
