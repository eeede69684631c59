/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PGALLOC_H
#define _ASM_X86_PGALLOC_H

#include <linux/mm.h>

struct page *pte_alloc_one(struct mm_struct *mm, unsigned long address);
pmd_t *pmd_alloc_one(struct mm_struct *mm, unsigned long address);
pud_t *pud_alloc_one(struct mm_struct *mm, unsigned long address);
pgd_t *pgd_alloc(struct mm_struct *mm);

void pte_free(struct page *pte);
void pmd_free(pmd_t *pmd);
void pud_free(pud_t *pud);
void pgd_free(pgd_t *pgd);

#endif /* _ASM_X86_PGALLOC_H */
