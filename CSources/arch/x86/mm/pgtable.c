// SPDX-License-Identifier: GPL-2.0
/* Allocation and freeing of page-table pages of every level. */
#include <linux/mm.h>
#include <asm/pgalloc.h>

static struct page *alloc_table_page(u32 lock_class)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);

	if (!page)
		return NULL;
	SetPagePgtable(page);
	spin_lock_init_class(&page->ptl, lock_class);
	page->pmd_huge_pte = NULL;
	count_vm_event(ptables_alloced);
	return page;
}

struct page *pte_alloc_one(struct mm_struct *mm, unsigned long address)
{
	return alloc_table_page(LOCK_CLASS_PTE_PTL);
}

/* A pmd table's lock guards its entries with ptl=split (split PMD lock) */
pmd_t *pmd_alloc_one(struct mm_struct *mm, unsigned long address)
{
	struct page *page = alloc_table_page(LOCK_CLASS_PMD_PTL);

	return page ? page_address(page) : NULL;
}

pud_t *pud_alloc_one(struct mm_struct *mm, unsigned long address)
{
	struct page *page = alloc_table_page(LOCK_CLASS_OTHER);

	return page ? page_address(page) : NULL;
}

pgd_t *pgd_alloc(struct mm_struct *mm)
{
	struct page *page = alloc_table_page(LOCK_CLASS_OTHER);

	return page ? page_address(page) : NULL;
}

void pte_free(struct page *pte)
{
	/* a split lock must not be freed held */
	WARN_ON(READ_ONCE(pte->ptl.owner) != SPIN_LOCK_UNOWNED);
	__free_page(pte);
}

void pmd_free(pmd_t *pmd)
{
	struct page *page = virt_to_page(pmd);

	/* every huge pmd took its deposit back when it went */
	WARN_ON(page->pmd_huge_pte);
	WARN_ON(READ_ONCE(page->ptl.owner) != SPIN_LOCK_UNOWNED);
	__free_page(page);
}

void pud_free(pud_t *pud)
{
	__free_page(virt_to_page(pud));
}

void pgd_free(pgd_t *pgd)
{
	__free_page(virt_to_page(pgd));
}
