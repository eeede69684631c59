/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The TLB flush API, with i386's 2.6.16 semantics: a range flush is a
 * whole-mm flush on every CPU in cpu_vm_mask, a page flush invalidates one
 * entry on each of them.
 */
#ifndef _ASM_X86_TLBFLUSH_H
#define _ASM_X86_TLBFLUSH_H

#include <linux/mm.h>

#define FLUSH_ALL	(~0UL)

void flush_tlb_mm(struct mm_struct *mm);
void flush_tlb_page(struct vm_area_struct *vma, unsigned long va);
void flush_tlb_range(struct vm_area_struct *vma, unsigned long start,
		     unsigned long end);
int flush_tlb_others(cpumask_t cpumask, struct mm_struct *mm,
		     unsigned long va);
void flush_tlb_shared(struct page *table, unsigned long va);
void leave_mm(int cpu);

#endif /* _ASM_X86_TLBFLUSH_H */
