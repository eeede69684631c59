/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_MMU_CONTEXT_H
#define _ASM_X86_MMU_CONTEXT_H

#include <linux/mm.h>

void enter_lazy_tlb(struct mm_struct *mm);
void switch_mm(struct mm_struct *prev, struct mm_struct *next);

#endif /* _ASM_X86_MMU_CONTEXT_H */
